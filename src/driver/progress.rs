//! The running run's progress per DLE, for `tapir status` from another terminal: kept in
//! memory, written atomically to `catalog/runs/DATESTAMP/status.json` when a DLE changes state
//! and at most once a second while bytes flow. On a terminal the same ticks redraw one line;
//! each running dump and the whole run say how far they are and when they will be done, from
//! the planner's estimates (amstatus "x% done", restic `--progress`).

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
    /// How long the dump ran (still runs, while `dumping`).
    pub seconds: f64,
    /// What the planner expects to receive (the tar estimate at the chosen level; for a
    /// client that compresses, its expected compressed size).
    #[serde(default)]
    pub planned_bytes: Option<u64>,
    /// Of `planned_bytes`, while dumping (capped at 99 until the dump ends).
    #[serde(default)]
    pub percent: Option<f64>,
    /// Seconds until the dump is expected to end, at its rate so far.
    #[serde(default)]
    pub eta_seconds: Option<f64>,
    #[serde(default)]
    pub detail: String,
}

/// The whole run: bytes of every DLE to dump against the plan.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Total {
    /// Expected bytes of every DLE with a level (ended ones count what they received).
    pub planned_bytes: u64,
    /// Received so far.
    pub received_bytes: u64,
    pub percent: f64,
    /// Seconds until the last dump is expected to end, at the run's rate so far.
    pub eta_seconds: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RunStatus {
    pub datestamp: String,
    pub pid: u32,
    /// A datestamp (`YYYYMMDDHHMMSS`, local time) like every other in tapir's JSON.
    pub started: String,
    pub finished: Option<String>,
    #[serde(default)]
    pub total: Total,
    pub dles: Vec<DleStatus>,
    /// What someone must look at (a DAMAGED slot, a MISSING dump): the run exits 1.
    #[serde(default)]
    pub problems: Vec<String>,
}

struct Inner {
    status: RunStatus,
    started: Vec<Option<Instant>>,
    /// When the first dump started (the run's rate is measured from it).
    first: Option<Instant>,
    last_write: Instant,
}

pub struct Progress {
    path: PathBuf,
    inner: Mutex<Inner>,
    tty: bool,
}

/// The server's clock (`TAPIR_NOW` honoured) as a datestamp.
fn stamp() -> String {
    crate::clock::now()
        .map(|t| crate::clock::datestamp(&t))
        .unwrap_or_default()
}

