//! `tapir recover`: the state as of a date across a level 0 and incrementals, a subset of
//! paths, an empty target by default, and a hostile tar that cannot escape the target.

use crate::common::{Setup, day, sh, tree};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn skip_tmp(rel: &Path) -> bool {
    rel.to_string_lossy().ends_with(".tmp")
}

fn recover(s: &Setup, disk: &str, date: &str, to: &Path, paths: &[&str]) -> crate::common::Run {
    let mut args = vec!["--date", date];
    args.extend_from_slice(paths);
    s.recover("localhost", disk, to, &args)
}

#[test]
fn point_in_time_across_a_full_and_two_incrementals() {
    let s = Setup::new("", "");
    let src = s.path().join("src");
    tree::awkward(&src);
    let disk = src.display().to_string();
    s.write("disklist", &format!("localhost {disk} local\n"));
    std::thread::sleep(std::time::Duration::from_millis(100));
    let snap = |n: u32| {
        let d = s.path().join(format!("snap{n}"));
        sh(
            &format!("cp -a {} {}", src.display(), d.display()),
            s.path(),
        );
        d
    };
    s.run_env(&["dump"], &[("TAPIR_NOW", &day(0))])
        .assert_code(0);
    let s0 = snap(0);
    std::fs::remove_file(src.join("one-byte")).unwrap();
    std::fs::write(src.join("new.txt"), b"night one").unwrap();
    s.run_env(&["dump"], &[("TAPIR_NOW", &day(1))])
        .assert_code(0);
    let s1 = snap(1);
    std::fs::rename(src.join("big.bin"), src.join("big-renamed.bin")).unwrap();
    std::fs::rename(src.join("hl"), src.join("hl-renamed")).unwrap();
    s.run_env(&["dump"], &[("TAPIR_NOW", &day(2))])
        .assert_code(0);
    let s2 = snap(2);
    for (n, snapshot) in [(0u32, &s0), (1, &s1), (2, &s2)] {
        let to = s.path().join(format!("restore{n}"));
        let date = &day(n)[..10];
        let r = recover(&s, &disk, date, &to, &[]);
        r.assert_code(0);
        tree::assert_same(snapshot, &to, &skip_tmp);
    }
    // only some paths
    let to = s.path().join("subset");
    let r = recover(
        &s,
        &disk,
        &day(2)[..10],
        &to,
        &["hl-renamed", "./deep/deep"],
    );
    r.assert_code(1);
    assert!(
        r.stderr
            .contains("REFUSED ./hl-renamed/a: hard link to ./hl-c")
            && r.stderr.contains("add that path"),
        "{}",
        r.stderr
    );
    // (like GNU tar, a hard link whose partner is outside the chosen paths cannot be made)
    let to = s.path().join("subset2");
    recover(
        &s,
        &disk,
        &day(2)[..10],
        &to,
        &["deep/deep", "big-renamed.bin"],
    )
    .assert_code(0);
    assert!(to.join("deep/deep/deep").is_dir() && to.join("big-renamed.bin").is_file());
    assert!(!to.join("hl-renamed").exists() && !to.join("one-byte").exists());
    let big = std::fs::metadata(to.join("big-renamed.bin")).unwrap();
    assert_eq!(
        (big.len(), big.permissions().mode() & 0o777),
        ((1 << 20) + 1, 0o640)
    );
    assert!(!to.join("empty").exists());
    // never into a non-empty directory unless asked
    let r = recover(&s, &disk, &day(2)[..10], &to, &[]);
    r.assert_code(2);
    assert!(r.stderr.contains("is not empty"), "{}", r.stderr);
}

/// A tar whose members try to escape: raw names written straight into the headers.
fn hostile_tar() -> Vec<u8> {
    let mut out = Vec::new();
    let mut add = |name: &[u8], kind: u8, link: &[u8], data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.as_old_mut().name[..name.len()].copy_from_slice(name);
        h.as_old_mut().linkname[..link.len()].copy_from_slice(link);
        h.set_entry_type(tar::EntryType::new(kind));
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        h.set_mtime(1_600_000_000);
        h.set_cksum();
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    };
    add(b"./ok.txt", b'0', b"", b"fine");
    add(b"../escaped.txt", b'0', b"", b"up");
    add(b"/tmp/tapir-hostile-abs.txt", b'0', b"", b"abs");
    add(b"./sub/../../escaped2.txt", b'0', b"", b"up2");
    add(b"./link", b'2', b"/", b"");
    add(
        b"./link/tmp/tapir-hostile-through-link.txt",
        b'0',
        b"",
        b"through",
    );
    add(b"./dirlink", b'2', b"/tmp", b"");
    add(b"./shadow", b'1', b"/etc/shadow", b"");
    add(b"./shadow2", b'1', b"../../etc/passwd", b"");
    add(b"./notours", b'1', b"./never-extracted", b"");
    out.extend_from_slice(&[0u8; 1024]);
    out
}

