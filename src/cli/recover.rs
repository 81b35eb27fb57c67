//! `tapir recover`: restore a DLE (or some of its paths) as of a date, safely.

use super::Cli;
use crate::error::Error;
use anyhow::bail;
use std::path::PathBuf;

/// Restore files: the amrecover-style shell, or one command.
///
/// Without --to: the amrecover-style shell (sethost, setdisk, setdate, cd, ls, add,
/// extract…; `help` lists them), with line editing and tab completion on a terminal, or
/// commands read from stdin. With --to: restore the state of HOST DISK as of --date (the
/// full and the incrementals after it) into an empty directory, or only the given PATHs.
/// Nothing is written outside the target; what is refused is listed and makes the exit
/// code 1. A program DLE (a database dump…) is restored as one file (`DIR/DISK.PROGRAM`),
/// or with --stdout to stdout, or with --run-restore into the program's restore command.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The host (several with --all: a mass restore).
    #[arg(long)]
    pub host: Vec<String>,
    /// Every DLE of the host(s), each into DIR/DISK (DIR/HOST/DISK for several hosts; the disk
    /// escaped as in tape file names, /var/www → _var_www). The plan (chains, bytes, an
    /// estimated time per DLE and in all, at the rate the drills of this copy measured on
    /// this machine, else at the first tape's fetch rate; it says which) is printed first.
    #[arg(long, requires = "to", conflicts_with_all = ["disk", "tar", "stdout", "run_restore"])]
    pub all: bool,
    /// With --all: print the plan and restore nothing.
    #[arg(long, requires = "all")]
    pub plan: bool,
    /// With --all: restore this many DLEs at once.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub parallel: u32,
    /// With --all: more hosts, one a line (# comments).
    #[arg(long, value_name = "FILE", requires = "all")]
    pub hosts_file: Option<PathBuf>,
    #[arg(long)]
    pub disk: Option<String>,
    /// The state as of this date (YYYY-MM-DD or YYYYMMDDHHMMSS); default: the newest dump.
    #[arg(long)]
    pub date: Option<String>,
    /// Target directory: must be empty or new unless --overwrite.
    #[arg(long, value_name = "DIR")]
    pub to: Option<PathBuf>,
    #[arg(short, long, value_name = "FILE")]
    pub identity: Option<PathBuf>,
    /// Replace files that exist in the target.
    #[arg(long)]
    pub overwrite: bool,
    /// Extract this tar stream (a file, or - for stdin) instead of dumps from the catalog.
    #[arg(long, value_name = "FILE")]
    pub tar: Option<PathBuf>,
    /// A program DLE: write its stream to stdout (e.g. `| pg_restore -d DB`).
    #[arg(long, conflicts_with_all = ["to", "tar", "run_restore"])]
    pub stdout: bool,
    /// A program DLE: pipe its stream into the `restore` command of the program in this
    /// machine's agent.toml, and report that command's exit code.
    #[arg(long, conflicts_with_all = ["to", "tar"])]
    pub run_restore: bool,
    /// The agent.toml whose [programs] --run-restore uses (default /etc/tapir/agent.toml).
    #[arg(long, value_name = "PATH", env = "TAPIR_AGENT_CONFIG")]
    pub agent_config: Option<PathBuf>,
    #[command(flatten)]
    pub root: super::FromRoot,
    #[command(flatten)]
    pub trust: super::TrustArgs,
    /// Paths inside the DLE to restore (default: all).
    pub paths: Vec<String>,
}

