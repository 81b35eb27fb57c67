//! Hook groups (`[groups.NAME]` in tapir.toml): hosts whose named hooks run together, before
//! the first dump of any of their DLEs and after the last (snapshots that must be taken at
//! one moment on several nodes, e.g. a Cassandra or Ceph cluster).

use super::disklist::Dle;
use crate::error::Error;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// One `[groups.NAME]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Group {
    /// Member hosts (each in the disklist, each in one group at most).
    pub hosts: Vec<String>,
    /// Hooks (`[hooks.NAME]` of each member's agent.toml) whose `pre` command runs on every
    /// member, all members at once, before the group's first dump.
    #[serde(default)]
    pub pre: Vec<String>,
    /// Hooks whose `post` command runs on every member whose pre hooks ran, after the
    /// group's last dump.
    #[serde(default)]
    pub post: Vec<String>,
}

/// Every group names hosts of the disklist, each host in one group, hooks by valid names.
pub fn validate(file: &Path, groups: &BTreeMap<String, Group>, dles: &[Dle]) -> Result<(), Error> {
    let err = |m: String| Error::config(format!("{}: {m}", file.display()));
    let mut owner: BTreeMap<&str, &str> = BTreeMap::new();
    for (name, g) in groups {
        if g.hosts.is_empty() {
            return Err(err(format!(
                "groups.{name}.hosts is empty: name its member hosts"
            )));
        }
        if g.pre.is_empty() && g.post.is_empty() {
            return Err(err(format!("groups.{name} has neither pre nor post hooks")));
        }
        for h in g.pre.iter().chain(&g.post) {
            crate::config::names::check_name("hook", h)
                .map_err(|e| err(format!("groups.{name}: {e:#}")))?;
        }
        for host in &g.hosts {
            if !dles.iter().any(|d| &d.host == host) {
                return Err(err(format!(
                    "groups.{name}.hosts: {host:?} has no DLE in the disklist"
                )));
            }
            if let Some(other) = owner.insert(host, name) {
                return Err(err(format!(
                    "host {host:?} is in groups.{other} and groups.{name}: a host belongs to \
                     one group at most"
                )));
            }
        }
    }
    Ok(())
}

/// The group `host` belongs to, if any.
pub fn of<'g>(groups: &'g BTreeMap<String, Group>, host: &str) -> Option<(&'g str, &'g Group)> {
    groups
        .iter()
        .find(|(_, g)| g.hosts.iter().any(|h| h == host))
        .map(|(n, g)| (n.as_str(), g))
}
