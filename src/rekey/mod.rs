//! `tapir rekey`: change who can decrypt the tapes without re-encrypting a byte. Every
//! tape file's age header is rewrapped (its file key unwrapped with the admin's identity,
//! wrapped to the new set), its tapir header re-signed over the new age header, and the
//! catalog's sha256 follows; the payload after the age header is copied as it was.

mod head;
mod local;
mod one;
mod remote;
pub mod set;
mod write;

use crate::catalog::history;
use crate::config::Config;
use crate::signing::{Signer, Trust};
use crate::vtape::decode::Ids;
use anyhow::Result;
pub use set::Change;

/// What a rekey works with.
pub struct Ctx<'a> {
    pub cfg: &'a Config,
    /// The server's config when `cfg` is a copy (a mirror, a vault): a dump its vtape root
    /// holds rekeyed already gets the same headers in the copy.
    pub server: Option<&'a Config>,
    pub trust: &'a Trust,
    pub ids: &'a Ids,
    pub signer: &'a Signer,
    pub change: &'a Change,
    pub dry_run: bool,
}

/// What a rekey did.
#[derive(Debug, Default)]
pub struct Report {
    pub files: usize,
    pub rekeyed: usize,
    /// Payload bytes read for the rekeyed files.
    pub bytes: u64,
    /// Bytes written (a directory) or sent (a store) for them.
    pub sent: u64,
    pub unchanged: usize,
    pub plain: usize,
    pub problems: usize,
}

/// Rekey every dump file the catalog of `ctx.cfg` lists, oldest first; each file said as
/// it is done (`out`), each problem named and counted, the others carried on.
pub fn run(ctx: &Ctx, mut out: impl FnMut(String)) -> Result<Report> {
    let records = history::load_all(&ctx.cfg.catalog)?;
    let mut rep = Report {
        files: records.len(),
        ..Report::default()
    };
    for r in &records {
        let what = format!(
            "{} ({} {} level {} of {})",
            ctx.cfg.dump_path(r),
            r.host,
            r.disk,
            r.level,
            crate::clock::show_datestamp(&r.datestamp)
        );
        match one::rekey(ctx, r) {
            Ok(write::Done::Rekeyed { read, sent, locked }) => {
                rep.rekeyed += 1;
                rep.bytes += read;
                rep.sent += sent;
                out(format!("REKEYED {what}"));
                if let Some(l) = locked {
                    out(format!("  KEPT: {l}"));
                }
            }
            Ok(write::Done::Would(set)) => {
                rep.rekeyed += 1;
                out(format!("WOULD REKEY {what} to {}", set.join(", ")));
            }
            Ok(write::Done::Unchanged) => rep.unchanged += 1,
            Ok(write::Done::Plain) => rep.plain += 1,
            Err(e) => {
                rep.problems += 1;
                crate::say::problem(format!("tapir: NOT REKEYED {what}: {e:#}"));
            }
        }
    }
    Ok(rep)
}

/// The recipients that tape files are still wrapped to but the config no longer lists
/// (fingerprint → number of files): what `tapir check` reminds of. Headers only are read.
pub fn unlisted_recipients(
    cfg: &Config,
    configured: &[crate::keys::Recipient],
) -> Result<std::collections::BTreeMap<String, usize>> {
    let listed: Vec<String> = configured.iter().map(|r| r.fingerprint()).collect();
    let mut out = std::collections::BTreeMap::new();
    for r in history::load_all(&cfg.catalog)? {
        let Ok(h) = crate::vtape::header::read_dump(&cfg.dump_path(&r)) else {
            continue;
        };
        for f in h.recipients.iter().filter(|f| !listed.contains(f)) {
            *out.entry(f.clone()).or_insert(0) += 1;
        }
    }
    Ok(out)
}
