//! `[drill]`: where a drill host restores from and into, how much it restores of each DLE,
//! how often every DLE must be drilled, and the recovery time each host must meet.

use crate::error::Error;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDrill {
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    scratch: Option<PathBuf>,
    #[serde(default)]
    max_bytes: Option<String>,
    #[serde(default)]
    drill_cycle: Option<String>,
    #[serde(default)]
    rto_target: Option<String>,
    #[serde(default)]
    signing_key: Option<PathBuf>,
    #[serde(default)]
    signers: Vec<PathBuf>,
}

/// The `[drill]` section, parsed; every key may be omitted (command-line flags win).
#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Drill {
    /// The copy drilled: a directory (a mirror or vault) or `s3://BUCKET/PREFIX`.
    pub from: Option<String>,
    /// Where restores are made (absolute); default: the system's temp directory.
    pub scratch: Option<PathBuf>,
    /// A DLE bigger than this is drilled by a random sample of its files up to it.
    pub max_bytes: Option<u64>,
    /// Every DLE is drilled within this many seconds (default: the dumpcycle, in days).
    pub drill_cycle: Option<u64>,
    /// Each host's recovery-time estimate must stay under this many seconds.
    pub rto_target: Option<u64>,
    /// On the drill host: the ed25519 key (`tapir keygen --signing`) that signs the results
    /// written back beside the copy's catalog; none: nothing is written back.
    pub signing_key: Option<PathBuf>,
    /// On the backup server: the drill hosts' public keys whose signed results `status` and
    /// `check-rpo` show; a results file signed by another key is named and ignored.
    pub signers: Vec<PathBuf>,
}

pub(super) fn build(
    file: &Path,
    raw: RawDrill,
    abs: &dyn Fn(&Path) -> PathBuf,
) -> Result<Drill, Error> {
    let bad = |key: &str, m: String| Error::config(format!("{}: drill.{key}: {m}", file.display()));
    let secs = |key: &str, v: &Option<String>| -> Result<Option<u64>, Error> {
        v.as_deref()
            .map(|s| crate::units::parse_duration(s).map(|d| d.as_secs()))
            .transpose()
            .map_err(|m| bad(key, m))
    };
    let max_bytes = raw
        .max_bytes
        .as_deref()
        .map(crate::units::parse_size)
        .transpose()
        .map_err(|m| bad("max_bytes", m))?;
    if max_bytes == Some(0) {
        return Err(bad("max_bytes", "must be more than 0".into()));
    }
    let from = match raw.from {
        Some(f) if crate::s3::is_url(&f) => Some(f),
        Some(f) => Some(abs(Path::new(&f)).display().to_string()),
        None => None,
    };
    Ok(Drill {
        from,
        scratch: raw.scratch.as_deref().map(abs),
        max_bytes,
        drill_cycle: secs("drill_cycle", &raw.drill_cycle)?,
        rto_target: secs("rto_target", &raw.rto_target)?,
        signing_key: raw.signing_key.as_deref().map(abs),
        signers: raw.signers.iter().map(|p| abs(p)).collect(),
    })
}
