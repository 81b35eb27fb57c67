//! `tapir drill`: scheduled restore drills on a drill host (where a decryption key is), with
//! a summary line per DLE, JSON, a Prometheus textfile and a Nagios mode.

use super::Cli;
use crate::catalog::drills::{self as state, Drills};
use crate::drill::{self, Report};
use anyhow::{Context, bail};
use std::path::PathBuf;

/// Restore DLEs for real from a copy, and hold every restored entry against its index.
///
/// Runs where a decryption key is (a host at the mirror's site, a DR machine), from a mirror
/// or vault (`--from`, or `[drill] from`); it needs no tapir.toml. Each run takes the DLEs
/// drilled least recently, so that every DLE of the copy is drilled within the drill cycle
/// (`[drill] drill_cycle`, default the dumpcycle; one run a day), restores each one's latest
/// state (the whole chain) into a scratch directory and compares every entry with the index:
/// content sha256, size, mode, mtime, owner (as root), symlink target, hard links. A DLE
/// bigger than --max-bytes is drilled by a random sample of its files up to that size, read
/// by random access (the seed is printed: --seed repeats it). Once a cycle one DLE is
/// restored by the stock tools instead (its headers' `dd | age -d | gzip -dc | tar -x` line,
/// then `sha256sum -c`). The scratch is removed afterwards, and a killed drill's on the next
/// run. From the measured rate, each host's recovery-time estimate. Exit 0 when every DLE
/// drilled is OK, 1 otherwise; with --check, Nagios states (0 OK, 1 WARNING, 2 CRITICAL).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The age identity that decrypts the copy's tapes.
    #[arg(short, long, value_name = "FILE")]
    pub identity: Option<PathBuf>,
    /// Only DLEs of this host (repeatable).
    #[arg(long = "host", value_name = "HOST")]
    pub hosts: Vec<String>,
    /// Drill a DLE bigger than this by a random sample of its files up to this size (e.g. 2G).
    #[arg(long, value_name = "SIZE", value_parser = crate::units::parse_size)]
    pub max_bytes: Option<u64>,
    /// The seed of the samples (default: from the clock; printed).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Where the drills' state is kept (default: ~/.local/state/tapir).
    #[arg(long, value_name = "DIR")]
    pub state: Option<PathBuf>,
    /// Where restores are made and removed again (default: [drill] scratch, else the temp
    /// directory); put it on the kind of storage a real restore goes to.
    #[arg(long, value_name = "DIR")]
    pub scratch: Option<PathBuf>,
    /// Also write DIR/tapir_drill.prom (node_exporter's textfile collector).
    #[arg(long, value_name = "DIR")]
    pub textfile: Option<PathBuf>,
    /// Sign the results with this ed25519 key (`tapir keygen --signing`; created when
    /// missing) and write them back beside the copy's catalog (`drills/THIS-HOST.json`), for
    /// the backup server's status and check-rpo (default: [drill] signing_key; none: not
    /// written back).
    #[arg(long, value_name = "KEY")]
    pub sign_with: Option<PathBuf>,
    /// Drill nothing: report as a Nagios plugin from the state.
    #[arg(long)]
    pub check: bool,
    /// With --check: WARNING when a DLE's last good drill is older than this (default 14d).
    #[arg(long, value_name = "DURATION", value_parser = crate::units::parse_duration)]
    pub max_age: Option<std::time::Duration>,
    #[command(flatten)]
    pub root: super::FromRoot,
    #[command(flatten)]
    pub trust: super::TrustArgs,
}

