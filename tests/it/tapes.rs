//! The changer: rotation over more runs than slots, needed tapes kept, labels, autolabel,
//! tape capacity and runtapes.

use crate::common::{Setup, day};
use serde_json::Value;

fn small_dir(s: &Setup, name: &str, bytes: usize) -> String {
    let d = s.path().join(name);
    std::fs::create_dir_all(&d).unwrap();
    // incompressible, so payload size tracks `bytes`
    std::fs::write(
        d.join("data"),
        crate::common::noise(bytes, name.len() as u64),
    )
    .unwrap();
    d.display().to_string()
}

fn tapes(s: &Setup) -> Vec<Value> {
    let r = s.run(&["tapes", "--json"]);
    r.assert_code(0);
    serde_json::from_str::<Vec<Value>>(&r.stdout).unwrap()
}

fn tapes_written(run_stdout: &str) -> String {
    let line = run_stdout
        .lines()
        .find_map(|l| l.strip_prefix("tapes written: "));
    line.unwrap_or_else(|| panic!("{run_stdout}")).to_string()
}

#[test]
fn rotation_never_overwrites_a_needed_tape() {
    // 4 slots, tapecycle 3: the newest 2 tapes and any tape holding a newest full are kept.
    let s = Setup::new(
        "tapecycle = 3\nruntapes = 1\nrunspercycle = 2",
        "slots = 4\nautolabel = \"daily-%%\"\n",
    );
    let a = small_dir(&s, "a", 1000);
    let b = small_dir(&s, "b", 1000);
    s.write(
        "disklist",
        &format!("localhost {a} local-full\nlocalhost {b} local-full\n"),
    );
    // night 0: both DLEs onto daily-01; afterwards only /a is dumped, so daily-01 keeps
    // the only (newest) full of /b and must never be reused.
    s.run_env(&["dump"], &[("TAPIR_NOW", &day(0))])
        .assert_code(0);
    let mut order = vec![];
    for night in 1..=8 {
        let r = s.run_env(&["dump", "localhost", &a], &[("TAPIR_NOW", &day(night))]);
        r.assert_code(0);
        order.push(tapes_written(&r.stdout));
        // the previous night's /a dump is still on its tape
        let finds = s.find_json();
        let a_dumps: Vec<&Value> = finds
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["disk"] == a.as_str())
            .collect();
        assert!(
            a_dumps.len() >= 2.min(night as usize + 1),
            "night {night}: {a_dumps:?}"
        );
    }
    assert_eq!(
        order,
        [
            "daily-02", "daily-03", "daily-04", "daily-02", "daily-03", "daily-04", "daily-02",
            "daily-03"
        ]
    );
    let finds = s.find_json();
    let b_dump = finds
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["disk"] == b.as_str())
        .expect("/b's full survives");
    assert_eq!(b_dump["label"], "daily-01");
    let t = tapes(&s);
    assert_eq!(t[0]["reusable"], false);
    assert!(
        t[0]["note"].as_str().unwrap().contains("newest level 0"),
        "{:?}",
        t[0]
    );
    let fetched = s.fetch(&b, "b.img", &[]);
    fetched.assert_code(0);
}

#[test]
fn rotation_reuses_the_least_recently_written_tape() {
    let s = Setup::new(
        "tapecycle = 3\nrunspercycle = 2",
        "slots = 3\nautolabel = \"daily-%%\"\n",
    );
    let a = small_dir(&s, "a", 100);
    s.write("disklist", &format!("localhost {a} local-full\n"));
    let mut order = vec![];
    for night in 0..7 {
        let r = s.run_env(&["dump"], &[("TAPIR_NOW", &day(night))]);
        r.assert_code(0);
        order.push(tapes_written(&r.stdout));
        let t = tapes(&s);
        let written: Vec<_> = t.iter().filter(|t| t["last_written"].is_string()).collect();
        assert_eq!(written.len(), (night as usize + 1).min(3));
    }
    assert_eq!(
        order,
        [
            "daily-01", "daily-02", "daily-03", "daily-01", "daily-02", "daily-03", "daily-01"
        ]
    );
    // the catalog forgot the overwritten dumps: 3 tapes, one dump each
    assert_eq!(s.find_json().as_array().unwrap().len(), 3);
}

