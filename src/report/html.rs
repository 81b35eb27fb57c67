//! The night as a picture (amplot): an HTML page with the run's timeline as inline SVG (one
//! lane per dumper, each dump a bar from its start to its end coloured by its state, with
//! size and rate), the outcome table and the overview matrix. No JavaScript, no external
//! resource: it renders the same in a mail client, a browser and from a file.

use super::overview::{Cell, Overview};
use super::{RunSummary, Status};
use crate::catalog::runlog::Logged;
use crate::units::human;
use chrono::{DateTime, FixedOffset};
use std::fmt::Write;

/// One dump on the timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub host: String,
    pub disk: String,
    pub level: u8,
    pub dumper: usize,
    /// Seconds from the run's start.
    pub start: f64,
    pub end: f64,
    pub status: String,
    pub tar_bytes: u64,
}

/// The run's dumps in time, from its log.
#[derive(Debug, Clone, Default)]
pub struct Timeline {
    pub started: Option<DateTime<FixedOffset>>,
    /// Seconds from the start to the run's end (or its last event).
    pub span: f64,
    pub bars: Vec<Bar>,
}

impl Timeline {
    /// Pair each `dump-start` with its `dump-end`. A log written before dumpers were logged
    /// gets lanes by first fit, which is what the scheduler did.
    pub fn of(log: &[Logged]) -> Timeline {
        let at = |l: &Logged| DateTime::parse_from_rfc3339(&l.time).ok();
        let Some(t0) = log.first().and_then(at) else {
            return Timeline::default();
        };
        let secs = |l: &Logged| at(l).map_or(0.0, |t| (t - t0).as_seconds_f64().max(0.0));
        let mut bars: Vec<Bar> = Vec::new();
        let mut open: Vec<(String, String, usize)> = Vec::new();
        for l in log {
            let d = &l.detail;
            let key = || {
                (
                    d["host"].as_str().unwrap_or("").to_string(),
                    d["disk"].as_str().unwrap_or("").to_string(),
                )
            };
            match l.event.as_str() {
                "dump-start" => {
                    let (host, disk) = key();
                    open.push((host.clone(), disk.clone(), bars.len()));
                    bars.push(Bar {
                        host,
                        disk,
                        level: d["level"].as_u64().unwrap_or(0) as u8,
                        dumper: d["dumper"].as_u64().map_or(usize::MAX, |n| n as usize),
                        start: secs(l),
                        end: f64::NAN,
                        status: "dumping".into(),
                        tar_bytes: 0,
                    });
                }
                "dump-end" => {
                    let (host, disk) = key();
                    if let Some(i) = open.iter().position(|o| o.0 == host && o.1 == disk) {
                        let (_, _, k) = open.remove(i);
                        let b = &mut bars[k];
                        b.end = secs(l);
                        b.status = d["status"].as_str().unwrap_or("?").to_string();
                        b.tar_bytes = d["tar_bytes"].as_u64().unwrap_or(0);
                    }
                }
                _ => {}
            }
        }
        let span = log.last().map_or(0.0, secs).max(1.0);
        for b in bars.iter_mut().filter(|b| b.end.is_nan()) {
            b.end = span; // killed mid-dump: the bar runs to the log's end
        }
        first_fit(&mut bars);
        Timeline {
            started: Some(t0),
            span,
            bars,
        }
    }

    pub fn lanes(&self) -> usize {
        self.bars.iter().map(|b| b.dumper + 1).max().unwrap_or(0)
    }
}

/// Lanes for bars whose dumper the log did not say: the first lane free at their start.
fn first_fit(bars: &mut [Bar]) {
    let mut busy_until: Vec<f64> = Vec::new();
    for b in bars.iter_mut().filter(|b| b.dumper == usize::MAX) {
        let lane = busy_until
            .iter()
            .position(|&t| t <= b.start)
            .unwrap_or(busy_until.len());
        if lane == busy_until.len() {
            busy_until.push(0.0);
        }
        busy_until[lane] = b.end;
        b.dumper = lane;
    }
}

/// Text for HTML: `&`, `<`, `>`, `"`, `'` escaped.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The colour of a state.
fn colour(status: &str) -> &'static str {
    match status {
        "OK" => "#2e7d32",
        "PARTIAL" => "#ef8f00",
        "FAILED" => "#c62828",
        "MISSED" => "#757575",
        _ => "#1565c0",
    }
}

