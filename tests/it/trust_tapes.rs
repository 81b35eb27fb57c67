//! Trust, part 2: every tape file is what the catalog says it is and was signed by this
//! server. Swapped, replaced, edited and forged files are refused by verify, recover, fetch
//! and catalog rebuild, naming the file and what is wrong; nothing unverified is left in a
//! restore target; OpenSSH's own `ssh-keygen -Y verify` checks a header with no tapir.

use crate::common::{Run, Setup, day, noise, sh, tree};
use std::path::{Path, PathBuf};
use std::process::Command;

const SIG: &str = "-----BEGIN SSH SIGNATURE-----\n";

/// Two DLEs (a, b), fulls on two nights, each night on its own tape.
fn two_nights() -> (Setup, Vec<PathBuf>) {
    let s = Setup::new("tapecycle = 3\nruntapes = 1\nrunspercycle = 1", "");
    let mut dirs = vec![];
    for name in ["a", "b"] {
        let d = s.path().join(name);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("data"), noise(100 << 10, name.as_bytes()[0] as u64)).unwrap();
        std::fs::write(d.join("night"), "0").unwrap();
        dirs.push(d);
    }
    let dl: String = dirs
        .iter()
        .map(|d| format!("localhost {} local-full\n", d.display()))
        .collect();
    s.write("disklist", &dl);
    s.run_env(&["dump"], &[("TAPIR_NOW", &day(0))])
        .assert_code(0);
    for d in &dirs {
        std::fs::write(d.join("night"), "1").unwrap();
    }
    s.run_env(&["dump"], &[("TAPIR_NOW", &day(1))])
        .assert_code(0);
    (s, dirs)
}

/// The catalog's records of one disk, oldest first.
fn records(s: &Setup, disk: &Path) -> Vec<serde_json::Value> {
    let all = s.find_json();
    let mut v: Vec<serde_json::Value> = all
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["disk"] == disk.display().to_string())
        .cloned()
        .collect();
    v.sort_by_key(|r| r["datestamp"].as_str().unwrap().to_string());
    v
}

fn recover(s: &Setup, disk: &Path, date: Option<&str>, to: &Path, extra: &[&str]) -> Run {
    let mut args = date.map_or(vec![], |d| vec!["--date", d]);
    args.extend_from_slice(extra);
    s.recover("localhost", disk.to_str().unwrap(), to, &args)
}

/// A restore that was refused left nothing in its target.
fn assert_nothing_restored(r: &Run, to: &Path) {
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        !to.exists() || std::fs::read_dir(to).unwrap().next().is_none(),
        "the refused restore left files in {}",
        to.display()
    );
}

/// The header's text (up to the NUL padding).
fn header_text(file: &Path) -> String {
    let b = std::fs::read(file).unwrap();
    let end = b[..32768].iter().position(|&c| c == 0).unwrap();
    String::from_utf8(b[..end].to_vec()).unwrap()
}

/// Replace the first 32 KiB of `file` with `text`, NUL padded.
fn write_header(file: &Path, text: &str) {
    let mut b = std::fs::read(file).unwrap();
    let mut h = text.as_bytes().to_vec();
    h.resize(32768, 0);
    b[..32768].copy_from_slice(&h);
    std::fs::write(file, b).unwrap();
}

#[test]
fn swapped_and_replaced_files_are_refused_naming_the_file_and_field() {
    let (s, dirs) = two_nights();
    let a = records(&s, &dirs[0]);
    let (a0, a1) = (s.tape_file(&a[0]), s.tape_file(&a[1]));
    let (x, y) = (std::fs::read(&a0).unwrap(), std::fs::read(&a1).unwrap());
    std::fs::write(&a0, &y).unwrap();
    std::fs::write(&a1, &x).unwrap();

    let r = s.run(&["verify"]);
    r.assert_code(1);
    for f in [&a0, &a1] {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let line = r.stdout.lines().find(|l| l.contains(&name)).unwrap();
        assert!(line.starts_with("MISMATCH"), "{line}");
    }
    let to = s.path().join("restore-swapped");
    let r = recover(&s, &dirs[0], Some("2026-01-01"), &to, &[]);
    assert_nothing_restored(&r, &to);
    assert!(r.stderr.contains(&a0.display().to_string()), "{}", r.stderr);
    assert!(
        r.stderr.contains("MISPLACED") || r.stderr.contains("MISMATCH"),
        "{}",
        r.stderr
    );
    let r = s.fetch(
        &dirs[0].display().to_string(),
        "out.raw",
        &["--date", "2026-01-01"],
    );
    r.assert_code(1);
    assert!(
        r.stderr.contains("MISPLACED") || r.stderr.contains("MISMATCH"),
        "{}",
        r.stderr
    );
    assert!(!s.path().join("out.raw").exists());
    // the mirror copies neither: it says which and why, and keeps no copy of them
    let m = s.path().join("mirror");
    let r = s.run(&["mirror", "--to", m.to_str().unwrap()]);
    r.assert_code(1);
    assert!(
        r.stderr.contains("MISPLACED") || r.stderr.contains("MISMATCH"),
        "{}",
        r.stderr
    );
    let copied = m.join(a0.strip_prefix(s.path().join("vtape")).unwrap());
    assert!(!copied.exists());

    // DLE a's newest file replaced by b's: refused, b's tree never restored as a's
    std::fs::write(&a0, &x).unwrap();
    let b = records(&s, &dirs[1]);
    std::fs::copy(s.tape_file(&b[1]), &a1).unwrap();
    let to = s.path().join("restore-replaced");
    let r = recover(&s, &dirs[0], None, &to, &[]);
    assert_nothing_restored(&r, &to);
    assert!(r.stderr.contains("file name"), "{}", r.stderr);
}

