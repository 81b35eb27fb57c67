//! When each tape file was last verified, per copy (`catalog/verified.json`): `tapir verify
//! --max-time` reads the least recently verified first and goes on the next night where it
//! stopped; `status`, `check-rpo` and the textfile say how much of each copy was verified
//! within `verify_max_age`.

use super::DumpRecord;
use anyhow::Result;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One verification of one file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Mark {
    /// Datestamp (server clock) of the verification.
    pub at: String,
    /// `sha256` (header, place, record, payload) or `decode` (also decrypted and read to
    /// the end against the index).
    pub depth: String,
}

/// Copy (`rotation`, or the `--from` root as given) → file id → its last good verification.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Verified {
    pub copies: BTreeMap<String, BTreeMap<String, Mark>>,
}

/// A dump file's id: where it is (`LABEL/FILE`, or a vault copy's path) and when it was
/// written, so that a recycled tape's new file of the same name is another file.
pub fn id(r: &DumpRecord) -> String {
    match &r.path {
        Some(p) => format!("{p}@{}", r.datestamp),
        None => format!("{}/{}@{}", r.label, r.file_name, r.datestamp),
    }
}

/// The file of the server's catalog.
pub fn path(catalog: &Path) -> PathBuf {
    catalog.join("verified.json")
}

/// Where a reader with no config keeps it (`$XDG_STATE_HOME/tapir`, `~/.local/state/tapir`).
pub fn state_path() -> PathBuf {
    let base = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".local/state")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("tapir/verified.json")
}

impl Verified {
    pub fn load(p: &Path) -> Verified {
        crate::fsutil::read_json_or_default(p)
    }

    pub fn save(&self, p: &Path) -> Result<()> {
        crate::fsutil::write_json(p, self)
    }

    /// The last good verification of `id` in `copy`.
    pub fn get(&self, copy: &str, id: &str) -> Option<&Mark> {
        self.copies.get(copy)?.get(id)
    }

    /// Record good verifications in `copy`, and forget files `current` no longer lists.
    pub fn record(&mut self, copy: &str, marks: Vec<(String, Mark)>, current: &[String]) {
        let c = self.copies.entry(copy.to_string()).or_default();
        c.extend(marks);
        c.retain(|k, _| current.contains(k));
    }
}

/// How much of a copy was verified within `max_age` seconds of `now` (a file written
/// within it counts as covered: it has not been due yet).
#[derive(Debug, Clone, PartialEq)]
pub struct Coverage {
    pub files: usize,
    pub covered: usize,
    /// The datestamp (its last verification, else its writing) of the oldest file not
    /// covered.
    pub oldest_unverified: Option<String>,
}

impl Coverage {
    pub fn ratio(&self) -> f64 {
        if self.files == 0 {
            1.0
        } else {
            self.covered as f64 / self.files as f64
        }
    }
}

/// The coverage of `records` (the copy's dump files) by `marks`.
pub fn coverage(
    v: &Verified,
    copy: &str,
    records: &[&DumpRecord],
    max_age: Option<u64>,
    now: &chrono::DateTime<chrono::Local>,
) -> Coverage {
    let fresh = |ds: &str| {
        let Some(t) = crate::clock::parse_datestamp(ds) else {
            return false;
        };
        max_age.is_none_or(|m| (*now - t).num_seconds() <= m as i64)
    };
    let mut out = Coverage {
        files: records.len(),
        covered: 0,
        oldest_unverified: None,
    };
    for r in records {
        let mark = v.get(copy, &id(r));
        let covered = match mark {
            Some(m) => fresh(&m.at),
            None => max_age.is_some() && fresh(&r.datestamp),
        };
        if covered {
            out.covered += 1;
        } else {
            let since = mark.map_or(r.datestamp.clone(), |m| m.at.clone());
            if out.oldest_unverified.as_ref().is_none_or(|o| since < *o) {
                out.oldest_unverified = Some(since);
            }
        }
    }
    out
}