pub fn run(cli: &Cli, a: &Args) -> anyhow::Result<i32> {
    if a.all {
        return mass(cli, a);
    }
    if a.host.len() > 1 {
        bail!(Error::config(
            "several --host need --all (a mass restore of every DLE of those hosts)"
        ));
    }
    if a.stdout || a.run_restore {
        return stream(cli, a);
    }
    let Some(to) = &a.to else {
        return shell(cli, a);
    };
    let (report, root) = match &a.tar {
        Some(t) if t.as_os_str() == "-" => {
            let stdin = std::io::stdin().lock();
            let r = crate::recover::extract_stream(stdin, to, &a.paths, a.overwrite)?;
            (r, None)
        }
        Some(t) => {
            let file = std::fs::File::open(t)?;
            let r = crate::recover::extract_stream(file, to, &a.paths, a.overwrite)?;
            (r, None)
        }
        None => {
            let cfg = a.root.config(cli)?;
            let (Some(host), Some(disk), Some(identity)) = (a.host.first(), &a.disk, &a.identity)
            else {
                bail!(Error::config(
                    "recover needs --host, --disk and --identity (or --tar, or --host and --all)"
                ));
            };
            let req = crate::recover::Request {
                host: host.clone(),
                disk: disk.clone(),
                date: a.date.clone(),
                to: to.clone(),
                paths: a.paths.iter().map(|p| p.as_bytes().to_vec()).collect(),
                identity: identity.clone(),
                overwrite: a.overwrite,
                trust: a.trust.trust(&cfg, Some(identity))?,
            };
            (crate::recover::run(&cfg, &req)?, Some(cfg.changer.root))
        }
    };
    for r in &report.refused {
        eprintln!("tapir: REFUSED {r}");
    }
    if let Some(root) = root {
        remote_read(a, &root);
    }
    let said = crate::cli::out::line(format_args!(
        "restored {} members into {} ({}); {} refused",
        report.restored,
        to.display(),
        checked(&report),
        report.refused.len()
    ));
    finish(said, report.refused.is_empty())
}

/// After a restore from object storage: how much was fetched from it.
fn remote_read(a: &Args, root: &crate::vtape::Root) {
    let n = root.fetched();
    if n > 0
        && let Some(from) = &a.root.from
    {
        crate::say::notice(format!(
            "read {n} bytes ({}) from {}",
            crate::units::human(n),
            from.display()
        ));
    }
}

/// Every DLE of the hosts, N at a time, the plan said first.
fn mass(cli: &Cli, a: &Args) -> anyhow::Result<i32> {
    use crate::recover::host;
    let cfg = a.root.config(cli)?;
    let (Some(to), Some(identity)) = (&a.to, &a.identity) else {
        bail!(Error::config("--all needs --to DIR and --identity"));
    };
    if !a.paths.is_empty() {
        bail!(Error::config(
            "--all restores whole DLEs: it takes no PATHs"
        ));
    }
    let mut hosts = a.host.clone();
    if let Some(f) = &a.hosts_file {
        hosts.extend(host::hosts_file(f)?);
    }
    let mut seen = std::collections::HashSet::new();
    hosts.retain(|h| seen.insert(h.clone()));
    if hosts.is_empty() {
        bail!(Error::config("--all needs --host HOST (or --hosts-file)"));
    }
    if !a.plan {
        crate::recover::check_target(to, a.overwrite)?;
    }
    let m = host::Mass {
        hosts,
        date: a.date.clone(),
        to: to.clone(),
        identity: identity.clone(),
        trust: a.trust.trust(&cfg, Some(identity))?,
        parallel: a.parallel,
    };
    let _reading = crate::catalog::lock::readers(&cfg.catalog)?;
    let items = host::plan(&cfg, &m)?;
    print_plan(&cfg, &m, &items)?;
    if a.plan {
        return Ok(0);
    }
    let started = std::time::Instant::now();
    let count = std::sync::atomic::AtomicUsize::new(0);
    let n = items.len();
    let done = host::run(&cfg, &m, &items, &|d| {
        let k = count.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        let _ = crate::cli::out::line(format_args!("[{k}/{n}] {}", said(d)));
    });
    let failed = done.iter().filter(|d| !ok(d)).count();
    for d in done.iter().filter(|d| !ok(d)) {
        crate::say::problem(said(d));
    }
    remote_read(a, &cfg.changer.root);
    let said = crate::cli::out::line(format_args!(
        "restored {} of {n} DLE(s) into {} in {:.1} s; {failed} failed",
        n - failed,
        to.display(),
        started.elapsed().as_secs_f64()
    ));
    finish(said, failed == 0)
}

