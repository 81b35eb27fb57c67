//! Recovery-point monitoring: how old each DLE's last good dump and last full are, and how far
//! the mirror lags, judged against thresholds (Nagios plugin conventions) and exported as a
//! node_exporter textfile.

use crate::catalog::{DumpRecord, history};
use crate::config::Config;
use chrono::{DateTime, Local};
use std::fmt::Write;

/// Nagios states, in order of badness; the value is the plugin exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum State {
    Ok = 0,
    Warning = 1,
    Critical = 2,
}

impl State {
    pub fn word(self) -> &'static str {
        match self {
            State::Ok => "OK",
            State::Warning => "WARNING",
            State::Critical => "CRITICAL",
        }
    }
}

pub struct Limits {
    pub warn: i64,
    pub crit: i64,
    /// A full may be this much older than the dumpcycle before it warns.
    pub full_slack: i64,
}

/// What is known of one DLE.
pub struct Dle {
    pub host: String,
    pub disk: String,
    /// The newest OK or PARTIAL dump (PARTIAL restores all but the listed files).
    pub last: Option<DumpRecord>,
    pub last_full: Option<DumpRecord>,
    /// The oldest full in the rotation: how far back the DLE can be restored from it.
    pub oldest_full: Option<DumpRecord>,
    /// The oldest full in each other copy (`mirror:TARGET`, `vault:NAME`).
    pub copies: Vec<(String, Option<DumpRecord>)>,
    pub state: State,
    pub why: String,
    /// `strategy = "skip"`: not backed up by design; reported as such, never a failure.
    pub skipped: bool,
}

pub struct Assessment {
    pub dles: Vec<Dle>,
    /// Seconds the newest dump has waited for the mirror (0: mirrored); `None`: no mirror.
    pub mirror_lag: Option<i64>,
    pub mirror_state: State,
    pub mirror_why: String,
    /// Per copy (`rotation`, each mirror target): how much was verified within
    /// `verify_max_age` (`tapir verify`).
    pub verified: Vec<(String, crate::catalog::verified::Coverage)>,
    pub verify_state: State,
    pub verify_why: String,
    /// The newest drill of each DLE, from the signed results drill hosts wrote back beside
    /// the directory copies (`tapir drill --sign-with`): `HOST DISK` → copy, its last drill.
    pub drills: std::collections::BTreeMap<String, (String, crate::catalog::drills::Last)>,
    /// WARNING when a results file is refused (not signed by a `[drill] signers` key) or
    /// out of date (older than the drill cycle and a day).
    pub drill_state: State,
    pub drill_why: String,
    pub now: DateTime<Local>,
}

fn age(now: &DateTime<Local>, r: &DumpRecord) -> i64 {
    crate::clock::parse_datestamp(&r.datestamp).map_or(i64::MAX, |t| (*now - t).num_seconds())
}

/// `93784` → `1d2h3m`.
pub fn human_age(s: i64) -> String {
    let (d, h, m) = (s / 86400, s / 3600 % 24, s / 60 % 60);
    match (d, h) {
        (0, 0) => format!("{m}m"),
        (0, _) => format!("{h}h{m}m"),
        _ => format!("{d}d{h}h"),
    }
}