const STYLE: &str = "body{font-family:sans-serif;margin:1.5em;color:#222}\
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:2px 6px}\
th{background:#f0f0f0}td.n{text-align:right}pre{font-size:12px}\
.c{color:#fff;text-align:center;font-weight:bold}";

/// The whole page.
pub fn page(s: &RunSummary, t: &Timeline, o: &Overview) -> String {
    let mut h = String::new();
    let subject = super::mail::subject(&s.org, s);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>{}</title><style>{STYLE}</style></head><body>\n<h1>{}</h1>\n",
        esc(&subject),
        esc(&subject)
    );
    let _ = writeln!(
        h,
        "<p>run {} · {} · tapes {}</p>",
        esc(&crate::clock::show_datestamp_secs(&s.datestamp)),
        esc(&super::duration(s.seconds)),
        esc(&if s.tapes.is_empty() {
            "none".to_string()
        } else {
            s.tapes.join(", ")
        })
    );
    for p in s.problems.iter().chain(&s.held) {
        let _ = writeln!(h, "<p style=\"color:#c62828\">{}</p>", esc(p));
    }
    h.push_str("<h2>Timeline</h2>\n");
    h.push_str(&svg(t));
    h.push_str("<h2>Dumps</h2>\n");
    outcomes(&mut h, s);
    let _ = writeln!(h, "<h2>The last {} nights</h2>", o.nights.len());
    matrix(&mut h, o);
    let _ = writeln!(h, "<h2>Report</h2>\n<pre>{}</pre>", esc(&super::render(s)));
    h.push_str("</body></html>\n");
    h
}

const LANE: f64 = 30.0;
const LEFT: f64 = 80.0;
const PLOT: f64 = 820.0;

/// The timeline: a lane per dumper, a time axis in local clock time.
fn svg(t: &Timeline) -> String {
    let lanes = t.lanes().max(1);
    let height = lanes as f64 * LANE + 40.0;
    let x = |secs: f64| LEFT + secs / t.span * PLOT;
    let mut g = String::new();
    let _ = writeln!(
        g,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{height}\" \
         font-family=\"sans-serif\" font-size=\"11\" role=\"img\">",
        LEFT + PLOT + 40.0
    );
    for lane in 0..lanes {
        let y = lane as f64 * LANE;
        let _ = writeln!(
            g,
            "<text x=\"4\" y=\"{}\">dumper {lane}</text>\
             <line x1=\"{LEFT}\" x2=\"{}\" y1=\"{}\" y2=\"{}\" stroke=\"#ddd\"/>",
            y + 19.0,
            LEFT + PLOT,
            y + LANE,
            y + LANE
        );
    }
    for b in &t.bars {
        let (x0, x1) = (x(b.start), x(b.end));
        let y = b.dumper as f64 * LANE + 4.0;
        let secs = (b.end - b.start).max(0.001);
        let label = format!(
            "{}:{} L{} {} {} {:.1} MB/s",
            b.host,
            b.disk,
            b.level,
            b.status,
            human(b.tar_bytes),
            b.tar_bytes as f64 / 1e6 / secs
        );
        let name = format!(
            "{}:{} {} {:.1} MB/s",
            b.host,
            b.disk,
            human(b.tar_bytes),
            b.tar_bytes as f64 / 1e6 / secs
        );
        let width = (x1 - x0).max(2.0);
        // the name inside the bar when it fits (about 6.5 px a character); always in its title
        let text = if width >= name.chars().count() as f64 * 6.5 + 6.0 {
            format!(
                "<text x=\"{:.1}\" y=\"{}\" fill=\"#fff\">{}</text>",
                x0 + 3.0,
                y + 15.0,
                esc(&name)
            )
        } else {
            String::new()
        };
        let _ = writeln!(
            g,
            "<g><title>{}</title><rect x=\"{x0:.1}\" y=\"{y}\" width=\"{width:.1}\" \
             height=\"22\" fill=\"{}\" rx=\"2\"/>{text}</g>",
            esc(&label),
            colour(&b.status),
        );
    }
    axis(&mut g, t, lanes as f64 * LANE, &x);
    g.push_str("</svg>\n");
    g
}

