//! Run logs: `catalog/runs/DATESTAMP/log.jsonl` (one event a line, appended as they happen)
//! and `summary.json` (the outcomes, written atomically at the end).

use crate::fsutil;
use crate::report::RunSummary;
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

/// The summary of run `datestamp`, or of the newest run.
pub fn load_summary(catalog: &Path, datestamp: Option<&str>) -> Result<RunSummary> {
    let runs = catalog.join("runs");
    let ds = match datestamp {
        Some(d) => d.to_string(),
        None => newest_run(&runs).context("no run has finished yet")?,
    };
    let p = runs.join(&ds).join("summary.json");
    let text = std::fs::read_to_string(&p).with_context(|| format!("no summary for run {ds}"))?;
    serde_json::from_str(&text).with_context(|| format!("bad summary {}", p.display()))
}

fn newest_run(runs: &Path) -> Option<String> {
    let rd = std::fs::read_dir(runs).ok()?;
    rd.filter_map(|e| e.ok())
        .filter(|e| e.path().join("summary.json").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .max()
}