pub fn run(cli: &Cli, a: &Args) -> anyhow::Result<i32> {
    let base = (!super::no_config_file(cli))
        .then(|| super::load_config(cli))
        .transpose()?;
    let dcfg = base.as_ref().map(|c| c.drill.clone()).unwrap_or_default();
    let from = match (&a.root.from, &dcfg.from) {
        (Some(f), _) => f.clone(),
        (None, Some(f)) => PathBuf::from(f),
        (None, None) => bail!(crate::error::Error::config(
            "no copy to drill: pass --from DIR|s3://… (the mirror or vault), or set [drill] from"
        )),
    };
    let from = match from.to_str().filter(|f| crate::s3::is_url(f)) {
        Some(_) => from,
        None => std::path::absolute(&from)?,
    };
    let copy = from.display().to_string();
    let store = state::path(a.state.as_deref());
    let mut drills = Drills::load(&store);
    if a.check {
        return check(&drills, &copy, a, dcfg.rto_target);
    }
    let Some(identity) = &a.identity else {
        bail!(crate::error::Error::config(
            "a drill decrypts: pass -i IDENTITY (the key from the safe, or the drill host's own)"
        ));
    };
    let cfg = crate::config::reading::from_root(&from, base)?;
    let cycle = dcfg
        .drill_cycle
        .map_or(cfg.dumpcycle, |s| s.div_ceil(86_400) as u32)
        .max(1);
    let o = drill::Options {
        copy: copy.clone(),
        identity,
        trust: a.trust.trust(&cfg, Some(identity))?,
        hosts: &a.hosts,
        max_bytes: a.max_bytes.or(dcfg.max_bytes),
        scratch: std::path::absolute(
            a.scratch
                .clone()
                .or(dcfg.scratch.clone())
                .unwrap_or_else(std::env::temp_dir),
        )?,
        cycle_days: cycle,
        seed: a.seed,
        now: crate::clock::now()?,
    };
    let report = drill::run(&cfg, &o, &mut drills)?;
    drills
        .save(&store)
        .with_context(|| format!("the drills could not be recorded in {}", store.display()))?;
    if let Some(dir) = &a.textfile {
        crate::fsutil::create_dir_all(dir)?;
        let text = textfile(&drills, &report);
        crate::fsutil::write_atomic(&dir.join("tapir_drill.prom"), text.as_bytes())?;
    }
    if cli.json {
        super::print_json(&report)?;
    } else {
        say(&report, dcfg.rto_target)?;
    }
    let written = match a.sign_with.as_ref().or(dcfg.signing_key.as_ref()) {
        None => true,
        Some(key) => write_back(&from, &drills, key, &o.now),
    };
    Ok(if written && report.drilled.iter().all(|d| d.ok) {
        0
    } else {
        1
    })
}

/// The results, signed, beside the copy's catalog; false (said why) when they could not be.
fn write_back(
    from: &std::path::Path,
    drills: &Drills,
    key: &std::path::Path,
    now: &chrono::DateTime<chrono::Local>,
) -> bool {
    use crate::report::drills::{self as results, Results};
    let copy = from.display().to_string();
    if crate::s3::is_url(&copy) {
        eprintln!(
            "tapir: WARNING: the drill results are not written back to {copy}: write-back is \
             to a directory copy (a mirror or vault mounted here)"
        );
        return false;
    }
    let written = (|| -> anyhow::Result<PathBuf> {
        let (signer, created) = crate::signing::Signer::load_or_create(key)?;
        if created {
            eprintln!(
                "tapir: created the drill signing key {}: add {} to the backup server's \
                 [drill] signers",
                key.display(),
                crate::signing::pub_path(key).display()
            );
        }
        let r = Results {
            drill_host: results::this_host(),
            copy: copy.clone(),
            at: crate::clock::datestamp(now),
            state: drills.copies.get(&copy).cloned().unwrap_or_default(),
        };
        results::write(from, &r, &signer)
    })();
    match written {
        Ok(p) => {
            crate::say::progress(format!("results written back to {}", p.display()));
            true
        }
        Err(e) => {
            eprintln!("tapir: WARNING: the drill results are not written back: {e:#}");
            false
        }
    }
}

