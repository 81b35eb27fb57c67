//! Whole-host and mass restores: every DLE of a host (or of several) restored N at a time,
//! each into its own directory and equal to its source as of the newest incremental; the
//! plan first; one bad tape fails its DLE only.

use crate::common::{Setup, day, noise, tree};
use std::path::Path;

/// Two hosts (local agents under other names) with four DLEs each, a full and a level 1.
fn fleet() -> Setup {
    let s = Setup::new("", "");
    let mut disklist = String::new();
    for h in ["web1", "web2"] {
        for k in 0..4 {
            let src = s.path().join(format!("src/{h}/d{k}"));
            std::fs::create_dir_all(src.join("sub")).unwrap();
            std::fs::write(src.join("big.bin"), noise(256 << 10, k)).unwrap();
            std::fs::write(src.join("sub/notes.txt"), format!("{h} {k}\n")).unwrap();
            std::fs::write(src.join("gone.txt"), "deleted before the level 1\n").unwrap();
            tree::fix_mtimes(&src);
            disklist.push_str(&format!("{h} {} local\n", src.display()));
        }
    }
    s.write("disklist", &disklist);
    s.run_env(&["dump"], &[("TAPIR_NOW", &day(0))])
        .assert_code(0);
    for h in ["web1", "web2"] {
        for k in 0..4 {
            let src = s.path().join(format!("src/{h}/d{k}"));
            std::fs::write(src.join("sub/new.txt"), "after the full\n").unwrap();
            std::fs::remove_file(src.join("gone.txt")).unwrap();
        }
    }
    s.run_env(&["dump"], &[("TAPIR_NOW", &day(1))])
        .assert_code(0);
    s
}

/// A disk as a directory name: escaped as tape file names are (`%`, `_`, then `/`).
fn escaped(p: &Path) -> String {
    p.display()
        .to_string()
        .replace('%', "%25")
        .replace('_', "%5F")
        .replace('/', "_")
}

#[test]
fn a_whole_host_restores_in_parallel_after_its_plan() {
    let s = fleet();
    let id = s.identity.display().to_string();
    let out = s.path().join("out");
    let o = out.display().to_string();
    let r = s.run(&[
        "recover",
        "--host",
        "web1",
        "--all",
        "--parallel",
        "2",
        "-i",
        &id,
        "--to",
        &o,
    ]);
    r.assert_code(0);
    let plan_end = r.stdout.find("total:").expect("the plan comes first");
    let first_done = r.stdout.find("[1/4]").expect("progress lines");
    assert!(plan_end < first_done, "{}", r.stdout);
    assert!(
        r.stdout
            .contains("plan: 4 DLE(s) of 1 host(s), 2 at a time"),
        "{}",
        r.stdout
    );
    assert_eq!(
        r.stdout.matches(" dump(s) (levels 0").count(),
        4,
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("2 dump(s) (levels 0,1)"), "{}", r.stdout);
    assert!(
        r.stdout.contains(", 2 at a time, at ")
            && r.stdout.contains("/s (the fetch rate of the first tape"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("restored 4 of 4 DLE(s)"), "{}", r.stdout);
    for k in 0..4 {
        let src = s.path().join(format!("src/web1/d{k}"));
        let dir = out.join(escaped(&src));
        tree::assert_same(&src, &dir, &|_| false);
        assert!(
            !dir.join("gone.txt").exists(),
            "the level 1's deletion holds"
        );
    }
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 4);
}

#[test]
fn a_mass_restore_from_a_hosts_file_fails_only_the_dle_of_a_bad_tape() {
    let s = fleet();
    let id = s.identity.display().to_string();
    // a mass restore of both hosts from a hosts file, one of web2's tapes corrupted
    s.write("hosts.txt", "# the lost room\nweb2\n");
    let victim = s
        .find_json()
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["host"] == "web2" && r["level"] == 1)
        .unwrap()
        .clone();
    let file = s.tape_file(&victim);
    let mut bytes = std::fs::read(&file).unwrap();
    let at = bytes.len() - 100;
    bytes[at] ^= 0x55;
    std::fs::write(&file, bytes).unwrap();
    let out2 = s.path().join("out2");
    let o2 = out2.display().to_string();
    let hosts = s.path().join("hosts.txt").display().to_string();
    let r = s.run(&[
        "recover",
        "--host",
        "web1",
        "--all",
        "--hosts-file",
        &hosts,
        "--parallel",
        "3",
        "-i",
        &id,
        "--to",
        &o2,
    ]);
    r.assert_code(1);
    assert!(
        r.stdout.contains("plan: 8 DLE(s) of 2 host(s)"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("restored 7 of 8 DLE(s)"), "{}", r.stdout);
    let bad_disk = victim["disk"].as_str().unwrap();
    let bad_dir = out2.join("web2").join(escaped(Path::new(bad_disk)));
    assert!(
        r.stderr.contains(&format!("web2 {bad_disk}: FAILED"))
            && r.stderr.contains("nothing was restored"),
        "{}",
        r.stderr
    );
    assert!(!bad_dir.exists(), "the failed DLE leaves nothing behind");
    for h in ["web1", "web2"] {
        for k in 0..4 {
            let src = s.path().join(format!("src/{h}/d{k}"));
            if src.display().to_string() == bad_disk {
                continue;
            }
            tree::assert_same(&src, &out2.join(h).join(escaped(&src)), &|_| false);
        }
    }
}

#[test]
fn a_target_in_use_and_an_unknown_host_are_refused_before_anything_is_read() {
    let s = fleet();
    let id = s.identity.display().to_string();
    let out = s.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("something"), "in use\n").unwrap();
    let o = out.display().to_string();
    let r = s.run(&["recover", "--host", "web1", "--all", "-i", &id, "--to", &o]);
    r.assert_code(2);
    assert!(r.stderr.contains("is not empty"), "{}", r.stderr);
    let o3 = s.path().join("out3").display().to_string();
    let r = s.run(&[
        "recover", "--host", "nosuch", "--all", "-i", &id, "--to", &o3,
    ]);
    assert_eq!(r.code, 4, "{}", r.stderr);
}
