//! The morning mail: the text report as an RFC 5322 / MIME message (mail-builder: Date, From,
//! Message-ID, MIME-Version, charset, a transfer encoding that keeps lines within 998 bytes,
//! RFC 2047 subjects) through `sendmail -t -oi` (or `$TAPIR_SENDMAIL`).

use super::{RunSummary, Status};
use anyhow::{Context, Result, bail};
use mail_builder::headers::address::Address;
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

/// The message `send` hands to sendmail.
pub fn message(from: &str, to: &[String], subject: &str, text: &str) -> Result<Vec<u8>> {
    let to: Vec<Address> = to.iter().map(|a| address(a)).collect();
    mail_builder::MessageBuilder::new()
        .from(address(from))
        .to(to)
        .subject(subject)
        .text_body(text)
        .write_to_vec()
        .context("cannot build the report mail")
}

/// `ops@example.org` or `Backup Team <backup@example.org>`.
fn address(s: &str) -> Address<'_> {
    let s = s.trim();
    match (s.rfind('<'), s.ends_with('>')) {
        (Some(i), true) => {
            let name = s[..i].trim().trim_matches('"');
            let addr = &s[i + 1..s.len() - 1];
            Address::new_address((!name.is_empty()).then_some(name), addr)
        }
        _ => Address::new_address(None::<&str>, s),
    }
}

/// `tapir@HOST` for a mail's From when `mailfrom` is not set.
pub fn default_from() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    format!(
        "tapir@{}",
        if host.is_empty() { "localhost" } else { &host }
    )
}

/// Send `text` to `to` with `sendmail -t -oi`.
pub fn send(from: &str, to: &[String], subject: &str, text: &str) -> Result<()> {
    if to.is_empty() {
        bail!(
            crate::error::Error::config("mailto is empty")
                .hint("set mailto = [\"ops@example.org\"] in the config")
        );
    }
    let program = std::env::var("TAPIR_SENDMAIL").unwrap_or_else(|_| "/usr/sbin/sendmail".into());
    let msg = message(from, to, subject, text)?;
    let mut child = Command::new(&program)
        .args(["-t", "-oi"])
        .stdin(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {program}"))?;
    child.stdin.take().unwrap().write_all(&msg)?;
    let status = child.wait()?;
    if !status.success() {
        bail!("{program} -t -oi failed ({status})");
    }
    Ok(())
}
