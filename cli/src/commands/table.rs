//! Tables in the terminal as kubectl prints them: upper-case headers, left-aligned columns three
//! spaces apart, and ages written like `5m12s` or `3d4h`.
//!
//! Why it exists: `strata apps` shows the Marathon table that `kubectl get apps` shows; a user
//! switching between the two should see the same layout and the same ages.

use std::fmt::Write;
use std::time::Duration;

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

/// An age as kubectl writes it (Kubernetes' `duration.HumanDuration`): `45s`, `5m12s`, `42m`,
/// `3h5m`, `20h`, `3d4h`, `120d`, `2y30d`.
pub fn age(d: Duration) -> String {
    let s = d.as_secs();
    let (m, h) = (s / 60, s / 3600);
    let (days, years) = (h / 24, h / (24 * 365));
    if s < 120 {
        format!("{s}s")
    } else if m < 10 {
        match s % 60 {
            0 => format!("{m}m"),
            rest => format!("{m}m{rest}s"),
        }
    } else if m < 180 {
        format!("{m}m")
    } else if h < 8 {
        match m % 60 {
            0 => format!("{h}h"),
            rest => format!("{h}h{rest}m"),
        }
    } else if h < 48 {
        format!("{h}h")
    } else if h < 24 * 8 {
        match h % 24 {
            0 => format!("{days}d"),
            rest => format!("{days}d{rest}h"),
        }
    } else if h < 24 * 365 * 2 {
        format!("{days}d")
    } else if h < 24 * 365 * 8 {
        match days % 365 {
            0 => format!("{years}y"),
            rest => format!("{years}y{rest}d"),
        }
    } else {
        format!("{years}y")
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

    #[test]
    fn ages_read_like_kubectls() {
        let cases = [
            (5, "5s"),
            (119, "119s"),
            (312, "5m12s"),
            (360, "6m"),
            (42 * 60, "42m"),
            (3 * 3600 + 5 * 60, "3h5m"),
            (20 * 3600 + 59, "20h"),
            (3 * 86_400 + 4 * 3600, "3d4h"),
            (120 * 86_400, "120d"),
            ((2 * 365 + 30) * 86_400, "2y30d"),
        ];
        for (secs, text) in cases {
            assert_eq!(age(Duration::from_secs(secs)), text, "{secs}s");
        }
    }
}
