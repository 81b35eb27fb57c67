//! Runs are safe: the lock, kill -9 at every stage of writing a dump, a full disk, and
//! files the agent cannot read.

use crate::common::{Setup, day, sh};
use std::process::Stdio;
use std::time::{Duration, Instant};

fn setup_two_dles() -> (Setup, String, String) {
    // one dump at a time: each crash point is then hit by exactly one dump
    let s = Setup::new("inparallel = 1", "");
    let a = s.path().join("a");
    let b = s.path().join("b");
    for (d, seed) in [(&a, 1), (&b, 2)] {
        std::fs::create_dir_all(d).unwrap();
        std::fs::write(d.join("data"), crate::common::noise(300 << 10, seed)).unwrap();
        std::fs::write(d.join("small"), b"small file").unwrap();
    }
    s.write(
        "disklist",
        &format!(
            "localhost {} local\nlocalhost {} local\n",
            a.display(),
            b.display()
        ),
    );
    (s, a.display().to_string(), b.display().to_string())
}

/// Every dump the catalog lists exists, is complete, and passes its checksum.
fn assert_catalog_consistent(s: &Setup) {
    for rec in s.find_json().as_array().unwrap() {
        let disk = rec["disk"].as_str().unwrap();
        let ds = rec["datestamp"].as_str().unwrap();
        assert!(
            s.tape_file(rec).exists(),
            "catalog lists a missing file: {rec}"
        );
        let r = s.fetch(disk, "-", &["--date", ds]);
        r.assert_code(0);
    }
}

#[test]
fn kill_9_at_every_stage_leaves_a_consistent_catalog_and_the_next_run_succeeds() {
    for point in [
        "after-placeholder",
        "mid-payload",
        "before-final-header",
        "before-rename",
        "before-catalog",
    ] {
        let (s, _a, _b) = setup_two_dles();
        s.run_env(&["dump"], &[("TAPIR_NOW", &day(0))])
            .assert_code(0);
        let before = s.find_json().as_array().unwrap().len();
        let crashed = s.run_env(
            &["dump"],
            &[("TAPIR_NOW", &day(1)), ("TAPIR_FAILPOINT", point)],
        );
        assert_eq!(
            crashed.code,
            128 + libc::SIGABRT,
            "{point}: {}",
            crashed.stderr
        );
        // whatever the crash left, the catalog never points at an untrusted file
        assert_catalog_consistent(&s);
        let after_crash = s.find_json().as_array().unwrap().len();
        assert_eq!(
            after_crash, before,
            "{point}: the catalog changed without a complete dump"
        );
        let next = s.run_env(&["dump"], &[("TAPIR_NOW", &day(2))]);
        next.assert_code(0);
        assert!(
            s.partials().is_empty(),
            "{point}: partial files left: {:?}",
            s.partials()
        );
        assert_catalog_consistent(&s);
        let n = s.find_json().as_array().unwrap().len();
        let learnt = if point == "before-catalog" { 1 } else { 0 };
        assert_eq!(n, before + 2 + learnt, "{point}: {}", next.stderr);
    }
}

#[test]
fn second_dump_exits_3_naming_the_holder_and_kill_9_frees_the_lock() {
    let (s, _a, _b) = setup_two_dles();
    let mut holder = s.cmd(&["dump"]);
    holder
        .env("TAPIR_FAILPOINT", "mid-payload:pause")
        .stderr(Stdio::piped())
        .stdout(Stdio::null());
    let mut child = holder.spawn().unwrap();
    // wait until it is paused inside the dump (it holds the lock and a .partial file)
    let t0 = Instant::now();
    while s.partials().is_empty() {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "holder never started writing"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let r = s.run(&["dump"]);
    r.assert_code(3);
    assert!(
        r.stderr.contains("another tapir run holds the lock"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains(&format!("pid {}", child.id())),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("command tapir dump") && r.stderr.contains("started "),
        "{}",
        r.stderr
    );
    let l = s.run(&["label", "5", "daily-05"]);
    l.assert_code(3);
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let r = s.run(&["dump"]);
    r.assert_code(0);
    assert!(s.partials().is_empty());
    assert_catalog_consistent(&s);
}

#[test]
fn full_disk_fails_that_dle_and_loses_no_earlier_dump() {
    crate::common::require_root("mounting a small tmpfs needs root");
    let (s, a, b) = setup_two_dles();
    let vtape = s.path().join("vtape");
    std::fs::create_dir_all(&vtape).unwrap();
    // room for the label, /a's first dump and part of the next file only
    sh(
        &format!("mount -t tmpfs -o size=900k tmpfs {}", vtape.display()),
        s.path(),
    );
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
        }
    }
    let _guard = Unmount(vtape.clone());
    s.run_env(&["dump", "localhost", &a], &[("TAPIR_NOW", &day(0))])
        .assert_code(0);
    let good = s.find_json();
    // /a changes: its level 1 needs its 300 KiB again whatever the clocks say, so the second
    // tape (label, /b's full, /a's level 1) cannot fit beside the first
    std::fs::write(
        std::path::Path::new(&a).join("data"),
        crate::common::noise(300 << 10, 3),
    )
    .unwrap();
    let r = s.run_env(&["dump"], &[("TAPIR_NOW", &day(1))]);
    r.assert_code(1);
    assert!(r.stdout.contains("FAILED"), "{}", r.stdout);
    assert!(r.stdout.contains("No space left on device"), "{}", r.stdout);
    assert!(s.partials().is_empty(), "{:?}", s.partials());
    // the earlier dump is still listed and restorable
    let now = s.find_json();
    assert!(
        now.as_array().unwrap().iter().any(|r| r == &good[0]),
        "earlier dump lost: {now}"
    );
    assert_catalog_consistent(&s);
    let _ = b;
}