/// The exit code after the summary line: a restore that failed or refused something is
/// exit 1 even when stdout was closed (`| head`), which alone would be a quiet exit 0.
fn finish(said: anyhow::Result<()>, good: bool) -> anyhow::Result<i32> {
    if !good {
        return Ok(1);
    }
    said.map(|()| 0)
}

/// How many restored files were checked against the sha256 their index recorded.
fn checked(r: &crate::recover::extract::Report) -> String {
    match r.checked {
        0 => "no per-file sha256 recorded to check against".to_string(),
        n => format!("{n} file(s) matched their recorded sha256"),
    }
}

/// A DLE restore is good when it ran and refused nothing.
fn ok(d: &crate::recover::host::Done) -> bool {
    d.result.as_ref().is_ok_and(|r| r.refused.is_empty())
}

fn said(d: &crate::recover::host::Done) -> String {
    match &d.result {
        Ok(r) if r.refused.is_empty() => format!(
            "{} {}: OK, {} members into {} in {:.1} s ({})",
            d.host,
            d.disk,
            r.restored,
            d.dir.display(),
            d.seconds,
            checked(r)
        ),
        Ok(r) => format!(
            "{} {}: {} members, {} REFUSED (first: {})",
            d.host,
            d.disk,
            r.restored,
            r.refused.len(),
            r.refused[0]
        ),
        Err(e) => format!("{} {}: FAILED: {e:#}", d.host, d.disk),
    }
}

/// The plan: each DLE's chain and bytes, the total and an estimated time.
fn print_plan(
    cfg: &crate::config::Config,
    m: &crate::recover::host::Mass,
    items: &[crate::recover::host::Item],
) -> anyhow::Result<()> {
    use crate::units::{human, show_secs};
    outln!(
        "plan: {} DLE(s) of {} host(s), {} at a time, into {}",
        items.len(),
        m.hosts.len(),
        m.parallel,
        m.to.display()
    );
    let rate = plan_rate(cfg, items, m);
    for it in items {
        let levels: Vec<String> = it.chain.iter().map(|r| r.level.to_string()).collect();
        let chain = if it.chain.is_empty() {
            "no full at or before the date".to_string()
        } else {
            format!(
                "{} dump(s) (levels {}) from {}",
                it.chain.len(),
                levels.join(","),
                it.chain.last().map_or("", |r| r.datestamp.as_str())
            )
        };
        let time = rate.as_ref().map_or(String::new(), |(speed, _)| {
            format!(", about {}", show_secs(it.bytes() as f64 / speed))
        });
        outln!(
            "  {} {}: {chain}, {} to read{time} -> {}",
            it.host,
            it.disk,
            human(it.bytes()),
            it.dir.display()
        );
    }
    let total: u64 = items.iter().map(|i| i.bytes()).sum();
    let Some((speed, how)) = rate else {
        outln!(
            "total: {} to read; no estimate (no drill of this copy recorded here, and the \
             first tape could not be read)",
            human(total)
        );
        return Ok(());
    };
    // one DLE at a time per stream: the largest, or the total spread over the streams
    let streams = (m.parallel as usize).min(items.len()).max(1) as f64;
    let largest = items.iter().map(|i| i.bytes()).max().unwrap_or(0) as f64;
    let secs = (largest / speed).max(total as f64 / speed / streams);
    outln!(
        "total: {} to read; about {}, {} at a time, at {}/s ({how})",
        human(total),
        show_secs(secs),
        m.parallel,
        human(speed as u64)
    );
    Ok(())
}