#[test]
fn a_hostile_tar_cannot_write_outside_the_target_and_each_refusal_is_named() {
    let s = Setup::new("", "");
    std::fs::write(s.path().join("hostile.tar"), hostile_tar()).unwrap();
    let to = s.path().join("target");
    let r = s.run(&[
        "recover",
        "--tar",
        "hostile.tar",
        "--to",
        to.to_str().unwrap(),
    ]);
    r.assert_code(1);
    for name in [
        "../escaped.txt",
        "/tmp/tapir-hostile-abs.txt",
        "./sub/../../escaped2.txt",
        "./link",
        "./shadow",
        "./shadow2",
        "./notours",
    ] {
        assert!(
            r.stderr.contains(&format!("REFUSED {name}")),
            "{name} not reported:\n{}",
            r.stderr
        );
    }
    assert_eq!(std::fs::read(to.join("ok.txt")).unwrap(), b"fine");
    assert!(!s.path().join("escaped.txt").exists() && !s.path().join("escaped2.txt").exists());
    assert!(!Path::new("/tmp/tapir-hostile-abs.txt").exists());
    assert!(!Path::new("/tmp/tapir-hostile-through-link.txt").exists());
    // symlinks are made last: the file "through" ./link landed in a real directory inside the
    // target, and the symlink that would have replaced that directory was refused
    assert!(to.join("link/tmp/tapir-hostile-through-link.txt").is_file());
    assert!(!to.join("link").is_symlink());
    assert_eq!(
        std::fs::read_link(to.join("dirlink")).unwrap(),
        Path::new("/tmp")
    );
    assert!(!to.join("shadow").exists() && !to.join("shadow2").exists());
}

/// Rewrite one line of a dump's index (as a re-signed forgery or a bad disk would leave it).
fn tamper_index(s: &Setup, rec: &serde_json::Value, edit: impl Fn(&mut serde_json::Value)) {
    use std::io::Write;
    let mut lines = s.index_lines(rec);
    lines.iter_mut().for_each(&edit);
    let ix = s
        .path()
        .join("catalog")
        .join(rec["index"].as_str().unwrap());
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(ix).unwrap(),
        flate2::Compression::fast(),
    );
    for l in lines {
        writeln!(gz, "{l}").unwrap();
    }
    gz.finish().unwrap();
}

#[test]
fn a_restored_file_that_is_not_what_its_index_recorded_fails_the_restore_naming_it() {
    let s = Setup::new("", "");
    let src = s.path().join("src");
    tree::awkward(&src);
    let disk = src.display().to_string();
    s.write("disklist", &format!("localhost {disk} local\n"));
    s.run_env(&["dump"], &[("TAPIR_NOW", &day(0))])
        .assert_code(0);
    let rec = s.newest_record();
    // every regular file's sha256 is in the index, and it is the file's
    let lines = s.index_lines(&rec);
    let big = lines.iter().find(|l| l["p"] == "./big.bin").unwrap();
    let want = {
        use sha2::Digest;
        format!(
            "{:x}",
            sha2::Sha256::digest(std::fs::read(src.join("big.bin")).unwrap())
        )
    };
    assert_eq!(big["h"], want.as_str());
    let plain = lines.iter().filter(|l| l["t"] == "0").count();
    let summed = lines
        .iter()
        .filter(|l| l["t"] == "0" && l["h"].is_string())
        .count();
    assert_eq!(plain, summed, "every regular file has its sha256");

    let to = s.path().join("good");
    let r = recover(&s, &disk, &day(0)[..10], &to, &[]);
    r.assert_code(0);
    assert!(
        r.stdout
            .contains(&format!("{summed} file(s) matched their recorded sha256")),
        "{}",
        r.stdout
    );
    tree::assert_same(&src, &to, &skip_tmp);

    let other = "0".repeat(64);
    tamper_index(&s, &rec, |l| {
        if l["p"] == "./big.bin" {
            l["h"] = other.clone().into();
        }
    });
    for (case, paths) in [("whole", vec![]), ("by random access", vec!["big.bin"])] {
        let to = s.path().join(format!("bad-{}", case.len()));
        let r = recover(&s, &disk, &day(0)[..10], &to, &paths);
        r.assert_code(1);
        assert!(
            r.stderr
                .contains("./big.bin: its content does not match its index")
                && r.stderr
                    .contains(&format!("{want} restored, {other} recorded"))
                && r.stderr.contains("nothing was restored into"),
            "{case}: {}",
            r.stderr
        );
        assert!(!to.exists(), "{case}: the target was left behind");
    }
    // a file the forgery does not touch still restores, checked
    let to = s.path().join("one");
    let r = recover(&s, &disk, &day(0)[..10], &to, &["one-byte"]);
    r.assert_code(0);
    assert!(r.stdout.contains("1 file(s) matched"), "{}", r.stdout);
}