impl Progress {
    pub fn new(catalog: &Path, datestamp: &str, dles: &[(String, String)]) -> Self {
        let status = RunStatus {
            datestamp: datestamp.to_string(),
            pid: std::process::id(),
            started: stamp(),
            finished: None,
            total: Total::default(),
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
                    planned_bytes: None,
                    percent: None,
                    eta_seconds: None,
                    detail: String::new(),
                })
                .collect(),
        };
        let p = Progress {
            path: catalog.join("runs").join(datestamp).join("status.json"),
            inner: Mutex::new(Inner {
                started: vec![None; dles.len()],
                first: None,
                status,
                last_write: Instant::now(),
            }),
            tty: std::io::stderr().is_terminal()
                && crate::say::audience() == crate::say::Audience::Terminal,
        };
        p.save(&mut p.lock(), false);
        p
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Where a DLE is in the list (looked up once per dump, not per data frame).
    pub fn index(&self, host: &str, disk: &str) -> Option<usize> {
        self.lock()
            .status
            .dles
            .iter()
            .position(|d| d.host == host && d.disk == disk)
    }

    /// The planner expects `bytes` from this DLE tonight.
    pub fn plan(&self, host: &str, disk: &str, bytes: u64) {
        if let Some(i) = self.index(host, disk) {
            self.lock().status.dles[i].planned_bytes = Some(bytes);
        }
    }

    /// A DLE moves to `state` (with `level` and a detail such as the planner's reason). A
    /// dump that ends keeps how long it ran.
    pub fn set(&self, host: &str, disk: &str, level: Option<u8>, state: &str, detail: &str) {
        let Some(i) = self.index(host, disk) else {
            return;
        };
        let mut inner = self.lock();
        if state == "dumping" {
            let now = Instant::now();
            inner.started[i] = Some(now);
            inner.first.get_or_insert(now);
        } else if let Some(t) = inner.started[i].take() {
            inner.status.dles[i].seconds = t.elapsed().as_secs_f64();
        }
        let d = &mut inner.status.dles[i];
        d.state = state.to_string();
        d.level = level.or(d.level);
        d.detail = detail.to_string();
        self.save(&mut inner, false);
    }

    /// Bytes of tar received for the DLE at `index`; saves at most once a second and then
    /// says so (a tick: the moment to tell listeners how far the run is).
    pub fn bytes(&self, index: Option<usize>, n: u64) -> bool {
        let Some(i) = index else {
            return false;
        };
        let mut inner = self.lock();
        inner.status.dles[i].bytes += n;
        if inner.last_write.elapsed().as_millis() >= 1000 {
            self.save(&mut inner, true);
            return true;
        }
        false
    }

    /// One DLE as it stands.
    pub fn dle(&self, host: &str, disk: &str) -> Option<DleStatus> {
        let i = self.index(host, disk)?;
        let mut inner = self.lock();
        measure(&mut inner);
        Some(inner.status.dles[i].clone())
    }

    /// The run as it stands (as last saved).
    pub fn snapshot(&self) -> RunStatus {
        self.lock().status.clone()
    }

    /// The run's problems, shown by `tapir status` while it runs and after.
    pub fn problems(&self, problems: &[String]) {
        let mut inner = self.lock();
        inner.status.problems = problems.to_vec();
        self.save(&mut inner, false);
    }

    pub fn finish(&self) {
        let mut inner = self.lock();
        inner.status.finished = Some(stamp());
        self.save(&mut inner, false);
    }

    /// Write the file; on a terminal redraw the progress line (`draw`) or clear it so the
    /// log line that follows a state change starts clean.
    fn save(&self, inner: &mut Inner, draw: bool) {
        measure(inner);
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

/// Durations, percentages and ETAs of the running dumps and of the whole run, now.
fn measure(inner: &mut Inner) {
    let Inner {
        status,
        started,
        first,
        ..
    } = inner;
    let mut total = Total::default();
    for (d, s) in status.dles.iter_mut().zip(started.iter()) {
        let running = d.state == "dumping";
        if let (Some(t), true) = (s, running) {
            d.seconds = t.elapsed().as_secs_f64();
        }
        (d.percent, d.eta_seconds) = match (running, d.planned_bytes) {
            (true, Some(p)) => (Some(percent(d.bytes, p)), eta(d.bytes, p, d.seconds)),
            _ => (None, None),
        };
        let Some(planned) = d.planned_bytes else {
            continue;
        };
        total.received_bytes += d.bytes;
        total.planned_bytes += match d.state.as_str() {
            "waiting" | "dumping" => planned.max(d.bytes),
            _ => d.bytes,
        };
    }
    total.percent = percent(total.received_bytes, total.planned_bytes);
    let ended = status.finished.is_some();
    total.eta_seconds = first.filter(|_| !ended).and_then(|f| {
        eta(
            total.received_bytes,
            total.planned_bytes,
            f.elapsed().as_secs_f64(),
        )
    });
    if ended {
        total.percent = 100.0;
    }
    status.total = total;
}

/// `done` of `of` in percent, one decimal; below 100 until the thing is done.
fn percent(done: u64, of: u64) -> f64 {
    if of == 0 {
        return 0.0;
    }
    ((done as f64 / of as f64 * 1000.0).floor() / 10.0).min(99.9)
}

/// Seconds left for `of - done` bytes at the rate `done / seconds`; none until a rate is
/// known (a tenth of a second and a byte).
fn eta(done: u64, of: u64, seconds: f64) -> Option<f64> {
    if seconds < 0.1 || done == 0 {
        return None;
    }
    let left = of.saturating_sub(done) as f64;
    Some((left / (done as f64 / seconds)).ceil())
}

/// `5 min (07:50)`: an ETA for people, the clock time in local time counted from `from`
/// (when the figure was measured); `overdue (was 07:50)` once that time has passed without a
/// newer figure (a dump that stalled).
pub fn show_eta(seconds: Option<f64>, from: chrono::DateTime<chrono::Local>) -> String {
    let Some(s) = seconds else {
        return "-".into();
    };
    let left = chrono::Duration::seconds(s as i64);
    let at = from + left;
    if at + chrono::Duration::seconds(5) < chrono::Local::now() {
        return format!("overdue (was {})", at.format("%H:%M"));
    }
    format!(
        "{} ({})",
        crate::clock::human_span(left),
        at.format("%H:%M")
    )
}

/// `3/10 done, 45.0% ETA 5 min (07:50); web1:/etc 60.1% 120.0 MiB 85.2 MB/s ETA 2 min, …`.
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
            let eta = d.eta_seconds.map_or(String::new(), |e| {
                format!(
                    " ETA {}",
                    crate::clock::human_span(chrono::Duration::seconds(e as i64))
                )
            });
            format!(
                "{}:{} {} {} {}{eta}",
                d.host,
                d.disk,
                d.percent.map_or("-".into(), |p| format!("{p}%")),
                crate::units::human(d.bytes),
                rate(d)
            )
        })
        .collect();
    let mut line = format!(
        "tapir: {done}/{} done, {}% ETA {}",
        s.dles.len(),
        s.total.percent,
        show_eta(s.total.eta_seconds, chrono::Local::now())
    );
    if !busy.is_empty() {
        line.push_str("; ");
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

    #[test]
    fn the_terminal_line_says_percent_and_eta_per_dump_and_for_the_run() {
        let mut d = DleStatus {
            host: "web1".into(),
            disk: "/etc".into(),
            level: Some(0),
            state: "dumping".into(),
            bytes: 600,
            seconds: 6.0,
            planned_bytes: Some(1000),
            percent: None,
            eta_seconds: None,
            detail: String::new(),
        };
        (d.percent, d.eta_seconds) = (Some(percent(600, 1000)), eta(600, 1000, 6.0));
        let s = RunStatus {
            datestamp: "20261201013000".into(),
            pid: 1,
            started: "20261201013000".into(),
            finished: None,
            total: Total {
                planned_bytes: 1000,
                received_bytes: 600,
                percent: 60.0,
                eta_seconds: Some(240.0),
            },
            dles: vec![d],
            problems: vec![],
        };
        let line = one_line(&s);
        assert!(
            line.starts_with("tapir: 0/1 done, 60% ETA 4 min ("),
            "{line}"
        );
        assert!(
            line.ends_with("web1:/etc 60% 600 B 0.0 MB/s ETA 4 s"),
            "{line}"
        );
    }

    #[test]
    fn percent_and_eta_from_the_estimate() {
        assert_eq!(percent(250, 1000), 25.0);
        // an estimate too low never shows 100% while the dump runs
        assert_eq!(percent(2000, 1000), 99.9);
        assert_eq!(percent(5, 0), 0.0);
        // 250 bytes in 10 s: 750 left at 25 B/s
        assert_eq!(eta(250, 1000, 10.0), Some(30.0));
        assert_eq!(eta(0, 1000, 10.0), None);
        assert_eq!(eta(10, 1000, 0.01), None);
        let now = chrono::Local::now();
        assert!(show_eta(Some(300.0), now).starts_with("5 min ("));
        let stale = now - chrono::Duration::seconds(600);
        assert!(show_eta(Some(60.0), stale).starts_with("overdue (was "));
        assert_eq!(show_eta(None, now), "-");
    }
}
