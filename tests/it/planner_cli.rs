//! The planner's views and overrides through the binary: dump --dry-run, force/unforce,
//! due, balance.

use crate::common::{Setup, day, noise};

fn setup() -> (Setup, String, String) {
    let s = Setup::new("dumpcycle = 7\nrunspercycle = 7\ntapecycle = 10", "");
    let mut disks = vec![];
    for (name, kib) in [("a", 300usize), ("b", 100)] {
        let d = s.path().join(name);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("data"), noise(kib << 10, kib as u64)).unwrap();
        disks.push(d.display().to_string());
    }
    s.write(
        "disklist",
        &format!(
            "localhost {} local\nlocalhost {} local\n",
            disks[0], disks[1]
        ),
    );
    (s, disks[0].clone(), disks[1].clone())
}

fn plan(s: &Setup, night: u32) -> serde_json::Value {
    let r = s.run_env(
        &["dump", "--dry-run", "--json"],
        &[("TAPIR_NOW", &day(night))],
    );
    r.assert_code(0);
    serde_json::from_str(&r.stdout).unwrap()
}

#[test]
fn dry_run_explains_and_writes_nothing() {
    let (s, a, _b) = setup();
    let r = s.run_env(&["dump", "--dry-run"], &[("TAPIR_NOW", &day(0))]);
    r.assert_code(0);
    assert!(
        r.stdout.contains("new DLE: no full on any tape"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("balanced target"), "{}", r.stdout);
    assert!(
        !s.path().join("vtape").exists() && !s.path().join("catalog/runs").exists(),
        "dry run wrote something"
    );
    let p = plan(&s, 0);
    let e = p["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["disk"] == a.as_str())
        .unwrap();
    // the estimate (tar bytes, gzip ratio guessed at 0.5 for a new DLE) is in the right range
    let size = e["tape_bytes"].as_u64().unwrap();
    assert!(size > 150 << 10 && size < 400 << 10, "{e}");
}

#[test]
fn force_gives_a_full_once_and_unforce_cancels() {
    let (s, a, b) = setup();
    s.run_env(&["dump"], &[("TAPIR_NOW", &day(0))])
        .assert_code(0);
    let level_of = |p: &serde_json::Value, d: &str| {
        p["entries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["disk"] == d)
            .unwrap()["level"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(level_of(&plan(&s, 1), &b), 1);
    s.run(&["force", "localhost", &b]).assert_code(0);
    let p = plan(&s, 1);
    assert_eq!(level_of(&p, &b), 0);
    assert!(p["entries"].to_string().contains("forced"), "{p}");
    s.run(&["unforce", "localhost", &b]).assert_code(0);
    assert_eq!(level_of(&plan(&s, 1), &b), 1);
    s.run(&["force", "localhost", &a]).assert_code(0);
    let r = s.run_env(&["dump"], &[("TAPIR_NOW", &day(1))]);
    r.assert_code(0);
    assert!(
        r.stdout.contains("full forced by `tapir force`"),
        "{}",
        r.stdout
    );
    assert_eq!(
        level_of(&plan(&s, 2), &a),
        1,
        "the force is used up by the full"
    );
    let bad = s.run(&["force", "localhost", "/nope"]);
    bad.assert_code(2);
    assert!(
        bad.stderr.contains("no DLE localhost /nope"),
        "{}",
        bad.stderr
    );
}

#[test]
fn due_and_balance_show_the_schedule() {
    let (s, a, _b) = setup();
    let r = s.run_env(&["due"], &[("TAPIR_NOW", &day(0))]);
    r.assert_code(0);
    assert!(r.stdout.contains("tonight (new DLE)"), "{}", r.stdout);
    s.run_env(&["dump"], &[("TAPIR_NOW", &day(0))])
        .assert_code(0);
    let r = s.run_env(&["due", "--json"], &[("TAPIR_NOW", &day(2))]);
    let due: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let row = due
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["disk"] == a.as_str())
        .unwrap();
    assert_eq!(row["nights"], 5);
    let r = s.run_env(&["due"], &[("TAPIR_NOW", &day(9))]);
    assert!(r.stdout.contains("OVERDUE by 2 night(s)"), "{}", r.stdout);
    let r = s.run_env(&["balance", "--json"], &[("TAPIR_NOW", &day(2))]);
    r.assert_code(0);
    let nights: Vec<serde_json::Value> = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(nights.len(), 7);
    assert_eq!(
        nights[5]["fulls"], 2,
        "both fulls fall due on night 5: {nights:?}"
    );
    let text = s.run_env(&["balance"], &[("TAPIR_NOW", &day(2))]);
    assert!(text.stdout.contains("VS MEAN"), "{}", text.stdout);
}