/// Ticks at a round step, labelled with the clock time.
fn axis(g: &mut String, t: &Timeline, y: f64, x: &dyn Fn(f64) -> f64) {
    let step = [
        1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0,
    ]
    .into_iter()
    .find(|s| t.span / s <= 10.0)
    .unwrap_or(14400.0);
    let mut s = 0.0;
    while s <= t.span {
        let clock = t.started.map_or(String::new(), |t0| {
            (t0 + chrono::Duration::milliseconds((s * 1000.0) as i64))
                .with_timezone(&chrono::Local)
                .format("%H:%M:%S")
                .to_string()
        });
        let _ = writeln!(
            g,
            "<line x1=\"{0:.1}\" x2=\"{0:.1}\" y1=\"0\" y2=\"{1}\" stroke=\"#eee\"/>\
             <text x=\"{0:.1}\" y=\"{2}\" text-anchor=\"middle\" fill=\"#555\">{clock}</text>",
            x(s),
            y,
            y + 16.0
        );
        s += step;
    }
}

fn outcomes(h: &mut String, s: &RunSummary) {
    h.push_str(
        "<table><tr><th>host</th><th>disk</th><th>level</th><th>status</th><th>tar</th>\
         <th>on tape</th><th>time</th><th>MB/s</th><th>tape</th><th>why</th></tr>\n",
    );
    for o in &s.outcomes {
        let status = super::name(&o.status);
        let rate = if o.seconds > 0.0 && o.status != Status::Failed {
            format!("{:.1}", o.original_size as f64 / 1e6 / o.seconds)
        } else {
            "-".into()
        };
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td>\
             <td class=\"c\" style=\"background:{}\">{status}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{rate}</td>\
             <td>{}</td><td>{}</td></tr>",
            esc(&o.host),
            esc(&o.disk),
            o.level,
            colour(&status),
            human(o.original_size),
            human(o.payload_size),
            super::duration(o.seconds),
            esc(o.tape_file.as_deref().unwrap_or("-")),
            esc(o.reason.as_deref().unwrap_or(""))
        );
    }
    h.push_str("</table>\n");
}

fn matrix(h: &mut String, o: &Overview) {
    h.push_str("<table><tr><th>DLE</th>");
    for n in &o.nights {
        let _ = write!(h, "<th>{}</th>", esc(n.get(5..).unwrap_or(n)));
    }
    h.push_str("</tr>\n");
    for r in &o.dles {
        let _ = write!(h, "<tr><td>{}:{}</td>", esc(&r.host), esc(&r.disk));
        for c in &r.cells {
            match c {
                Some(c) => {
                    let _ = write!(
                        h,
                        "<td class=\"c\" style=\"background:{}\" title=\"{}\">{}</td>",
                        colour(&c.status),
                        esc(&format!("{} level {} {}", c.datestamp, c.level, c.status)),
                        esc(&Cell::code(c))
                    );
                }
                None => h.push_str("<td></td>"),
            }
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</table>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(time: &str, event: &str, detail: serde_json::Value) -> Logged {
        Logged {
            time: time.into(),
            event: event.into(),
            detail,
        }
    }

    #[test]
    fn bars_pair_starts_with_ends_and_old_logs_get_lanes_by_first_fit() {
        let t = |s: u32| format!("2026-12-01T01:30:{s:02}+00:00");
        let log = [
            ev(&t(0), "start", serde_json::json!({})),
            ev(
                &t(1),
                "dump-start",
                serde_json::json!({"host": "a", "disk": "/x", "level": 0}),
            ),
            ev(
                &t(2),
                "dump-start",
                serde_json::json!({"host": "b", "disk": "/y", "level": 1}),
            ),
            ev(
                &t(5),
                "dump-end",
                serde_json::json!({"host": "a", "disk": "/x", "status": "OK", "tar_bytes": 5}),
            ),
            ev(
                &t(6),
                "dump-start",
                serde_json::json!({"host": "c", "disk": "/z", "level": 0}),
            ),
            ev(
                &t(8),
                "dump-end",
                serde_json::json!({"host": "b", "disk": "/y", "status": "FAILED"}),
            ),
            ev(&t(9), "end", serde_json::json!({})),
        ];
        let tl = Timeline::of(&log);
        assert_eq!(tl.span, 9.0);
        let got: Vec<(&str, usize, f64, f64, &str)> = tl
            .bars
            .iter()
            .map(|b| (b.host.as_str(), b.dumper, b.start, b.end, b.status.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("a", 0, 1.0, 5.0, "OK"),
                ("b", 1, 2.0, 8.0, "FAILED"),
                // killed before its end: the bar runs to the log's end, in the lane a freed
                ("c", 0, 6.0, 9.0, "dumping"),
            ]
        );
        assert_eq!(
            esc("<a href='x'>&\""),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;"
        );
    }
}
