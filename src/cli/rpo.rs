//! `tapir check-rpo`: a Nagios plugin (and Prometheus textfile) for recovery points.

use super::Cli;
use crate::rpo::{Limits, assess};
use std::path::PathBuf;

/// Nagios plugin and Prometheus textfile for recovery points.
///
/// Is every DLE's last dump younger than --warn/--crit, its last full younger than the
/// dumpcycle plus --full-slack, and the mirror current? Nagios conventions: one summary line
/// with perfdata, details after it; exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN. With
/// --prometheus FILE also writes node_exporter gauges there (atomically).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// WARNING when a DLE's last dump is older (s, m, h, d).
    #[arg(long, default_value = "26h", value_parser = seconds)]
    pub warn: i64,
    /// CRITICAL when a DLE's last dump is older.
    #[arg(long, default_value = "50h", value_parser = seconds)]
    pub crit: i64,
    /// WARNING when the last full is older than dumpcycle plus this.
    #[arg(long, default_value = "1d", value_parser = seconds)]
    pub full_slack: i64,
    /// Also write node_exporter textfile gauges to FILE (atomically): last success, last
    /// full, level, bytes, duration, partial, RPO state and skipped per DLE, mirror lag.
    #[arg(long, value_name = "FILE")]
    pub prometheus: Option<PathBuf>,
}

fn seconds(s: &str) -> Result<i64, String> {
    crate::units::parse_duration(s).map(|d| d.as_secs() as i64)
}

pub fn run(cli: &Cli, a: &Args) -> anyhow::Result<i32> {
    let limits = Limits {
        warn: a.warn,
        crit: a.crit,
        full_slack: a.full_slack,
    };
    let result = (|| -> anyhow::Result<i32> {
        let cfg = super::load_config(cli)?;
        let found = assess(&cfg, &limits, crate::clock::now()?)?;
        if let Some(p) = &a.prometheus {
            crate::fsutil::write_atomic(p, found.prometheus().as_bytes())?;
        }
        crate::cli::out::text(&found.nagios(&limits))?;
        Ok(found.state() as i32)
    })();
    Ok(result.unwrap_or_else(|e| {
        let fix = crate::rpo::permission_hint(&e).map_or(String::new(), |h| format!("; {h}"));
        let _ = crate::cli::out::line(format_args!("TAPIR RPO UNKNOWN - {e:#}{fix}"));
        3
    }))
}

/// A monitoring system calls check-rpo unattended: a bad option is UNKNOWN (3), with the
/// usual one-line status on stdout, not the usage exit code 2 that Nagios reads as CRITICAL.
pub fn usage_unknown(e: &clap::Error) -> i32 {
    let text = e.to_string();
    let first = text
        .lines()
        .next()
        .unwrap_or("")
        .trim_start_matches("error: ");
    let _ = crate::cli::out::line(format_args!("TAPIR RPO UNKNOWN - bad arguments: {first}"));
    3
}