#[test]
fn unreadable_file_makes_the_dle_partial_and_the_rest_is_kept() {
    crate::common::require_root("needs root to run the dump as another user");
    let s = Setup::new("", "");
    let src = s.path().join("src");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    std::fs::write(src.join("ok.txt"), b"readable").unwrap();
    std::fs::write(src.join("secret"), b"root only").unwrap();
    sh(
        "chmod 600 src/secret && chmod 700 src/sub && chmod -R a+rwX keys && chmod a+rwx . keys && chmod a+r keys/*",
        s.path(),
    );
    s.write("disklist", &format!("localhost {} local\n", src.display()));
    sh("chmod a+r disklist tapir.toml dumptypes/*", s.path());
    let as_nobody_with = |bin: &str, what: &str| {
        let mut cmd = std::process::Command::new("setpriv");
        cmd.args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            bin,
            what,
        ])
        .current_dir(s.path())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap());
        crate::common::finish(cmd.output().unwrap())
    };
    let as_nobody = |what: &str| as_nobody_with(crate::common::BIN, what);
    // check says so before the night does: which paths, and that the dump would be PARTIAL
    let r = as_nobody("check");
    let line = r
        .stdout
        .lines()
        .find(|l| l.contains(&src.display().to_string()))
        .unwrap_or_else(|| panic!("{}", r.stdout));
    assert!(line.starts_with("WARN"), "{line}");
    assert!(line.contains("cannot read 2 of"), "{line}");
    assert!(line.contains("secret") && line.contains("sub"), "{line}");
    let r = as_nobody("dump");
    r.assert_code(1);
    assert!(r.stdout.contains("PARTIAL"), "{}", r.stdout);
    assert!(r.stdout.contains("secret: cannot read"), "{}", r.stdout);
    assert!(r.stdout.contains("sub: cannot read"), "{}", r.stdout);
    let rec = &s.find_json()[0];
    assert_eq!(rec["status"], "PARTIAL");
    let out = s.path().join("restored");
    std::fs::create_dir(&out).unwrap();
    sh(
        &format!(
            "{} fetch --host localhost --disk {} -i {} -o - | tar -xf - -C {}",
            crate::common::BIN,
            src.display(),
            s.identity.display(),
            out.display()
        ),
        s.path(),
    );
    assert_eq!(std::fs::read(out.join("ok.txt")).unwrap(), b"readable");
    assert!(!out.join("secret").exists());

    // the supported way to read everything without root: a copy of tapir that only the
    // tapir group may run, with cap_dac_read_search (README)
    let reader = s.path().join("tapir-reader");
    std::fs::copy(crate::common::BIN, &reader).unwrap();
    sh(
        &format!(
            "chmod 755 {0} && setcap cap_dac_read_search+ep {0}",
            reader.display()
        ),
        s.path(),
    );
    let r = as_nobody_with(reader.to_str().unwrap(), "check");
    let line = r
        .stdout
        .lines()
        .find(|l| l.contains(&src.display().to_string()))
        .unwrap_or_else(|| panic!("{}", r.stdout));
    assert!(line.starts_with("OK"), "{line}");
    let r = as_nobody_with(reader.to_str().unwrap(), "dump");
    r.assert_code(0);
}
