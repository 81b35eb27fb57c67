//! The admin's year, part one: a DLE taken out of the disklist no longer jams rotation once
//! `tapir forget` retires it, and `tapir label --no-reuse` keeps a tape out of rotation.

use crate::common::{Setup, day};
use serde_json::Value;

fn dir(s: &Setup, name: &str) -> String {
    let d = s.path().join(name);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(
        d.join("data"),
        crate::common::noise(2000, name.len() as u64),
    )
    .unwrap();
    d.display().to_string()
}

fn night(s: &Setup, n: u32) -> crate::common::Run {
    s.run_env(&["dump"], &[("TAPIR_NOW", &day(n))])
}

fn written(r: &crate::common::Run) -> String {
    r.stdout
        .lines()
        .find_map(|l| l.strip_prefix("tapes written: "))
        .unwrap_or_else(|| panic!("{}{}", r.stdout, r.stderr))
        .to_string()
}

fn finds(s: &Setup, disk: &str) -> usize {
    s.find_json()
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["disk"] == disk)
        .count()
}

fn check_at(s: &Setup, n: u32) -> crate::common::Run {
    s.run_env(&["check"], &[("TAPIR_NOW", &day(n))])
}

#[test]
fn a_dle_taken_out_of_the_disklist_jams_rotation_until_forget_retires_it() {
    // slots = tapecycle, as shipped: the gone DLE's full on daily-01 plus the newest two
    let s = Setup::new(
        "tapecycle = 3\nrunspercycle = 2",
        "slots = 3\nautolabel = \"daily-%%\"\n",
    );
    let (a, b) = (dir(&s, "a"), dir(&s, "b"));
    s.write(
        "disklist",
        &format!("localhost {a} local-full\nlocalhost {b} local-full\n"),
    );
    night(&s, 0).assert_code(0);
    s.write("disklist", &format!("localhost {a} local-full\n"));
    for n in 1..=2 {
        night(&s, n).assert_code(0);
    }
    // check says which DLE pins what, and the command; the next run has no tape
    let c = check_at(&s, 3);
    for want in [
        format!("localhost {b}: in the catalog (tapes daily-01) but no longer in the disklist"),
        format!("`tapir forget localhost {b}` retires it"),
        "no tape may be written: every tape is still needed".into(),
        format!("slot 1: daily-01: holds the newest level 0 of localhost {b}"),
        "slot 2: daily-02: among the newest 2 tapes written".into(),
    ] {
        assert!(c.stdout.contains(&want), "{want:?} not in:\n{}", c.stdout);
    }
    let jam = night(&s, 3);
    jam.assert_code(4);
    assert!(
        jam.stderr.contains(&format!(
            "daily-01: holds the newest level 0 of localhost {b}"
        )),
        "{}",
        jam.stderr
    );
    // forget refuses a DLE still in the disklist, and one the catalog never saw
    let r = s.run(&["forget", "localhost", &a]);
    r.assert_code(2);
    assert!(
        r.stderr.contains("is still in the disklist (") && r.stderr.contains("disklist:1)"),
        "{}",
        r.stderr
    );
    s.run(&["forget", "localhost", "/nowhere"]).assert_code(2);
    let r = s.run(&["forget", "localhost", &b, "--keep-until", "1st of May"]);
    r.assert_code(2);
    assert!(
        r.stderr.contains("is not a date (YYYY-MM-DD)"),
        "{}",
        r.stderr
    );
    // retired by default for one tapecycle of nights: ceil(3 * 7 / 2) = 11 days
    let r = s.run_env(&["forget", "localhost", &b], &[("TAPIR_NOW", &day(3))]);
    r.assert_code(0);
    assert!(
        r.stdout.contains("pin their tapes until 2026-01-15"),
        "{}",
        r.stdout
    );
    let c = check_at(&s, 3);
    assert!(
        !c.stdout.contains("no longer in the disklist"),
        "retired: {}",
        c.stdout
    );
    assert!(
        c.stdout.contains("(retired; kept until 2026-01-15)"),
        "{}",
        c.stdout
    );
    night(&s, 4).assert_code(4);
    assert_eq!(
        finds(&s, &b),
        1,
        "find lists the retired DLE's dump while its tape stands"
    );
    // after the date its full pins nothing: daily-01 is reused, and its dump is gone from find
    let r = night(&s, 15);
    r.assert_code(0);
    assert_eq!(written(&r), "daily-01");
    assert_eq!(finds(&s, &b), 0);
}

