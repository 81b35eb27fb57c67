//! Progress that says when it will be done: a program DLE that streams 3 MiB over about
//! four seconds against its own estimate; `tapir status` from another shell shows percent
//! and ETA while it runs, `dump --json-progress` streams parseable lines ending with the
//! summary, and the finished run keeps its real durations and datestamps.

use crate::common::Setup;
use std::io::Read;
use std::process::Stdio;

/// A program DLE that writes 6 × 512 KiB with 0.7 s between, and says 3 MiB beforehand.
fn slow_setup() -> Setup {
    let s = Setup::new("", "");
    let d = s.path().display().to_string();
    s.write(
        "agent.toml",
        &format!(
            r#"log = "{d}/agent.log"
[programs.slow]
backup = ["sh", "-c", "for i in 1 2 3 4 5 6; do head -c 524288 /dev/urandom; sleep 0.7; done"]
estimate = ["echo", "3145728"]
"#
        ),
    );
    s.write(
        "dumptypes/prog-slow.toml",
        "auth = \"local\"\nprogram = \"slow\"\n",
    );
    s.write("disklist", "localhost stream prog-slow\n");
    s
}

#[test]
fn status_and_json_progress_say_how_far_and_when_done() {
    let s = slow_setup();
    let agent = s.path().join("agent.toml");
    let mut child = s
        .cmd(&["dump", "--json-progress"])
        .env("TAPIR_AGENT_CONFIG", &agent)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = std::time::Instant::now();
    // from another shell: percent and an ETA while the dump runs
    let running = loop {
        let r = s.run(&["status"]);
        let row = r
            .stdout
            .lines()
            .find(|l| l.contains(" stream "))
            .unwrap_or("");
        if row.contains(" dumping ")
            && row.contains('%')
            && row.contains(" min (") | row.contains(" s (")
        {
            break r.stdout;
        }
        assert!(t0.elapsed().as_secs() < 30, "no percent/ETA: {}", r.stdout);
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let head = running.lines().next().unwrap();
    assert!(
        head.contains("RUNNING (pid") && head.contains("% done, ETA "),
        "{running}"
    );
    // local time with seconds, not RFC 3339
    let started = &head.split(" started ").nth(1).unwrap()[..20];
    assert!(
        started.as_bytes()[4] == b'-' && started.as_bytes()[10] == b' ' && started.ends_with(':'),
        "{running}"
    );
    let j: serde_json::Value = serde_json::from_str(&s.run(&["status", "--json"]).stdout).unwrap();
    let dle = &j["dles"][0];
    assert_eq!(dle["status"], "dumping", "{j}");
    assert_eq!(dle["planned_bytes"], 3145728, "{j}");
    let pct = dle["percent"].as_f64().unwrap();
    assert!(pct > 0.0 && pct < 100.0, "{j}");
    assert!(dle["eta_seconds"].as_f64().unwrap() >= 0.0, "{j}");
    assert!(j["total"]["percent"].as_f64().unwrap() < 100.0, "{j}");

    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let status = child.wait().unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(status.code(), Some(0), "{out}\n{err}");
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .collect();
    let events: Vec<&str> = lines.iter().map(|l| l["event"].as_str().unwrap()).collect();
    assert_eq!(events.first(), Some(&"start"), "{out}");
    assert_eq!(events.last(), Some(&"summary"), "{out}");
    assert!(events.contains(&"plan"), "{out}");
    let states: Vec<&str> = lines
        .iter()
        .filter(|l| l["event"] == "dle")
        .map(|l| l["status"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["waiting", "dumping", "OK"], "{out}");
    let ticks: Vec<&serde_json::Value> =
        lines.iter().filter(|l| l["event"] == "progress").collect();
    assert!(ticks.len() >= 2, "one tick a second over ~4 s: {out}");
    for t in &ticks {
        let p = t["percent"].as_f64().unwrap();
        assert!((0.0..100.0).contains(&p), "{t}");
        assert_eq!(t["dumping"][0]["disk"], "stream", "{t}");
        assert_eq!(t["planned_bytes"], 3145728, "{t}");
    }
    assert!(
        ticks.iter().any(|t| t["eta_seconds"].as_f64().is_some()),
        "{out}"
    );
    let summary = lines.last().unwrap();
    assert_eq!(summary["outcomes"][0]["status"], "OK", "{out}");

    // after the run: the real duration, one datestamp format, 100 %
    let j: serde_json::Value = serde_json::from_str(&s.run(&["status", "--json"]).stdout).unwrap();
    let secs = j["dles"][0]["seconds"].as_f64().unwrap();
    assert!(secs > 3.0 && secs < 60.0, "the dump ran ~4 s: {j}");
    let stamp = |v: &serde_json::Value| {
        let t = v.as_str().unwrap_or("");
        t.len() == 14 && t.bytes().all(|b| b.is_ascii_digit())
    };
    assert!(stamp(&j["started"]) && stamp(&j["finished"]), "{j}");
    assert_eq!(j["datestamp"], summary["datestamp"]);
    assert_eq!(j["total"]["percent"], 100.0, "{j}");
    assert_eq!(j["dles"][0]["received_bytes"], 3145728, "{j}");
    let r = s.run(&["status"]);
    assert!(
        r.stdout.lines().next().unwrap().contains(": finished 20"),
        "{}",
        r.stdout
    );
}

/// A reader that goes away (`| head`, a dashboard that died) does not turn a night with a
/// failed DLE into exit 0: the summary cannot be written, the exit code still says FAILED.
#[test]
fn a_closed_stdout_keeps_the_runs_exit_code() {
    let s = Setup::new("", "");
    let gone = s.path().join("gone");
    s.write("disklist", &format!("localhost {} local\n", gone.display()));
    for args in [
        &["dump", "--json-progress"][..],
        &["dump"][..],
        &["dump", "--json"][..],
    ] {
        let mut child = s
            .cmd(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        drop(child.stdout.take()); // the reader is gone before the run writes anything
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(1), "{args:?}");
    }
}
