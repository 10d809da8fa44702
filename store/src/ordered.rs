//! Comparing JSON objects field by field in the order they are stored.
//!
//! Why it exists: a write's new object is the stored one with a few fields changed, so its
//! fields come in the stored order. Walking two such objects side by side pairs each field with
//! its counterpart without a key lookup; serde_json's own `==` and `get` hash every key with
//! SipHash, which was a tenth of all the instructions in `strata bench master`. Where the
//! orders part ways, these fall back to lookups, so the answers never depend on order.

use std::iter::Peekable;

use serde_json::{Map, Value};

/// Whether `a` and `b` are the same JSON (as `a == b`).
pub fn identical(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            if x.len() != y.len() {
                return false;
            }
            for ((ka, va), (kb, vb)) in x.iter().zip(y) {
                if ka != kb {
                    return x == y;
                }
                if !identical(va, vb) {
                    return false;
                }
            }
            true
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| identical(a, b))
        }
        _ => a == b,
    }
}

/// The fields of an object, looked up by the fields of another walked in the same order.
pub struct Counterparts<'a> {
    map: &'a Map<String, Value>,
    walk: Peekable<serde_json::map::Iter<'a>>,
}

impl<'a> Counterparts<'a> {
    pub fn new(map: &'a Map<String, Value>) -> Counterparts<'a> {
        Counterparts {
            map,
            walk: map.iter().peekable(),
        }
    }

    /// The value under `key`: the next field when it is `key` (the orders agree), else a
    /// lookup.
    pub fn get(&mut self, key: &str) -> Option<&'a Value> {
        if self.walk.peek().is_some_and(|(k, _)| k.as_str() == key) {
            return self.walk.next().map(|(_, v)| v);
        }
        self.map.get(key)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn identical_is_equality_whatever_the_order() {
        let a = json!({"a": 1, "b": {"c": [1, {"d": "x"}], "e": null}});
        let reordered = json!({"b": {"e": null, "c": [1, {"d": "x"}]}, "a": 1});
        assert!(identical(&a, &a.clone()));
        assert!(identical(&a, &reordered));
        for other in [
            json!({"a": 1, "b": {"c": [1, {"d": "y"}], "e": null}}),
            json!({"a": 1, "b": {"c": [1], "e": null}}),
            json!({"a": 1.0, "b": {"c": [1, {"d": "x"}], "e": null}}),
            json!({"a": 1, "b": {"c": [1, {"d": "x"}], "f": null}}),
        ] {
            assert!(!identical(&a, &other), "{other}");
            assert_eq!(identical(&a, &other), a == other);
        }
    }

    #[test]
    fn counterparts_are_found_in_step_and_out_of_it() {
        let old = json!({"a": 1, "b": 2, "c": 3});
        let mut parts = Counterparts::new(old.as_object().unwrap());
        assert_eq!(parts.get("a"), Some(&json!(1)));
        assert_eq!(parts.get("x"), None);
        assert_eq!(parts.get("c"), Some(&json!(3)));
        assert_eq!(parts.get("b"), Some(&json!(2)));
    }
}
