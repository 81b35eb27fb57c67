//! The running run's progress per DLE, for `tapir status` from another terminal: kept in
//! memory, written atomically to `catalog/runs/DATESTAMP/status.json` when a DLE changes state
//! and at most once a second while bytes flow. On a terminal the same ticks redraw one line.

use crate::fsutil;
use serde::{Deserialize, Serialize};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct DleStatus {
    pub host: String,
    pub disk: String,
    pub level: Option<u8>,
    /// estimating, waiting, dumping, OK, PARTIAL, FAILED, MISSED, skipped
    #[serde(rename = "status", alias = "state")]
    pub state: String,
    /// Bytes received from the client so far (the tar, or its client-compressed form).
    #[serde(rename = "received_bytes", alias = "bytes")]
    pub bytes: u64,
    pub seconds: f64,
    #[serde(default)]
    pub detail: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RunStatus {
    pub datestamp: String,
    pub pid: u32,
    pub started: String,
    pub finished: Option<String>,
    pub dles: Vec<DleStatus>,
    /// What someone must look at (a DAMAGED slot, a MISSING dump): the run exits 1.
    #[serde(default)]
    pub problems: Vec<String>,
}

struct Inner {
    status: RunStatus,
    started: Vec<Option<Instant>>,
    last_write: Instant,
}

pub struct Progress {
    path: PathBuf,
    inner: Mutex<Inner>,
    tty: bool,
}

impl Progress {
    pub fn new(catalog: &Path, datestamp: &str, dles: &[(String, String)]) -> Self {
        let status = RunStatus {
            datestamp: datestamp.to_string(),
            pid: std::process::id(),
            started: chrono::Local::now().to_rfc3339(),
            finished: None,
            problems: vec![],
            dles: dles
                .iter()
                .map(|(host, disk)| DleStatus {
                    host: host.clone(),
                    disk: disk.clone(),
                    level: None,
                    state: "estimating".into(),
                    bytes: 0,
                    seconds: 0.0,
                    detail: String::new(),
                })
                .collect(),
        };
        let p = Progress {
            path: catalog.join("runs").join(datestamp).join("status.json"),
            inner: Mutex::new(Inner {
                started: vec![None; dles.len()],
                status,
                last_write: Instant::now(),
            }),
            tty: std::io::stderr().is_terminal()
                && crate::say::audience() == crate::say::Audience::Terminal,
        };
        p.save(&mut p.inner.lock().unwrap(), false);
        p
    }

    /// Where a DLE is in the list (looked up once per dump, not per data frame).
    pub fn index(&self, host: &str, disk: &str) -> Option<usize> {
        let inner = self.inner.lock().unwrap();
        inner
            .status
            .dles
            .iter()
            .position(|d| d.host == host && d.disk == disk)
    }

    /// A DLE moves to `state` (with `level` and a detail such as the planner's reason).
    pub fn set(&self, host: &str, disk: &str, level: Option<u8>, state: &str, detail: &str) {
        let Some(i) = self.index(host, disk) else {
            return;
        };
        let mut inner = self.inner.lock().unwrap();
        if state == "dumping" {
            inner.started[i] = Some(Instant::now());
        }
        let d = &mut inner.status.dles[i];
        d.state = state.to_string();
        d.level = level.or(d.level);
        d.detail = detail.to_string();
        self.save(&mut inner, false);
    }

    /// Bytes of tar received for the DLE at `index`; saves at most once a second.
    pub fn bytes(&self, index: Option<usize>, n: u64) {
        let Some(i) = index else {
            return;
        };
        let mut inner = self.inner.lock().unwrap();
        inner.status.dles[i].bytes += n;
        if inner.last_write.elapsed().as_millis() >= 1000 {
            self.save(&mut inner, true);
        }
    }

    /// The run's problems, shown by `tapir status` while it runs and after.
    pub fn problems(&self, problems: &[String]) {
        let mut inner = self.inner.lock().unwrap();
        inner.status.problems = problems.to_vec();
        self.save(&mut inner, false);
    }

    pub fn finish(&self) {
        let mut inner = self.inner.lock().unwrap();
        inner.status.finished = Some(chrono::Local::now().to_rfc3339());
        self.save(&mut inner, false);
    }

    /// Write the file; on a terminal redraw the progress line (`draw`) or clear it so the
    /// log line that follows a state change starts clean.
    fn save(&self, inner: &mut Inner, draw: bool) {
        let Inner {
            status, started, ..
        } = inner;
        for (d, s) in status.dles.iter_mut().zip(started.iter()) {
            if let (Some(t), "dumping") = (s, d.state.as_str()) {
                d.seconds = t.elapsed().as_secs_f64();
            }
        }
        if let Ok(text) = serde_json::to_vec_pretty(&inner.status) {
            let _ = fsutil::write_atomic(&self.path, &text);
        }
        inner.last_write = Instant::now();
        if self.tty {
            let line = if draw {
                one_line(&inner.status)
            } else {
                String::new()
            };
            eprint!("\r\x1b[K{line}");
            let _ = std::io::stderr().flush();
        }
    }
}

/// `3/10 done; dumping web1:/etc 120.0 MiB 85.2 MB/s, …` for a terminal.
fn one_line(s: &RunStatus) -> String {
    let done = s
        .dles
        .iter()
        .filter(|d| !matches!(d.state.as_str(), "estimating" | "waiting" | "dumping"))
        .count();
    let busy: Vec<String> = s
        .dles
        .iter()
        .filter(|d| d.state == "dumping")
        .map(|d| {
            format!(
                "{}:{} {} {}",
                d.host,
                d.disk,
                crate::units::human(d.bytes),
                rate(d)
            )
        })
        .collect();
    let mut line = format!("tapir: {done}/{} done", s.dles.len());
    if !busy.is_empty() {
        line.push_str("; dumping ");
        line.push_str(&busy.join(", "));
    }
    line.chars().take(160).collect()
}

/// MB/s of a DLE's dump so far; none for less than a tenth of a second (a rate measured over
/// microseconds says nothing: 8 MB in 4e-7 s is not 7888640 MB/s).
pub fn rate(d: &DleStatus) -> String {
    if d.seconds >= 0.1 {
        format!("{:.1} MB/s", d.bytes as f64 / 1e6 / d.seconds)
    } else {
        "-".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_rate_from_a_blink() {
        let mut d: DleStatus = serde_json::from_str(
            r#"{"host":"h","disk":"/d","level":0,"state":"OK","bytes":3155456,"seconds":4e-7}"#,
        )
        .unwrap();
        assert_eq!(rate(&d), "-");
        d.seconds = 2.0;
        assert_eq!(rate(&d), "1.6 MB/s");
    }
}
