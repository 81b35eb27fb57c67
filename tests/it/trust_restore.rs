//! Trust, part 1: a restore that exits 0 is complete, also on a busy machine; a closed
//! stdout (`| head -1`) is a quiet exit 0, never a panic.

use crate::common::{BIN, Setup, tree};
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;
use std::process::Command;

/// One tiny DLE: a mode-700 directory with a 2001 mtime holding a file of `k`×512 bytes,
/// and a symlink `s -> d/f`.
fn tiny_dle(root: &Path, k: usize) {
    std::fs::create_dir_all(root.join("d")).unwrap();
    std::fs::write(root.join("d/f"), vec![b'x'; k * 512]).unwrap();
    symlink("d/f", root.join("s")).unwrap();
    std::fs::set_permissions(root.join("d"), std::fs::Permissions::from_mode(0o700)).unwrap();
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(978_307_200);
    std::fs::File::open(root.join("d"))
        .unwrap()
        .set_modified(t)
        .unwrap();
}

#[test]
fn a_restore_that_exits_0_is_complete_under_load() {
    let s = Setup::new("inparallel = 2", "");
    let mut disklist = String::new();
    for k in 1..=16 {
        let src = s.path().join(format!("src{k}"));
        tiny_dle(&src, k);
        disklist.push_str(&format!("localhost {} local\n", src.display()));
    }
    s.write("disklist", &disklist);
    s.run(&["dump"]).assert_code(0);
    let _load = crate::common::Load::start(s.path());
    for round in 0..3 {
        for k in 1..=16 {
            let src = s.path().join(format!("src{k}"));
            let to = s.path().join(format!("restore-{round}-{k}"));
            let r = s.recover("localhost", src.to_str().unwrap(), &to, &[]);
            r.assert_code(0);
            assert!(
                r.stdout.contains("restored 2 members"),
                "no summary for src{k}: {}{}",
                r.stdout,
                r.stderr
            );
            tree::assert_same(&src, &to, &|_| false);
        }
    }
}

#[test]
fn a_reader_that_closes_stdout_is_a_quiet_exit_0() {
    let s = Setup::new("tapecycle = 30", "slots = 40\nautolabel = \"daily-%%\"\n");
    let src = s.path().join("src");
    tiny_dle(&src, 1);
    std::fs::write(src.join("noise"), crate::common::noise(2 << 20, 3)).unwrap();
    s.write("disklist", &format!("localhost {} local\n", src.display()));
    s.run(&["dump"]).assert_code(0);
    for cmd in [
        "tapes",
        "find",
        "tapes --json",
        "find --json",
        "config",
        "due",
    ] {
        // many lines, and a reader that takes one and leaves
        let out = Command::new("bash")
            .args([
                "-c",
                &format!("{BIN} {cmd} | head -c 1 >/dev/null; echo \"${{PIPESTATUS[0]}}\""),
            ])
            .current_dir(s.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "0",
            "{cmd}: {stderr}"
        );
        assert!(
            !stderr.contains("panicked") && stderr.is_empty(),
            "{cmd}: {stderr}"
        );
    }
    // fetch's output is data: a reader that leaves early is a failure, said as one
    let r = Command::new("bash")
        .args([
            "-c",
            &format!(
                "{BIN} fetch --host localhost --disk {} -o - | head -c 1 >/dev/null; echo \"${{PIPESTATUS[0]}}\"",
                src.display()
            ),
        ])
        .current_dir(s.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&r.stderr);
    assert_eq!(String::from_utf8_lossy(&r.stdout).trim(), "1", "{stderr}");
    assert!(stderr.contains("cannot write the output"), "{stderr}");
}
