//! `strata app versions NAME`: the app's revisions, one line per rollout, the current one
//! marked with `*`.
//!
//! Why it exists: a rollback names a revision, and the person choosing one needs to see what
//! each revision changed and whether it succeeded. It only reads.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;
use strata_api::Rollout;

use super::scope::{AppArgs, explain_action};

pub async fn run(args: AppArgs) -> anyhow::Result<()> {
    let scope = args.target.connect().await?;
    let name = &args.name;
    let app = scope.app(name).await.map_err(explain_action)?;
    let history = scope.history(name).await.map_err(explain_action)?;
    if history.is_empty() {
        eprintln!(
            "app {}/{name} has no rollouts yet: the Marathon controller makes one for every \
             change it sees",
            scope.namespace
        );
        return Ok(());
    }
    let current = app.status.as_ref().and_then(|s| s.rollout.as_deref());
    print!("{}", table(&history, current));
    Ok(())
}

/// The table of `history`, the rollout named `current` marked with `*`.
fn table(history: &[Rollout], current: Option<&str>) -> String {
    let mut rows = vec![[
        String::new(),
        "REVISION".into(),
        "CHANGE".into(),
        "VERSION".into(),
        "PHASE".into(),
        "CREATED".into(),
    ]];
    for r in history {
        let marker = if current == Some(r.name_any().as_str()) {
            "*"
        } else {
            ""
        };
        rows.push([
            marker.into(),
            r.spec.revision.to_string(),
            format!("{:?}", r.spec.change),
            r.spec.version.clone(),
            r.status
                .as_ref()
                .map_or("<none>".into(), |s| format!("{:?}", s.phase)),
            r.metadata
                .creation_timestamp
                .as_ref()
                .map_or("<none>".into(), |Time(t)| format!("{t:.0}")),
        ]);
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|c| rows.iter().map(|row| row[c].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:width$}"))
            .collect();
        out.push_str(cells.join("   ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use strata_api::rollout::{RolloutPhase, RolloutStatus};

    use super::*;
    use strata_controllers::marathon::actions::fixtures::rollout;

    #[test]
    fn one_line_per_revision_current_marked() {
        let mut second = rollout("web", 2, "b7", "two");
        second.status = Some(RolloutStatus {
            phase: RolloutPhase::Succeeded,
            ..RolloutStatus::default()
        });
        second.metadata.creation_timestamp =
            Some(Time("2026-01-02T03:04:05.678Z".parse().unwrap()));
        let text = table(&[rollout("web", 1, "a1", "one"), second], Some("web-2"));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].trim_start().starts_with("REVISION"), "{text}");
        assert!(
            lines[1].starts_with(' ') && lines[1].contains("Start"),
            "{text}"
        );
        assert!(lines[1].contains("<none>"), "{text}");
        assert!(lines[2].starts_with('*'), "{text}");
        assert!(
            lines[2].contains("Succeeded") && lines[2].contains("2026-01-02T03:04:05Z"),
            "{text}"
        );
    }
}
