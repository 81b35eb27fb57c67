//! `tapir dump`: one backup run.

use super::Cli;
use crate::driver::{self, DumpOptions};

/// Run tonight's dumps (all DLEs, or those of HOST, or HOST's DISKs).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only this host.
    pub host: Option<String>,
    /// Only these disks of HOST.
    pub disks: Vec<String>,
    /// Show tonight's plan and the reason for each level; write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

pub fn run(cli: &Cli, a: &Args) -> anyhow::Result<i32> {
    let cfg = super::load_config(cli)?;
    let opts = DumpOptions {
        host: a.host.clone(),
        disks: a.disks.clone(),
    };
    if a.dry_run {
        return dry_run(cli, &cfg, &opts);
    }
    let summary = driver::run(&cfg, &opts)?;
    if cli.json {
        super::print_json(&summary)?;
    } else {
        crate::cli::out::text(&crate::report::render(&summary))?;
    }
    Ok(summary.exit_code())
}

fn dry_run(cli: &Cli, cfg: &crate::config::Config, opts: &DumpOptions) -> anyhow::Result<i32> {
    let dles = driver::select(cfg, opts)?;
    let p = driver::make_plan(cfg, &dles, crate::clock::now()?)?;
    if cli.json {
        let entries: Vec<_> = p.plan.entries.iter().map(|e| serde_json::json!({
            "host": e.dle.host, "disk": e.dle.disk, "level": e.level, "reason": e.reason, "size": e.size,
        })).collect();
        let failed: Vec<_> = p
            .failed
            .iter()
            .map(|o| serde_json::json!({"host": o.host, "disk": o.disk, "reason": o.reason}))
            .collect();
        super::print_json(&serde_json::json!({
            "entries": entries, "failed": failed, "notes": p.plan.notes,
            "target": p.plan.target, "volume": p.plan.volume, "capacity": p.plan.capacity,
        }))?;
    } else {
        crate::cli::out::text(&crate::report::render_plan(&p.plan, &p.failed))?;
    }
    Ok(0)
}
