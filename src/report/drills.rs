//! Drill results written back beside a copy's catalog (`drills/DRILLHOST.json` on the mirror
//! or vault), signed by the drill host's key. The backup server shows them in `status`, the
//! run report and `check-rpo` only when a key its `[drill] signers` lists made the
//! signature: anyone who can write to the mirror could otherwise report drills that never
//! ran, and a forged "OK" is exactly what a drill must never show.

use crate::catalog::drills::{Copy, Last};
use crate::config::Config;
use crate::signing::{self, Signer};
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The directory beside a copy's `catalog/` that drill hosts write to.
pub const DIR: &str = "drills";

/// The signatures' namespace (`ssh-keygen -Y verify -n tapir-drill`): a drill host's
/// signature is never a tape's.
pub const NAMESPACE: &str = "tapir-drill";

/// What one drill host found in one copy.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Results {
    pub drill_host: String,
    /// The copy as the drill host names it (its mount point).
    pub copy: String,
    /// When the drill host wrote this (datestamp, its clock).
    pub at: String,
    #[serde(flatten)]
    pub state: Copy,
}

/// This machine's name, for the results file.
pub fn this_host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| {
            !h.is_empty()
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c))
        })
        .unwrap_or_else(|| "drill-host".to_string())
}

/// Write `r` signed into `root/drills/` (a directory copy); the file written.
pub fn write(root: &Path, r: &Results, signer: &Signer) -> Result<PathBuf> {
    let body = serde_json::to_string_pretty(r)? + "\n";
    let text = body.clone() + &signer.sign_in(NAMESPACE, body.as_bytes())?;
    let dir = root.join(DIR);
    crate::fsutil::create_dir_all(&dir)?;
    let path = dir.join(format!("{}.json", r.drill_host));
    crate::fsutil::write_atomic(&path, text.as_bytes())
        .with_context(|| format!("cannot write the drill results {}", path.display()))?;
    Ok(path)
}

/// One results file the server read: where, and what it says (None: refused, with why).
pub struct Found {
    pub path: PathBuf,
    pub results: Result<Results, String>,
}

/// Every results file in the directory copies the server writes (mirror targets and vault
/// targets), checked against `[drill] signers`.
pub fn read_all(cfg: &Config) -> Vec<Found> {
    let keys: Result<Vec<_>, String> = cfg
        .drill
        .signers
        .iter()
        .map(|p| signing::read_public(p).map_err(|e| format!("{e:#}")))
        .collect();
    let roots = cfg
        .mirror
        .to
        .iter()
        .chain(cfg.vaults.values().flat_map(|v| v.to.iter()))
        .filter(|t| !crate::s3::is_url(t));
    let mut out = vec![];
    for root in roots {
        let Ok(rd) = std::fs::read_dir(Path::new(root).join(DIR)) else {
            continue;
        };
        let mut files: Vec<PathBuf> = rd
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        for path in files {
            let results = match &keys {
                Err(e) => Err(format!("[drill] signers: {e}")),
                Ok(keys) => check(&path, keys),
            };
            out.push(Found { path, results });
        }
    }
    out
}

fn check(path: &Path, keys: &[ssh_key::PublicKey]) -> Result<Results, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("unreadable: {e}"))?;
    let (body, sig) = signing::split(&text);
    let Some(sig) = sig else {
        return Err("not signed".into());
    };
    if keys.is_empty() {
        return Err("no [drill] signers are configured to check it with".into());
    }
    signing::verify_any_in(NAMESPACE, keys, body.as_bytes(), sig)?;
    serde_json::from_str(body).map_err(|e| format!("not drill results: {e}"))
}

/// Why a good results file is out of date: the drill host writes one every run, so a file
/// older than the drill cycle (`[drill] drill_cycle`, else the dumpcycle) and a day means
/// the drill host stopped, or an old file was put back; its OKs no longer prove anything.
pub fn stale(cfg: &Config, r: &Results, now: &chrono::DateTime<chrono::Local>) -> Option<String> {
    let cycle = cfg
        .drill
        .drill_cycle
        .unwrap_or(cfg.dumpcycle as u64 * 86_400);
    let limit = crate::clock::datestamp(&(*now - chrono::Duration::seconds(cycle as i64 + 86_400)));
    (r.at < limit).then(|| {
        format!(
            "the drill results of {} by {} are from {}, older than the drill cycle: is the \
             drill host still drilling?",
            r.copy,
            r.drill_host,
            crate::clock::show_datestamp(&r.at)
        )
    })
}

/// The newest drill of `host disk` among the good results: the copy, the drill host, its
/// last drill.
pub fn last_of<'f>(found: &'f [Found], host: &str, disk: &str) -> Option<(&'f Results, &'f Last)> {
    let key = crate::catalog::drills::key(host, disk);
    found
        .iter()
        .filter_map(|f| f.results.as_ref().ok())
        .filter_map(|r| r.state.dles.get(&key).map(|l| (r, l)))
        .max_by(|a, b| a.1.at.cmp(&b.1.at))
}

/// The drill results as lines for people (`status`, the run report): per copy how many DLEs
/// passed their last drill, each failure (`FAILED …`), each recovery-time estimate; a file
/// refused or out of date says so (`WARN …`).
pub fn lines(cfg: &Config) -> Vec<String> {
    let mut out = vec![];
    let now = crate::clock::now().ok();
    for f in read_all(cfg) {
        let r = match &f.results {
            Ok(r) => r,
            Err(why) => {
                out.push(format!("WARN drills: {} ignored: {why}", f.path.display()));
                continue;
            }
        };
        if let Some(why) = now.as_ref().and_then(|n| stale(cfg, r, n)) {
            out.push(format!("WARN drills: {why}"));
        }
        let c = &r.state;
        let ok = c.dles.values().filter(|l| l.ok).count();
        out.push(format!(
            "drills of {} by {} ({}): {ok} of {} DLE(s) passed their last drill{}",
            r.copy,
            r.drill_host,
            crate::clock::show_datestamp(&r.at),
            c.dles.len(),
            c.bytes_per_second
                .map_or(String::new(), |b| format!(", {:.1} MB/s", b / 1e6))
        ));
        for l in c.dles.values().filter(|l| !l.ok) {
            out.push(format!(
                "FAILED drill {} {} ({}): {}",
                l.host,
                l.disk,
                crate::clock::show_datestamp(&l.at),
                l.reason.as_deref().unwrap_or("-")
            ));
        }
        for (host, secs) in &c.rto {
            out.push(format!(
                "recovery time of {host} from {}: {} one DLE at a time",
                r.copy,
                crate::units::show_secs(*secs)
            ));
        }
    }
    out
}
