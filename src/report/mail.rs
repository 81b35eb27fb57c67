//! The morning mail: the text report through `sendmail -t` (or `$TAPIR_SENDMAIL`).

use super::{RunSummary, Status};
use anyhow::{Context, Result, bail};
use std::io::Write;
use std::process::{Command, Stdio};

/// One line saying whether anyone needs to act.
pub fn subject(org: &str, s: &RunSummary) -> String {
    let count = |st: Status| s.outcomes.iter().filter(|o| o.status == st).count();
    let bad = [Status::Partial, Status::Failed, Status::Missed]
        .iter()
        .filter(|st| count(**st) > 0)
        .map(|st| format!("{} {}", count(*st), super::name(st)))
        .collect::<Vec<_>>();
    let verdict = if bad.is_empty() && !s.no_tape {
        format!("all {} OK", count(Status::Ok))
    } else if s.no_tape {
        "NO TAPE".to_string()
    } else {
        format!("PROBLEMS: {}", bad.join(", "))
    };
    format!("tapir {org} run {}: {verdict}", s.datestamp)
}

/// Send `text` to `to` with `sendmail -t`.
pub fn send(to: &[String], subject: &str, text: &str) -> Result<()> {
    if to.is_empty() {
        bail!(crate::error::Error::config(
            "mailto is empty: set mailto = [\"ops@example.org\"] in the config"
        ));
    }
    let program = std::env::var("TAPIR_SENDMAIL").unwrap_or_else(|_| "/usr/sbin/sendmail".into());
    let mut child = Command::new(&program)
        .arg("-t")
        .stdin(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {program}"))?;
    let msg = format!(
        "To: {}\nSubject: {subject}\nContent-Type: text/plain; charset=utf-8\n\n{text}",
        to.join(", ")
    );
    child.stdin.take().unwrap().write_all(msg.as_bytes())?;
    let status = child.wait()?;
    if !status.success() {
        bail!("{program} -t failed ({status})");
    }
    Ok(())
}
