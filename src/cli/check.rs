//! `tapir check`: the preconditions of the next run, one line each.

use super::Cli;
use crate::check::{self, Level};

/// Check every precondition of the next run.
///
/// Check config, tapes, catalog, keys, the OpenSSH client and every client (reachable, host
/// key, agent, clock, DLE paths). Exit 0 when nothing FAILs, 1 otherwise; 2 for a config
/// error.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(cli: &Cli, _: &Args) -> anyhow::Result<i32> {
    let cfg = super::load_config(cli)?;
    let items = check::run(&cfg);
    if cli.json {
        super::print_json(&items)?;
    } else {
        for i in &items {
            let s = crate::report::name(&i.status);
            outln!("{s:<5} {}: {}", i.item, i.detail);
        }
    }
    let failed = items.iter().filter(|i| i.status == Level::Fail).count();
    let warned = items.iter().filter(|i| i.status == Level::Warn).count();
    if !cli.json {
        outln!("{} checks: {failed} failed, {warned} warnings", items.len());
    }
    Ok(if failed > 0 { 1 } else { 0 })
}