#[test]
fn an_edited_header_fails_its_signature_everywhere_and_rebuild_reports_the_loss() {
    let (s, dirs) = two_nights();
    let a = records(&s, &dirs[0]);
    let file = s.tape_file(&a[1]);
    let text = header_text(&file);
    write_header(&file, &text.replacen("level = 0", "level = 1", 1));

    let r = s.run(&["verify"]);
    r.assert_code(1);
    assert!(r.stdout.contains("BADSIG"), "{}", r.stdout);
    assert!(
        r.stdout.contains("signature does not match"),
        "{}",
        r.stdout
    );
    let to = s.path().join("restore");
    let r = recover(&s, &dirs[0], None, &to, &[]);
    assert_nothing_restored(&r, &to);
    assert!(r.stderr.contains("BAD SIGNATURE"), "{}", r.stderr);

    // a label edited to claim another tape
    let label = file
        .parent()
        .unwrap()
        .join(format!("00000.{}", a[1]["label"].as_str().unwrap()));
    let ltext = header_text(&label);
    write_header(&label, &ltext.replacen("slot = ", "slot = 9", 1));
    let r = s.run(&["verify"]);
    assert!(
        r.stdout
            .lines()
            .any(|l| l.starts_with("BADSIG") && l.contains("00000.")),
        "{}",
        r.stdout
    );
    write_header(&label, &ltext);

    let r = s.run(&["catalog", "rebuild"]);
    r.assert_code(1);
    assert!(r.stderr.contains("BAD SIGNATURE"), "{}", r.stderr);
    assert!(r.stderr.contains("LOST"), "{}", r.stderr);
    // the other three dumps are catalogued, none filed under a wrong level
    let found = s.find_json();
    assert_eq!(found.as_array().unwrap().len(), 3, "{found}");
    assert!(found.as_array().unwrap().iter().all(|r| r["level"] == 0));
}

/// A complete dump forged by someone who knows a recipient (public) and can write the
/// mirror: their own tar, a valid header, the catalog copy edited to match.
fn forge(s: &Setup, m: &Path, rec: &serde_json::Value, sign_with: Option<&Path>) -> PathBuf {
    let evil = s.path().join("evil");
    std::fs::create_dir_all(&evil).unwrap();
    std::fs::write(evil.join("night"), "owned").unwrap();
    let file = m
        .join(format!("slot{}", rec["slot"]))
        .join(rec["file_name"].as_str().unwrap());
    let recipient = std::fs::read_to_string(s.path().join("keys/recipients.txt")).unwrap();
    let payload = s.path().join("payload");
    sh(
        &format!(
            "tar -C {} -cf - . | gzip -1 | age -r {} > {}",
            evil.display(),
            recipient.trim(),
            payload.display()
        ),
        s.path(),
    );
    let body = std::fs::read(&payload).unwrap();
    let sha = sha256(&payload);
    let text = header_text(&file);
    let signed = &text[..text.find(SIG).unwrap_or(text.len())];
    let field = |k: &str| {
        let l = signed.lines().find(|l| l.starts_with(k)).unwrap();
        l.split(" = ").nth(1).unwrap().trim_matches('"').to_string()
    };
    let (old_sha, old_size) = (field("payload_sha256 ="), field("payload_size ="));
    let mut new = String::new();
    for l in signed.lines() {
        let l = if l.starts_with("payload_sha256 =") {
            format!("payload_sha256 = \"{sha}\"")
        } else if l.starts_with("payload_size =") {
            format!("payload_size = {}", body.len())
        } else {
            l.to_string()
        };
        new.push_str(&l);
        new.push('\n');
    }
    if let Some(key) = sign_with {
        let msg = s.path().join("msg");
        std::fs::write(&msg, &new).unwrap();
        sh(
            &format!(
                "ssh-keygen -q -Y sign -f {} -n tapir-tape {}",
                key.display(),
                msg.display()
            ),
            s.path(),
        );
        new.push_str(&std::fs::read_to_string(s.path().join("msg.sig")).unwrap());
    }
    let mut all = new.into_bytes();
    all.resize(32768, 0);
    all.extend_from_slice(&body);
    std::fs::write(&file, all).unwrap();
    // the mirror's catalog copy, edited to agree
    for e in walkdir::WalkDir::new(m.join("catalog/history")) {
        let e = e.unwrap();
        if e.file_type().is_file() {
            let t = std::fs::read_to_string(e.path()).unwrap();
            let t = t.replace(&old_sha, &sha).replace(
                &format!("\"tape_bytes\":{old_size}"),
                &format!("\"tape_bytes\":{}", body.len()),
            );
            std::fs::write(e.path(), t).unwrap();
        }
    }
    file
}

