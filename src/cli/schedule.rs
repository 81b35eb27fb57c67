//! `tapir due`, `tapir balance`, `tapir force`, `tapir unforce`: the planner's views and
//! overrides (amadmin due/balance/force/unforce). Views use history only: no client is asked.

use super::Cli;
use crate::config::Config;
use crate::driver::prepare;
use crate::error::Error;
use crate::planner::views;
use crate::units::human;

/// When each DLE's next full is due.
#[derive(Debug, clap::Args)]
pub struct DueArgs {}

/// Expected volume per night over the next dump cycle.
#[derive(Debug, clap::Args)]
pub struct BalanceArgs {}

/// HOST DISK, for `force` and `unforce` (each described on its own variant).
#[derive(Debug, clap::Args)]
pub struct ForceArgs {
    pub host: String,
    pub disk: String,
}

fn with_inputs<T>(
    cfg: &Config,
    f: impl FnOnce(&[crate::planner::Input], &crate::planner::Params) -> T,
) -> anyhow::Result<T> {
    let history = prepare::history(cfg, crate::catalog::history::load_all(&cfg.catalog)?);
    let forced = crate::catalog::forced::load(&cfg.catalog)?;
    let inputs = prepare::inputs(cfg, &cfg.disklist, &history, &forced, &Default::default());
    Ok(f(
        &inputs,
        &crate::planner::params(cfg, crate::clock::now()?),
    ))
}

pub fn due(cli: &Cli, _: &DueArgs) -> anyhow::Result<i32> {
    let cfg = super::load_config(cli)?;
    let rows = with_inputs(&cfg, views::due)?;
    if cli.json {
        super::print_json(&rows)?;
        return Ok(0);
    }
    outln!(
        "{:<12} {:<24} {:<19} {:>10}  NEXT FULL",
        "HOST",
        "DISK",
        "LAST FULL",
        "FULL SIZE"
    );
    for r in rows {
        let last = r
            .last_full
            .as_deref()
            .and_then(crate::clock::parse_datestamp)
            .map_or("never".into(), |t| t.format("%Y-%m-%d %H:%M").to_string());
        let next = match (r.last_full.is_some(), r.nights) {
            (false, _) => "tonight (new DLE)".to_string(),
            (true, n) if n < 0 => format!("OVERDUE by {} night(s)", -n),
            (true, 0) => "tonight".to_string(),
            (true, n) => format!("in {n} night(s)"),
        };
        outln!(
            "{:<12} {:<24} {:<19} {:>10}  {next}",
            r.host,
            r.disk,
            last,
            human(r.full_size)
        );
    }
    Ok(0)
}

pub fn balance(cli: &Cli, _: &BalanceArgs) -> anyhow::Result<i32> {
    let cfg = super::load_config(cli)?;
    let nights = with_inputs(&cfg, views::balance)?;
    if cli.json {
        super::print_json(&nights)?;
        return Ok(0);
    }
    let total: u64 = nights.iter().map(|n| n.full_bytes + n.incr_bytes).sum();
    let mean = total / nights.len().max(1) as u64;
    outln!(
        "{:>5} {:>5} {:>10} {:>10} {:>10} {:>7}",
        "NIGHT",
        "FULLS",
        "FULL",
        "INCR",
        "TOTAL",
        "VS MEAN"
    );
    for n in &nights {
        let t = n.full_bytes + n.incr_bytes;
        let dev = if mean > 0 {
            format!("{:+.0}%", 100.0 * (t as f64 - mean as f64) / mean as f64)
        } else {
            "-".into()
        };
        outln!(
            "{:>5} {:>5} {:>10} {:>10} {:>10} {:>7}",
            n.night,
            n.fulls,
            human(n.full_bytes),
            human(n.incr_bytes),
            human(t),
            dev
        );
    }
    outln!(
        "mean {} per night; fulls run when due (the planner promotes early ones to fill light nights)",
        human(mean)
    );
    Ok(0)
}

pub fn force(cli: &Cli, a: &ForceArgs, on: bool) -> anyhow::Result<i32> {
    let cfg = super::load_config(cli)?;
    if cfg.dle(&a.host, &a.disk).is_none() {
        anyhow::bail!(Error::config(format!(
            "no DLE {} {} in the disklist",
            a.host, a.disk
        )));
    }
    let _lock =
        crate::catalog::lock::exclusive(&cfg.catalog, if on { "force" } else { "unforce" })?;
    let changed = crate::catalog::forced::set(&cfg.catalog, &a.host, &a.disk, on)?;
    let what = match (on, changed) {
        (true, true) => "will get a full at the next run",
        (true, false) => "was already forced",
        (false, true) => "is no longer forced",
        (false, false) => "was not forced",
    };
    outln!("{} {} {what}", a.host, a.disk);
    Ok(0)
}
