//! `strata bench allocator`: one allocation pass of the allocator's model alone, at Mesos'
//! DeclineOffers benchmark sizes: every framework declines every offer with a long refuse
//! filter, and each pass offers every agent to the next framework that has not refused it.

use std::time::{Duration, Instant};

use strata_controllers::allocator::model::key;
use strata_controllers::allocator::{AgentInfo, Config, FrameworkInfo, Model, Settlement};

use super::percentile;

#[derive(clap::Args)]
pub struct AllocatorArgs {
    /// Agents in the model.
    #[arg(long, default_value_t = 10_000)]
    agents: usize,
    /// Frameworks in the model.
    #[arg(long, default_value_t = 1_000)]
    frameworks: usize,
    /// Passes measured, each offering every agent to the next framework that has not
    /// declined it.
    #[arg(long, default_value_t = 30)]
    passes: usize,
}

pub fn run(a: AllocatorArgs) -> anyhow::Result<()> {
    let mut model = Model::new(Config::default());
    for i in 0..a.agents {
        model.upsert_agent(
            &format!("agent-{i}"),
            AgentInfo {
                hostname: format!("host-{i}"),
                total: "cpus:16;mem:65536;disk:100000;ports:[31000-32000]".parse()?,
                schedulable: true,
                ..AgentInfo::default()
            },
        );
    }
    for i in 0..a.frameworks {
        model.upsert_framework(
            &format!("ns/framework-{i}"),
            FrameworkInfo {
                role: format!("role-{}", i % 10),
                weight: 1.0,
                active: true,
                suppressed: false,
                revive: 0,
            },
        );
    }
    eprintln!(
        "{} agents, {} frameworks in 10 roles; every offer declined for an hour...",
        a.agents, a.frameworks
    );
    let now = Instant::now();
    let refuse = Duration::from_secs(3600);
    // Each pass offers every agent to the framework furthest below its share that has not
    // declined it yet; every offer is declined before the next pass, as in Mesos' benchmark.
    let mut passes = Vec::new();
    for _ in 0..a.passes {
        let started = Instant::now();
        let offers = model.allocate(now);
        passes.push(started.elapsed());
        anyhow::ensure!(
            offers.len() == a.agents,
            "every agent is offered once per pass"
        );
        for o in offers {
            let key = key(&o.namespace, &o.name);
            model.settle(&key, Settlement::Declined { refuse }, now);
            model.offer_deleted(&key);
        }
    }
    let ms = |sorted: &[Duration], p: f64| percentile(sorted, p).as_secs_f64() * 1000.0;
    passes.sort();
    println!("strata bench allocator (this machine: 2 cores, one thread)");
    println!(
        "allocation pass, {} agents x {} frameworks, every offer declined: p50 {:.1} ms, p99 {:.1} ms over {} passes   (Mesos 1.8 DeclineOffers: 1.06 s at 10,000 x 1,000; 3.8 s at 20,000 x 2,000; aim 50 ms)",
        a.agents,
        a.frameworks,
        ms(&passes, 0.5),
        ms(&passes, 0.99),
        a.passes
    );
    Ok(())
}