fn sha256(p: &Path) -> String {
    let o = Command::new("sha256sum").arg(p).output().unwrap();
    String::from_utf8(o.stdout).unwrap()[..64].to_string()
}

#[test]
fn a_forged_dump_on_the_mirror_is_refused_unsigned_or_signed_by_another_key() {
    let (s, dirs) = two_nights();
    let m = s.path().join("mirror");
    s.run(&["mirror", "--to", m.to_str().unwrap()])
        .assert_code(0);
    let a = records(&s, &dirs[0]);
    let id = s.identity.display().to_string();
    let from = m.display().to_string();
    let public = s.path().join("keys/signing_key.pub").display().to_string();
    let disk = dirs[0].display().to_string();
    let restore = |to: &Path, extra: &[&str]| {
        let mut args = vec![
            "recover",
            "--from",
            &from,
            "--host",
            "localhost",
            "--disk",
            &disk,
            "-i",
            &id,
            "--signing-pub",
            &public,
            "--to",
            to.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        s.run(&args)
    };

    let file = forge(&s, &m, &a[1], None);
    let to = s.path().join("r1");
    let r = restore(&to, &[]);
    assert_nothing_restored(&r, &to);
    assert!(
        r.stderr.contains(&file.display().to_string()),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("UNSIGNED"), "{}", r.stderr);
    let r = s.run(&["verify", "--from", &from, "--signing-pub", &public]);
    r.assert_code(1);
    assert!(r.stdout.contains("UNSIGNED"), "{}", r.stdout);

    let attacker = s.path().join("attacker_key");
    crate::common::sshd::keygen(&attacker);
    forge(&s, &m, &a[1], Some(&attacker));
    let to = s.path().join("r2");
    let r = restore(&to, &[]);
    assert_nothing_restored(&r, &to);
    assert!(r.stderr.contains("not by the trusted key"), "{}", r.stderr);

    // the escape hatch reads it, and says so; it waives the signature, not the content: the
    // forged file is not what the index recorded at dump time, and nothing is restored
    let to = s.path().join("r3");
    let r = restore(&to, &["--insecure-skip-signature"]);
    assert!(r.stderr.contains("WARNING"), "{}", r.stderr);
    assert_nothing_restored(&r, &to);
    assert!(
        r.stderr
            .contains("./night: its content does not match its index"),
        "{}",
        r.stderr
    );
}

#[test]
fn the_stock_ssh_keygen_verifies_the_header_line_and_refuses_a_changed_header() {
    let (s, dirs) = two_nights();
    let a = records(&s, &dirs[0]);
    let file = s.tape_file(&a[1]);
    let signers = crate::common::allowed_signers(&s);
    let text = header_text(&file);
    let o = crate::common::stock_verify(&file, &signers);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("Good \"tapir-tape\" signature"));
    let label = text
        .lines()
        .find(|l| l.starts_with("label ="))
        .unwrap()
        .to_string();
    write_header(&file, &text.replacen(&label, "label = \"daily-99\"", 1));
    let o = crate::common::stock_verify(&file, &signers);
    assert!(!o.status.success(), "a changed header verified");
}

