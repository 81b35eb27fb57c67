//! Readers take only a shared lock: verify, fetch and recover run while a dump holds the run
//! lock; a dump that must overwrite a tape waits until readers are done.

use crate::common::{Setup, day};
use std::fs::{self, File};
use std::io::Read;
use std::process::Stdio;
use std::time::{Duration, Instant};

fn src(s: &Setup) -> String {
    let d = s.path().join("src");
    fs::create_dir_all(&d).unwrap();
    fs::write(d.join("f"), crate::common::noise(300_000, 7)).unwrap();
    d.display().to_string()
}

#[test]
fn verify_fetch_and_recover_run_during_a_dump() {
    let s = Setup::new("", "");
    let disk = src(&s);
    s.write("disklist", &format!("localhost {disk} local\n"));
    s.run_env(&["dump"], &[("TAPIR_NOW", &day(0))])
        .assert_code(0);
    let mut dump = s.cmd(&["dump"]);
    dump.env("TAPIR_NOW", day(1))
        .env("TAPIR_FAILPOINT", "mid-payload:pause")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = dump.spawn().unwrap();
    let t0 = Instant::now();
    while s.partials().is_empty() {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "the dump never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // The run lock is held: another dump is refused, readers are not.
    s.run(&["dump"]).assert_code(3);
    let v = s.run(&["verify"]);
    v.assert_code(0);
    assert!(v.stdout.contains("OK"), "{}", v.stdout);
    let id = s.identity.display().to_string();
    let to = s.path().join("restored");
    let r = s.recover("localhost", &disk, &to, &[]);
    r.assert_code(0);
    assert_eq!(
        fs::read(to.join("f")).unwrap(),
        crate::common::noise(300_000, 7)
    );
    s.fetch(&disk, "image.tar", &["-i", &id]).assert_code(0);
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
}

#[test]
fn a_dump_waits_for_readers_before_overwriting_a_tape() {
    let s = Setup::new(
        "tapecycle = 2\nrunspercycle = 1",
        "slots = 2\nautolabel = \"daily-%%\"\n",
    );
    let disk = src(&s);
    s.write("disklist", &format!("localhost {disk} local-full\n"));
    for n in 1..=2 {
        s.run_env(&["dump"], &[("TAPIR_NOW", &day(n))])
            .assert_code(0);
    }
    let old: Vec<_> = fs::read_dir(s.path().join("vtape/slot1"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(old.len(), 2, "label and one dump: {old:?}");
    // A reader (as recover would) holds the shared lock.
    let reader = File::options()
        .create(true)
        .append(true)
        .open(s.path().join("catalog/tapes.lock"))
        .unwrap();
    reader.lock_shared().unwrap();
    let mut dump = s.cmd(&["--verbose", "dump"]);
    dump.env("TAPIR_NOW", day(3))
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = dump.spawn().unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert!(child.try_wait().unwrap().is_none(), "the dump did not wait");
    for name in &old {
        assert!(
            s.path().join("vtape/slot1").join(name).exists(),
            "{name:?} erased while being read"
        );
    }
    drop(reader);
    let status = child.wait().unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(status.success(), "{err}");
    assert!(
        err.contains("waiting for it to finish before overwriting tape daily-01"),
        "{err}"
    );
    assert_eq!(s.find_json().as_array().unwrap().len(), 2);
}
