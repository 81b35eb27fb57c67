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
    crate::fsutil::read_json_or_default(&file(catalog))
}

/// Record what `target` of `vault` holds now.
pub fn save(cfg: &Config, vault: &Vault, target: &Target, problems: usize) -> Result<()> {
    let to = target.name.clone();
    let mut all = load(&cfg.catalog);
    all.retain(|s| !(s.vault == vault.name && s.to == to));
    all.push(State {
        vault: vault.name.clone(),
        to,
        finished: crate::clock::now()?.to_rfc3339(),
        problems,
        held: target.records()?,
    });
    crate::fsutil::write_json(&file(&cfg.catalog), &all)
}

/// The vault copies of one dump: `vault:NAME` for each target that holds it (`held`: each
/// state's copies, as [`held_keys`] makes them once).
pub fn copies_of(
    states: &[State],
    held: &[std::collections::HashSet<super::Key>],
    r: &DumpRecord,
) -> Vec<String> {
    let k = key(r);
    let mut out: Vec<String> = states
        .iter()
        .zip(held)
        .filter(|(_, h)| h.contains(&k))
        .map(|(s, _)| format!("vault:{}", s.vault))
        .collect();
    out.dedup();
    out
}

/// Each state's copies as a set, to look dumps up in.
pub fn held_keys(states: &[State]) -> Vec<std::collections::HashSet<super::Key>> {
    states
        .iter()
        .map(|s| s.held.iter().map(key).collect())
        .collect()
}

/// The vault target whose copy of `host disk` is the newest full at or before `bound` (a
/// datestamp), as a reader's config of that target, and its name (`vault:NAME (DIR)`).
pub fn holder(
    cfg: &Config,
    host: &str,
    disk: &str,
    bound: &str,
) -> Result<Option<(Config, String)>> {
    let best = load(&cfg.catalog)
        .into_iter()
        .filter_map(|s| {
            let newest = s
                .held
                .iter()
                .filter(|r| r.host == host && r.disk == disk && r.level == 0)
                .filter(|r| r.datestamp.as_str() <= bound)
                .map(|r| r.datestamp.clone())
                .max()?;
            Some((newest, s))
        })
        .max_by(|a, b| a.0.cmp(&b.0));
    let Some((_, s)) = best else { return Ok(None) };
    let reader = crate::config::reading::from_root(Path::new(&s.to), Some(cfg.clone()))?;
    Ok(Some((reader, format!("vault:{} ({})", s.vault, s.to))))
}

/// A dump as `find` lists it: its record and every copy of it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Listed {
    #[serde(flatten)]
    pub record: DumpRecord,
    /// Where it lives: `slot3` (or `holding`), `mirror:TARGET`, `vault:NAME`.
    pub copies: Vec<String>,
}

/// Every dump of `records` (the server's catalog) with its copies, plus the dumps only a
/// vault still holds (the rotation dropped them), oldest first.
pub fn listed(catalog: &Path, records: Vec<DumpRecord>) -> Vec<Listed> {
    let vaults = load(catalog);
    let held = held_keys(&vaults);
    let mirrors = crate::mirror::load_states(catalog);
    let mut seen = std::collections::BTreeSet::new();
    let mut out: Vec<Listed> = records
        .into_iter()
        .map(|r| {
            seen.insert(key(&r));
            let mut copies = vec![];
            if r.status != crate::catalog::DumpStatus::Missing {
                copies.push(if r.is_held() {
                    "holding".to_string()
                } else {
                    crate::vtape::slot_name(r.slot)
                });
            }
            for m in mirrors.iter().filter(|m| m.holds(&r)) {
                copies.push(format!("mirror:{}", m.to));
            }
            copies.extend(copies_of(&vaults, &held, &r));
            Listed { record: r, copies }
        })
        .collect();
    for s in &vaults {
        for r in &s.held {
            if seen.insert(key(r)) {
                let copies = copies_of(&vaults, &held, r);
                let mut record = r.clone();
                record.path = None;
                out.push(Listed { record, copies });
            }
        }
    }
    out.sort_by(|a, b| a.record.datestamp.cmp(&b.record.datestamp));
    out
}
