//! Tables in the terminal as kubectl prints them: upper-case headers, left-aligned columns three
//! spaces apart (ages are `strata_api::age::human_duration`, as the store's tables write them).
//!
//! Why it exists: `strata apps` shows the Marathon table that `kubectl get apps` shows; a user
//! switching between the two should see the same layout and the same ages.

use std::fmt::Write;

/// A table of text cells, rendered with aligned columns.
pub struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with this header row.
    pub fn new(header: &[&str]) -> Table {
        Table {
            rows: vec![header.iter().map(|h| h.to_string()).collect()],
        }
    }

    /// Adds a row (as many cells as the header has).
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The table as lines, each column as wide as its widest cell plus three spaces; the last
    /// column is not padded.
    pub fn render(&self) -> String {
        let columns = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let widths: Vec<usize> = (0..columns)
            .map(|c| {
                self.rows
                    .iter()
                    .filter_map(|r| r.get(c))
                    .map(|cell| cell.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        for row in &self.rows {
            let mut line = String::new();
            for (c, cell) in row.iter().enumerate() {
                if c + 1 == row.len() {
                    line.push_str(cell);
                } else {
                    let _ = write!(line, "{cell:<width$}   ", width = widths[c]);
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up_three_spaces_apart() {
        let mut t = Table::new(&["NAME", "TASKS / INSTANCES", "STATUS"]);
        t.row(vec!["web".into(), "2 / 2".into(), "Running".into()]);
        t.row(vec!["database".into(), "0 / 1".into(), "Waiting".into()]);
        assert_eq!(
            t.render(),
            "NAME       TASKS / INSTANCES   STATUS\n\
             web        2 / 2               Running\n\
             database   0 / 1               Waiting\n"
        );
    }
}
