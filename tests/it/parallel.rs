//! Parallel dumpers: inparallel, maxdumps per host, spindles, biggest first, a slow client
//! holding only its own slot, several dumps writing to one tape, and tape capacity shared.

use crate::common::{Setup, noise};

/// A setup whose local agents read `agent.toml` with hooks `slow` (sleep 1.5 s) and `pause`
/// (sleep 0.4 s).
fn setup(top: &str, changer: &str) -> Setup {
    let s = Setup::new(top, changer);
    s.write(
        "agent.toml",
        "[hooks.slow]\npre = [\"sleep\", \"1.5\"]\n[hooks.pause]\npre = [\"sleep\", \"0.4\"]\n",
    );
    s.write(
        "dumptypes/slow.toml",
        "auth = \"local\"\nhooks = [\"slow\"]\n",
    );
    s.write(
        "dumptypes/pause.toml",
        "auth = \"local\"\nhooks = [\"pause\"]\n",
    );
    s
}

fn dir(s: &Setup, name: &str, kib: usize) -> String {
    let d = s.path().join(name);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(
        d.join("data"),
        noise(kib << 10, name.len() as u64 + kib as u64),
    )
    .unwrap();
    d.display().to_string()
}

fn dump(s: &Setup) -> crate::common::Run {
    let cfg = s.path().join("agent.toml");
    s.run_env(&["dump"], &[("TAPIR_AGENT_CONFIG", cfg.to_str().unwrap())])
}

/// (event, host, disk) of the newest run's log, in order.
fn events(s: &Setup) -> Vec<(String, String, String)> {
    let runs = s.path().join("catalog/runs");
    let newest = std::fs::read_dir(&runs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .max()
        .unwrap();
    std::fs::read_to_string(newest.join("log.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["event"].as_str().unwrap().starts_with("dump-"))
        .map(|v| {
            let d = &v["detail"];
            (
                v["event"].as_str().unwrap().into(),
                d["host"].as_str().unwrap().into(),
                d["disk"].as_str().unwrap().into(),
            )
        })
        .collect()
}

/// Largest number of dumps running at once, overall and for `host`.
fn max_overlap(ev: &[(String, String, String)], host: Option<&str>) -> usize {
    let (mut now, mut max) = (0usize, 0usize);
    for (e, h, _) in ev.iter().filter(|(_, h, _)| host.is_none_or(|x| x == h)) {
        let _ = h;
        if e == "dump-start" {
            now += 1;
            max = max.max(now)
        } else {
            now -= 1
        }
    }
    max
}

#[test]
fn a_slow_client_holds_only_its_own_slot_and_big_dles_start_first() {
    let s = setup("inparallel = 2", "");
    let slow = dir(&s, "slow", 400);
    let f1 = dir(&s, "f1", 50);
    let f2 = dir(&s, "f2", 60);
    s.write(
        "disklist",
        &format!("fast1 {f1} local\nslowhost {slow} slow\nfast2 {f2} local\n"),
    );
    dump(&s).assert_code(0);
    let ev = events(&s);
    assert_eq!(
        ev[0],
        ("dump-start".into(), "slowhost".into(), slow.clone()),
        "biggest first: {ev:?}"
    );
    let pos = |e: &str, h: &str| ev.iter().position(|x| x.0 == e && x.1 == h).unwrap();
    assert!(
        pos("dump-end", "fast1") < pos("dump-end", "slowhost"),
        "{ev:?}"
    );
    assert!(
        pos("dump-end", "fast2") < pos("dump-end", "slowhost"),
        "{ev:?}"
    );
    assert_eq!(max_overlap(&ev, None), 2);
}

#[test]
fn maxdumps_per_host_and_spindles_limit_what_runs_at_once() {
    let s = setup("inparallel = 4\nmaxdumps = 1", "");
    let a = dir(&s, "a", 100);
    let b = dir(&s, "b", 90);
    let c = dir(&s, "c", 80);
    s.write(
        "disklist",
        &format!("h {a} pause\nh {b} pause\nh {c} pause\n"),
    );
    dump(&s).assert_code(0);
    assert_eq!(max_overlap(&events(&s), Some("h")), 1, "maxdumps = 1");

    let cfg = std::fs::read_to_string(s.path().join("tapir.toml")).unwrap();
    s.write("tapir.toml", &format!("{cfg}\n[hosts.h]\nmaxdumps = 2\n"));
    for d in [&a, &b, &c] {
        s.run(&["force", "h", d]).assert_code(0);
    }
    dump(&s).assert_code(0);
    let ev = events(&s);
    assert_eq!(
        max_overlap(&ev, Some("h")),
        2,
        "per-host maxdumps = 2: {ev:?}"
    );
    // two dumps wrote to one tape at once
    let recs = s.find_json();
    let newest: Vec<_> = recs.as_array().unwrap().iter().rev().take(3).collect();
    assert!(
        newest.iter().all(|r| r["label"] == newest[0]["label"]),
        "{newest:?}"
    );

    // the same disk spindle serialises even when maxdumps allows more
    s.write(
        "disklist",
        &format!("h {a} pause 1\nh {b} pause 1\nh {c} pause 2\n"),
    );
    for d in [&a, &b, &c] {
        s.run(&["force", "h", d]).assert_code(0);
    }
    dump(&s).assert_code(0);
    let ev = events(&s);
    let on_spindle_1: Vec<_> = ev
        .iter()
        .filter(|x| x.2 == a || x.2 == b)
        .cloned()
        .collect();
    assert_eq!(
        max_overlap(&on_spindle_1, None),
        1,
        "spindle 1 is one disk: {ev:?}"
    );
}

#[test]
fn concurrent_dumps_share_the_tape_capacity_and_move_on_together() {
    // two 300 KiB incompressible DLEs, 500 KiB tapes, two tapes allowed: both fit, never past capacity
    let s = setup(
        "inparallel = 2\nruntapes = 2\ntapecycle = 3\nrunspercycle = 1",
        "slots = 4\nautolabel = \"daily-%%\"\ntape_size = \"500K\"\n",
    );
    let a = dir(&s, "a", 300);
    let b = dir(&s, "b", 300);
    s.write(
        "dumptypes/plain.toml",
        "auth = \"local\"\ncompress = \"none\"\nencrypt = \"none\"\n",
    );
    s.write("disklist", &format!("h1 {a} plain\nh2 {b} plain\n"));
    let r = dump(&s);
    r.assert_code(0);
    assert!(
        r.stdout.contains("tapes written: daily-01, daily-02"),
        "{}",
        r.stdout
    );
    let t: Vec<serde_json::Value> =
        serde_json::from_str(&s.run(&["tapes", "--json"]).stdout).unwrap();
    for tape in &t {
        assert!(
            tape["tape_bytes"].as_u64().unwrap() + 32768 <= 500 << 10,
            "{tape}"
        );
    }
    assert!(s.partials().is_empty());
    assert_eq!(s.find_json().as_array().unwrap().len(), 2);
}