/// The rate a plan estimates with, and where it comes from: the last whole-DLE drills of
/// this copy recorded on this machine (`tapir drill`), else one measured now by reading the
/// first tape.
fn plan_rate(
    cfg: &crate::config::Config,
    items: &[crate::recover::host::Item],
    m: &crate::recover::host::Mass,
) -> Option<(f64, String)> {
    let root = &cfg.changer.root;
    let copy = match root.local() {
        Some(p) => std::path::absolute(p).ok()?.display().to_string(),
        None => root.to_string(),
    };
    let drills = crate::catalog::drills::Drills::load(&crate::catalog::drills::path(None));
    if let Some(rate) = drills.copies.get(&copy).and_then(|c| c.bytes_per_second) {
        return Some((rate, format!("the rate the drills of {copy} measured")));
    }
    let speed = crate::recover::host::measure_speed(cfg, items, m)?;
    Some((
        speed,
        "the fetch rate of the first tape: no drill of this copy is recorded here".to_string(),
    ))
}

/// A program DLE's stream to stdout or into its restore command.
fn stream(cli: &Cli, a: &Args) -> anyhow::Result<i32> {
    use crate::recover::stream::{self, Dest};
    let cfg = a.root.config(cli)?;
    let (Some(host), Some(disk), Some(identity)) = (a.host.first(), &a.disk, &a.identity) else {
        bail!(Error::config(
            "--stdout and --run-restore need --host, --disk and --identity"
        ));
    };
    if !a.paths.is_empty() {
        bail!(Error::config(
            "a program DLE is one stream: --stdout and --run-restore take no PATHs"
        ));
    }
    let trust = a.trust.trust(&cfg, Some(identity))?;
    let _reading = crate::catalog::lock::readers(&cfg.catalog)?;
    let opened = crate::recover::open_stream(&cfg, host, disk, a.date.as_deref(), &trust)?;
    let Some(opened) = opened else {
        bail!(
            Error::config(format!(
                "{host} {disk} is a tar DLE: --stdout and --run-restore are for program DLEs"
            ))
            .hint("use --to DIR, or `tapir fetch -i KEY -o -` for its tar")
        );
    };
    let ids = crate::keys::identities(identity)?;
    let policy;
    let dest = if a.run_restore {
        policy = crate::agent::policy::Policy::load(a.agent_config.as_deref())?;
        Dest::Restore(&policy)
    } else {
        Dest::Stdout
    };
    let done = stream::restore(opened, &ids, dest)?;
    let Some((command, status)) = done.command else {
        crate::say::progress(format!(
            "{}: {} bytes to stdout, sha256 checked",
            done.name, done.bytes
        ));
        return Ok(0);
    };
    if !status.success() {
        crate::say::problem(format!(
            "{command}: {status} (it read all {} bytes of {}, sha256 checked)",
            done.bytes, done.name
        ));
        return Ok(crate::error::exit::PARTIAL);
    }
    outln!(
        "restored {host} {disk}: {} bytes ({}, sha256 checked) into `{command}`, which exited 0",
        done.bytes,
        done.name
    );
    Ok(0)
}

/// The interactive shell, with --host, --disk and --date applied first.
fn shell(cli: &Cli, a: &Args) -> anyhow::Result<i32> {
    if a.tar.is_some() || !a.paths.is_empty() {
        bail!(Error::config("--tar and PATHs need --to DIR"));
    }
    let cfg = a.root.config(cli)?;
    let mut sh = crate::recover::shell::Shell::new(&cfg, a.identity.clone(), a.overwrite)?;
    let id = a
        .identity
        .clone()
        .or_else(|| cfg.encryption.generate_identity.clone());
    sh.trust = a.trust.trust(&cfg, id.as_deref())?;
    let quote = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
    let host = a.host.first().cloned();
    for (cmd, v) in [
        ("setdate", &a.date),
        ("sethost", &host),
        ("setdisk", &a.disk),
    ] {
        if let Some(v) = v {
            sh.exec(&format!("{cmd} {}", quote(v)))?;
        }
    }
    crate::recover::repl::run(sh)
}