#[test]
fn a_retired_dle_back_in_the_disklist_pins_its_tapes_again() {
    let s = Setup::new(
        "tapecycle = 3\nrunspercycle = 2",
        "slots = 4\nautolabel = \"daily-%%\"\n",
    );
    let (a, b) = (dir(&s, "a"), dir(&s, "b"));
    s.write(
        "disklist",
        &format!("localhost {a} local-full\nlocalhost {b} local-full\n"),
    );
    night(&s, 0).assert_code(0);
    s.write("disklist", &format!("localhost {a} local-full\n"));
    s.run_env(
        &["forget", "localhost", &b, "--keep-until", "2026-01-01"],
        &[("TAPIR_NOW", &day(1))],
    )
    .assert_code(0);
    s.write(
        "disklist",
        &format!("localhost {a} local-full\nlocalhost {b} local-full\n"),
    );
    night(&s, 1).assert_code(0);
    let admin: Value = serde_json::from_str(
        &std::fs::read_to_string(s.path().join("catalog/admin.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(admin["retired"], serde_json::json!([]), "{admin}");
}

#[test]
fn a_tape_kept_out_of_rotation_is_never_written_and_counts_against_the_rotation() {
    let s = Setup::new(
        "tapecycle = 3\nrunspercycle = 2",
        "slots = 4\nautolabel = \"daily-%%\"\n",
    );
    let a = dir(&s, "a");
    s.write("disklist", &format!("localhost {a} local-full\n"));
    for n in 0..4 {
        night(&s, n).assert_code(0);
    }
    let r = s.run(&["label", "--no-reuse", "1"]);
    r.assert_code(0);
    assert!(
        r.stdout
            .contains("slot 1: tape daily-01 is kept out of rotation"),
        "{}",
        r.stdout
    );
    let t: Vec<Value> = serde_json::from_str(&s.run(&["tapes", "--json"]).stdout).unwrap();
    assert_eq!(
        (t[0]["no_reuse"].as_bool(), t[0]["reusable"].as_bool()),
        (Some(true), Some(false))
    );
    assert!(
        t[0]["note"]
            .as_str()
            .unwrap()
            .starts_with("kept out of rotation since 2026-"),
        "{}",
        t[0]
    );
    let text = s.run(&["tapes"]).stdout;
    assert!(text.contains("kept out of rotation"), "{text}");
    let c = check_at(&s, 4);
    assert!(c.stdout.contains("1 tape(s) kept out of rotation (daily-01): 3 of 4 slots left in rotation for tapecycle 3"), "{}", c.stdout);
    // the oldest tape is kept: the next oldest is written, daily-01's dump still listed
    let r = night(&s, 4);
    r.assert_code(0);
    assert_eq!(written(&r), "daily-02");
    assert_eq!(finds(&s, &a), 4);
    let r = s.run(&["label", "1", "daily-09"]);
    r.assert_code(2);
    assert!(r.stderr.contains("kept out of rotation"), "{}", r.stderr);
    // a second tape out leaves fewer in rotation than the tapecycle: a warning
    s.run(&["label", "--no-reuse", "2"]).assert_code(0);
    let c = check_at(&s, 5);
    assert!(
        c.stdout
            .contains("2 of 4 slots left in rotation for tapecycle 3"),
        "{}",
        c.stdout
    );
    assert!(
        c.stdout
            .lines()
            .any(|l| l.contains("rotation") && l.contains("WARN")),
        "{}",
        c.stdout
    );
    // back in rotation: the oldest again
    let r = s.run(&["label", "--reuse", "1"]);
    assert!(r.stdout.contains("is back in rotation"), "{}", r.stdout);
    let r = night(&s, 5);
    r.assert_code(0);
    assert_eq!(written(&r), "daily-01");
    s.run(&["label", "--no-reuse", "1", "daily-01"])
        .assert_code(2);
}
