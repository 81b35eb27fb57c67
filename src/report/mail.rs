//! The morning mail: the report as an RFC 5322 / MIME message (mail-builder: Date, From,
//! Message-ID on the FQDN, MIME-Version, charset, a transfer encoding that keeps lines within
//! 998 bytes, RFC 2047 subjects, an optional HTML alternative), submitted over SMTP to the
//! config's `smtp` relay (lettre; STARTTLS when offered), or handed to `sendmail -f FROM -t -oi`
//! (or `$TAPIR_SENDMAIL`) when `smtp` is unset. The hardened units run with
//! NoNewPrivileges, under which a setuid/setgid sendmail cannot write its spool: SMTP is the
//! way out of them.

use super::{RunSummary, Status};
use crate::config::Relay;
use crate::error::Error;
use anyhow::{Context, Result, bail};
use lettre::Transport;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use mail_builder::headers::address::Address;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

/// One line saying whether anyone needs to act.
pub fn subject(org: &str, s: &RunSummary) -> String {
    let count = |st: Status| s.outcomes.iter().filter(|o| o.status == st).count();
    let bad = [Status::Partial, Status::Failed, Status::Missed]
        .iter()
        .filter(|st| count(**st) > 0)
        .map(|st| format!("{} {}", count(*st), super::name(st)))
        .collect::<Vec<_>>();
    let held = match s.held.len() {
        0 => String::new(),
        n => format!(", {n} HELD (no tape)"),
    };
    let verdict = if bad.is_empty() && !s.no_tape {
        format!("all {} OK", count(Status::Ok))
    } else if bad.is_empty() && !held.is_empty() {
        format!("all {} OK{held}", count(Status::Ok))
    } else if s.no_tape && held.is_empty() {
        "NO TAPE".to_string()
    } else {
        format!("PROBLEMS: {}{held}", bad.join(", "))
    };
    format!("tapir {org} run {}: {verdict}", s.datestamp)
}

/// Where a mail goes and how: the envelope and the route.
pub struct Outbox {
    /// `mailfrom` (or `tapir@FQDN`): the From header and the envelope sender.
    pub from: String,
    pub to: Vec<String>,
    /// The SMTP relay; None: sendmail.
    pub smtp: Option<Relay>,
}

impl Outbox {
    pub fn of(cfg: &crate::config::Config) -> Self {
        Outbox::new(cfg.mailto.clone(), cfg.mailfrom.clone(), cfg.smtp.clone())
    }
    pub fn new(to: Vec<String>, from: Option<String>, smtp: Option<Relay>) -> Self {
        Outbox {
            from: from.unwrap_or_else(default_from),
            to,
            smtp,
        }
    }
}

/// The body of a mail: text, and for the report an HTML alternative.
pub struct Body<'a> {
    pub subject: &'a str,
    pub text: &'a str,
    pub html: Option<&'a str>,
}

/// The message `send` submits: multipart/alternative when there is HTML, else text/plain.
pub fn message(from: &str, to: &[String], body: &Body) -> Result<Vec<u8>> {
    let to: Vec<Address> = to.iter().map(|a| address(a)).collect();
    let mut b = mail_builder::MessageBuilder::new()
        .from(address(from))
        .to(to)
        .subject(body.subject)
        .message_id(message_id())
        .text_body(body.text);
    if let Some(html) = body.html {
        b = b.html_body(html);
    }
    b.write_to_vec().context("cannot build the report mail")
}

/// `<unique@FQDN>`: unique by time, process and a counter.
fn message_id() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!(
        "tapir.{}.{:09}.{}.{}@{}",
        now.as_secs(),
        now.subsec_nanos(),
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        fqdn()
    )
}

/// `ops@example.org` or `Backup Team <backup@example.org>`.
fn address(s: &str) -> Address<'_> {
    let (name, addr) = split_address(s);
    Address::new_address(name, addr)
}

/// The display name (if any) and the addr-spec of `s`.
fn split_address(s: &str) -> (Option<&str>, &str) {
    let s = s.trim();
    match (s.rfind('<'), s.ends_with('>')) {
        (Some(i), true) => {
            let name = s[..i].trim().trim_matches('"');
            ((!name.is_empty()).then_some(name), &s[i + 1..s.len() - 1])
        }
        _ => (None, s),
    }
}

/// The host's fully qualified name: the kernel's hostname when it has a dot, else the first
/// name with a dot on an /etc/hosts line that lists the short name (what `hostname -f` finds
/// there), else the short name.
pub fn fqdn() -> String {
    let short = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    if short.is_empty() {
        return "localhost".into();
    }
    if short.contains('.') {
        return short;
    }
    let hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
    fqdn_from_hosts(&short, &hosts).unwrap_or(short)
}

fn fqdn_from_hosts(short: &str, hosts: &str) -> Option<String> {
    hosts.lines().find_map(|line| {
        let names: Vec<&str> = line.split('#').next()?.split_whitespace().skip(1).collect();
        let listed = names
            .iter()
            .any(|n| *n == short || n.split('.').next() == Some(short));
        listed
            .then(|| {
                names
                    .iter()
                    .find(|n| n.contains('.') && n.split('.').next() == Some(short))
            })
            .flatten()
            .map(|n| n.to_string())
    })
}