#[test]
fn no_usable_tape_exits_4_and_names_each_slot() {
    let s = Setup::new("tapecycle = 2\nrunspercycle = 1", "slots = 2\n");
    let a = small_dir(&s, "a", 100);
    s.write("disklist", &format!("localhost {a} local-full\n"));
    let r = s.run_env(&["dump"], &[("TAPIR_NOW", &day(0))]);
    r.assert_code(4);
    assert!(r.stdout.contains("FAILED"), "{}", r.stdout);
    assert!(r.stdout.contains("slot 1: not labelled"), "{}", r.stdout);
    s.run(&["label", "1", "daily-01"]).assert_code(0);
    s.run(&["label", "2", "daily-02"]).assert_code(0);
    s.run_env(&["dump"], &[("TAPIR_NOW", &day(1))])
        .assert_code(0);
    s.run_env(&["dump"], &[("TAPIR_NOW", &day(2))])
        .assert_code(0);
    s.run_env(&["dump"], &[("TAPIR_NOW", &day(3))])
        .assert_code(0);
}

#[test]
fn label_checks_labelstr_duplicates_and_needed_tapes() {
    let s = Setup::new("", "slots = 10\n");
    let a = small_dir(&s, "a", 100);
    s.write("disklist", &format!("localhost {a} local\n"));
    let r = s.run(&["label", "1", "weekly-1"]);
    r.assert_code(2);
    assert!(
        r.stderr.contains("does not match changer.labelstr"),
        "{}",
        r.stderr
    );
    s.run(&["label", "11", "daily-11"]).assert_code(2);
    s.run(&["label", "1", "daily-01"]).assert_code(0);
    let dup = s.run(&["label", "2", "daily-01"]);
    dup.assert_code(2);
    assert!(dup.stderr.contains("already on slot 1"), "{}", dup.stderr);
    s.run(&["dump"]).assert_code(0);
    let refused = s.run(&["label", "1", "daily-09"]);
    refused.assert_code(2);
    assert!(
        refused.stderr.contains("still needed") && refused.stderr.contains("--force"),
        "{}",
        refused.stderr
    );
    assert_eq!(
        s.find_json().as_array().unwrap().len(),
        1,
        "refusal changed nothing"
    );
    s.run(&["label", "1", "daily-09", "--force"]).assert_code(0);
    assert_eq!(
        s.find_json().as_array().unwrap().len(),
        0,
        "forced relabel forgets the dumps"
    );
    let slot1: Vec<String> = std::fs::read_dir(s.path().join("vtape/slot1"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(slot1, ["00000.daily-09"]);
}

#[test]
fn autolabel_labels_empty_slots_when_needed() {
    let s = Setup::new(
        "",
        "slots = 10\nautolabel = \"daily-%%%\"\nlabelstr = \"^daily-[0-9]{3}$\"\n",
    );
    let a = small_dir(&s, "a", 100);
    s.write("disklist", &format!("localhost {a} local\n"));
    assert!(tapes(&s)[0]["label"].is_null());
    let r = s.run(&["--verbose", "dump"]);
    r.assert_code(0);
    assert!(
        r.stderr.contains("labelled empty slot 1 as daily-001"),
        "{}",
        r.stderr
    );
    assert_eq!(tapes(&s)[0]["label"], "daily-001");
    assert!(s.path().join("vtape/slot1/00000.daily-001").exists());
}

/// Two DLEs of 120 KiB on tapes of 200 KiB, two tapes a run: the second DLE goes on the
/// second tape. `extra`: more top-level config.
fn two_tapes_a_night(extra: &str) -> Setup {
    let s = Setup::new(
        &format!("runtapes = 2\ntapecycle = 3\nrunspercycle = 1\ninparallel = 1\n{extra}"),
        "slots = 4\nautolabel = \"daily-%%\"\ntape_size = \"200K\"\n",
    );
    let a = small_dir(&s, "a", 120 << 10);
    let b = small_dir(&s, "b", 120 << 10);
    s.write(
        "disklist",
        &format!("localhost {a} local\nlocalhost {b} local\n"),
    );
    s
}

#[test]
fn a_dump_that_does_not_fit_goes_to_the_next_tape_when_runtapes_allows() {
    // tape_size 200 KiB: /a (120 KiB) fits, /b (120 KiB) does not fit after it.
    let s = two_tapes_a_night("");
    let r = s.run(&["dump"]);
    r.assert_code(0);
    assert!(
        r.stdout.contains("tapes written: daily-01, daily-02"),
        "{}",
        r.stdout
    );
    let f = s.find_json();
    assert_eq!(
        (f[0]["label"].as_str(), f[1]["label"].as_str()),
        (Some("daily-01"), Some("daily-02"))
    );
    assert!(s.partials().is_empty());
    for t in tapes(&s) {
        assert!(
            t["tape_bytes"].as_u64().unwrap() + 32768 <= 200 << 10,
            "{t:?}"
        );
    }
}

#[test]
fn what_the_planner_cannot_fit_is_missed_with_the_reason() {
    let s = Setup::new(
        "runtapes = 1",
        "slots = 10\nautolabel = \"daily-%%\"\ntape_size = \"200K\"\n",
    );
    s.write(
        "dumptypes/plain.toml",
        "auth = \"local\"\ncompress = \"none\"\nencrypt = \"none\"\n",
    );
    let a = small_dir(&s, "a", 60 << 10);
    let huge = small_dir(&s, "huge", 300 << 10);
    s.write(
        "disklist",
        &format!("localhost {huge} plain\nlocalhost {a} plain\n"),
    );
    let r = s.run(&["dump"]);
    r.assert_code(1);
    assert!(r.stdout.contains("MISSED"), "{}", r.stdout);
    assert!(
        r.stdout.contains("delayed: does not fit tonight"),
        "{}",
        r.stdout
    );
    let f = s.find_json();
    assert_eq!(f.as_array().unwrap().len(), 1);
    assert_eq!(f[0]["disk"], a.as_str());
    assert!(s.partials().is_empty());
}

#[test]
fn a_dump_that_outgrows_its_estimate_fails_cleanly_when_no_tape_is_left() {
    // estimates from history: the planner expects last night's size, the DLE has grown
    let s = Setup::new(
        "runtapes = 1\ninparallel = 1",
        "slots = 10\nautolabel = \"daily-%%\"\ntape_size = \"300K\"\n",
    );
    s.write(
        "dumptypes/hist.toml",
        "auth = \"local\"\nstrategy = \"noinc\"\nestimate = \"server\"\n",
    );
    let a = small_dir(&s, "a", 60 << 10);
    // b starts smaller, so the planner (biggest first) puts it after a
    let b = small_dir(&s, "b", 50 << 10);
    s.write(
        "disklist",
        &format!("localhost {a} hist\nlocalhost {b} hist\n"),
    );
    s.run_env(&["dump"], &[("TAPIR_NOW", &day(0))])
        .assert_code(0);
    let night0 = s.find_json();
    std::fs::write(s.path().join("b/more"), crate::common::noise(150 << 10, 9)).unwrap();
    let r = s.run_env(&["dump"], &[("TAPIR_NOW", &day(1))]);
    r.assert_code(1);
    assert!(
        r.stdout.contains("does not fit: tape daily-02 has") && r.stdout.contains("runtapes = 1"),
        "{}",
        r.stdout
    );
    assert!(
        s.partials().is_empty(),
        "nothing half-written: {:?}",
        s.partials()
    );
    let f = s.find_json();
    let b_dumps: Vec<_> = f
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["disk"] == b.as_str())
        .collect();
    assert_eq!(b_dumps.len(), 1, "b keeps its earlier full");
    assert_eq!(b_dumps[0], &night0[1]);
    let slot2 = std::fs::read_dir(s.path().join("vtape/slot2"))
        .unwrap()
        .count();
    assert_eq!(slot2, 2, "label + the one dump that fit");
}

/// The `history_loads` of the newest run's `end` event.
fn history_loads(s: &Setup) -> u64 {
    let runs = s.path().join("catalog/runs");
    let mut names: Vec<_> = std::fs::read_dir(&runs)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    let log = std::fs::read_to_string(runs.join(names.last().unwrap()).join("log.jsonl")).unwrap();
    let end: serde_json::Value = log
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|e| e["event"] == "end")
        .unwrap();
    end["detail"]["history_loads"].as_u64().unwrap()
}

#[test]
fn a_run_reads_the_history_once_through_tape_changes_and_recycling() {
    let s = two_tapes_a_night("dumpcycle = 1");
    for night in 0..4 {
        let r = s.run_env(&["dump"], &[("TAPIR_NOW", &day(night))]);
        r.assert_code(0);
        // two tapes a night; from the third night on, slots are recycled
        let written = r
            .stdout
            .lines()
            .find(|l| l.starts_with("tapes written:"))
            .unwrap_or_default()
            .to_string();
        assert_eq!(written.matches("daily-").count(), 2, "{}", r.stdout);
        assert_eq!(history_loads(&s), 1, "night {night}");
    }
    // the catalog agrees with the tapes: every record's file is there and reads back
    s.run(&["verify"]).assert_code(0);
    assert_eq!(s.find_json().as_array().unwrap().len(), 4);
}
