//! Dumptypes: `dumptypes/NAME.toml`, how a DLE is dumped (compression, encryption, excludes…).

use super::toml_err;
pub use crate::codec::Compress;
use crate::error::Error;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Encrypt {
    Server,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Auth {
    Ssh,
    Local,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    Standard,
    Noinc,
    Nofull,
    Incronly,
    Skip,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    Low,
    Medium,
    High,
}

/// Where the planner's size estimates come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Estimate {
    /// The agent walks the DLE once (metadata only) and reports every candidate level.
    Client,
    /// From the history of earlier dumps; the client is asked only for a new DLE.
    Server,
}

/// One dumptype. Every key may be omitted.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, default)]
pub struct Dumptype {
    pub description: String,
    pub compress: Compress,
    /// Overrides the mode's level: gzip 1-12 (libdeflate's), zstd 1-19.
    pub compress_level: Option<i32>,
    pub encrypt: Encrypt,
    pub auth: Auth,
    pub exclude: Vec<String>,
    /// Only these top-level entries of the DLE (Amanda's `include "./x"`: `./` then a glob
    /// without `/`); empty: everything.
    pub include: Vec<String>,
    /// Files on the client (relative: to the DLE's root) with one exclude pattern a line
    /// (Amanda's `exclude list`).
    pub exclude_list: Vec<String>,
    /// Files on the client with one `./name` include pattern a line (`include list`).
    pub include_list: Vec<String>,
    /// A list file that does not exist is no error (Amanda's `optional`).
    pub optional_lists: bool,
    pub one_file_system: bool,
    pub strategy: Strategy,
    pub index: bool,
    pub priority: Priority,
    pub estimate: Estimate,
    /// A dump fails when no byte arrives from the client for this long.
    pub stall_timeout: String,
    /// `stall_timeout` parsed, once, when the dumptype is loaded.
    #[serde(skip)]
    pub stall: std::time::Duration,
    /// Named pre/post hooks the client's agent.toml defines (e.g. "docker-pause").
    pub hooks: Vec<String>,
    /// Dumps at once per host with this dumptype (default: the host's or global maxdumps).
    pub maxdumps: Option<u32>,
    /// A dump fails once the client sent more than this many times its estimate (at least
    /// 64 MiB): a runaway or hostile client stops early, not at the end of the tape.
    pub max_growth: f64,
    /// A program DLE: the client's agent.toml `[programs.NAME]` is run and its stdout is the
    /// dump (a database dump, a volume dump…), level 0 every run. Excludes with tar options.
    pub program: Option<String>,
    /// The vaults (`[vault.NAME]`) that keep long-term copies of this dumptype's DLEs.
    pub vault: Vec<String>,
    /// Each regular file's sha256 in the index, hashed as the stream passes: `tapir sums`,
    /// the checks of `recover`, `verify -i` and `drill` read them (false saves that CPU).
    pub file_sha256: bool,
}

impl Dumptype {
    pub fn stall_timeout(&self) -> std::time::Duration {
        self.stall
    }
}

