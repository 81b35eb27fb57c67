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
    #[arg(long)]
    pub host: Option<String>,
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
    if a.stdout || a.run_restore {
        return stream(cli, a);
    }
    let Some(to) = &a.to else {
        return shell(cli, a);
    };
    let report = match &a.tar {
        Some(t) if t.as_os_str() == "-" => {
            crate::recover::extract_stream(std::io::stdin().lock(), to, &a.paths, a.overwrite)?
        }
        Some(t) => {
            crate::recover::extract_stream(std::fs::File::open(t)?, to, &a.paths, a.overwrite)?
        }
        None => {
            let cfg = a.root.config(cli)?;
            let (Some(host), Some(disk), Some(identity)) = (&a.host, &a.disk, &a.identity) else {
                bail!(Error::config(
                    "recover needs --host, --disk and --identity (or --tar)"
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
            crate::recover::run(&cfg, &req)?
        }
    };
    for r in &report.refused {
        eprintln!("tapir: REFUSED {r}");
    }
    outln!(
        "restored {} members into {}; {} refused",
        report.restored,
        to.display(),
        report.refused.len()
    );
    Ok(if report.refused.is_empty() { 0 } else { 1 })
}

/// A program DLE's stream to stdout or into its restore command.
fn stream(cli: &Cli, a: &Args) -> anyhow::Result<i32> {
    use crate::recover::stream::{self, Dest};
    let cfg = a.root.config(cli)?;
    let (Some(host), Some(disk), Some(identity)) = (&a.host, &a.disk, &a.identity) else {
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
        bail!(Error::config(format!(
            "{host} {disk} is a tar DLE: --stdout and --run-restore are for program DLEs \
             (use --to DIR, or `tapir fetch -i KEY -o -` for its tar)"
        )));
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
    for (cmd, v) in [
        ("setdate", &a.date),
        ("sethost", &a.host),
        ("setdisk", &a.disk),
    ] {
        if let Some(v) = v {
            sh.exec(&format!("{cmd} {}", quote(v)))?;
        }
    }
    crate::recover::repl::run(sh)
}
