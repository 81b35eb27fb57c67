//! `[vault.NAME]`: where long-term copies go and what their retention policy keeps (the last
//! full of each of the last N weeks, months, years), checked when the config is loaded.

use super::disklist::Dle;
use super::dumptype::Dumptype;
use crate::catalog::retention::Policy;
use crate::error::Error;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The marker at the top of a vault target: which vault it holds. `--from` knows a vault by it.
pub const MARKER: &str = "tapir-vault.toml";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawVault {
    #[serde(deserialize_with = "super::one_or_many")]
    to: Vec<String>,
    #[serde(default)]
    keep_weekly: u32,
    #[serde(default)]
    keep_monthly: u32,
    #[serde(default)]
    keep_yearly: u32,
    #[serde(default)]
    dles: Vec<String>,
    #[serde(default)]
    object_lock: bool,
}

/// One vault: its targets, its policy and the DLEs it keeps.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Vault {
    pub name: String,
    /// Directories (absolute) or `s3://BUCKET/PREFIX`, each a full copy.
    pub to: Vec<String>,
    pub keep_weekly: u32,
    pub keep_monthly: u32,
    pub keep_yearly: u32,
    /// `host:disk` globs; a DLE is kept too when its dumptype names this vault.
    pub dles: Vec<String>,
    pub object_lock: bool,
    #[serde(skip)]
    globs: Option<globset::GlobSet>,
}

impl Vault {
    /// The retention policy.
    pub fn policy(&self) -> Policy {
        Policy {
            weekly: self.keep_weekly,
            monthly: self.keep_monthly,
            yearly: self.keep_yearly,
        }
    }

    /// Whether this vault keeps copies of `dle` (a `dles` glob matches `host:disk`, or its
    /// dumptype names the vault).
    pub fn covers(&self, dle: &Dle, dt: &Dumptype) -> bool {
        dt.vault.contains(&self.name) || self.matches(&dle.host, &dle.disk)
    }

    /// A `dles` glob matches `host:disk`.
    pub fn matches(&self, host: &str, disk: &str) -> bool {
        self.globs
            .as_ref()
            .is_some_and(|g| g.is_match(format!("{host}:{disk}")))
    }
}

/// Check every `[vault.NAME]` and every dumptype's `vault = [...]`.
pub(super) fn build(
    file: &Path,
    raw: BTreeMap<String, RawVault>,
    abs: &dyn Fn(&Path) -> PathBuf,
    dumptypes: &BTreeMap<String, Dumptype>,
) -> Result<BTreeMap<String, Vault>, Error> {
    let mut out = BTreeMap::new();
    for (name, r) in raw {
        let bad = |m: String| Error::config(format!("{}: vault.{name}: {m}", file.display()));
        super::names::check_name("vault", &name).map_err(|e| bad(e.to_string()))?;
        if r.to.is_empty() {
            return Err(bad(
                "to is empty: name a directory or s3://BUCKET/PREFIX".into()
            ));
        }
        if r.keep_weekly + r.keep_monthly + r.keep_yearly == 0 {
            return Err(bad(
                "keeps nothing: set keep_weekly, keep_monthly or keep_yearly".into(),
            ));
        }
        let mut to = vec![];
        for t in &r.to {
            if crate::s3::is_url(t) {
                to.push(t.clone());
            } else if r.object_lock {
                return Err(bad(format!(
                    "object_lock = true needs s3:// targets: a directory ({t}) cannot hold \
                     a copy against its own server"
                )));
            } else {
                to.push(abs(Path::new(t)).display().to_string());
            }
        }
        let mut set = globset::GlobSetBuilder::new();
        for g in &r.dles {
            let glob = globset::Glob::new(g).map_err(|e| bad(format!("dles {g:?}: {e}")))?;
            set.add(glob);
        }
        let globs = set.build().map_err(|e| bad(e.to_string()))?;
        out.insert(
            name.clone(),
            Vault {
                name,
                to,
                keep_weekly: r.keep_weekly,
                keep_monthly: r.keep_monthly,
                keep_yearly: r.keep_yearly,
                dles: r.dles,
                object_lock: r.object_lock,
                globs: Some(globs),
            },
        );
    }
    for (dt_name, dt) in dumptypes {
        if let Some(v) = dt.vault.iter().find(|v| !out.contains_key(*v)) {
            return Err(Error::config(format!(
                "dumptype {dt_name}: vault = [{v:?}] names no [vault.{v}] in {}",
                file.display()
            )));
        }
    }
    Ok(out)
}