pub fn assess(cfg: &Config, limits: &Limits, now: DateTime<Local>) -> anyhow::Result<Assessment> {
    match std::fs::read_dir(&cfg.catalog) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => anyhow::bail!(
            "the catalog {} does not exist (no dump has run yet, or the path is wrong)",
            cfg.catalog.display()
        ),
        Err(e) => {
            return Err(anyhow::Error::from(e)
                .context(format!("cannot read the catalog {}", cfg.catalog.display())));
        }
    }
    let all = history::load_all(&cfg.catalog)?;
    let mirrors = crate::mirror::load_states(&cfg.catalog);
    let vaults = crate::vault::state::load(&cfg.catalog);
    let full_limit = cfg.dumpcycle as i64 * 86400 + limits.full_slack;
    let found = crate::report::drills::read_all(cfg);
    let mut drills = std::collections::BTreeMap::new();
    let mut dles = vec![];
    for d in &cfg.disklist {
        let mine: Vec<&DumpRecord> = all
            .iter()
            .filter(|r| r.host == d.host && r.disk == d.disk)
            .collect();
        let last = mine
            .iter()
            .max_by(|a, b| a.datestamp.cmp(&b.datestamp))
            .map(|r| (*r).clone());
        let fulls = || mine.iter().filter(|r| r.level == 0);
        let last_full = fulls()
            .max_by(|a, b| a.datestamp.cmp(&b.datestamp))
            .map(|r| (*r).clone());
        let oldest_full = fulls()
            .min_by(|a, b| a.datestamp.cmp(&b.datestamp))
            .map(|r| (*r).clone());
        let copies = other_copies(&d.host, &d.disk, &mirrors, &vaults, &mine);
        let skipped = cfg.dumptype(d).strategy == crate::config::dumptype::Strategy::Skip;
        let (state, why) = match (&last, &last_full) {
            _ if skipped => (State::Ok, "skipped (strategy = \"skip\")".to_string()),
            (None, _) => (State::Critical, "never dumped".to_string()),
            (Some(l), full) => {
                let a = age(&now, l);
                let mut state = if a > limits.crit {
                    State::Critical
                } else if a > limits.warn {
                    State::Warning
                } else {
                    State::Ok
                };
                let mut why = format!("last dump {} ago (level {})", human_age(a), l.level);
                match full.as_ref().map(|f| age(&now, f)) {
                    Some(fa) if fa > full_limit => {
                        state = state.max(State::Warning);
                        let _ = write!(
                            why,
                            ", last full {} ago (dumpcycle {} days)",
                            human_age(fa),
                            cfg.dumpcycle
                        );
                    }
                    Some(_) => {}
                    None => {
                        state = state.max(State::Warning);
                        why.push_str(", no full on any tape");
                    }
                }
                let held = mine.iter().filter(|r| r.is_held()).count();
                if held > 0 {
                    state = state.max(State::Warning);
                    let _ = write!(
                        why,
                        ", {held} dump(s) in the holding area, not on tape (`tapir flush`)"
                    );
                }
                // a vault's copy restores too: the history reaches back to the oldest of all
                let oldest = std::iter::once(oldest_full.as_ref())
                    .chain(copies.iter().map(|c| c.1.as_ref()))
                    .flatten()
                    .min_by(|a, b| a.datestamp.cmp(&b.datestamp));
                if let Some(short) = too_short(cfg.min_history, &now, oldest) {
                    state = state.max(State::Warning);
                    why.push_str(&short);
                }
                if let Some((r, l)) = crate::report::drills::last_of(&found, &d.host, &d.disk) {
                    drills.insert(
                        crate::catalog::drills::key(&d.host, &d.disk),
                        (r.copy.clone(), l.clone()),
                    );
                    if !l.ok {
                        state = state.max(State::Warning);
                        let _ = write!(
                            why,
                            ", the last restore drill from {} (by {}, {}) failed: {}",
                            r.copy,
                            r.drill_host,
                            crate::clock::show_datestamp(&l.at),
                            l.reason.as_deref().unwrap_or("-")
                        );
                    }
                }
                (state, why)
            }
        };
        dles.push(Dle {
            host: d.host.clone(),
            disk: d.disk.clone(),
            last,
            last_full,
            oldest_full,
            copies,
            state,
            why,
            skipped,
        });
    }
    let (mirror_lag, mirror_state, mirror_why) = mirror(cfg, &all, limits, &now);
    let verified = coverage(cfg, &all, &mirrors, &now);
    let (verify_state, verify_why) = verify_state(cfg, &verified);
    let refused: Vec<String> = found
        .iter()
        .filter_map(|f| match &f.results {
            Err(why) => Some(format!("{} ignored: {why}", f.path.display())),
            Ok(r) => crate::report::drills::stale(cfg, r, &now),
        })
        .collect();
    let drill_state = match refused.is_empty() {
        true => State::Ok,
        false => State::Warning,
    };
    Ok(Assessment {
        drills,
        drill_state,
        drill_why: refused.join("; "),
        dles,
        mirror_lag,
        mirror_state,
        mirror_why,
        verified,
        verify_state,
        verify_why,
        now,
    })
}

