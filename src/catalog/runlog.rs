//! Run logs: `catalog/runs/DATESTAMP/log.jsonl` (one event a line, appended as they happen)
//! and `summary.json` (the outcomes, written atomically at the end).

use crate::catalog::outcome::RunSummary;
use crate::fsutil;
use anyhow::{Context, Result};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

pub struct RunLog {
    dir: PathBuf,
    file: File,
}

impl RunLog {
    pub fn open(catalog: &Path, datestamp: &str) -> Result<Self> {
        let dir = catalog.join("runs").join(datestamp);
        fsutil::create_dir_all(&dir)?;
        let p = dir.join("log.jsonl");
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&p)
            .with_context(|| format!("cannot open run log {}", p.display()))?;
        Ok(RunLog { dir, file })
    }

    /// Append one event; also a plain line on stderr for cron mail and syslog.
    pub fn event(&mut self, what: &str, detail: serde_json::Value) {
        let t = chrono::Local::now().to_rfc3339();
        let line = serde_json::json!({ "time": t, "event": what, "detail": detail });
        let _ = writeln!(self.file, "{line}");
    }

    pub fn save_summary(&self, s: &RunSummary) -> Result<()> {
        fsutil::write_atomic(
            &self.dir.join("summary.json"),
            serde_json::to_string_pretty(s)?.as_bytes(),
        )
    }
}

/// Every run's datestamp (its directory under `runs/`), oldest first.
pub fn runs(catalog: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(catalog.join("runs"))
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.len() == 14 && n.bytes().all(|b| b.is_ascii_digit()))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// A run's summary; `None` when the run did not finish.
pub fn load_summary(catalog: &Path, datestamp: &str) -> Result<Option<RunSummary>> {
    let path = catalog.join("runs").join(datestamp).join("summary.json");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let s = serde_json::from_str(&text).with_context(|| format!("bad {}", path.display()))?;
    Ok(Some(s))
}

/// One line of a run log.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Logged {
    /// RFC 3339, the server's local time.
    pub time: String,
    pub event: String,
    #[serde(default)]
    pub detail: serde_json::Value,
}

/// A run's log, event by event (a line torn by a kill is skipped).
pub fn load_log(catalog: &Path, datestamp: &str) -> Result<Vec<Logged>> {
    let path = catalog.join("runs").join(datestamp).join("log.jsonl");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    Ok(text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect())
}
