//! Named entries in reusable slots.
//!
//! Why it exists: the allocation pass and the refuse filters index agents and frameworks by
//! small integers (vectors and bitmaps), not by name; names map to slots, and a removed entry's
//! slot is reused by the next one, so the vectors stay as long as the most entries ever held.

use std::collections::HashMap;

/// Entries of `T` by name, each in a slot.
pub(crate) struct Slots<T> {
    items: Vec<Option<T>>,
    by_name: HashMap<String, usize>,
    free: Vec<usize>,
}

impl<T> Default for Slots<T> {
    fn default() -> Slots<T> {
        Slots {
            items: Vec::new(),
            by_name: HashMap::new(),
            free: Vec::new(),
        }
    }
}

impl<T> Slots<T> {
    /// The slot of `name`.
    pub fn slot(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }

    pub fn get(&self, slot: usize) -> Option<&T> {
        self.items.get(slot).and_then(Option::as_ref)
    }

    pub fn get_mut(&mut self, slot: usize) -> Option<&mut T> {
        self.items.get_mut(slot).and_then(Option::as_mut)
    }

    /// Puts `item` in a slot under `name` (which must not be present); returns the slot.
    pub fn insert(&mut self, name: &str, item: T) -> usize {
        debug_assert!(
            !self.by_name.contains_key(name),
            "{name} is already in a slot"
        );
        let slot = match self.free.pop() {
            Some(slot) => {
                self.items[slot] = Some(item);
                slot
            }
            None => {
                self.items.push(Some(item));
                self.items.len() - 1
            }
        };
        self.by_name.insert(name.to_string(), slot);
        slot
    }

    /// Takes `name` out; its slot becomes free.
    pub fn remove(&mut self, name: &str) -> Option<(usize, T)> {
        let slot = self.by_name.remove(name)?;
        let item = self.items[slot].take()?;
        self.free.push(slot);
        Some((slot, item))
    }

    /// The entries with their slots, in slot order.
    pub fn iter(&self) -> impl Iterator<Item = (usize, &T)> {
        self.items
            .iter()
            .enumerate()
            .filter_map(|(slot, item)| item.as_ref().map(|item| (slot, item)))
    }

    /// How many entries there are.
    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    /// One more than the highest slot in use or ever used.
    pub fn capacity(&self) -> usize {
        self.items.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removed_slots_are_reused() {
        let mut slots = Slots::default();
        assert_eq!(slots.insert("a", 1), 0);
        assert_eq!(slots.insert("b", 2), 1);
        assert_eq!(slots.remove("a"), Some((0, 1)));
        assert_eq!(slots.slot("a"), None);
        assert_eq!(slots.insert("c", 3), 0);
        assert_eq!(slots.iter().collect::<Vec<_>>(), [(0, &3), (1, &2)]);
        assert_eq!((slots.len(), slots.capacity()), (2, 2));
        *slots.get_mut(1).unwrap() = 20;
        assert_eq!(slots.get(slots.slot("b").unwrap()), Some(&20));
        assert_eq!(slots.remove("zz"), None);
    }
}