/// The oldest full of one DLE in each mirror (of the rotation's dumps it held after its last
/// run) and each vault.
fn other_copies(
    host: &str,
    disk: &str,
    mirrors: &[crate::mirror::State],
    vaults: &[crate::vault::state::State],
    mine: &[&DumpRecord],
) -> Vec<(String, Option<DumpRecord>)> {
    let oldest = |it: &mut dyn Iterator<Item = &DumpRecord>| {
        it.filter(|r| r.level == 0)
            .min_by(|a, b| a.datestamp.cmp(&b.datestamp))
            .cloned()
    };
    let mut out = vec![];
    for m in mirrors {
        let held = &mut mine.iter().copied().filter(|r| m.holds(r));
        out.push((format!("mirror:{}", m.to), oldest(held)));
    }
    let mut names: Vec<&str> = vaults.iter().map(|v| v.vault.as_str()).collect();
    names.dedup();
    for n in names {
        let held = &mut vaults
            .iter()
            .filter(|v| v.vault == n)
            .flat_map(|v| v.held.iter())
            .filter(|r| r.host == host && r.disk == disk);
        out.push((format!("vault:{n}"), oldest(held)));
    }
    out
}

/// How much of the rotation and of each mirror `tapir verify` read within verify_max_age.
pub fn coverage(
    cfg: &Config,
    all: &[DumpRecord],
    mirrors: &[crate::mirror::State],
    now: &DateTime<Local>,
) -> Vec<(String, crate::catalog::verified::Coverage)> {
    use crate::catalog::verified::{self, Verified};
    let v = Verified::load(&verified::path(&cfg.catalog));
    let on_tape: Vec<&DumpRecord> = all.iter().filter(|r| !r.is_held()).collect();
    let mut out = vec![(
        "rotation".to_string(),
        verified::coverage(&v, "rotation", &on_tape, cfg.verify_max_age, now),
    )];
    for m in mirrors {
        let held: Vec<&DumpRecord> = on_tape.iter().copied().filter(|r| m.holds(r)).collect();
        let c = verified::coverage(&v, &m.to, &held, cfg.verify_max_age, now);
        out.push((format!("mirror:{}", m.to), c));
    }
    out
}

/// WARNING when verify_max_age is set and some copy has a file not verified within it.
fn verify_state(
    cfg: &Config,
    verified: &[(String, crate::catalog::verified::Coverage)],
) -> (State, String) {
    let Some(max) = cfg.verify_max_age else {
        return (State::Ok, String::new());
    };
    let short: Vec<String> = verified
        .iter()
        .filter(|(_, c)| c.covered < c.files)
        .map(|(copy, c)| {
            format!(
                "{copy} {:.0}% verified within {} ({} of {} files; oldest unverified since {})",
                100.0 * c.ratio(),
                human_age(max as i64),
                c.covered,
                c.files,
                c.oldest_unverified
                    .as_deref()
                    .map_or("-".into(), crate::clock::show_datestamp)
            )
        })
        .collect();
    match short.is_empty() {
        true => (State::Ok, String::new()),
        false => (State::Warning, short.join("; ")),
    }
}

/// `min_history` not met: the DLE cannot be restored as far back as the policy asks (its
/// oldest full is younger: a tapecycle too short for it, or a new DLE).
fn too_short(
    min: Option<u64>,
    now: &DateTime<Local>,
    oldest: Option<&DumpRecord>,
) -> Option<String> {
    let min = min? as i64;
    let reach = oldest.map_or(0, |r| age(now, r));
    (reach < min).then(|| {
        format!(
            ", history reaches back only {}{}, min_history is {}",
            human_age(reach),
            oldest.map_or(String::new(), |r| format!(
                " (oldest full {})",
                crate::clock::show_datestamp(&r.datestamp)
            )),
            human_age(min)
        )
    })
}