impl Default for Dumptype {
    fn default() -> Self {
        Dumptype {
            description: String::new(),
            compress: Compress::ServerFast,
            compress_level: None,
            encrypt: Encrypt::Server,
            auth: Auth::Ssh,
            exclude: Vec::new(),
            include: Vec::new(),
            exclude_list: Vec::new(),
            include_list: Vec::new(),
            optional_lists: false,
            one_file_system: true,
            strategy: Strategy::Standard,
            index: true,
            priority: Priority::Medium,
            estimate: Estimate::Client,
            stall_timeout: "10m".into(),
            stall: std::time::Duration::from_secs(600),
            hooks: Vec::new(),
            maxdumps: None,
            max_growth: 10.0,
            program: None,
            vault: Vec::new(),
            file_sha256: true,
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
        let (mut dt, text): (Dumptype, String) = toml_err::load(&path)?;
        validate(&path, &text, &mut dt)?;
        out.insert(name, dt);
    }
    Ok(out)
}

/// Amanda's rule for include patterns: `./` then a glob of one name.
pub fn check_include(include: &[String]) -> Result<(), String> {
    for i in include {
        let Some(rest) = i.strip_prefix("./") else {
            return Err(format!(
                "include {i:?} must start with ./ (a name in the DLE's top directory)"
            ));
        };
        if rest.is_empty() || rest.contains('/') || globset::Glob::new(rest).is_err() {
            return Err(format!(
                "include {i:?}: one name or glob below the DLE's top directory, e.g. \"./home*\""
            ));
        }
    }
    Ok(())
}

/// Why a program dumptype's keys do not fit together, if they do not: a program's stream is
/// not a tar, so the tar options mean nothing for it.
fn program_conflict(dt: &Dumptype) -> Option<String> {
    let name = dt.program.as_ref()?;
    if crate::config::names::check_name("program", name).is_err() {
        return Some(format!(
            "program {name:?}: use letters, digits, _ . and - (the name of a [programs.NAME] \
             entry in the client's agent.toml)"
        ));
    }
    let tar_keys = [
        ("exclude", !dt.exclude.is_empty()),
        ("include", !dt.include.is_empty()),
        ("exclude_list", !dt.exclude_list.is_empty()),
        ("include_list", !dt.include_list.is_empty()),
    ];
    if let Some((k, _)) = tar_keys.iter().find(|(_, set)| *set) {
        return Some(format!(
            "program = {name:?} and {k} do not go together: {k} is a tar option, and a \
             program's output is not a tar"
        ));
    }
    if dt.compress.on_client() {
        return Some(format!(
            "program = {name:?} with compress = {:?}: program streams are compressed on the \
             server (use a server-* mode or none)",
            dt.compress.name()
        ));
    }
    None
}

/// Every check of one dumptype's values; `path` names it in errors (a file, or `disklist:LINE`).
pub fn validate(path: &Path, text: &str, dt: &mut Dumptype) -> Result<(), Error> {
    if let Some(l) = dt.compress_level {
        let span = text.find("compress_level").map(|i| i..i + 14);
        match dt.compress.levels() {
            None => {
                return Err(toml_err::at(
                    path,
                    text,
                    span,
                    "compress_level: compress = \"none\" has no level",
                ));
            }
            Some(r) if !r.contains(&l) => {
                return Err(toml_err::at(
                    path,
                    text,
                    span,
                    &format!(
                        "compress_level: {l} is out of range for {}: use {} to {}",
                        dt.compress.name(),
                        r.start(),
                        r.end()
                    ),
                ));
            }
            _ => {}
        }
    }
    match crate::units::parse_duration(&dt.stall_timeout) {
        Ok(d) => dt.stall = d,
        Err(m) => {
            let span = text.find("stall_timeout").map(|i| i..i + 13);
            return Err(toml_err::at(
                path,
                text,
                span,
                &format!("stall_timeout: {m}"),
            ));
        }
    }
    if let Err(m) = check_include(&dt.include) {
        let span = text.find("include").map(|i| i..i + 7);
        return Err(toml_err::at(path, text, span, &m));
    }
    if !dt.max_growth.is_finite() || dt.max_growth < 1.0 {
        let span = text.find("max_growth").map(|i| i..i + 10);
        let m = "max_growth must be a number of at least 1.0";
        return Err(toml_err::at(path, text, span, m));
    }
    if dt.maxdumps == Some(0) {
        let span = text.find("maxdumps").map(|i| i..i + 8);
        return Err(toml_err::at(
            path,
            text,
            span,
            "maxdumps must be at least 1",
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
    if let Some(m) = program_conflict(dt) {
        let span = text.find("program").map(|i| i..i + 7);
        return Err(toml_err::at(path, text, span, &m));
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
