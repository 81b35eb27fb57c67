//! Trust, part 3: nothing catalogued disappears silently. Deleted dump files, a deleted label
//! file and a deleted slot are MISSING in verify; a slot without its label but with
//! catalogued dumps is never taken for an empty one; catalog rebuild says what it lost.

use crate::common::{Setup, day, noise};
use std::path::PathBuf;

/// One DLE dumped on three nights, each night on its own tape (slots 1–3 of 6).
fn three_tapes() -> (Setup, PathBuf) {
    let s = Setup::new(
        "tapecycle = 5\nruntapes = 1\nrunspercycle = 1\ndumpcycle = 1",
        "slots = 6\nautolabel = \"daily-%%\"\n",
    );
    let d = s.path().join("src");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("data"), noise(50 << 10, 1)).unwrap();
    s.write("disklist", &format!("localhost {} local\n", d.display()));
    for n in 0..3 {
        s.run_env(&["dump"], &[("TAPIR_NOW", &day(n))])
            .assert_code(0);
    }
    (s, d)
}

/// The first dump file (not the label) of slot `n`.
fn first_dump(s: &Setup, n: u32) -> PathBuf {
    std::fs::read_dir(slot(s, n))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            !p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("00000.")
        })
        .unwrap()
}

fn slot(s: &Setup, n: u32) -> PathBuf {
    s.path().join(format!("vtape/slot{n}"))
}

#[test]
fn deleted_dump_files_and_slots_are_missing_in_verify() {
    let (s, _) = three_tapes();
    s.run(&["verify"]).assert_code(0);
    let dump = first_dump(&s, 2);
    std::fs::remove_file(&dump).unwrap();
    std::fs::remove_dir_all(slot(&s, 3)).unwrap();
    let r = s.run(&["verify"]);
    r.assert_code(1);
    let missing: Vec<&str> = r
        .stdout
        .lines()
        .filter(|l| l.starts_with("MISSING"))
        .collect();
    let name = dump.file_name().unwrap().to_string_lossy().into_owned();
    assert!(missing.iter().any(|l| l.contains(&name)), "{}", r.stdout);
    assert!(
        missing
            .iter()
            .any(|l| l.contains("daily-03") && l.contains("00000.daily-03")),
        "{}",
        r.stdout
    );
    assert!(
        missing
            .iter()
            .any(|l| l.contains("daily-03") && l.contains(".0") && !l.contains("00000.")),
        "{}",
        r.stdout
    );
    // the next run's report says what the catalog had to forget
    let r = s.run_env(&["dump"], &[("TAPIR_NOW", &day(3))]);
    assert!(r.stdout.contains("MISSING:"), "{}", r.stdout);
    assert!(r.stdout.contains(&name), "{}", r.stdout);
}

#[test]
fn catalog_rebuild_reports_what_it_could_not_find() {
    let (s, _) = three_tapes();
    std::fs::remove_dir_all(slot(&s, 3)).unwrap();
    std::fs::remove_file(slot(&s, 2).join("00000.daily-02")).unwrap();
    let r = s.run(&["catalog", "rebuild"]);
    r.assert_code(1);
    assert_eq!(r.stderr.matches("LOST").count(), 2, "{}", r.stderr);
    assert!(r.stderr.contains("no label file"), "{}", r.stderr);
}

#[test]
fn a_slot_whose_label_file_is_gone_is_never_taken_for_an_empty_one() {
    let (s, d) = three_tapes();
    let label = slot(&s, 1).join("00000.daily-01");
    std::fs::remove_file(&label).unwrap();

    let r = s.run(&["verify"]);
    r.assert_code(1);
    assert!(
        r.stdout
            .lines()
            .any(|l| l.starts_with("MISSING") && l.contains("00000.daily-01")),
        "{}",
        r.stdout
    );
    let r = s.run(&["tapes", "--json"]);
    r.assert_code(0);
    let st: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let one = &st[0];
    assert_eq!(one["reusable"], false, "{one}");
    assert_eq!(one["next"], false, "{one}");
    assert!(
        one["note"].as_str().unwrap().contains("label file missing"),
        "{one}"
    );
    let r = s.run(&["check"]);
    assert_ne!(r.code, 0);
    assert!(r.stdout.contains("label file missing"), "{}", r.stdout);

    // three more nights: slots 4, 5, 6 and then a reusable labelled tape, never slot 1
    for n in 3..7 {
        std::fs::write(d.join("n"), n.to_string()).unwrap();
        s.run_env(&["dump"], &[("TAPIR_NOW", &day(n))]);
        assert!(
            !label.exists(),
            "night {n}: {:?}",
            std::fs::read_dir(slot(&s, 1))
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect::<Vec<_>>()
        );
        let files = std::fs::read_dir(slot(&s, 1)).unwrap().count();
        assert_eq!(files, 1, "slot 1 was written on night {n}");
    }
    let r = s.run(&["label", "1", "daily-01"]);
    r.assert_code(2);
    assert!(r.stderr.contains("--force"), "{}", r.stderr);
    s.run(&["label", "1", "daily-01", "--force"]).assert_code(0);
    s.run(&["verify"]).assert_code(0);
}

#[test]
fn a_planted_file_is_not_learnt_into_the_catalog() {
    let (s, _) = three_tapes();
    let before = s.find_json().as_array().unwrap().len();
    let genuine = first_dump(&s, 3);
    // a genuine, signed dump copied under another file number (a replay)
    let name = genuine.file_name().unwrap().to_string_lossy().into_owned();
    let planted = slot(&s, 3).join(format!("00009{}", &name[5..]));
    std::fs::copy(&genuine, &planted).unwrap();
    let r = s.run_env(&["dump"], &[("TAPIR_NOW", &day(3))]);
    assert!(
        r.stdout.contains("ignored") && r.stdout.contains("MISPLACED"),
        "{}",
        r.stdout
    );
    let after = s.find_json();
    assert_eq!(after.as_array().unwrap().len(), before + 1, "{after}");
    assert!(
        after
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["file_number"] != 9),
        "{after}"
    );
}