/// The mirror lags by the age of the oldest dump it does not hold yet.
fn mirror(
    cfg: &Config,
    all: &[DumpRecord],
    limits: &Limits,
    now: &DateTime<Local>,
) -> (Option<i64>, State, String) {
    if cfg.mirror.to.is_empty() {
        return (None, State::Ok, String::new());
    }
    // the target that lags most decides
    let mut worst: Option<(Option<String>, &String)> = None;
    for t in &cfg.mirror.to {
        let m = crate::mirror::load_state(&cfg.catalog, t).and_then(|s| s.newest_datestamp);
        if worst.as_ref().is_none_or(|(w, _)| match (&m, w) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(a), Some(b)) => a < b,
        }) {
            worst = Some((m, t));
        }
    }
    let (mirrored, target) = worst.expect("a target");
    let oldest_missing = all
        .iter()
        .filter(|r| mirrored.as_ref().is_none_or(|m| &r.datestamp > m))
        .min_by(|a, b| a.datestamp.cmp(&b.datestamp));
    let Some(r) = oldest_missing else {
        return (Some(0), State::Ok, "mirror up to date".into());
    };
    let which = if cfg.mirror.to.len() > 1 {
        format!(" {target}")
    } else {
        String::new()
    };
    let lag = age(now, r).max(0);
    let state = if lag > limits.warn {
        State::Warning
    } else {
        State::Ok
    };
    (
        Some(lag),
        state,
        format!(
            "mirror{which} lags {} (dump of {} not mirrored)",
            human_age(lag),
            r.datestamp
        ),
    )
}

impl Assessment {
    pub fn state(&self) -> State {
        self.dles
            .iter()
            .map(|d| d.state)
            .chain([self.mirror_state, self.verify_state, self.drill_state])
            .max()
            .unwrap_or(State::Ok)
    }

    /// The plugin output (Nagios plugin guidelines): a short first line with the summary and
    /// aggregate perfdata (NRPE v2 keeps only 1,024 bytes), then one line per problem, then
    /// the per-DLE perfdata on one last line after `|` (what both Nagios and Icinga 2 read).
    pub fn nagios(&self, limits: &Limits) -> String {
        let st = self.state();
        let bad: Vec<&Dle> = self.dles.iter().filter(|d| d.state != State::Ok).collect();
        let mut line = format!("TAPIR RPO {} - ", st.word());
        let watched = self.dles.iter().filter(|d| !d.skipped).count();
        if bad.is_empty() {
            let _ = write!(
                line,
                "{watched} DLEs backed up within {}",
                human_age(limits.warn)
            );
        } else {
            let _ = write!(line, "{} of {watched} DLEs not OK", bad.len());
            let first = format!("; {}:{} {}", bad[0].host, bad[0].disk, bad[0].why);
            line.push_str(&clip(&first, 300));
        }
        let skipped = self.dles.len() - watched;
        if skipped > 0 {
            let _ = write!(line, "; {skipped} skipped");
        }
        if self.mirror_state != State::Ok {
            let _ = write!(line, "; {}", self.mirror_why);
        }
        if self.verify_state != State::Ok {
            line.push_str(&clip(&format!("; {}", self.verify_why), 300));
        }
        if self.drill_state != State::Ok {
            line.push_str(&clip(&format!("; {}", self.drill_why), 300));
        }
        let oldest = self
            .dles
            .iter()
            .filter(|d| !d.skipped)
            .map(|d| d.last.as_ref().map(|r| age(&self.now, r)))
            .try_fold(0i64, |m, a| a.map(|a| m.max(a)));
        let mut summary = vec![
            format!("dles={watched};;;0"),
            format!("not_ok={};1;;0", bad.len()),
            match oldest {
                Some(a) => format!("oldest_age={a}s;{};{};0", limits.warn, limits.crit),
                None => format!("oldest_age=U;{};{};0", limits.warn, limits.crit),
            },
        ];
        if let Some(l) = self.mirror_lag {
            summary.push(format!("mirror_lag={l}s;{};;0", limits.warn));
        }
        let mut out = format!("{line} | {}\n", summary.join(" "));
        for d in &bad {
            let _ = writeln!(out, "{} {}:{}: {}", d.state.word(), d.host, d.disk, d.why);
        }
        // the first line clips these; the long output has each whole
        for (state, why) in [
            (self.verify_state, &self.verify_why),
            (self.drill_state, &self.drill_why),
        ] {
            if state != State::Ok {
                let _ = writeln!(out, "{} {why}", state.word());
            }
        }
        // every DLE's item on one long-output line that starts with `|`: Nagios takes the
        // long output's perfdata from its first `|` to the end, Icinga 2 from each line that
        // has one (a `|` on every line would reach Nagios as part of the labels)
        let items: Vec<String> = self
            .dles
            .iter()
            .filter(|d| !d.skipped)
            .map(|d| {
                let value = d
                    .last
                    .as_ref()
                    .map_or("U".to_string(), |r| format!("{}s", age(&self.now, r)));
                let label = perf_label(&format!("{}:{}_age", d.host, d.disk));
                format!("{label}={value};{};{};0", limits.warn, limits.crit)
            })
            .collect();
        if !items.is_empty() {
            let _ = writeln!(out, "|{}", items.join(" "));
        }
        out
    }

