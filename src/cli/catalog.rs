//! `tapir catalog rebuild`: recreate the catalog from the tapes.

use super::Cli;
use std::path::PathBuf;

/// Catalog maintenance.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Recreate history from the slot headers under ROOT (e.g. a mirror), and indexes from
    /// the payloads when --identity is given.
    Rebuild {
        #[arg(long, value_name = "ROOT")]
        from: Option<PathBuf>,
        #[arg(short, long, value_name = "FILE")]
        identity: Option<PathBuf>,
    },
}

pub fn run(cli: &Cli, a: &Args) -> anyhow::Result<i32> {
    let cfg = super::load_config(cli)?;
    match &a.action {
        Action::Rebuild { from, identity } => {
            let root = from.clone().unwrap_or_else(|| cfg.changer.root.clone());
            let r = crate::rebuild::rebuild(&cfg, &root, identity.as_deref())?;
            for s in &r.skipped {
                eprintln!("tapir: skipped {s}");
            }
            outln!(
                "catalog rebuilt from {}: {} dumps, {} indexes",
                root.display(),
                r.dumps,
                r.indexes
            );
            Ok(if r.skipped.is_empty() { 0 } else { 1 })
        }
    }
}
