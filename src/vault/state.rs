//! What the server's catalog knows of each vault target (`catalog/vault.json`): the copies it
//! held after the last vault or prune run, so that `find`, `recover --date`, `forecast`,
//! `check-rpo` and the textfile name every copy of a dump without reaching the vault.

use super::{Target, key};
use crate::catalog::DumpRecord;
use crate::config::Config;
use crate::config::vault::Vault;
use anyhow::Result;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// One vault target as last seen.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    pub vault: String,
    pub to: String,
    /// RFC 3339 time of the last run.
    pub finished: String,
    pub problems: usize,
    /// The copies it holds (`path` set: where under the target).
    pub held: Vec<DumpRecord>,
}

fn file(catalog: &Path) -> std::path::PathBuf {
    catalog.join("vault.json")
}

/// Every vault target's last state.
pub fn load(catalog: &Path) -> Vec<State> {
    std::fs::read_to_string(file(catalog))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

/// Record what `target` of `vault` holds now.
pub fn save(cfg: &Config, vault: &Vault, target: &Target, problems: usize) -> Result<()> {
    let to = target.dir.display().to_string();
    let mut all = load(&cfg.catalog);
    all.retain(|s| !(s.vault == vault.name && s.to == to));
    all.push(State {
        vault: vault.name.clone(),
        to,
        finished: crate::clock::now()?.to_rfc3339(),
        problems,
        held: target.records()?,
    });
    crate::fsutil::write_atomic(&file(&cfg.catalog), serde_json::to_string(&all)?.as_bytes())
}

/// The vault copies of one dump: `vault:NAME` for each target that holds it.
pub fn copies_of(states: &[State], r: &DumpRecord) -> Vec<String> {
    let k = key(r);
    let mut out: Vec<String> = states
        .iter()
        .filter(|s| s.held.iter().any(|h| key(h) == k))
        .map(|s| format!("vault:{}", s.vault))
        .collect();
    out.dedup();
    out
}
