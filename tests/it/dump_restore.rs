//! End to end: the awkward corpus is dumped, then restored by `tapir fetch --identity | tar -x`
//! and by the stock pipeline written in the header; both trees must equal the source.

use crate::common::{Setup, sh, tree};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn skip_excluded(rel: &Path) -> bool {
    rel.to_string_lossy().ends_with(".tmp")
}

fn setup_with_corpus(dumptype: &str) -> (Setup, std::path::PathBuf) {
    let s = Setup::new("", "");
    let src = s.path().join("src");
    tree::awkward(&src);
    s.write(
        "disklist",
        &format!("localhost \"{}\" {dumptype}\n", src.display()),
    );
    (s, src)
}

fn restore_both_ways(s: &Setup, src: &Path) {
    crate::common::restore_both_ways(s, &s.find_json()[0], src, &skip_excluded);
}

#[test]
fn awkward_corpus_restores_with_tapir_and_with_stock_tools() {
    let (s, src) = setup_with_corpus("local");
    let r = s.run(&["dump"]);
    r.assert_code(0);
    assert!(r.stdout.contains(" OK "), "{}", r.stdout);
    restore_both_ways(&s, &src);
}

#[test]
fn every_compress_mode_restores_with_tapir_and_with_stock_tools() {
    for dt in [
        "local-client",
        "local-best",
        "local-plain",
        "local-zstd",
        "local-client-zstd",
    ] {
        let (s, src) = setup_with_corpus(dt);
        s.run(&["dump"]).assert_code(0);
        restore_both_ways(&s, &src);
    }
}

#[test]
fn header_carries_the_contract_fields() {
    let (s, _src) = setup_with_corpus("local");
    s.run(&["dump"]).assert_code(0);
    let rec = &s.find_json()[0];
    let file = s.tape_file(rec);
    let bytes = std::fs::read(&file).unwrap();
    let text = String::from_utf8_lossy(&bytes[..32768]);
    assert!(text.starts_with("TAPIR FILE v1\n"));
    for key in [
        "label = \"daily-01\"",
        "slot = 1",
        "file_number = 1",
        "datestamp = ",
        "host = \"localhost\"",
        "disk = ",
        "level = 0",
        "dumptype = \"local\"",
        "compress = \"server-fast\"",
        "encrypt = \"server\"",
        "recipients = [\"sha256:",
        "original_size = ",
        "payload_size = ",
        "payload_sha256 = ",
        "complete = true",
        "tool_version = ",
    ] {
        assert!(text.contains(key), "header lacks {key}:\n{text}");
    }
    assert!(bytes[..32768].ends_with(&[0, 0, 0]));
    let name = file.file_name().unwrap().to_string_lossy();
    assert!(
        name.starts_with("00001.localhost._") && name.ends_with("_src.0"),
        "{name}"
    );
    let label = std::fs::read(file.parent().unwrap().join("00000.daily-01")).unwrap();
    assert_eq!(label.len(), 32768);
    assert!(label.starts_with(b"TAPIR TAPESTART v1\n"));
}

#[test]
fn index_lists_every_member_from_the_tar_headers() {
    let (s, _src) = setup_with_corpus("local");
    s.run(&["dump"]).assert_code(0);
    let rec = &s.find_json()[0];
    let lines = s.index_lines(rec);
    let text = serde_json::to_string(&lines).unwrap();
    let find = |p: &str| {
        lines
            .iter()
            .find(|l| l["p"] == p)
            .unwrap_or_else(|| panic!("{p} not in index"))
    };
    assert_eq!(find("./big.bin")["s"], (1 << 20) + 1);
    assert_eq!(find("./big.bin")["t"], "0");
    assert_eq!(find("./empty-dir/")["t"], "5");
    assert_eq!(find("./dangling")["l"], "does/not/exist");
    assert_eq!(find("./caf\\xe9")["t"], "0");
    assert_eq!(find(&format!("./{}", "n".repeat(200)))["s"], 14);
    assert!(!text.contains("excluded.tmp"));
    assert_eq!(rec["files"].as_u64().unwrap() as usize, lines.len());
}

#[test]
fn fetch_raw_image_decrypts_with_the_stock_age_cli() {
    let (s, src) = setup_with_corpus("local");
    s.run(&["dump"]).assert_code(0);
    let img = s.path().join("image.age");
    s.fetch(&src.display().to_string(), "image.age", &[])
        .assert_code(0);
    let out = s.path().join("r");
    std::fs::create_dir(&out).unwrap();
    sh(
        &format!(
            "age -d -i {} {} | gzip -dc | tar -xpf - -C {}",
            s.identity.display(),
            img.display(),
            out.display()
        ),
        s.path(),
    );
    tree::assert_same(&src, &out, &skip_excluded);
    let again = s.fetch(&src.display().to_string(), "image.age", &[]);
    again.assert_code(1);
    assert!(
        again.stderr.contains("exists; not overwriting"),
        "{}",
        again.stderr
    );
}

