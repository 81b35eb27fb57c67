//! The command line: clap definitions only, one thin file per subcommand that turns
//! arguments into the library's options, calls it once, and prints.

mod agent;
mod catalog;
mod check;
mod config;
mod diff;
mod drill;
mod dump;
mod enroll;
mod fetch;
mod find;
mod flush;
mod forecast;
mod forget;
mod keygen;
mod keys;
mod label;
mod mail;
mod mirror;
mod overview;
pub use crate::out;
mod recover;
mod rekey;
mod report;
mod rpo;
mod schedule;
mod status;
mod sums;
mod tapes;
mod vault;
mod verify;

use crate::error::{self, exit};
use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// Amanda-style nightly backups: tar over SSH, gzip, age, labelled virtual tapes.
///
/// Exit codes: 0 all OK; 1 some DLE failed or was partial (the report says which);
/// 2 usage or config error; 3 another run holds the lock; 4 nothing could be done.
#[derive(Debug, Parser)]
#[command(name = "tapir", version, propagate_version = true)]
pub struct Cli {
    /// Config file (default: $TAPIR_CONFIG, ./tapir.toml, /etc/tapir/tapir.toml).
    #[arg(long, short = 'c', global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Print data as JSON.
    #[arg(long, global = true)]
    pub json: bool,
    /// Show progress on stderr also when it is not a terminal (default: only problems).
    #[arg(long, short = 'v', global = true)]
    pub verbose: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Config(config::Args),
    Keygen(keygen::Args),
    Keys(keys::Args),
    Rekey(rekey::Args),
    Label(label::Args),
    Tapes(tapes::Args),
    Dump(dump::Args),
    Flush(flush::Args),
    Find(find::Args),
    Diff(diff::Args),
    Sums(sums::Args),
    Drill(drill::Args),
    Fetch(fetch::Args),
    Recover(recover::Args),
    Mirror(mirror::Args),
    Vault(vault::Args),
    Forecast(forecast::Args),
    Status(status::Args),
    Report(report::Args),
    Overview(overview::Args),
    Mail(mail::Args),
    CheckRpo(rpo::Args),
    Due(schedule::DueArgs),
    Balance(schedule::BalanceArgs),
    /// Take a full of HOST DISK at the next run
    ///
    /// The planner dumps the DLE at level 0 at its next run whatever its schedule says (amadmin
    /// force); the full, once written, clears the request. `tapir due` shows it as forced.
    Force(schedule::ForceArgs),
    /// Cancel a full that `tapir force` asked for
    ///
    /// The DLE goes back to its planned level at the next run; nothing is changed when no
    /// full was forced (amadmin unforce).
    Unforce(schedule::ForceArgs),
    Forget(forget::Args),
    Check(check::Args),
    Verify(verify::Args),
    Catalog(catalog::Args),
    Enroll(enroll::Args),
    Agent(agent::Args),
}

/// Parse, run, and return the process exit code.
pub fn main() -> i32 {
    // The catalog lists every backed-up path, owner and size; run logs and status name hosts
    // and errors: whatever the caller's umask, what tapir creates is its own user's alone
    // (0600 files, 0700 directories). Restored files get their modes from the tape.
    crate::sys::private_umask();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            if !e.use_stderr() {
                return exit::OK;
            }
            return if std::env::args_os().any(|a| a == "check-rpo") {
                rpo::usage_unknown(&e)
            } else {
                exit::USAGE
            };
        }
    };
    // progress for a person at a terminal; under cron only problems (cron mails any output)
    use std::io::IsTerminal;
    crate::say::set(if cli.verbose || std::io::stderr().is_terminal() {
        crate::say::Audience::Terminal
    } else {
        crate::say::Audience::Unattended
    });
    match run(&cli) {
        Ok(code) => code,
        Err(e) if out::is_stdout_closed(&e) => exit::OK,
        Err(e) => {
            eprintln!("tapir: error: {e:#}");
            error::exit_code_of(&e)
        }
    }
}

