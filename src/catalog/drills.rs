//! What the drills found, per copy and DLE (`drills.json` in the drill host's state
//! directory): which DLEs are due next, the copy's measured restore rate, and what the
//! textfile and the Nagios check report.

use anyhow::Result;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The last drill of one DLE.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Last {
    pub host: String,
    pub disk: String,
    /// When it ran (datestamp, this host's clock).
    pub at: String,
    pub ok: bool,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The last drill that passed (datestamp).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_ok: Option<String>,
}

/// One copy's drills.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Copy {
    /// Tape bytes read per second by the last drill that restored whole DLEs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes_per_second: Option<f64>,
    /// Cores one restore kept busy in those drills (CPU seconds over seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cores_busy: Option<f64>,
    /// When the stock tools last restored a DLE of this copy and `sha256sum -c` passed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stock_ok: Option<String>,
    /// Host → its recovery-time estimate (seconds, one DLE at a time) at that rate.
    #[serde(default)]
    pub rto: BTreeMap<String, f64>,
    /// `HOST DISK` → its last drill.
    #[serde(default)]
    pub dles: BTreeMap<String, Last>,
}

/// Copy (the `--from` root as given) → its drills.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Drills {
    pub copies: BTreeMap<String, Copy>,
}

/// The key of a DLE (host names have no spaces).
pub fn key(host: &str, disk: &str) -> String {
    format!("{host} {disk}")
}

/// The state file in `dir` (default `$XDG_STATE_HOME/tapir`, `~/.local/state/tapir`).
pub fn path(dir: Option<&Path>) -> PathBuf {
    match dir {
        Some(d) => d.join("drills.json"),
        None => crate::catalog::verified::state_path().with_file_name("drills.json"),
    }
}

impl Drills {
    /// An unreadable or corrupt file reads as no drills: every DLE is then due at once,
    /// which claims less, never more.
    pub fn load(p: &Path) -> Drills {
        crate::fsutil::read_json_or_default(p)
    }

    pub fn save(&self, p: &Path) -> Result<()> {
        crate::fsutil::write_json(p, self)
    }
}
