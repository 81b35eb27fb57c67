//! Trust, part 5: the smaller holes. Every config value is validated (exit 2, no panic,
//! nothing written); the catalog is private whatever the umask; a mirror restores on a
//! machine with no tapir.toml; restores keep devices, holes and pre-1970 mtimes.

use crate::common::{BIN, Setup, sh, tree};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

fn with_dle() -> (Setup, std::path::PathBuf) {
    let s = Setup::new("", "");
    let src = s.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("f"), "x").unwrap();
    s.write("disklist", &format!("localhost {} local\n", src.display()));
    (s, src)
}

fn refused(s: &Setup, cmds: &[&[&str]], expect: &str) {
    for cmd in cmds {
        let r = s.run(cmd);
        assert_eq!(r.code, 2, "{cmd:?}: {}{}", r.stdout, r.stderr);
        assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
        assert!(
            r.stderr.contains(expect),
            "{cmd:?}: expected {expect:?}: {}",
            r.stderr
        );
    }
    assert!(
        !s.path().join("catalog").exists(),
        "a config error wrote the catalog"
    );
    assert!(
        !s.path().join("vtape").exists(),
        "a config error wrote the tapes"
    );
}

#[test]
fn every_config_value_is_validated_without_a_panic() {
    let cases: [(&str, &str, &str); 8] = [
        (
            "end",
            "[ssh]\nconnect_timeout = \"99999999999999999999d\"",
            "too long",
        ),
        ("changer", "tape_size = \"0\"", "no room"),
        (
            "changer",
            "tape_size = \"99999999999999999999T\"",
            "too large",
        ),
        ("changer-root", "", "changer.root is empty"),
        ("top", "bumpmult = inf", "bumpmult"),
        ("end", "[hosts.web1]\nmaxdumps = 0", "maxdumps"),
        (
            "dumptype",
            "stall_timeout = \"99999999999999999999d\"",
            "too long",
        ),
        ("dumptype", "maxdumps = 0", "maxdumps"),
    ];
    for (place, text, expect) in cases {
        let (s, _) = with_dle();
        let cfg = std::fs::read_to_string(s.path().join("tapir.toml")).unwrap();
        let cfg = match place {
            "top" => cfg.replace("org = \"Test\"", &format!("org = \"Test\"\n{text}")),
            "end" => format!("{cfg}\n{text}\n"),
            "changer" => cfg.replace("root = \"vtape\"", &format!("root = \"vtape\"\n{text}")),
            "changer-root" => cfg.replace("root = \"vtape\"", "root = \"\""),
            _ => cfg,
        };
        s.write("tapir.toml", &cfg);
        if place == "dumptype" {
            let dt = std::fs::read_to_string(s.path().join("dumptypes/local.toml")).unwrap();
            s.write("dumptypes/local.toml", &format!("{dt}{text}\n"));
        }
        refused(&s, &[&["config"], &["dump"]], expect);
    }
    // one directory, two spellings
    let (s, src) = with_dle();
    s.write(
        "disklist",
        &format!("localhost {0} local\nlocalhost {0}/ local\n", src.display()),
    );
    refused(&s, &[&["config"], &["dump"]], "duplicate DLE");
}

#[test]
fn missing_or_empty_recipients_are_a_config_error_and_write_nothing() {
    let (s, _) = with_dle();
    std::fs::remove_file(s.path().join("keys/recipients.txt")).unwrap();
    refused(&s, &[&["dump"]], "keys/recipients.txt does not exist");
    s.write("keys/recipients.txt", "# nobody yet\n");
    refused(&s, &[&["dump"]], "lists no recipient");
}

fn modes(root: &Path) -> Vec<(String, u32)> {
    walkdir::WalkDir::new(root)
        .into_iter()
        .map(|e| e.unwrap())
        .map(|e| {
            let m = e.metadata().unwrap().mode() & 0o777;
            (e.path().display().to_string(), m)
        })
        .collect()
}

#[test]
fn the_catalog_and_run_files_are_private_whatever_the_umask() {
    let (s, _) = with_dle();
    let m = s.path().join("mirror");
    let script = format!(
        "umask 022 && {BIN} dump >/dev/null && {BIN} mirror --to {} >/dev/null",
        m.display()
    );
    sh(&script, s.path());
    for root in [s.path().join("catalog"), m.join("catalog")] {
        let open: Vec<_> = modes(&root)
            .into_iter()
            .filter(|(_, m)| m & 0o077 != 0)
            .collect();
        assert!(open.is_empty(), "readable by others: {open:?}");
        assert!(modes(&root).len() > 3);
    }
}

