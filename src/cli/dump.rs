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
}

pub fn run(cli: &Cli, a: &Args) -> anyhow::Result<i32> {
    let cfg = super::load_config(cli)?;
    let opts = DumpOptions {
        host: a.host.clone(),
        disks: a.disks.clone(),
    };
    let summary = driver::run(&cfg, &opts)?;
    if cli.json {
        super::print_json(&summary)?;
    } else {
        print!("{}", crate::report::render(&summary));
    }
    Ok(summary.exit_code())
}