fn run(cli: &Cli) -> anyhow::Result<i32> {
    if cli.json && matches!(cli.command, Command::CheckRpo(_)) {
        // a monitoring system reads 2 as CRITICAL: bad arguments are UNKNOWN
        out::line(format_args!(
            "TAPIR RPO UNKNOWN - bad arguments: --json is not supported (the plugin output is the format)"
        ))?;
        return Ok(3);
    }
    if cli.json && !speaks_json(&cli.command) {
        anyhow::bail!(error::Error::config(
            "--json is not supported by this command: its output is not data"
        ));
    }
    match &cli.command {
        Command::Config(a) => config::run(cli, a),
        Command::Keygen(a) => keygen::run(a),
        Command::Keys(a) => keys::run(cli, a),
        Command::Rekey(a) => rekey::run(cli, a),
        Command::Label(a) => label::run(cli, a),
        Command::Tapes(a) => tapes::run(cli, a),
        Command::Dump(a) => dump::run(cli, a),
        Command::Find(a) => find::run(cli, a),
        Command::Diff(a) => diff::run(cli, a),
        Command::Sums(a) => sums::run(cli, a),
        Command::Drill(a) => drill::run(cli, a),
        Command::Fetch(a) => fetch::run(cli, a),
        Command::Recover(a) => recover::run(cli, a),
        Command::Mirror(a) => mirror::run(cli, a),
        Command::Vault(a) => vault::run(cli, a),
        Command::Forecast(a) => forecast::run(cli, a),
        Command::Status(a) => status::run(cli, a),
        Command::Report(a) => report::run(cli, a),
        Command::Overview(a) => overview::run(cli, a),
        Command::Mail(a) => mail::run(cli, a),
        Command::Forget(a) => forget::run(cli, a),
        Command::Flush(a) => flush::run(cli, a),
        Command::CheckRpo(a) => rpo::run(cli, a),
        Command::Due(a) => schedule::due(cli, a),
        Command::Balance(a) => schedule::balance(cli, a),
        Command::Force(a) => schedule::force(cli, a, true),
        Command::Unforce(a) => schedule::force(cli, a, false),
        Command::Check(a) => check::run(cli, a),
        Command::Verify(a) => verify::run(cli, a),
        Command::Catalog(a) => catalog::run(cli, a),
        Command::Enroll(a) => enroll::run(cli, a),
        Command::Agent(a) => agent::run(a),
    }
}

/// Whether a command prints data that `--json` can give; the others refuse `--json` rather
/// than ignore it.
fn speaks_json(c: &Command) -> bool {
    !matches!(
        c,
        Command::CheckRpo(_)
            | Command::Force(_)
            | Command::Unforce(_)
            | Command::Keygen(_)
            | Command::Keys(_)
            | Command::Rekey(_)
            | Command::Label(_)
            | Command::Recover(_)
            | Command::Fetch(_)
            | Command::Enroll(_)
            | Command::Agent(_)
            | Command::Catalog(_)
            | Command::Sums(_)
    )
}

/// `--from ROOT`, shared by the commands that read tapes: a mirror (or any copy of a vtape
/// root) in place of the tapes, and its `catalog/` copy in place of the catalog when it has
/// one, so restores need nothing else.
#[derive(Debug, clap::Args)]
pub struct FromRoot {
    /// Read the tapes and catalog of this vtape root (a mirror: a directory, or
    /// s3://BUCKET/PREFIX) instead of the configured ones.
    #[arg(long, value_name = "ROOT")]
    pub from: Option<PathBuf>,
}

impl FromRoot {
    /// The config as every command loads it, with ROOT in place when given.
    pub fn config(&self, cli: &Cli) -> anyhow::Result<crate::config::Config> {
        let Some(from) = &self.from else {
            return load_config(cli);
        };
        let base = if no_config_file(cli) {
            None
        } else {
            Some(load_config(cli)?)
        };
        crate::config::reading::from_root(from, base)
    }
}

/// How tape files are authenticated: shared by the commands that read dumps.
#[derive(Debug, Clone, clap::Args)]
pub struct TrustArgs {
    /// The tape signing public key (`KEY.pub`, an allowed-signers line, or an identity file
    /// with a `# tapir signing key:` line); default: signing.public_key, the server's own
    /// key, or the identity file's line.
    #[arg(long, value_name = "FILE")]
    pub signing_pub: Option<PathBuf>,
    /// Read tape files whose signature is missing or does not verify (never by default).
    #[arg(long)]
    pub insecure_skip_signature: bool,
}

impl TrustArgs {
    pub fn trust(
        &self,
        cfg: &crate::config::Config,
        identity: Option<&std::path::Path>,
    ) -> anyhow::Result<crate::signing::Trust> {
        crate::keys::trust(
            &cfg.signing,
            self.signing_pub.as_deref(),
            identity,
            self.insecure_skip_signature,
        )
    }
}

/// No `--config`, no `$TAPIR_CONFIG`, and no file where the search ends: a reader with
/// `--from` then works from the mirror and the key alone.
pub fn no_config_file(cli: &Cli) -> bool {
    cli.config.is_none()
        && std::env::var_os("TAPIR_CONFIG").is_none_or(|p| p.is_empty())
        && !crate::config::locate(None).exists()
}

/// Load the config the way every command does.
pub fn load_config(cli: &Cli) -> anyhow::Result<crate::config::Config> {
    if no_config_file(cli) {
        let cwd = std::env::current_dir().unwrap_or_default();
        anyhow::bail!(
            error::Error::config(format!(
                "no config: tapir looks for --config FILE, then $TAPIR_CONFIG, then \
                 ./tapir.toml (in {}), then /etc/tapir/tapir.toml, and found none",
                cwd.display()
            ))
            .hint("pass --config FILE or set TAPIR_CONFIG; a clone ships an example tapir.toml at its top (README)")
        );
    }
    let path = crate::config::locate(cli.config.as_deref());
    Ok(crate::config::load(&path)?)
}

/// Print a value as pretty JSON on stdout.
pub fn print_json<T: serde::Serialize>(v: &T) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, v).map_err(|e| out::stdout_error(e.into()))?;
    writeln!(out).map_err(out::stdout_error)
}