#[test]
fn a_payload_that_fails_its_check_leaves_nothing_in_the_target() {
    let s = Setup::new("", "");
    let src = s.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("a-first"), "restored before the damage is seen").unwrap();
    std::fs::write(src.join("z-big"), noise(400 << 10, 5)).unwrap();
    let plain = s.path().join("plain");
    std::fs::create_dir_all(&plain).unwrap();
    std::fs::write(plain.join("a-first"), "x".repeat(2000)).unwrap();
    std::fs::write(plain.join("z-big"), noise(200 << 10, 6)).unwrap();
    s.write(
        "disklist",
        &format!(
            "localhost {} local\nlocalhost {} local-plain\n",
            src.display(),
            plain.display()
        ),
    );
    s.run(&["dump"]).assert_code(0);
    for (dir, at) in [(&src, -100i64), (&plain, 32768 + 512 + 700)] {
        let rec = records(&s, dir).pop().unwrap();
        let file = s.tape_file(&rec);
        let mut b = std::fs::read(&file).unwrap();
        let i = if at < 0 {
            (b.len() as i64 + at) as usize
        } else {
            at as usize
        };
        b[i] ^= 0x55;
        std::fs::write(&file, b).unwrap();
        let to = s
            .path()
            .join(format!("to-{}", dir.file_name().unwrap().to_string_lossy()));
        let r = recover(&s, dir, None, &to, &[]);
        assert_nothing_restored(&r, &to);
        assert!(r.stderr.contains("nothing was restored"), "{}", r.stderr);
        // an existing, empty target stays, still empty
        std::fs::create_dir_all(&to).unwrap();
        let r = recover(&s, dir, None, &to, &[]);
        assert_nothing_restored(&r, &to);
        assert!(to.is_dir());
    }
    let _ = tree::assert_same;
}

#[test]
fn an_unsigned_dump_from_before_signatures_restores_only_when_asked_and_says_so() {
    let (s, dirs) = two_nights();
    let a = records(&s, &dirs[0]);
    let file = s.tape_file(&a[1]);
    let text = header_text(&file);
    write_header(&file, &text[..text.find(SIG).unwrap()]);
    let to = s.path().join("r");
    let r = recover(&s, &dirs[0], None, &to, &[]);
    assert_nothing_restored(&r, &to);
    assert!(r.stderr.contains("UNSIGNED"), "{}", r.stderr);
    let disk = dirs[0].display().to_string();
    let r = s.fetch(&disk, "out.raw", &[]);
    r.assert_code(1);
    assert!(r.stderr.contains("UNSIGNED"), "{}", r.stderr);
    assert!(!s.path().join("out.raw").exists());
    s.fetch(&disk, "out.raw", &["--insecure-skip-signature"])
        .assert_code(0);
    let r = recover(&s, &dirs[0], None, &to, &["--insecure-skip-signature"]);
    r.assert_code(0);
    assert!(r.stderr.contains("WARNING"), "{}", r.stderr);
    tree::assert_same(&dirs[0], &to, &|_| false);
    let r = s.run(&["verify"]);
    r.assert_code(1);
    assert!(
        r.stdout.lines().any(|l| l.starts_with("UNSIGNED")),
        "{}",
        r.stdout
    );
}

#[test]
fn keygen_makes_a_signing_key_the_config_can_name_and_pin() {
    let s = Setup::new("", "");
    let src = s.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("f"), "x").unwrap();
    s.write("disklist", &format!("localhost {} local\n", src.display()));
    let key = s.path().join("keys/server_signing");
    let r = s.run(&["keygen", "--signing", "-o", key.to_str().unwrap()]);
    r.assert_code(0);
    assert!(
        r.stdout.starts_with("# tapir signing key: ssh-ed25519 "),
        "{}",
        r.stdout
    );
    let public = std::fs::read_to_string(signing_pub(&key)).unwrap();
    let cfg = std::fs::read_to_string(s.path().join("tapir.toml")).unwrap();
    // a public_key that is not the key's half is refused before anything is written
    let other = s.path().join("keys/other");
    s.run(&["keygen", "--signing", "-o", other.to_str().unwrap()])
        .assert_code(0);
    let wrong = std::fs::read_to_string(signing_pub(&other)).unwrap();
    s.write(
        "tapir.toml",
        &format!(
            "{cfg}\n[signing]\nkey = \"keys/server_signing\"\npublic_key = \"{}\"\n",
            wrong.trim()
        ),
    );
    let r = s.run(&["dump"]);
    r.assert_code(2);
    assert!(
        r.stderr.contains("is not the public half of signing.key"),
        "{}",
        r.stderr
    );
    s.write(
        "tapir.toml",
        &format!(
            "{cfg}\n[signing]\nkey = \"keys/server_signing\"\npublic_key = \"{}\"\n",
            public.trim()
        ),
    );
    s.run(&["dump"]).assert_code(0);
    assert!(
        !s.path().join("keys/signing_key").exists(),
        "the configured key was not used"
    );
    s.run(&["verify"]).assert_code(0);
    // a reader given the other key refuses the tapes
    let r = s.run(&[
        "verify",
        "--signing-pub",
        signing_pub(&other).to_str().unwrap(),
    ]);
    r.assert_code(1);
    assert!(r.stdout.contains("not by the trusted key"), "{}", r.stdout);
}

fn signing_pub(key: &Path) -> PathBuf {
    PathBuf::from(format!("{}.pub", key.display()))
}