    /// The node_exporter textfile.
    pub fn prometheus(&self) -> String {
        let mut out = String::new();
        let ts = |r: &Option<DumpRecord>| {
            r.as_ref()
                .and_then(|r| crate::clock::parse_datestamp(&r.datestamp))
                .map_or(0, |t| t.timestamp())
        };
        type Metric<'a> = (&'a str, &'a str, Box<dyn Fn(&Dle) -> String + 'a>);
        let metrics: Vec<Metric> = vec![
            (
                "tapir_last_success_timestamp_seconds",
                "Time of the newest OK or PARTIAL dump (0: none).",
                Box::new(|d| ts(&d.last).to_string()),
            ),
            (
                "tapir_last_full_timestamp_seconds",
                "Time of the newest level 0 dump (0: none).",
                Box::new(|d| ts(&d.last_full).to_string()),
            ),
            (
                "tapir_last_level",
                "Level of the newest dump (-1: none).",
                Box::new(|d| d.last.as_ref().map_or("-1".into(), |r| r.level.to_string())),
            ),
            (
                "tapir_last_bytes",
                "Tar bytes of the newest dump.",
                Box::new(|d| d.last.as_ref().map_or(0, |r| r.original_size).to_string()),
            ),
            (
                "tapir_last_duration_seconds",
                "Duration of the newest dump.",
                Box::new(|d| d.last.as_ref().map_or(0.0, |r| r.seconds).to_string()),
            ),
            (
                "tapir_last_partial",
                "1 if the newest dump was PARTIAL (some files unreadable).",
                Box::new(|d| {
                    u8::from(
                        d.last
                            .as_ref()
                            .is_some_and(|r| r.status == crate::catalog::DumpStatus::Partial),
                    )
                    .to_string()
                }),
            ),
            (
                "tapir_rpo_state",
                "0 OK, 1 WARNING, 2 CRITICAL, as check-rpo judges the DLE (skipped: 0).",
                Box::new(|d| (d.state as u8).to_string()),
            ),
            (
                "tapir_skipped",
                "1 if the DLE's dumptype has strategy skip (not backed up by design).",
                Box::new(|d| u8::from(d.skipped).to_string()),
            ),
        ];
        for (name, help, value) in &metrics {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
            for d in &self.dles {
                let _ = writeln!(
                    out,
                    "{name}{{host=\"{}\",disk=\"{}\"}} {}",
                    label(&d.host),
                    label(&d.disk),
                    value(d)
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP tapir_oldest_restorable_timestamp_seconds Time of the oldest full a restore can start from, per copy (0: none).\n# TYPE tapir_oldest_restorable_timestamp_seconds gauge"
        );
        for d in &self.dles {
            let copies = std::iter::once(("rotation", &d.oldest_full))
                .chain(d.copies.iter().map(|(c, r)| (c.as_str(), r)));
            for (copy, oldest) in copies {
                let _ = writeln!(
                    out,
                    "tapir_oldest_restorable_timestamp_seconds{{host=\"{}\",disk=\"{}\",copy=\"{}\"}} {}",
                    label(&d.host),
                    label(&d.disk),
                    label(copy),
                    ts(oldest)
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP tapir_verify_coverage_ratio Share of a copy's tape files verified within verify_max_age (ever, without it).\n# TYPE tapir_verify_coverage_ratio gauge"
        );
        for (copy, c) in &self.verified {
            let _ = writeln!(
                out,
                "tapir_verify_coverage_ratio{{copy=\"{}\"}} {}",
                label(copy),
                c.ratio()
            );
        }
        let _ = writeln!(
            out,
            "# HELP tapir_verify_oldest_unverified_timestamp_seconds Since when the least recently verified file not covered has waited (0: all covered).\n# TYPE tapir_verify_oldest_unverified_timestamp_seconds gauge"
        );
        for (copy, c) in &self.verified {
            let t = c
                .oldest_unverified
                .as_deref()
                .and_then(crate::clock::parse_datestamp)
                .map_or(0, |t| t.timestamp());
            let _ = writeln!(
                out,
                "tapir_verify_oldest_unverified_timestamp_seconds{{copy=\"{}\"}} {t}",
                label(copy)
            );
        }
        if let Some(l) = self.mirror_lag {
            let _ = writeln!(
                out,
                "# HELP tapir_mirror_lag_seconds Age of the oldest dump not yet on the mirror (0: up to date).\n# TYPE tapir_mirror_lag_seconds gauge\ntapir_mirror_lag_seconds {l}"
            );
        }
        if !self.drills.is_empty() {
            let _ = writeln!(
                out,
                "# HELP tapir_drill_last_success_timestamp_seconds When the last restore drill of a DLE from a copy passed (signed results written back by the drill host).\n# TYPE tapir_drill_last_success_timestamp_seconds gauge"
            );
        }
        for (copy, l) in self.drills.values() {
            let t = l
                .last_ok
                .as_deref()
                .and_then(crate::clock::parse_datestamp)
                .map_or(0, |t| t.timestamp());
            let _ = writeln!(
                out,
                "tapir_drill_last_success_timestamp_seconds{{host=\"{}\",disk=\"{}\",copy=\"{}\"}} {t}",
                label(&l.host),
                label(&l.disk),
                label(copy)
            );
        }
        out
    }
}

/// The fix when check-rpo may not read the catalog (or the config): NRPE runs it as
/// `nagios`, the catalog is private to the user tapir runs as.
pub fn permission_hint(e: &anyhow::Error) -> Option<String> {
    let denied = e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::PermissionDenied)
            || c.downcast_ref::<walkdir::Error>().is_some_and(|w| {
                w.io_error()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::PermissionDenied)
            })
    });
    if !denied {
        return None;
    }
    let me = crate::sys::user_name();
    Some(format!(
        "check-rpo runs as {me}, and the catalog is private to the user tapir runs as: run it \
         as that user with one sudo rule (sudoers: `{me} ALL=(tapir) NOPASSWD: /usr/bin/tapir \
         check-rpo *`; nrpe.cfg: `command[tapir_rpo]=/usr/bin/sudo -n -u tapir /usr/bin/tapir \
         check-rpo`)"
    ))
}

/// A perfdata label per the plugin guidelines: single-quoted, a quote doubled, no `=`.
fn perf_label(s: &str) -> String {
    let clean: String = s
        .chars()
        .map(|c| if c == '=' || c.is_control() { '_' } else { c })
        .collect();
    format!("'{}'", clean.replace('\'', "''"))
}

/// At most `n` bytes of `s`, cut at a character boundary.
fn clip(s: &str, n: usize) -> String {
    if s.len() <= n {
        return s.to_string();
    }
    let mut end = n;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// A Prometheus label value: backslash, double quote and newline escaped.
fn label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
