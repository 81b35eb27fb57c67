//! The mail leaves from the shipped units: submitted over SMTP to a real exim4 (Debian's
//! default MTA) in queue-only mode, by tapir-cron and by the failure unit's command, both run
//! in the unit's sandbox (read-only /, NoNewPrivileges, an unprivileged user), where Debian's
//! setuid sendmail cannot queue. The queued message parses with Python's strict parser.

use crate::common::exim::Exim;
use crate::common::unit::UnitState;
use std::process::Command;

const TO: &str = r#"mailto = ["ops@example.org", "Backup Team <backup@example.org>"]
mailfrom = "tapir@backup1.example.org""#;

/// Python's email parser in strict mode: the headers a mail reader needs, the addresses,
/// the Message-ID's domain; prints the Message-ID's domain and the text.
const STRICT: &str = r#"
import email, sys
from email import policy
m = email.message_from_bytes(open(sys.argv[1], 'rb').read(), policy=policy.strict)
for h in ['Date', 'From', 'To', 'Subject', 'Message-ID', 'MIME-Version', 'Content-Type']:
    assert m[h] is not None, h
assert m['From'].addresses[0].addr_spec == 'tapir@backup1.example.org', str(m['From'])
assert [a.addr_spec for a in m['To'].addresses] == ['ops@example.org', 'backup@example.org']
mid = str(m['Message-ID']).strip()
assert mid.startswith('<') and mid.endswith('>') and mid.count('@') == 1, mid
print(mid[1:-1].split('@')[1])
print(str(m['Subject']))
print(m.get_body(('plain',)).get_content())
"#;

