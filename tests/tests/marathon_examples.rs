//! The examples a user applies first, on a real agent: `kubectl apply -f manifests/examples/`
//! brings up the seed's Marathon screenshot — every app with its memory and cpus, running its
//! instances (the suspended one at 0 / 0) — and a Docker web app that turns healthy, and
//! `kubectl get apps` shows it as the seed's table does.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use strata_e2e::agent::{Agent, agent_token, busybox_image, http_get};
use strata_e2e::cluster::Cluster;
use strata_e2e::{eventually, repo_root};

/// How long the seven apps may take to reach the seed's table.
const WAIT: Duration = Duration::from_secs(120);

/// The columns of `kubectl get apps` this test reads (Age is left out).
const COLUMNS: [&str; 7] = [
    "NAME",
    "ID",
    "MEMORY (MB)",
    "CPUS",
    "TASKS / INSTANCES",
    "HEALTH",
    "STATUS",
];

/// The table the examples must produce, one row per app in the columns of [`COLUMNS`]: the
/// seed's screenshot (with logstash at the 3 / 3 the seed wanted) and the Docker web app.
#[rustfmt::skip]
const EXPECTED: [[&str; 7]; 7] = [
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
fn parse_table(table: &str) -> Vec<BTreeMap<String, String>> {
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
fn differences(rows: &[BTreeMap<String, String>]) -> Vec<String> {
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
        for (column, want) in COLUMNS.iter().zip(want).skip(1) {
            let got = row.get(*column).map(String::as_str);
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

#[test]
fn the_examples_show_the_seeds_marathon_table_on_a_real_agent() {
    let started = Instant::now();
    let image = busybox_image();
    let cluster = Cluster::without_agents(&[]);

    let examples = repo_root().join("manifests/examples");
    let out = cluster
        .server
        .kubectl_ok(&["apply", "-f", &examples.display().to_string()]);
    let applied: Vec<&str> = out.lines().collect();
    assert_eq!(
        applied.len(),
        EXPECTED.len(),
        "manifests/examples/ holds exactly the seven apps:\n{out}"
    );
    for want in &EXPECTED {
        let line = format!("app.strata.io/{} created", want[0]);
        assert!(applied.contains(&line.as_str()), "{line} in:\n{out}");
    }
    let docker_image = cluster.server.kubectl_ok(&[
        "get",
        "app",
        "docker-web",
        "-o",
        "jsonpath={.spec.container.docker.image}",
    ]);
    assert_eq!(
        docker_image, image,
        "the web app runs the local busybox image"
    );

    // The Marathon framework registers once there are apps; then one agent big enough for all
    // of them (9.9 cpus, 15760 MB, 3 ports) joins.
    cluster.wait_active(&["marathon"]);
    let token = agent_token(&cluster.server, "examples");
    let agent = Agent::start_with_resources(
        &cluster.server,
        "examples",
        &token,
        "cpus:16;mem:32768;disk:20000",
        8,
        &["--heartbeat-interval", "1s"],
    );

    let mut table = String::new();
    let mut problems = Vec::new();
    let done = eventually(WAIT, || {
        table = cluster.server.kubectl_ok(&["get", "apps"]);
        problems = differences(&parse_table(&table));
        if !problems.is_empty() {
            // kubectl is a process per poll: a few a second are enough.
            std::thread::sleep(Duration::from_millis(250));
        }
        problems.is_empty().then_some(())
    });
    if done.is_none() {
        let tasks = cluster.server.kubectl_ok(&["get", "tasks", "-o", "wide"]);
        panic!(
            "kubectl get apps did not reach the seed's table in {WAIT:?}:\n{}\n\n{table}\n\
             --- tasks ---\n{tasks}\n--- controllers log ---\n{}",
            problems.join("\n"),
            tail(&cluster.log(), 120)
        );
    }
    let header = table.lines().next().unwrap();
    for column in COLUMNS {
        assert!(header.contains(column), "column {column}:\n{table}");
    }

    // The Docker web app passed its readiness check and serves on the host port it was given.
    let tasks = cluster.json(&["get", "tasks", "-l", "strata.io/app=docker-web"]);
    let task = &tasks["items"][0];
    assert_eq!(
        task["status"]["ready"], true,
        "readiness check passed: {task:#}"
    );
    let port = task["spec"]["ports"][0]
        .as_u64()
        .and_then(|p| u16::try_from(p).ok())
        .unwrap_or_else(|| panic!("a host port for docker-web: {task:#}"));
    assert!(
        agent.task_ports.contains(&port),
        "{port} from the agent's range"
    );
    let (status, body) = http_get(port, "/index.html", None);
    assert_eq!((status, body.as_str()), (200, "hello from busybox\n"));
    assert_eq!(agent.containers().len(), 1, "one container: docker-web's");

    eprintln!("{table}\nthe seed's table after {:?}", started.elapsed());
}

fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

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
