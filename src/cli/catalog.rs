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
    /// Recreate the catalog from the tapes (or a mirror).
    ///
    /// History from the signed slot headers under ROOT (e.g. a mirror), and indexes from
    /// the payloads when --identity is given; what the old catalog listed and the tapes no
    /// longer hold is reported as LOST.
    Rebuild {
        #[arg(long, value_name = "ROOT")]
        from: Option<PathBuf>,
        #[arg(short, long, value_name = "FILE")]
        identity: Option<PathBuf>,
        #[command(flatten)]
        trust: super::TrustArgs,
    },
}

pub fn run(cli: &Cli, a: &Args) -> anyhow::Result<i32> {
    let Action::Rebuild { from, .. } = &a.action;
    let remote = from
        .as_ref()
        .and_then(|f| f.to_str())
        .filter(|f| crate::s3::is_url(f));
    let cfg = match from {
        // tapes on object storage: read there, the catalog rebuilt into the local cache
        Some(root) if remote.is_some() => super::FromRoot {
            from: Some(root.clone()),
        }
        .config(cli)?,
        // with only the tapes (a mirror) and the public key: the catalog goes beside them
        Some(root) if super::no_config_file(cli) => {
            let mut c = crate::config::for_reading(root)?;
            c.catalog = c.changer.root.join("catalog");
            c
        }
        _ => super::load_config(cli)?,
    };
    match &a.action {
        Action::Rebuild {
            from,
            identity,
            trust,
        } => {
            let root = from.clone().unwrap_or_else(|| cfg.changer.root.clone());
            let trust = trust.trust(&cfg, identity.as_deref())?;
            let r = crate::rebuild::rebuild(&cfg, &root, identity.as_deref(), &trust)?;
            for s in &r.skipped {
                eprintln!("tapir: skipped {s}");
            }
            for l in &r.lost {
                eprintln!("tapir: LOST {l}");
            }
            outln!(
                "catalog rebuilt from {}: {} dumps, {} indexes",
                root.display(),
                r.dumps,
                r.indexes
            );
            Ok(if r.skipped.is_empty() && r.lost.is_empty() {
                0
            } else {
                1
            })
        }
    }
}