#[test]
fn a_mirror_restores_and_verifies_on_a_machine_with_no_tapir_toml() {
    let (s, src) = with_dle();
    s.run(&["dump"]).assert_code(0);
    let m = s.path().join("mirror");
    s.run(&["mirror", "--to", m.to_str().unwrap()])
        .assert_code(0);
    // what is in the safe: the identity, with the signing key's line added
    let public = std::fs::read_to_string(s.path().join("keys/signing_key.pub")).unwrap();
    let safe = s.path().join("safe");
    std::fs::create_dir(&safe).unwrap();
    let id = safe.join("identity.txt");
    let text = std::fs::read_to_string(&s.identity).unwrap();
    std::fs::write(&id, format!("{text}# tapir signing key: {public}")).unwrap();
    std::fs::set_permissions(&id, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert!(!Path::new("/etc/tapir/tapir.toml").exists());
    let run = |args: &[&str]| {
        crate::common::finish(
            Command::new(BIN)
                .args(args)
                .current_dir(&safe)
                .env_clear()
                .env("PATH", std::env::var_os("PATH").unwrap())
                .output()
                .unwrap(),
        )
    };
    let from = m.display().to_string();
    let disk = src.display().to_string();
    let to = safe.join("restored");
    let idp = id.display().to_string();
    let r = run(&[
        "recover",
        "--from",
        &from,
        "--host",
        "localhost",
        "--disk",
        &disk,
        "-i",
        &idp,
        "--to",
        to.to_str().unwrap(),
    ]);
    r.assert_code(0);
    tree::assert_same(&src, &to, &|_| false);
    run(&["verify", "--from", &from, "-i", &idp]).assert_code(0);
    let r = run(&["find", "--from", &from]);
    r.assert_code(0);
    assert!(r.stdout.contains("localhost"), "{}", r.stdout);
    // a command that needs a config says where it looked
    let r = run(&["tapes"]);
    r.assert_code(2);
    assert!(
        r.stderr
            .contains("looks for --config FILE, then $TAPIR_CONFIG, then ./tapir.toml")
            && r.stderr
                .contains("then /etc/tapir/tapir.toml, and found none"),
        "{}",
        r.stderr
    );
    // without the signing key there is nothing to trust: refused, with the way out named
    let bare = safe.join("bare.txt");
    std::fs::write(&bare, &text).unwrap();
    std::fs::set_permissions(&bare, std::fs::Permissions::from_mode(0o600)).unwrap();
    let r = run(&[
        "recover",
        "--from",
        &from,
        "--host",
        "localhost",
        "--disk",
        &disk,
        "-i",
        bare.to_str().unwrap(),
        "--to",
        safe.join("r2").to_str().unwrap(),
    ]);
    r.assert_code(1);
    assert!(r.stderr.contains("--signing-pub"), "{}", r.stderr);
    // the catalog can be rebuilt from the mirror and the public key alone
    std::fs::remove_dir_all(m.join("catalog")).unwrap();
    let r = run(&["catalog", "rebuild", "--from", &from, "--signing-pub", &idp]);
    r.assert_code(0);
    run(&["verify", "--from", &from, "--signing-pub", &idp]).assert_code(0);
}

#[test]
fn restores_keep_holes_old_mtimes_and_device_nodes() {
    crate::common::require_root("device nodes are made by root");
    let (s, src) = with_dle();
    // a 64 MiB file with 8 KiB of data: sparse
    let sparse = src.join("sparse");
    let f = std::fs::File::create(&sparse).unwrap();
    f.set_len(64 << 20).unwrap();
    use std::os::unix::fs::FileExt;
    f.write_all_at(&[7u8; 8192], 32 << 20).unwrap();
    drop(f);
    let old = src.join("old");
    std::fs::write(&old, "1969").unwrap();
    let t = std::time::UNIX_EPOCH - std::time::Duration::from_secs(86_400 * 200);
    std::fs::File::open(&old).unwrap().set_modified(t).unwrap();
    sh(&format!("mknod {}/null c 1 3", src.display()), s.path());
    s.run(&["dump"]).assert_code(0);
    let to = s.path().join("restored");
    let id = s.identity.display().to_string();
    let disk = src.display().to_string();
    let r = s.recover("localhost", &disk, &to, &[]);
    r.assert_code(0);
    let md = std::fs::metadata(to.join("sparse")).unwrap();
    assert_eq!(md.len(), 64 << 20);
    assert!(
        md.blocks() * 512 < 1 << 20,
        "not sparse: {} blocks",
        md.blocks()
    );
    assert_eq!(
        std::fs::metadata(to.join("old")).unwrap().mtime(),
        -86_400 * 200
    );
    let null = std::fs::symlink_metadata(to.join("null")).unwrap();
    use std::os::unix::fs::FileTypeExt;
    assert!(null.file_type().is_char_device());
    assert_eq!(null.rdev(), std::fs::metadata("/dev/null").unwrap().rdev());
    tree::assert_same(&src, &to, &|_| false);
    // GNU tar reads the same pre-1970 mtime from the tape
    let out = s.path().join("stock");
    std::fs::create_dir(&out).unwrap();
    sh(
        &format!(
            "{BIN} fetch --host localhost --disk {disk} -i {id} -o - | tar -xpf - -C {}",
            out.display()
        ),
        s.path(),
    );
    assert_eq!(
        std::fs::metadata(out.join("old")).unwrap().mtime(),
        -86_400 * 200
    );
}

#[test]
fn a_world_readable_identity_is_warned_about() {
    let (s, src) = with_dle();
    s.run(&["dump"]).assert_code(0);
    std::fs::set_permissions(&s.identity, std::fs::Permissions::from_mode(0o644)).unwrap();
    let to = s.path().join("r");
    let r = s.recover("localhost", src.to_str().unwrap(), &to, &[]);
    r.assert_code(0);
    assert!(r.stderr.contains("readable by others"), "{}", r.stderr);
}

#[test]
fn a_failed_label_write_says_so_and_leaves_no_temp_file() {
    let (s, _) = with_dle();
    let slot = s.path().join("vtape/slot1");
    std::fs::create_dir_all(slot.join("00000.daily-01")).unwrap();
    std::fs::remove_dir(slot.join("00000.daily-01")).unwrap();
    // the label's name is taken by a directory: the rename cannot succeed
    std::fs::create_dir_all(slot.join("00000.daily-01/x")).unwrap();
    let r = s.run(&["label", "1", "daily-01", "--force"]);
    assert_ne!(r.code, 0, "{}", r.stdout);
    assert!(!r.stdout.contains("labelled"), "{}", r.stdout);
    let temps: Vec<_> = std::fs::read_dir(&slot)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(temps.is_empty(), "{temps:?}");
}
