//! Operations: `tapir report` (text, JSON, mail) over a run with OK and FAILED DLEs, and
//! `tapir check-rpo` (Nagios states, perfdata, Prometheus textfile) in scenarios built with
//! TAPIR_NOW.

use crate::common::{Setup, day};
use std::fs;

fn after(hours: i64) -> String {
    let start = chrono::DateTime::parse_from_rfc3339(&day(0)).unwrap();
    (start + chrono::Duration::hours(hours)).to_rfc3339()
}

fn setup(extra: &str) -> (Setup, String, String) {
    let s = Setup::new(
        &format!("mailto = [\"ops@example.org\", \"boss@example.org\"]\n{extra}"),
        "",
    );
    let good = s.path().join("good");
    fs::create_dir_all(&good).unwrap();
    fs::write(good.join("f"), "data").unwrap();
    let gone = s.path().join("gone");
    let (good, gone) = (good.display().to_string(), gone.display().to_string());
    s.write(
        "disklist",
        &format!("localhost {good} local\nlocalhost {gone} local\n"),
    );
    (s, good, gone)
}

#[test]
fn report_repeats_the_run_as_text_json_and_mail() {
    let (s, good, gone) = setup("");
    let dump = s.run_env(&["dump"], &[("TAPIR_NOW", &day(0))]);
    dump.assert_code(1);
    let r = s.run(&["report"]);
    r.assert_code(0);
    assert_eq!(r.stdout, dump.stdout, "report = what the dump printed");
    let o = &r.stdout;
    assert!(o.starts_with("tapir report for Test run 20260101"), "{o}");
    assert!(o.contains("tapes written: daily-01"), "{o}");
    let row = |disk: &str| {
        o.lines()
            .find(|l| l.contains(disk) && l.starts_with("localhost"))
            .unwrap()
            .to_string()
    };
    assert!(row(&good).contains(" OK "), "{o}");
    assert!(row(&good).contains("daily-01:1"), "{o}");
    assert!(row(&gone).contains(" FAILED "), "{o}");
    assert!(
        o.contains(&format!("localhost {gone}: FAILED\n  ")),
        "the reason follows: {o}"
    );
    assert!(o.contains("planner:\n"), "{o}");
    assert!(
        o.contains("next run: tape") || o.contains("next run: a new tape"),
        "{o}"
    );
    // JSON for scripts
    let j: serde_json::Value = serde_json::from_str(&s.run(&["report", "--json"]).stdout).unwrap();
    let statuses: Vec<&str> = j["outcomes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses.len(), 2);
    assert!(statuses.contains(&"OK") && statuses.contains(&"FAILED"));
    // by date prefix, and a run that does not exist
    s.run(&["report", "2026-01-01"]).assert_code(0);
    let r = s.run(&["report", "1999"]);
    r.assert_code(2);
    assert!(r.stderr.contains("no run 1999"), "{}", r.stderr);
    // mail through a stand-in sendmail that keeps its arguments and message
    let mailbox = s.path().join("mailbox");
    let fake = s.path().join("sendmail");
    fs::write(
        &fake,
        format!(
            "#!/bin/sh\necho \"$@\" > {0}.args\ncat > {0}\n",
            mailbox.display()
        ),
    )
    .unwrap();
    crate::common::sh(&format!("chmod +x {}", fake.display()), s.path());
    s.run_env(
        &["report", "--mail"],
        &[("TAPIR_SENDMAIL", fake.to_str().unwrap())],
    )
    .assert_code(0);
    let msg = unfold_qp(&fs::read_to_string(&mailbox).unwrap());
    // the envelope sender is tapir@FQDN when mailfrom is not set
    let args = fs::read_to_string(mailbox.with_extension("args")).unwrap();
    assert!(
        args.starts_with("-f tapir@") && args.ends_with(" -t -oi\n"),
        "{args}"
    );
    assert!(
        msg.contains(
            "To: <ops@example.org>, <boss@example.org>\r\nSubject: tapir Test run 20260101"
        ),
        "{msg}"
    );
    assert!(msg.contains("PROBLEMS: 1 FAILED"), "{msg}");
    assert!(msg.contains(&row(&gone)), "{msg}");
}

/// A mail as a person reads it: folded headers joined, quoted-printable decoded (tests/mail.rs
/// checks the encoding itself with a strict parser).
fn unfold_qp(raw: &str) -> String {
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((raw, ""));
    let s = format!(
        "{}\r\n\r\n{}",
        head.replace("\r\n ", " "),
        body.replace("=\r\n", "")
    );
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
            Some(v) if b[i] == b'=' => {
                out.push(v);
                i += 3;
            }
            _ => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn rpo(s: &Setup, hours: i64, extra: &[&str]) -> crate::common::Run {
    let mut args = vec!["check-rpo"];
    args.extend_from_slice(extra);
    s.run_env(&args, &[("TAPIR_NOW", &after(hours))])
}

#[test]
fn check_rpo_follows_nagios_conventions() {
    let (s, good, gone) = setup("dumpcycle = 2\nruntapes = 1\n");
    s.write("disklist", &format!("localhost {good} local\n"));
    s.run_env(&["dump"], &[("TAPIR_NOW", &day(0))])
        .assert_code(0);
    let r = rpo(&s, 1, &[]);
    r.assert_code(0);
    assert!(
        r.stdout
            .starts_with("TAPIR RPO OK - 1 DLEs backed up within 1d2h | "),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains(&format!("'localhost:{good}_age'=3600s;93600;180000;0")),
        "{}",
        r.stdout
    );
    let r = rpo(&s, 30, &[]);
    r.assert_code(1);
    assert!(
        r.stdout
            .starts_with("TAPIR RPO WARNING - 1 of 1 DLEs not OK"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("last dump 1d6h ago (level 0)"),
        "{}",
        r.stdout
    );
    let r = rpo(&s, 60, &[]);
    r.assert_code(2);
    assert!(r.stdout.starts_with("TAPIR RPO CRITICAL"), "{}", r.stdout);
    // thresholds from the command line
    rpo(&s, 30, &["--warn", "2d", "--crit", "3d"]).assert_code(0);
    // the full is older than dumpcycle (2 days) plus the slack
    let r = rpo(
        &s,
        50,
        &["--warn", "3d", "--crit", "4d", "--full-slack", "1h"],
    );
    r.assert_code(1);
    assert!(
        r.stdout.contains("last full 2d2h ago (dumpcycle 2 days)"),
        "{}",
        r.stdout
    );
    // min_history: the DLE cannot be restored as far back as asked
    let cfg = std::fs::read_to_string(s.path().join("tapir.toml")).unwrap();
    s.write("tapir.toml", &format!("min_history = \"3d\"\n{cfg}"));
    let r = rpo(&s, 1, &[]);
    r.assert_code(1);
    assert!(
        r.stdout.contains(
            "history reaches back only 1h0m (oldest full 2026-01-01 02:00), min_history is 3d0h"
        ),
        "{}",
        r.stdout
    );
    s.write("tapir.toml", &format!("min_history = \"1h\"\n{cfg}"));
    rpo(&s, 1, &[]).assert_code(0);
    s.write("tapir.toml", &format!("min_history = \"soon\"\n{cfg}"));
    let r = rpo(&s, 1, &[]);
    r.assert_code(3);
    assert!(r.stdout.contains("min_history"), "{}", r.stdout);
    s.write("tapir.toml", &cfg);
    // a DLE never dumped is critical
    s.write(
        "disklist",
        &format!("localhost {good} local\nlocalhost {gone} local\n"),
    );
    let r = rpo(&s, 1, &[]);
    r.assert_code(2);
    assert!(
        r.stdout
            .contains(&format!("CRITICAL localhost:{gone}: never dumped")),
        "{}",
        r.stdout
    );
    // a broken config is UNKNOWN (3), not CRITICAL
    s.write("tapir.toml", "nonsense = [");
    let r = rpo(&s, 1, &[]);
    r.assert_code(3);
    assert!(r.stdout.starts_with("TAPIR RPO UNKNOWN - "), "{}", r.stdout);
    // and so is a bad option: Nagios would read the usage code 2 as CRITICAL
    let r = rpo(&s, 1, &["--warn", "5x"]);
    r.assert_code(3);
    assert!(
        r.stdout
            .starts_with("TAPIR RPO UNKNOWN - bad arguments: invalid value '5x' for '--warn"),
        "{}",
        r.stdout
    );
    s.run(&["dump", "--nonesuch"]).assert_code(2);
}

/// Every sample line of the exposition format, checked strictly; returns (name, labels, value).
fn parse_prometheus(text: &str) -> Vec<(String, String, f64)> {
    let sample = regex::Regex::new(
        r#"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*",?)*\})? (-?[0-9.e+-]+)$"#,
    )
    .unwrap();
    let mut typed = std::collections::HashSet::new();
    let mut out = vec![];
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert_eq!(kind, "gauge");
            typed.insert(name.to_string());
        } else if line.starts_with("# HELP ") {
        } else {
            let c = sample
                .captures(line)
                .unwrap_or_else(|| panic!("bad line {line:?}"));
            assert!(typed.contains(&c[1]), "{line}: sample before its TYPE");
            let v: f64 = c[3].parse().unwrap();
            out.push((
                c[1].to_string(),
                c.get(2).map_or("", |m| m.as_str()).to_string(),
                v,
            ));
        }
    }
    out
}

#[test]
fn prometheus_textfile_and_mirror_lag() {
    let (s, good, _) = setup(
        "[mirror]\nto = \"mirror\"\n[vault.longterm]\nto = \"vault\"\nkeep_weekly = 1\n\
         dles = [\"*\"]\n",
    );
    s.write("disklist", &format!("localhost {good} local\n"));
    s.run_env(&["dump"], &[("TAPIR_NOW", &day(0))])
        .assert_code(0);
    let prom = s.path().join("tapir.prom");
    // not mirrored for 30 hours: the mirror lag warns
    let r = rpo(
        &s,
        30,
        &[
            "--warn",
            "26h",
            "--crit",
            "3d",
            "--prometheus",
            prom.to_str().unwrap(),
        ],
    );
    r.assert_code(1);
    assert!(r.stdout.contains("mirror lags 1d6h"), "{}", r.stdout);
    let samples = parse_prometheus(&fs::read_to_string(&prom).unwrap());
    let get = |name: &str| {
        samples
            .iter()
            .find(|(n, _, _)| n == name)
            .unwrap_or_else(|| panic!("{name}"))
    };
    let t0 = chrono::DateTime::parse_from_rfc3339(&day(0))
        .unwrap()
        .timestamp() as f64;
    assert_eq!(get("tapir_last_success_timestamp_seconds").2, t0);
    assert_eq!(get("tapir_last_full_timestamp_seconds").2, t0);
    assert_eq!(get("tapir_last_level").2, 0.0);
    assert!(get("tapir_last_bytes").2 > 0.0);
    assert_eq!(get("tapir_mirror_lag_seconds").2, 30.0 * 3600.0);
    let oldest = get("tapir_oldest_restorable_timestamp_seconds");
    assert_eq!(oldest.2, t0);
    assert_eq!(
        oldest.1,
        format!("{{host=\"localhost\",disk=\"{good}\",copy=\"rotation\"}}")
    );
    assert_eq!(
        get("tapir_last_level").1,
        format!("{{host=\"localhost\",disk=\"{good}\"}}")
    );
    // after a mirror run the lag is 0 and all is OK
    s.run(&["mirror"]).assert_code(0);
    s.run_env(&["vault"], &[("TAPIR_NOW", &day(0))])
        .assert_code(0);
    let r = rpo(&s, 2, &["--prometheus", prom.to_str().unwrap()]);
    r.assert_code(0);
    let samples = parse_prometheus(&fs::read_to_string(&prom).unwrap());
    // find names every copy of the dump
    let mirror = s.path().join("mirror").display().to_string();
    let found = s.find_json();
    assert_eq!(
        found[0]["copies"],
        serde_json::json!(["slot1", format!("mirror:{mirror}"), "vault:longterm"])
    );
    // the oldest restorable full of every copy
    for copy in [
        "rotation".to_string(),
        format!("mirror:{mirror}"),
        "vault:longterm".into(),
    ] {
        let want = format!("{{host=\"localhost\",disk=\"{good}\",copy=\"{copy}\"}}");
        assert!(
            samples
                .iter()
                .any(|(n, l, v)| n == "tapir_oldest_restorable_timestamp_seconds"
                    && *l == want
                    && *v == t0),
            "{copy}: {samples:?}"
        );
    }
    assert!(
        samples
            .iter()
            .any(|(n, _, v)| n == "tapir_mirror_lag_seconds" && *v == 0.0)
    );
    assert!(r.stdout.contains("mirror_lag=0s"), "{}", r.stdout);
}

#[test]
fn cron_wrapper_dumps_mirrors_mails_and_keeps_the_dump_status() {
    let (s, _, _) = setup("[mirror]\nto = \"mirror\"\n");
    let mailbox = s.path().join("mailbox");
    let fake = s.path().join("sendmail");
    fs::write(&fake, format!("#!/bin/sh\ncat > {}\n", mailbox.display())).unwrap();
    crate::common::sh(&format!("chmod +x {}", fake.display()), s.path());
    let wrapper = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/tapir-cron");
    let cron = |now: &str| {
        let out = std::process::Command::new("bash")
            .args([
                wrapper,
                "--config",
                s.path().join("tapir.toml").to_str().unwrap(),
            ])
            .current_dir(s.path())
            .env("TAPIR", crate::common::BIN)
            .env("TAPIR_SENDMAIL", &fake)
            .env("TAPIR_NOW", now)
            .output()
            .unwrap();
        crate::common::finish(out)
    };
    // one DLE fails: exit 1 from the dump, yet the mirror ran and the report was mailed
    let r = cron(&day(0));
    r.assert_code(1);
    assert!(s.path().join("mirror/slot1").is_dir(), "{}", r.stderr);
    let msg = fs::read_to_string(&mailbox).unwrap();
    assert!(msg.contains("PROBLEMS: 1 FAILED"), "{msg}");
    // fixed: exit 0, a fresh report
    let good = s.path().join("good").display().to_string();
    s.write("disklist", &format!("localhost {good} local\n"));
    let r = cron(&day(1));
    r.assert_code(0);
    assert!(fs::read_to_string(&mailbox).unwrap().contains("all 1 OK"));
    s.run(&["verify", "--from", "mirror"]).assert_code(0);
}

#[test]
fn status_shows_the_running_run_from_another_terminal() {
    let (s, good, gone) = setup("");
    s.run(&["status"]).assert_code(4);
    let mut dump = s.cmd(&["dump"]);
    dump.env("TAPIR_FAILPOINT", "mid-payload:pause")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = dump.spawn().unwrap();
    let t0 = std::time::Instant::now();
    let running = loop {
        let r = s.run(&["status"]);
        if r.stdout.contains(" dumping ") {
            break r;
        }
        assert!(t0.elapsed().as_secs() < 30, "never dumping: {}", r.stdout);
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(
        running
            .stdout
            .contains(&format!("RUNNING (pid {})", child.id())),
        "{}",
        running.stdout
    );
    let row = |o: &str, disk: &str| {
        o.lines()
            .find(|l| l.contains(disk))
            .unwrap_or("")
            .to_string()
    };
    assert!(
        row(&running.stdout, &good).contains(" dumping "),
        "{}",
        running.stdout
    );
    assert!(
        row(&running.stdout, &gone).contains(" FAILED "),
        "{}",
        running.stdout
    );
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let r = s.run(&["status"]);
    assert!(r.stdout.contains("DID NOT FINISH"), "{}", r.stdout);
    // a complete run: finished, each DLE's end state
    s.run(&["dump"]).assert_code(1);
    let r = s.run(&["status"]);
    assert!(r.stdout.contains(": finished "), "{}", r.stdout);
    assert!(row(&r.stdout, &good).contains(" OK "), "{}", r.stdout);
    let j: serde_json::Value = serde_json::from_str(&s.run(&["status", "--json"]).stdout).unwrap();
    assert!(
        j["dles"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["status"] == "OK" && d["received_bytes"].as_u64().unwrap() > 0)
    );
}
