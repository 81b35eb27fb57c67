//! The admin's decisions the tapes do not record: DLEs retired by `tapir forget` (until when
//! their dumps still pin tapes) and tapes kept out of rotation by `tapir label --no-reuse`.
//! One file, `catalog/admin.json`, written atomically; mirrored with the catalog, but not
//! recreated by `catalog rebuild` (the tapes do not know it).

use crate::fsutil;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Admin {
    #[serde(default)]
    pub retired: Vec<Retired>,
    #[serde(default)]
    pub no_reuse: Vec<NoReuse>,
}

/// A DLE taken out of the disklist and forgotten: its dumps pin their tapes until
/// `keep_until` (a date, YYYY-MM-DD) has passed; `find` lists them until their tape is reused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Retired {
    pub host: String,
    pub disk: String,
    pub keep_until: String,
    /// When `tapir forget` was run (datestamp).
    pub since: String,
}

/// A tape kept out of rotation (a legal hold, a known-good set): never written, never
/// relabelled without `--force`, not counted among the tapecycle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct NoReuse {
    pub label: String,
    /// When `tapir label --no-reuse` was run (datestamp).
    pub since: String,
}

const FILE: &str = "admin.json";

impl Admin {
    pub fn load(catalog: &Path) -> Result<Admin> {
        let p = catalog.join(FILE);
        match std::fs::read_to_string(&p) {
            Ok(t) => serde_json::from_str(&t).with_context(|| format!("bad {}", p.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Admin::default()),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", p.display())),
        }
    }

    pub fn save(&self, catalog: &Path) -> Result<()> {
        fsutil::create_dir_all(catalog)?;
        fsutil::write_atomic(
            &catalog.join(FILE),
            serde_json::to_string_pretty(self)?.as_bytes(),
        )
    }

    pub fn retired(&self, host: &str, disk: &str) -> Option<&Retired> {
        self.retired
            .iter()
            .find(|r| r.host == host && r.disk == disk)
    }

    /// Retire (or re-retire with a new date) a DLE.
    pub fn retire(&mut self, r: Retired) {
        self.retired
            .retain(|o| !(o.host == r.host && o.disk == r.disk));
        self.retired.push(r);
        self.retired
            .sort_by(|a, b| (&a.host, &a.disk).cmp(&(&b.host, &b.disk)));
    }

    /// Lift the retirement of a DLE (it is back in the disklist); whether there was one.
    pub fn unretire(&mut self, host: &str, disk: &str) -> bool {
        let n = self.retired.len();
        self.retired.retain(|o| !(o.host == host && o.disk == disk));
        n != self.retired.len()
    }

    pub fn no_reuse(&self, label: &str) -> Option<&NoReuse> {
        self.no_reuse.iter().find(|n| n.label == label)
    }

    /// Keep `label` out of rotation (`on`) or put it back; whether anything changed.
    pub fn set_no_reuse(&mut self, label: &str, on: bool, since: &str) -> bool {
        let had = self.no_reuse(label).is_some();
        if on && !had {
            self.no_reuse.push(NoReuse {
                label: label.into(),
                since: since.into(),
            });
            self.no_reuse.sort_by(|a, b| a.label.cmp(&b.label));
        } else if !on {
            self.no_reuse.retain(|n| n.label != label);
        }
        had != on
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions_round_trip_and_a_missing_file_is_none() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Admin::load(dir.path()).unwrap(), Admin::default());
        let mut a = Admin::default();
        a.retire(Retired {
            host: "web1".into(),
            disk: "/srv".into(),
            keep_until: "2027-01-10".into(),
            since: "20261201010000".into(),
        });
        assert!(a.set_no_reuse("daily-03", true, "20261201010000"));
        assert!(!a.set_no_reuse("daily-03", true, "20261202010000"));
        a.save(dir.path()).unwrap();
        let b = Admin::load(dir.path()).unwrap();
        assert_eq!(a, b);
        assert_eq!(b.no_reuse("daily-03").unwrap().since, "20261201010000");
        assert_eq!(b.retired("web1", "/srv").unwrap().keep_until, "2027-01-10");
        let mut c = b.clone();
        assert!(c.unretire("web1", "/srv") && c.set_no_reuse("daily-03", false, ""));
        assert_eq!(c, Admin::default());
    }
}
