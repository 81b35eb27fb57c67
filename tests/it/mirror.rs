//! `tapir mirror`: an exact, verified copy of the tapes and catalog that survives kill -9,
//! refuses to copy a corrupt source file over a good copy, replaces recycled slots, and
//! restores alone when the primary vtape root and catalog are gone.

use crate::common::{Setup, day, tree};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// Every file below `root` (by relative path) and its bytes, temp and lock files excluded.
fn files(root: &Path, skip_locks: bool) -> BTreeMap<PathBuf, Vec<u8>> {
    walkdir::WalkDir::new(root)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| e.path().strip_prefix(root).unwrap().to_path_buf())
        .filter(|r| {
            let n = r.file_name().unwrap().to_string_lossy();
            !(skip_locks && (n == "lock" || n == "tapes.lock" || n == "mirror.json"))
        })
        .map(|r| (r.clone(), fs::read(root.join(&r)).unwrap()))
        .collect()
}

fn slots(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut all = files(root, true);
    all.retain(|p, _| p.starts_with("slot1") || p.starts_with("slot2") || p.starts_with("slot3"));
    all
}

fn assert_mirror_equal(s: &Setup, m: &Path) {
    let src = slots(&s.path().join("vtape"));
    assert!(!src.is_empty());
    assert_eq!(src, slots(m), "slots differ");
    assert_eq!(
        files(&s.path().join("catalog"), true),
        files(&m.join("catalog"), true),
        "catalog differs"
    );
    let leftovers: Vec<_> = files(m, false)
        .into_keys()
        .filter(|p| p.to_string_lossy().contains("/.") || p.to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");
    let v = s.run(&["verify", "--from", m.to_str().unwrap()]);
    v.assert_code(0);
}

fn setup() -> (Setup, String, String) {
    let s = Setup::new(
        "tapecycle = 2\nrunspercycle = 1",
        "slots = 3\nautolabel = \"daily-%%\"\n",
    );
    let a = s.path().join("a");
    tree::awkward(&a);
    let b = s.path().join("b");
    fs::create_dir_all(&b).unwrap();
    fs::write(b.join("big"), crate::common::noise(3 << 20, 3)).unwrap();
    let (a, b) = (a.display().to_string(), b.display().to_string());
    s.write(
        "disklist",
        &format!("localhost {a} local-full\nlocalhost {b} local-full\n"),
    );
    (s, a, b)
}

#[test]
fn kill_9_midway_then_rerun_gives_an_identical_verified_mirror() {
    let (s, _, _) = setup();
    let m = s.path().join("mirror");
    let ms = m.to_str().unwrap();
    s.run_env(&["dump"], &[("TAPIR_NOW", &day(1))])
        .assert_code(0);
    let r = s.run(&["mirror", "--to", ms]);
    r.assert_code(0);
    assert!(r.stdout.contains("copied slot1/00001."), "{}", r.stdout);
    assert_mirror_equal(&s, &m);
    // nothing changed: nothing copied
    let r = s.run(&["mirror", "--to", ms]);
    r.assert_code(0);
    assert!(r.stdout.contains(": 0 file(s) copied"), "{}", r.stdout);

    s.run_env(&["dump"], &[("TAPIR_NOW", &day(2))])
        .assert_code(0);
    let r = s.run_env(
        &["mirror", "--to", ms],
        &[("TAPIR_FAILPOINT", "mirror-mid-copy")],
    );
    assert_eq!(r.code, 128 + libc::SIGABRT, "killed: {}", r.stderr);
    assert!(
        files(&m, false)
            .keys()
            .any(|p| p.to_string_lossy().ends_with(".tmp")),
        "the kill should leave a half-written temp file"
    );
    let r = s.run(&["mirror", "--to", ms]);
    r.assert_code(0);
    assert_mirror_equal(&s, &m);

    // night 3 goes to slot 3, night 4 recycles slot 1: the mirror's slot 1 is replaced
    for n in 3..=4 {
        s.run_env(&["dump"], &[("TAPIR_NOW", &day(n))])
            .assert_code(0);
    }
    let slot1 = |root: &Path| -> BTreeMap<PathBuf, Vec<u8>> {
        let mut all = slots(root);
        all.retain(|p, _| p.starts_with("slot1"));
        all
    };
    let before = slot1(&m);
    let r = s.run(&["mirror", "--to", ms]);
    r.assert_code(0);
    assert_mirror_equal(&s, &m);
    assert_ne!(before, slot1(&m), "the recycled slot was not replaced");
}

#[test]
fn a_corrupt_source_is_reported_and_the_mirror_keeps_its_good_copy_which_restores_alone() {
    let (s, a, _) = setup();
    let m = s.path().join("mirror");
    let ms = m.to_str().unwrap();
    s.run_env(&["dump"], &[("TAPIR_NOW", &day(1))])
        .assert_code(0);
    s.run(&["mirror", "--to", ms]).assert_code(0);
    let rec = s
        .find_json()
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["disk"] == a.as_str())
        .unwrap()
        .clone();
    let src = s.tape_file(&rec);
    let good = fs::read(&src).unwrap();
    let mut bad = good.clone();
    let at = bad.len() - 100;
    bad[at] ^= 0x55;
    fs::write(&src, &bad).unwrap();
    let r = s.run(&["mirror", "--to", ms]);
    r.assert_code(1);
    let name = src.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        r.stderr.contains(&name)
            && r.stderr.contains("CORRUPT: payload sha256")
            && r.stderr.contains("not copied"),
        "{}",
        r.stderr
    );
    let copy = m.join(src.strip_prefix(s.path().join("vtape")).unwrap());
    assert_eq!(
        fs::read(&copy).unwrap(),
        good,
        "the mirror's copy was replaced"
    );

    // The backup server is gone: only the mirror and the key remain.
    fs::remove_dir_all(s.path().join("vtape")).unwrap();
    fs::remove_dir_all(s.path().join("catalog")).unwrap();
    let f = s.run(&["find", "--from", ms]);
    f.assert_code(0);
    assert!(f.stdout.contains(&a), "{}", f.stdout);
    let to = s.path().join("restored");
    s.recover("localhost", &a, &to, &["--from", ms])
        .assert_code(0);
    tree::assert_same(Path::new(&a), &to, &|p: &Path| {
        p.to_string_lossy().ends_with(".tmp")
    });
}

#[test]
fn mirror_needs_a_target_outside_the_vtape_root() {
    let (s, _, _) = setup();
    let r = s.run(&["mirror"]);
    r.assert_code(2);
    assert!(r.stderr.contains("no mirror target"), "{}", r.stderr);
    let r = s.run(&[
        "mirror",
        "--to",
        s.path().join("vtape/sub").to_str().unwrap(),
    ]);
    r.assert_code(2);
    assert!(r.stderr.contains("overlaps the vtape root"), "{}", r.stderr);
}