#[test]
fn corrupt_tape_file_is_refused_by_fetch() {
    let (s, src) = setup_with_corpus("local");
    s.run(&["dump"]).assert_code(0);
    let file = s.tape_file(&s.find_json()[0]);
    let mut bytes = std::fs::read(&file).unwrap();
    let n = bytes.len();
    bytes[n - 100] ^= 0x55;
    std::fs::write(&file, &bytes).unwrap();
    let r = s.fetch(&src.display().to_string(), "img", &[]);
    r.assert_code(1);
    assert!(r.stderr.contains("CORRUPT"), "{}", r.stderr);
    assert!(
        !s.path().join("img").exists(),
        "a corrupt image must not be left as output"
    );
    std::fs::write(&file, &bytes[..n - 10]).unwrap();
    let r = s.fetch(&src.display().to_string(), "img", &[]);
    assert!(r.stderr.contains("TRUNCATED"), "{}", r.stderr);
}

#[test]
fn one_file_system_stays_off_other_mounts() {
    crate::common::require_root("mounting a tmpfs needs root");
    let s = Setup::new("", "");
    let src = s.path().join("src");
    std::fs::create_dir_all(src.join("mnt")).unwrap();
    std::fs::write(src.join("here"), b"same fs").unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(src.join("mnt"))
        .status()
        .is_ok_and(|st| st.success());
    assert!(
        mounted,
        "mount -t tmpfs failed: this test needs a machine that allows it"
    );
    std::fs::write(src.join("mnt/other-fs"), b"other fs").unwrap();
    // the mounted file system's root: its mode is what the mount point must get back
    std::fs::set_permissions(src.join("mnt"), std::fs::Permissions::from_mode(0o750)).unwrap();
    s.write(
        "dumptypes/cross.toml",
        "auth = \"local\"\none_file_system = false\n",
    );
    s.write(
        "disklist",
        &format!(
            "localhost {0} local\nlocalhost other {0} cross\n",
            src.display()
        ),
    );
    let r = s.run(&["dump"]);
    let _ = std::process::Command::new("umount")
        .arg(src.join("mnt"))
        .status();
    r.assert_code(0);
    for (disk, expect_other) in [
        (src.display().to_string(), false),
        ("other".to_string(), true),
    ] {
        let out = s.path().join(format!("r-{expect_other}"));
        std::fs::create_dir(&out).unwrap();
        let id = s.identity.display().to_string();
        let cfg = s.path().join("tapir.toml");
        sh(
            &format!(
                "{} --config {} fetch --host localhost --disk {disk} -i {id} -o - | tar -xf - -C {}",
                crate::common::BIN,
                cfg.display(),
                out.display()
            ),
            s.path(),
        );
        assert!(out.join("here").exists());
        assert_eq!(out.join("mnt/other-fs").exists(), expect_other, "{disk}");
        // like GNU tar: the mount point itself is kept, so the mount has its place again
        let mp = std::fs::metadata(out.join("mnt")).unwrap();
        assert!(mp.is_dir(), "{disk}");
        assert_eq!(mp.permissions().mode() & 0o7777, 0o750, "{disk}");
        let inside = std::fs::read_dir(out.join("mnt")).unwrap().count();
        assert_eq!(inside, usize::from(expect_other), "{disk}");
    }
    // An in-place incremental restore (`tar -xG`) over a live system, where the other file
    // system is mounted again: GNU tar deletes what a directory's dumpdir does not list, so
    // the mount point must be listed by its parent and claim no contents of its own.
    let live = s.path().join("live");
    std::fs::create_dir_all(live.join("mnt")).unwrap();
    std::fs::write(live.join("mnt/on-the-mounted-fs"), b"keep me").unwrap();
    sh(
        &format!(
            "{} --config {} fetch --host localhost --disk {} -i {} -o - | tar -xG -f - -C {}",
            crate::common::BIN,
            s.path().join("tapir.toml").display(),
            src.display(),
            s.identity.display(),
            live.display()
        ),
        s.path(),
    );
    assert!(live.join("here").exists());
    assert_eq!(
        std::fs::read(live.join("mnt/on-the-mounted-fs")).unwrap(),
        b"keep me"
    );
}
