//! Dumptypes: `dumptypes/NAME.toml`, how a DLE is dumped (compression, encryption, excludes…).

use super::toml_err;
use crate::error::Error;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Compress {
    None,
    ServerFast,
    ServerBest,
    ClientFast,
    ClientBest,
}

impl Compress {
    /// gzip level, or None when not compressed. "fast" is zlib-rs level 2: measured on
    /// this machine kind it is smaller than GNU `gzip -1` and still ~1.5x its speed,
    /// where level 1 is faster but ~20% bigger.
    pub fn gzip_level(self) -> Option<u32> {
        match self {
            Compress::None => None,
            Compress::ServerFast | Compress::ClientFast => Some(2),
            Compress::ServerBest | Compress::ClientBest => Some(9),
        }
    }
    pub fn on_client(self) -> bool {
        matches!(self, Compress::ClientFast | Compress::ClientBest)
    }
    pub fn name(self) -> &'static str {
        match self {
            Compress::None => "none",
            Compress::ServerFast => "server-fast",
            Compress::ServerBest => "server-best",
            Compress::ClientFast => "client-fast",
            Compress::ClientBest => "client-best",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encrypt {
    Server,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Auth {
    Ssh,
    Local,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    Standard,
    Noinc,
    Nofull,
    Incronly,
    Skip,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    Low,
    Medium,
    High,
}

/// Where the planner's size estimates come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Estimate {
    /// The agent walks the DLE once (metadata only) and reports every candidate level.
    Client,
    /// From the history of earlier dumps; the client is asked only for a new DLE.
    Server,
}

/// One dumptype. Every key may be omitted.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Dumptype {
    pub description: String,
    pub compress: Compress,
    pub encrypt: Encrypt,
    pub auth: Auth,
    pub exclude: Vec<String>,
    pub one_file_system: bool,
    pub strategy: Strategy,
    pub index: bool,
    pub priority: Priority,
    pub estimate: Estimate,
    /// A dump fails when no byte arrives from the client for this long.
    pub stall_timeout: String,
    /// Named pre/post hooks the client's agent.toml defines (e.g. "docker-pause").
    pub hooks: Vec<String>,
    /// Dumps at once per host with this dumptype (default: the host's or global maxdumps).
    pub maxdumps: Option<u32>,
}

impl Dumptype {
    pub fn stall_timeout(&self) -> std::time::Duration {
        super::size::parse_duration(&self.stall_timeout)
            .unwrap_or(std::time::Duration::from_secs(600))
    }
}

impl Default for Dumptype {
    fn default() -> Self {
        Dumptype {
            description: String::new(),
            compress: Compress::ServerFast,
            encrypt: Encrypt::Server,
            auth: Auth::Ssh,
            exclude: Vec::new(),
            one_file_system: true,
            strategy: Strategy::Standard,
            index: true,
            priority: Priority::Medium,
            estimate: Estimate::Client,
            stall_timeout: "10m".into(),
            hooks: Vec::new(),
            maxdumps: None,
        }
    }
}

/// Load every `*.toml` in `dir`; the file stem is the dumptype name.
pub fn load_dir(dir: &Path) -> Result<BTreeMap<String, Dumptype>, Error> {
    let rd = std::fs::read_dir(dir).map_err(|e| {
        Error::config(format!(
            "dumptypes directory {}: cannot read: {e}",
            dir.display()
        ))
    })?;
    let mut out = BTreeMap::new();
    for entry in rd {
        let path = entry
            .map_err(|e| Error::config(format!("{}: {e}", dir.display())))?
            .path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let name = path
            .file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let (dt, text): (Dumptype, String) = toml_err::load(&path)?;
        check_excludes(&path, &text, &dt)?;
        out.insert(name, dt);
    }
    Ok(out)
}

fn check_excludes(path: &Path, text: &str, dt: &Dumptype) -> Result<(), Error> {
    if let Err(m) = super::size::parse_duration(&dt.stall_timeout) {
        let span = text.find("stall_timeout").map(|i| i..i + 13);
        return Err(toml_err::at(
            path,
            text,
            span,
            &format!("stall_timeout: {m}"),
        ));
    }
    for h in &dt.hooks {
        if h.is_empty()
            || !h
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            let span = text.find(h.as_str()).map(|i| i..i + h.len());
            return Err(toml_err::at(
                path,
                text,
                span,
                &format!("hook name {h:?}: use letters, digits, - and _"),
            ));
        }
    }
    for pat in &dt.exclude {
        if let Err(e) = globset::Glob::new(pat) {
            let span = text.find(pat.as_str()).map(|i| i..i + pat.len());
            return Err(toml_err::at(
                path,
                text,
                span,
                &format!("bad exclude glob: {e}"),
            ));
        }
    }
    Ok(())
}