/// The one queued message, checked strictly: (Message-ID domain, subject, text).
fn queued(
    exim: &Exim,
    dir: &std::path::Path,
) -> (String, String, String, crate::common::exim::Envelope) {
    let ids = exim.queue();
    assert_eq!(ids.len(), 1, "queued: {ids:?}\n{}", exim.log());
    let (raw, envelope) = exim.message(&ids[0]);
    let file = dir.join("queued.eml");
    std::fs::write(&file, &raw).unwrap();
    let out = Command::new("/usr/bin/python3")
        .args(["-c", STRICT, file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&raw)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.splitn(3, '\n');
    let (domain, subject, body) = (
        lines.next().unwrap().to_string(),
        lines.next().unwrap().to_string(),
        lines.next().unwrap_or("").to_string(),
    );
    (domain, subject, body, envelope)
}

fn fqdn() -> String {
    let out = Command::new("hostname").arg("--fqdn").output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn the_nightly_report_leaves_the_hardened_unit_over_smtp_with_starttls() {
    let mta = tempfile::tempdir().unwrap();
    let exim = Exim::start(mta.path());
    let state = UnitState::new(&format!("{TO}\nsmtp = \"127.0.0.1:{}\"", exim.port));
    let (ok, said) = state.run(&format!(
        "bash {} --config {}/tapir.toml",
        state.bin("tapir-cron").display(),
        state.path().display()
    ));
    // the first night says only that it made the signing key
    assert!(ok && !said.contains("fail"), "{said}");
    let (domain, subject, body, envelope) = queued(&exim, mta.path());
    assert!(
        subject.starts_with("tapir DailySet1 run ") && subject.ends_with(": all 1 OK"),
        "{subject}"
    );
    assert!(body.contains("tapir report for DailySet1"), "{body}");
    // the envelope: MAIL FROM is mailfrom, RCPT TO every mailto
    assert_eq!(envelope.sender, "tapir@backup1.example.org");
    assert_eq!(
        envelope.recipients,
        ["ops@example.org", "backup@example.org"]
    );
    // the Message-ID and the EHLO name are the host's FQDN; the session used STARTTLS
    let log = exim.log();
    let arrival = log
        .lines()
        .find(|l| l.contains(" <= "))
        .unwrap_or_else(|| panic!("{log}"));
    assert_eq!(domain, fqdn());
    assert!(
        arrival.contains(&format!("H=({})", fqdn()))
            || arrival.contains(&format!("helo={}", fqdn()))
            || arrival.contains(&format!("({})", fqdn())),
        "{arrival}"
    );
    assert!(arrival.contains(" X=TLS"), "no STARTTLS: {arrival}");
}

#[test]
fn without_smtp_the_units_sendmail_cannot_queue_and_the_night_says_so() {
    // Debian's exim4 sendmail is setuid root: under NoNewPrivileges and a read-only /var it
    // cannot write its spool. This is the failure the smtp key is there for.
    assert!(
        std::path::Path::new("/usr/sbin/sendmail").exists(),
        "exim4 provides sendmail"
    );
    let state = UnitState::new(TO);
    let (ok, said) = state.run(&format!(
        "bash {} --config {}/tapir.toml",
        state.bin("tapir-cron").display(),
        state.path().display()
    ));
    assert!(ok, "the dump itself was fine: {said}");
    assert!(
        said.contains("tapir-cron: mailing the report failed"),
        "{said}"
    );
    assert!(said.contains("/usr/sbin/sendmail -t -oi failed"), "{said}");
    assert!(
        said.contains("set smtp = \"localhost:25\""),
        "the fix is named: {said}"
    );
    assert!(
        said.contains("tapir report --mail "),
        "the way to send it again: {said}"
    );
}

#[test]
fn a_refused_or_unreachable_relay_is_named_exit_1_and_the_report_is_sent_again_later() {
    let mta = tempfile::tempdir().unwrap();
    let exim = Exim::start(mta.path());
    let dead = crate::common::sshd::free_port();
    let state = UnitState::new(&format!("{TO}\nsmtp = \"127.0.0.1:{dead}\""));
    state.tapir(&["dump"]).assert_code(0);
    let r = state.tapir(&["report", "--mail"]);
    r.assert_code(1);
    let run = std::fs::read_dir(state.path().join("catalog/runs"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .file_name()
        .into_string()
        .unwrap();
    for want in [
        format!("the mail relay 127.0.0.1:{dead}"),
        "Connection refused".to_string(),
        format!("tapir report --mail {run}"),
    ] {
        assert!(r.stderr.contains(&want), "{want:?} not in: {}", r.stderr);
    }
    // a relay that answers but refuses a recipient: its reply is in the error
    let cfg = state.path().join("tapir.toml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    let text = text.replace(
        &format!("127.0.0.1:{dead}"),
        &format!("127.0.0.1:{}", exim.port),
    );
    std::fs::write(
        &cfg,
        text.replace("\"ops@example.org\",", "\"refused@example.org\","),
    )
    .unwrap();
    let r = state.tapir(&["report", "--mail"]);
    r.assert_code(1);
    assert!(r.stderr.contains("no such mailbox here"), "{}", r.stderr);
    assert!(exim.queue().is_empty(), "nothing half-sent");
    // the relay is fixed: the same run's report goes out
    std::fs::write(&cfg, text).unwrap();
    state.tapir(&["report", "--mail", &run]).assert_code(0);
    let (_, subject, _, _) = queued(&exim, mta.path());
    assert!(subject.contains(&run), "{subject}");
}

#[test]
fn the_failure_units_command_mails_over_smtp_even_when_the_config_is_broken() {
    let mta = tempfile::tempdir().unwrap();
    let exim = Exim::start(mta.path());
    // a config that no longer loads (the failure being mailed may be this one)
    let state = UnitState::new(&format!(
        "{TO}\nsmtp = \"127.0.0.1:{}\"\ndumpcycle = \"weekly\"",
        exim.port
    ));
    state.tapir(&["check"]).assert_code(2);
    let unit = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scripts/systemd/tapir-failure@.service"
    ))
    .unwrap();
    let exec = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .unwrap();
    // the unit's own command line, with its specifiers and paths filled in as systemd and
    // the package would; systemctl (no systemd runs here) prints a status as it would
    let line = exec
        .replace("%i", "tapir.service")
        .replace("%H", "backup1")
        .replace("/usr/bin/tapir", state.bin("tapir").to_str().unwrap())
        .replace(
            "/etc/tapir/tapir.toml",
            state.path().join("tapir.toml").to_str().unwrap(),
        );
    std::fs::write(
        state.bin("systemctl"),
        "#!/bin/sh\necho \"× $5 - tapir nightly backup\"\necho '     Active: failed (Result: timeout)'\n",
    )
    .unwrap();
    crate::common::sh(
        &format!("chmod 755 {}", state.bin("systemctl").display()),
        state.path(),
    );
    let (ok, said) = state.run(&line);
    assert!(ok, "{said}");
    let (_, subject, body, _) = queued(&exim, mta.path());
    assert_eq!(subject, "tapir.service failed on backup1");
    assert!(body.contains("Active: failed (Result: timeout)"), "{body}");
}