/// `tapir@FQDN` for a mail's From when `mailfrom` is not set.
pub fn default_from() -> String {
    format!("tapir@{}", fqdn())
}

/// Send `body` through the outbox's route. Errors name the relay (or the program) and what it
/// answered.
pub fn send(outbox: &Outbox, body: &Body) -> Result<()> {
    if outbox.to.is_empty() {
        bail!(
            Error::config("mailto is empty")
                .hint("set mailto = [\"ops@example.org\"] in the config")
        );
    }
    let msg = message(&outbox.from, &outbox.to, body)?;
    match &outbox.smtp {
        Some(relay) => submit(relay, &outbox.from, &outbox.to, &msg),
        None => sendmail(&outbox.from, &msg),
    }
}

/// SMTP submission: EHLO with the FQDN, STARTTLS when the relay offers it, MAIL FROM the
/// envelope sender. A loopback relay's certificate is not verified (Debian's MTAs offer a
/// self-signed snakeoil one, and the connection never leaves the host); any other relay's is,
/// against the system's store.
fn submit(relay: &Relay, from: &str, to: &[String], msg: &[u8]) -> Result<()> {
    let failed = |e: &dyn std::fmt::Display| {
        Error::failed(format!(
            "the mail relay {relay} refused or could not take the mail: {e}"
        ))
        .hint(format!(
            "check that an MTA listens on {relay} and relays for {}, or set smtp to another relay",
            split_address(from).1
        ))
    };
    let envelope = envelope(from, to)?;
    let tls = TlsParameters::builder(relay.host.clone())
        .dangerous_accept_invalid_certs(relay.is_loopback())
        .dangerous_accept_invalid_hostnames(relay.is_loopback())
        .build_rustls()
        .map_err(|e| failed(&e))?;
    let transport = lettre::SmtpTransport::builder_dangerous(relay.host.as_str())
        .port(relay.port)
        .tls(Tls::Opportunistic(tls))
        .hello_name(ClientId::Domain(fqdn()))
        .timeout(Some(Duration::from_secs(60)))
        .build();
    transport
        .send_raw(&envelope, msg)
        .map(|_| ())
        .map_err(|e| failed(&error_chain(&e)).into())
}

/// lettre's error with its sources ("Connection refused", the relay's reply).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        let t = inner.to_string();
        if !s.contains(&t) {
            s = format!("{s}: {t}");
        }
        src = inner.source();
    }
    s
}

fn envelope(from: &str, to: &[String]) -> Result<lettre::address::Envelope> {
    let parse = |a: &str| -> Result<lettre::Address> {
        let spec = split_address(a).1;
        spec.parse().map_err(|e| {
            Error::config(format!("{a:?} is not a mail address: {e}"))
                .hint("mailto and mailfrom take addresses like ops@example.org or \"Ops <ops@example.org>\"")
                .into()
        })
    };
    let rcpt = to.iter().map(|a| parse(a)).collect::<Result<Vec<_>>>()?;
    lettre::address::Envelope::new(Some(parse(from)?), rcpt).context("cannot build the envelope")
}

/// The fallback without `smtp`: `sendmail -f FROM -t -oi`.
fn sendmail(from: &str, msg: &[u8]) -> Result<()> {
    let program = std::env::var("TAPIR_SENDMAIL").unwrap_or_else(|_| "/usr/sbin/sendmail".into());
    let mut child = Command::new(&program)
        .args(["-f", split_address(from).1, "-t", "-oi"])
        .stdin(Stdio::piped())
        .spawn()
        .map_err(|e| {
            Error::failed(format!("cannot run {program}: {e}"))
                .hint("install an MTA, or set smtp = \"localhost:25\" to submit over SMTP")
        })?;
    let wrote = child.stdin.take().unwrap().write_all(msg);
    let status = child.wait()?;
    if !status.success() || wrote.is_err() {
        bail!(Error::failed(format!("{program} -t -oi failed ({status})")).hint(
            "a setuid sendmail cannot queue under NoNewPrivileges (the shipped units): set smtp = \"localhost:25\""
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fqdn_comes_from_the_hosts_line_that_lists_the_short_name() {
        let hosts = "127.0.0.1 localhost\n# 10.0.0.9 backup1.wrong.org backup1\n10.0.0.2 other.example.org other\n127.0.1.1 backup1.example.org backup1\n";
        assert_eq!(
            fqdn_from_hosts("backup1", hosts).as_deref(),
            Some("backup1.example.org")
        );
        assert_eq!(fqdn_from_hosts("db", hosts), None);
    }

    #[test]
    fn addresses_split_into_name_and_addr_spec() {
        assert_eq!(
            split_address("Backup Team <backup@example.org>"),
            (Some("Backup Team"), "backup@example.org")
        );
        assert_eq!(
            split_address(" ops@example.org "),
            (None, "ops@example.org")
        );
    }
}
