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
    /// The clock is right, but the catalog's newest dump was dated by a clock that ran
    /// ahead: date this run one second after it instead of refusing (the order of writing
    /// is kept).
    #[arg(long)]
    pub after_newest: bool,
    /// Write one JSON object a line to stdout as the run goes (start, plan, each DLE's
    /// state, progress with percent and ETA about once a second, the summary last), for
    /// dashboards; stdout then carries nothing else.
    #[arg(long, conflicts_with = "dry_run")]
    pub json_progress: bool,
}

pub fn run(cli: &Cli, a: &Args) -> anyhow::Result<i32> {
    let cfg = super::load_config(cli)?;
    let opts = DumpOptions {
        host: a.host.clone(),
        disks: a.disks.clone(),
        after_newest: a.after_newest,
        json_progress: a.json_progress,
    };
    if a.dry_run {
        return dry_run(cli, &cfg, &opts);
    }
    let summary = driver::run(&cfg, &opts)?;
    // the run is over and its summary is in the catalog: a reader that went away (`| head`,
    // a dashboard) does not turn a night with failures into exit 0
    match show(cli, a, &summary) {
        Err(e) if !crate::out::is_stdout_closed(&e) => Err(e),
        _ => Ok(summary.exit_code()),
    }
}

/// The run's summary on stdout, in the form asked for.
fn show(cli: &Cli, a: &Args, summary: &crate::report::RunSummary) -> anyhow::Result<()> {
    if a.json_progress {
        let mut line = serde_json::to_value(summary)?;
        if let Some(o) = line.as_object_mut() {
            o.insert("event".into(), "summary".into());
        }
        crate::cli::out::text(&format!("{line}\n"))
    } else if cli.json {
        super::print_json(summary)
    } else {
        crate::cli::out::text(&crate::report::render(summary))
    }
}

fn dry_run(cli: &Cli, cfg: &crate::config::Config, opts: &DumpOptions) -> anyhow::Result<i32> {
    let dles = driver::select(cfg, opts)?;
    let records = crate::catalog::history::load_all(&cfg.catalog)?;
    let p = driver::make_plan(cfg, &dles, crate::clock::now()?, records)?;
    if cli.json {
        super::print_json(&driver::DryRun::of(&p))?;
    } else {
        crate::cli::out::text(&crate::report::render_plan(&p.plan, &p.failed))?;
    }
    Ok(0)
}
