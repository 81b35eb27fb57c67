//! `tapir catalog rebuild`: recreate the catalog from the tapes; `tapir catalog
//! forget-missing`: drop, on purpose, the records of dumps whose files are gone.

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
    /// Drop the records of dumps whose files are gone (MISSING).
    ///
    /// A dump file that vanished from its tape is never forgotten by itself: `dump`, `find`
    /// and `check` list it as MISSING until it comes back or an admin drops it here.
    ForgetMissing {
        /// Only this host's records.
        #[arg(long)]
        host: Option<String>,
        /// Only this disk's records.
        #[arg(long)]
        disk: Option<String>,
    },
}

pub fn run(cli: &Cli, a: &Args) -> anyhow::Result<i32> {
    let from = match &a.action {
        Action::ForgetMissing { host, disk } => {
            return forget_missing(cli, host.as_deref(), disk.as_deref());
        }
        Action::Rebuild { from, .. } => from,
    };
    let local = from.as_ref().filter(|f| !crate::s3::is_url_path(f));
    let mut cfg = match (from, local) {
        // tapes on object storage: read there, the catalog rebuilt into the local cache
        (Some(_), None) => super::FromRoot { from: from.clone() }.config(cli)?,
        // with only the tapes (a mirror) and the public key: the catalog goes beside them
        (Some(root), _) if super::no_config_file(cli) => {
            let mut c = crate::config::for_reading(root)?;
            c.catalog = root.join("catalog");
            c
        }
        _ => super::load_config(cli)?,
    };
    if let Some(root) = local {
        cfg.changer.root = crate::vtape::Root::Local(root.clone());
    }
    match &a.action {
        Action::Rebuild {
            identity, trust, ..
        } => {
            let root = &cfg.changer.root;
            let trust = trust.trust(&cfg, identity.as_deref())?;
            let r = crate::rebuild::rebuild(&cfg, root, identity.as_deref(), &trust)?;
            for s in &r.skipped {
                eprintln!("tapir: skipped {s}");
            }
            for l in &r.lost {
                eprintln!("tapir: LOST {l}");
            }
            outln!(
                "catalog rebuilt from {root}: {} dumps, {} indexes",
                r.dumps,
                r.indexes
            );
            Ok(if r.skipped.is_empty() && r.lost.is_empty() {
                0
            } else {
                1
            })
        }
        Action::ForgetMissing { .. } => unreachable!("handled above"),
    }
}

/// Drop the MISSING records that match; say each one, and when none matched.
fn forget_missing(cli: &Cli, host: Option<&str>, disk: Option<&str>) -> anyhow::Result<i32> {
    use crate::catalog::history;
    let cfg = super::load_config(cli)?;
    let all = history::load_missing(&cfg.catalog)?;
    let hit = |r: &history::DumpRecord| {
        host.is_none_or(|h| r.host == h) && disk.is_none_or(|d| r.disk == d)
    };
    let (gone, kept): (Vec<_>, Vec<_>) = all.into_iter().partition(|r| hit(r));
    if gone.is_empty() {
        eprintln!("tapir: no MISSING record matches; nothing forgotten");
        return Ok(1);
    }
    history::save_missing(&cfg.catalog, &kept)?;
    for r in &gone {
        outln!(
            "forgot MISSING {} {} level {} of {} (tape {}, file {})",
            r.host,
            r.disk,
            r.level,
            r.datestamp,
            r.label,
            r.file_name
        );
    }
    Ok(0)
}