fn say(r: &Report, target: Option<u64>) -> anyhow::Result<()> {
    for d in &r.drilled {
        let how = match (d.by.as_str(), d.seed) {
            ("stock", _) => "stock tools, sha256sum -c".to_string(),
            (_, Some(seed)) => format!("a sample, seed {seed}"),
            _ => "whole".to_string(),
        };
        let matched = if d.by == "stock" {
            format!("{} files pass sha256sum -c", d.entries)
        } else {
            format!("{} entries match the index", d.entries)
        };
        match &d.reason {
            None => outln!(
                "OK      {} {} as of {} ({how}): {matched}; {:.1} s",
                d.host,
                d.disk,
                crate::clock::show_datestamp_secs(&d.datestamp),
                d.seconds
            ),
            Some(why) => outln!(
                "FAILED  {} {} as of {} ({how}): {why}",
                d.host,
                d.disk,
                crate::clock::show_datestamp_secs(&d.datestamp)
            ),
        }
    }
    match r.bytes_per_second {
        Some(rate) => outln!("restore rate from {}: {:.1} MB/s", r.copy, rate / 1e6),
        None => outln!(
            "restore rate from {}: not measured yet (no whole DLE drilled: every one was \
             bigger than --max-bytes), so no recovery-time estimate",
            r.copy
        ),
    }
    for h in &r.rto {
        let over = target.is_some_and(|t| h.seconds > t as f64);
        outln!(
            "{} {}: recovery time {} one DLE at a time, {} with --parallel {}{}",
            if over { "WARN" } else { "RTO " },
            h.host,
            crate::units::show_secs(h.seconds),
            crate::units::show_secs(h.parallel_seconds),
            h.parallel,
            target.map_or(String::new(), |t| format!(
                " (target {})",
                crate::units::show_secs(t as f64)
            ))
        );
    }
    Ok(())
}

/// Prometheus text format: when each DLE last passed, the copy's rate, each host's RTO.
fn textfile(d: &Drills, r: &Report) -> String {
    let esc = |s: &str| {
        s.replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n")
    };
    let copy = esc(&r.copy);
    let mut t = String::new();
    t.push_str("# HELP tapir_drill_last_success_timestamp_seconds When the last drill of a DLE from a copy passed.\n# TYPE tapir_drill_last_success_timestamp_seconds gauge\n");
    if let Some(c) = d.copies.get(&r.copy) {
        for l in c.dles.values() {
            let Some(at) = l.last_ok.as_deref().and_then(crate::clock::parse_datestamp) else {
                continue;
            };
            t.push_str(&format!(
                "tapir_drill_last_success_timestamp_seconds{{host=\"{}\",disk=\"{}\",copy=\"{copy}\"}} {}\n",
                esc(&l.host),
                esc(&l.disk),
                at.timestamp()
            ));
        }
    }
    t.push_str("# HELP tapir_drill_bytes_per_second Tape bytes a drill restored per second from a copy.\n# TYPE tapir_drill_bytes_per_second gauge\n");
    if let Some(rate) = r.bytes_per_second {
        t.push_str(&format!(
            "tapir_drill_bytes_per_second{{copy=\"{copy}\"}} {rate:.0}\n"
        ));
    }
    t.push_str("# HELP tapir_rto_estimate_seconds A host's recovery time from a copy, one DLE at a time, at the measured rate.\n# TYPE tapir_rto_estimate_seconds gauge\n");
    for h in &r.rto {
        t.push_str(&format!(
            "tapir_rto_estimate_seconds{{host=\"{}\",copy=\"{copy}\"}} {:.0}\n",
            esc(&h.host),
            h.seconds
        ));
    }
    t
}

/// Nagios: the state judged by [`crate::drill::nagios::check`].
fn check(d: &Drills, copy: &str, a: &Args, target: Option<u64>) -> anyhow::Result<i32> {
    let max_age = a
        .max_age
        .unwrap_or(std::time::Duration::from_secs(14 * 86_400));
    let now = crate::clock::now()?;
    let (code, line) = crate::drill::nagios::check(d, copy, &a.hosts, max_age, target, &now)?;
    outln!("{line}");
    Ok(code)
}
