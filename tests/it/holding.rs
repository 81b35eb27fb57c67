//! The holding area: no night is lost because no tape can be written. When every tape is
//! still needed or the tape file system is full, the finished dump files wait in
//! `[holding] dir`; the run exits 1 saying so, report, find and check-rpo show them, restores
//! read them where they wait, and `tapir flush` (or the next dump, first) puts them on tape,
//! verified, surviving kill -9 at every step.

use crate::common::{Setup, day, tree};
use serde_json::Value;
use std::path::Path;

/// 2 slots, tapecycle 2, daily-01 kept out of rotation and daily-02 the newest: the third
/// night has no tape.
fn jammed() -> (Setup, std::path::PathBuf) {
    let s = Setup::new(
        "tapecycle = 2\nrunspercycle = 1\n[holding]\ndir = \"holding\"\nsize = \"50M\"",
        "slots = 2\nautolabel = \"daily-%%\"\n",
    );
    let src = s.path().join("src");
    tree::awkward(&src);
    s.write("disklist", &format!("localhost {} local\n", src.display()));
    for n in 0..2 {
        s.run_env(&["dump"], &[("TAPIR_NOW", &day(n))])
            .assert_code(0);
    }
    s.run(&["label", "--no-reuse", "1"]).assert_code(0);
    (s, src)
}

fn newest(s: &Setup) -> Value {
    s.newest_record()
}

fn held_files(s: &Setup) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(s.path().join("holding"))
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn restore_matches(s: &Setup, src: &Path, to: &str) {
    let out = s.path().join(to);
    s.recover("localhost", src.to_str().unwrap(), &out, &[])
        .assert_code(0);
    tree::assert_same(src, &out, &tmp);
}

/// What the `local` dumptype excludes.
fn tmp(p: &Path) -> bool {
    p.to_string_lossy().ends_with(".tmp")
}

fn make_room(s: &Setup) {
    let cfg = std::fs::read_to_string(s.path().join("tapir.toml")).unwrap();
    s.write("tapir.toml", &cfg.replace("slots = 2", "slots = 3"));
}

