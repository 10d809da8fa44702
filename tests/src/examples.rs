//! The examples a user applies first (`manifests/examples/`) and the table they must produce:
//! the seed's Marathon screenshot, as `kubectl get apps` prints it.
//!
//! Why it exists: the examples test (a real agent beside `strata server`) and the `strata up`
//! test (the README's first command) both check the same table.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::apps::MARATHON_COLUMNS;
use crate::{Server, eventually};

/// How long the seven apps may take to reach the seed's table.
pub const WAIT: Duration = Duration::from_secs(120);

/// The columns of `kubectl get apps` the examples' table is checked in: NAME and the Marathon
/// table's (AGE is left out).
pub fn columns() -> impl Iterator<Item = &'static str> {
    std::iter::once("NAME").chain(MARATHON_COLUMNS)
}

/// The table the examples must produce, one row per app in the [`columns`]: the
/// seed's screenshot (with logstash at the 3 / 3 the seed wanted) and the Docker web app.
#[rustfmt::skip]
pub const EXPECTED: [[&str; 7]; 7] = [
    ["cleanup-old-weeks.task",     "/cleanup-old-weeks.task",     "512",  "0.5", "14 / 14", "14 running", "Running"],
    ["cmselasticsearch.framework", "/cmselasticsearch.framework", "2000", "0.5", "3 / 3",   "3 running",  "Running"],
    ["cmskibana-dev.web",          "/cmskibana-dev.web",          "512",  "0.5", "1 / 1",   "1 healthy",  "Running"],
    ["cmskibana.web",              "/cmskibana.web",              "512",  "0.5", "1 / 1",   "1 healthy",  "Running"],
    ["docker-web",                 "/docker-web",                 "32",   "0.1", "1 / 1",   "1 healthy",  "Running"],
    ["logstash",                   "/logstash",                   "512",  "0.1", "3 / 3",   "3 running",  "Running"],
    ["mesos-dns",                  "/mesos-dns",                  "512",  "0.5", "0 / 0",   "-",          "Suspended"],
];

/// A table as kubectl prints it: each row's cells by column name. A cell is the text from its
/// column's header position up to the next column's (kubectl left-aligns cells under their
/// headers, and cells such as "14 / 14" contain spaces).
pub fn parse_table(table: &str) -> Vec<BTreeMap<String, String>> {
    let mut lines = table.lines();
    let Some(header) = lines.next() else {
        return Vec::new();
    };
    let mut starts: Vec<(usize, String)> = Vec::new();
    let mut rest = header;
    let mut offset = 0;
    while !rest.trim().is_empty() {
        let skipped = rest.len() - rest.trim_start().len();
        let cell = &rest[skipped..];
        // Headers are separated by at least two spaces ("MEMORY (MB)" has one inside).
        let end = cell.find("  ").unwrap_or(cell.len());
        starts.push((offset + skipped, cell[..end].to_string()));
        offset += skipped + end;
        rest = &cell[end..];
    }
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            starts
                .iter()
                .enumerate()
                .map(|(i, (start, name))| {
                    let end = starts.get(i + 1).map_or(line.len(), |n| n.0);
                    let cell = line.get(*start..end.min(line.len())).unwrap_or("");
                    (name.clone(), cell.trim().to_string())
                })
                .collect()
        })
        .collect()
}

/// How `rows` differ from [`EXPECTED`], one line each (`name: COLUMN is got, want wanted`);
/// empty when they match.
pub fn differences(rows: &[BTreeMap<String, String>]) -> Vec<String> {
    let mut problems = Vec::new();
    let names: Vec<&str> = rows
        .iter()
        .filter_map(|r| r.get("NAME"))
        .map(String::as_str)
        .collect();
    let expected_names: Vec<&str> = EXPECTED.iter().map(|r| r[0]).collect();
    if names != expected_names {
        problems.push(format!("apps {names:?}, want {expected_names:?}"));
    }
    for want in &EXPECTED {
        let Some(row) = rows
            .iter()
            .find(|r| r.get("NAME").map(String::as_str) == Some(want[0]))
        else {
            continue;
        };
        for (column, want) in columns().zip(want).skip(1) {
            let got = row.get(column).map(String::as_str);
            if got != Some(*want) {
                problems.push(format!(
                    "{}: {column} is {got:?}, want {want:?}",
                    row["NAME"]
                ));
            }
        }
    }
    problems
}

/// Polls `kubectl get apps` until it shows [`EXPECTED`]; the table, or the table last seen with
/// what differs.
pub fn wait_for_table(server: &Server) -> Result<String, (String, Vec<String>)> {
    let mut table = String::new();
    let mut problems = Vec::new();
    let done = eventually(WAIT, || {
        table = server.kubectl_ok(&["get", "apps"]);
        problems = differences(&parse_table(&table));
        if !problems.is_empty() {
            // kubectl is a process per poll: a few a second are enough.
            std::thread::sleep(Duration::from_millis(250));
        }
        problems.is_empty().then_some(())
    });
    match done {
        Some(()) => Ok(table),
        None => Err((table, problems)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_parser_reads_cells_by_header_position() {
        let table = "\
NAME                     ID                        MEMORY (MB)   CPUS   TASKS / INSTANCES   HEALTH       STATUS      AGE
cleanup-old-weeks.task   /cleanup-old-weeks.task   512           0.5    14 / 14             14 running   Running     5s
mesos-dns                /mesos-dns                512           0.5    0 / 0               -            Suspended   5s
";
        let rows = parse_table(table);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0]["MEMORY (MB)"], "512");
        assert_eq!(rows[0]["TASKS / INSTANCES"], "14 / 14");
        assert_eq!(rows[0]["HEALTH"], "14 running");
        assert_eq!(rows[1]["STATUS"], "Suspended");
        assert_eq!(rows[1]["AGE"], "5s");
        let problems = differences(&rows);
        assert!(
            problems[0].starts_with("apps [\"cleanup-old-weeks.task\", \"mesos-dns\"]"),
            "{problems:?}"
        );
        assert_eq!(
            problems.len(),
            1,
            "the two rows present match: {problems:?}"
        );
    }
}
