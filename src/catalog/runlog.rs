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