#[test]
fn with_every_tape_needed_the_night_waits_in_holding_and_flush_puts_it_on_tape() {
    let (s, src) = jammed();
    std::fs::write(src.join("tonight.txt"), "the night that had no tape").unwrap();
    let r = s.run_env(&["dump"], &[("TAPIR_NOW", &day(2))]);
    r.assert_code(1);
    assert!(
        r.stdout
            .contains("HELD (dumped, waiting in the holding area"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("1 dump(s) wait in the holding area"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains(
            "no tape could be written (no tape may be written: every tape is still needed)"
        ),
        "{}",
        r.stdout
    );
    let rec = newest(&s);
    assert_eq!(
        (rec["label"].as_str(), rec["slot"].as_u64()),
        (Some("HOLDING"), Some(0))
    );
    assert_eq!(held_files(&s), [rec["file_name"].as_str().unwrap()]);
    // the report and its mail subject say so; find lists it; restores read it where it is
    let rep = s.run(&["report"]);
    assert!(
        rep.stdout.contains("HELD") && rep.stdout.contains("holding/"),
        "{}",
        rep.stdout
    );
    let st = s.run(&["status"]).stdout;
    assert!(
        st.contains("HELD (not on tape yet; `tapir flush`): localhost"),
        "{st}"
    );
    let find = s.run(&["find"]).stdout;
    assert!(find.contains("HOLDING"), "{find}");
    restore_matches(&s, &src, "while-held");
    // check-rpo: dumped, but not on tape
    let rpo = s.run_env(&["check-rpo"], &[("TAPIR_NOW", &day(2))]);
    rpo.assert_code(1);
    assert!(
        rpo.stdout.contains("TAPIR RPO WARNING") && rpo.stdout.contains("not on tape"),
        "{}",
        rpo.stdout
    );
    // still no tape: flush says why and keeps it
    let f = s.run_env(&["flush"], &[("TAPIR_NOW", &day(2))]);
    f.assert_code(4);
    assert!(
        f.stderr.contains("held dumps stay in the holding area"),
        "{}",
        f.stderr
    );
    assert_eq!(held_files(&s).len(), 1);
    // a new slot: flush writes it there, verified, and empties the holding area
    make_room(&s);
    let f = s.run_env(&["flush"], &[("TAPIR_NOW", &day(2))]);
    f.assert_code(0);
    assert!(f.stdout.contains("→ tape daily-03 file 1"), "{}", f.stdout);
    assert!(held_files(&s).is_empty(), "{:?}", held_files(&s));
    let rec = newest(&s);
    assert_eq!(
        (rec["label"].as_str(), rec["slot"].as_u64()),
        (Some("daily-03"), Some(3))
    );
    s.run(&["verify", "daily-03"]).assert_code(0);
    restore_matches(&s, &src, "from-tape");
    crate::common::restore_both_ways(&s, &rec, &src, &tmp);
    s.run(&["flush"]).assert_code(0);
}

#[test]
fn the_next_dump_flushes_first_and_kill_9_during_a_flush_loses_nothing() {
    for point in [
        "flush-before-commit",
        "flush-before-catalog",
        "flush-before-remove",
    ] {
        let (s, src) = jammed();
        s.run_env(&["dump"], &[("TAPIR_NOW", &day(2))])
            .assert_code(1);
        make_room(&s);
        let r = s.run_env(&["flush"], &[("TAPIR_FAILPOINT", point)]);
        assert!(
            r.code != 0 && r.stderr.contains(&format!("failpoint {point}")),
            "{point}: {}",
            r.stderr
        );
        // the next night flushes first, then dumps: one copy of each, on tape, verified
        let r = s.run_env(&["dump", "--json"], &[("TAPIR_NOW", &day(3))]);
        let v: Value = serde_json::from_str(&r.stdout).unwrap();
        assert!(v["held"].as_array().unwrap().is_empty(), "{point}: {v}");
        assert!(held_files(&s).is_empty(), "{point}: {:?}", held_files(&s));
        let all = s.find_json();
        let night2: Vec<&Value> = all
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["datestamp"].as_str().unwrap().starts_with("20260103"))
            .collect();
        assert_eq!(night2.len(), 1, "{point}: {all}");
        assert_ne!(night2[0]["label"], "HOLDING", "{point}");
        s.run(&["verify"]).assert_code(0);
        restore_matches(&s, &src, &format!("after-{point}"));
    }
}

#[test]
fn a_full_tape_file_system_sends_the_dump_to_holding() {
    crate::common::require_root("mounts a small tmpfs as the tape file system");
    let s = Setup::new(
        "tapecycle = 3\nrunspercycle = 2\n[holding]\ndir = \"holding\"",
        "slots = 3\nautolabel = \"daily-%%\"\n",
    );
    let src = s.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("big"), crate::common::noise(3 << 20, 7)).unwrap();
    s.write("disklist", &format!("localhost {} local\n", src.display()));
    let vtape = s.path().join("vtape");
    std::fs::create_dir_all(&vtape).unwrap();
    crate::common::sh(
        &format!("mount -t tmpfs -o size=1M tapir-test {}", vtape.display()),
        s.path(),
    );
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount")
                .arg("-l")
                .arg(&self.0)
                .status();
        }
    }
    let _u = Unmount(vtape.clone());
    let r = s.run_env(&["dump"], &[("TAPIR_NOW", &day(0))]);
    r.assert_code(1);
    assert!(
        r.stdout.contains("writing to tape daily-01 failed"),
        "{}{}",
        r.stdout,
        r.stderr
    );
    assert!(r.stdout.contains("No space left on device"), "{}", r.stdout);
    assert_eq!(held_files(&s).len(), 1);
    assert!(!std::fs::read_dir(vtape.join("slot1")).unwrap().any(|e| {
        e.unwrap()
            .file_name()
            .to_string_lossy()
            .ends_with(".partial")
    }));
    restore_matches(&s, &src, "while-held");
    // room again: the next night flushes the held dump first, then dumps
    crate::common::sh(
        &format!("mount -o remount,size=32M {}", vtape.display()),
        s.path(),
    );
    s.run_env(&["dump"], &[("TAPIR_NOW", &day(1))])
        .assert_code(0);
    assert!(held_files(&s).is_empty());
    s.run(&["verify"]).assert_code(0);
    let levels: Vec<(String, String)> = s
        .find_json()
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["label"].as_str().unwrap().into(), r["level"].to_string()))
        .collect();
    // the held full and the next night's incremental, on one tape
    assert_eq!(levels.len(), 2, "{levels:?}");
    assert_eq!(levels[0].0, levels[1].0, "{levels:?}");
    assert_eq!((levels[0].1.as_str(), levels[1].1.as_str()), ("0", "1"));
}
