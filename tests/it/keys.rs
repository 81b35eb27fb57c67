//! `tapir keys check`: an identity opens every tape file it is a recipient of, and a key that
//! is not (or no longer) one is named with each file it cannot open, from the tapes and from
//! a mirror; only the age headers are read.

use crate::common::{Setup, day, noise};
use std::fs;

#[test]
fn keys_check_names_each_file_an_identity_cannot_open() {
    let s = Setup::new("", "");
    let src = s.path().join("src");
    fs::create_dir_all(&src).unwrap();
    fs::write(src.join("data"), noise(100 << 10, 3)).unwrap();
    s.write("disklist", &format!("localhost {} local\n", src.display()));
    // a second recipient, B, beside the setup's own identity A
    let a_recipient = fs::read_to_string(s.path().join("keys/recipients.txt")).unwrap();
    let (b, b_recipient) = s.new_identity("b");
    s.add_recipient(&b_recipient);
    s.run_env(&["dump"], &[("TAPIR_NOW", &day(0))])
        .assert_code(0);
    let a = s.identity.display().to_string();
    let check = |id: &str, extra: &[&str]| {
        let mut args = vec!["keys", "check", "-i", id];
        args.extend_from_slice(extra);
        s.run(&args)
    };
    for id in [&a, &b.display().to_string()] {
        let r = check(id, &[]);
        r.assert_code(0);
        assert!(
            r.stdout.contains("1 tape file(s)") && r.stdout.contains(": 1 open with"),
            "{}",
            r.stdout
        );
    }
    // B leaves the recipients: the next night's tape is closed to it, the first still opens
    fs::write(s.path().join("keys/recipients.txt"), a_recipient).unwrap();
    fs::write(src.join("more"), b"night two").unwrap();
    s.run_env(&["dump"], &[("TAPIR_NOW", &day(1))])
        .assert_code(0);
    let r = check(&b.display().to_string(), &[]);
    r.assert_code(1);
    assert_eq!(r.stdout.matches("CANNOT OPEN").count(), 1, "{}", r.stdout);
    assert!(
        r.stdout.contains("cannot decrypt (wrong identity?)") && r.stdout.contains("1 do not"),
        "{}",
        r.stdout
    );
    // a stranger's key opens nothing; the mirror says the same
    let c = s.path().join("keys/c.txt");
    s.run(&["keygen", "-o", c.to_str().unwrap()]).assert_code(0);
    let m = s.path().join("mirror");
    s.run(&["mirror", "--to", m.to_str().unwrap()])
        .assert_code(0);
    let r = check(&c.display().to_string(), &["--from", m.to_str().unwrap()]);
    r.assert_code(1);
    assert_eq!(r.stdout.matches("CANNOT OPEN").count(), 2, "{}", r.stdout);
    assert!(r.stdout.contains(&m.display().to_string()), "{}", r.stdout);
    check(&a, &["--from", m.to_str().unwrap()]).assert_code(0);
}

#[test]
fn a_retired_signing_key_is_trusted_within_its_window_only_by_tapir_and_ssh_keygen() {
    use crate::common::{bare, stock_verify};
    let s = Setup::new("", "");
    let src = s.path().join("src");
    fs::create_dir_all(&src).unwrap();
    fs::write(src.join("data"), noise(10 << 10, 1)).unwrap();
    s.write("disklist", &format!("localhost {} local\n", src.display()));
    s.run_env(&["dump"], &[("TAPIR_NOW", &day(0))])
        .assert_code(0);
    // rotated on purpose: the old key trusted for what it signed before 2026-01-02
    let base = fs::read_to_string(s.path().join("tapir.toml")).unwrap();
    s.run(&["keygen", "--signing", "-o", "keys/signing_key2"])
        .assert_code(0);
    let rotated = format!(
        "{base}\n[signing]\nkey = \"keys/signing_key2\"\nprevious = [{{ key = \
         \"keys/signing_key.pub\", valid_before = \"20260102\" }}]\n"
    );
    s.write("tapir.toml", &rotated);
    fs::write(src.join("night1"), b"signed by the new key").unwrap();
    s.run_env(&["dump"], &[("TAPIR_NOW", &day(1))])
        .assert_code(0);
    s.run(&["verify"]).assert_code(0);
    let r = s.run(&["keys", "allowed-signers"]);
    r.assert_code(0);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", r.stdout);
    assert!(
        lines[1]
            .starts_with("tapir namespaces=\"tapir-tape\",valid-before=\"20260102\" ssh-ed25519 "),
        "{}",
        r.stdout
    );
    let signers = s.path().join("allowed_signers");
    fs::write(&signers, &r.stdout).unwrap();
    let recs = s.find_json();
    for rec in recs.as_array().unwrap() {
        let o = stock_verify(&s.tape_file(rec), &signers);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }

    // whoever kept the retired key signs a tape after its window: refused by both
    let thief = format!(
        "{base}\n[signing]\nkey = \"keys/signing_key\"\nprevious = [\"keys/signing_key2.pub\"]\n"
    );
    s.write("tapir.toml", &thief);
    fs::write(src.join("night2"), b"signed by the retired key").unwrap();
    s.run_env(&["dump"], &[("TAPIR_NOW", &day(2))])
        .assert_code(0);
    s.write("tapir.toml", &rotated);
    let all = s.find_json();
    let night2 = all
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["datestamp"].as_str().unwrap().starts_with("20260103"))
        .unwrap()
        .clone();
    let r = s.run(&["verify"]);
    assert_ne!(r.code, 0, "{}", r.stdout);
    assert!(
        r.stdout.contains("BADSIG") && r.stdout.contains("valid-before 20260102"),
        "{}",
        r.stdout
    );
    let o = stock_verify(&s.tape_file(&night2), &signers);
    assert!(
        !o.status.success(),
        "ssh-keygen took a signature after the key's window"
    );
    let id = s.identity.display().to_string();
    let disk = src.display().to_string();
    let night0 = all[0]["datestamp"].as_str().unwrap().to_string();
    let ds2 = night2["datestamp"].as_str().unwrap().to_string();

    // a reader with no config and only the identity file, its lines carrying the windows
    let k1 = fs::read_to_string(s.path().join("keys/signing_key.pub")).unwrap();
    let k2 = fs::read_to_string(s.path().join("keys/signing_key2.pub")).unwrap();
    let ident = s.path().join("keys/identity-with-lines.txt");
    fs::write(
        &ident,
        format!(
            "{}# tapir signing key: {}# tapir signing key: valid-before=\"20260102\" {}",
            fs::read_to_string(&id).unwrap(),
            k2,
            k1
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&ident, fs::Permissions::from_mode(0o600)).unwrap();
    let vtape = s.path().join("vtape").display().to_string();
    let read = |date: &str, to: &str| {
        let to = s.path().join(to).display().to_string();
        let args = [
            "recover",
            "--from",
            &vtape,
            "--host",
            "localhost",
            "--disk",
            &disk,
            "--date",
            date,
            "--identity",
            ident.to_str().unwrap(),
            "--to",
            &to,
        ];
        bare(s.path(), &args, &[])
    };
    let r = read(&night0, "r0");
    r.assert_code(0);
    assert_eq!(
        fs::read(s.path().join("r0/data")).unwrap(),
        fs::read(src.join("data")).unwrap()
    );
    let r = read(&ds2, "r2");
    assert_ne!(r.code, 0, "{}", r.stdout);
    assert!(r.stderr.contains("valid-before 20260102"), "{}", r.stderr);
    assert!(!s.path().join("r2/night2").exists());
}

#[test]
fn a_paper_copy_typed_back_is_the_same_identity() {
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;
    let s = Setup::new("", "");
    let id = s.path().join("keys/safe.txt");
    let r = s.run(&["keygen", "--paper", "-o", id.to_str().unwrap()]);
    r.assert_code(0);
    let recipient = r.stdout.trim().to_string();
    let paper = s.path().join("keys/safe.txt.paper");
    assert_eq!(
        fs::metadata(&paper).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let page = fs::read_to_string(&paper).unwrap();
    assert!(page.contains(&recipient), "{page}");
    let qr: Vec<&str> = page.lines().filter(|l| l.contains("##")).collect();
    assert!(qr.len() > 20, "no QR code: {page}");
    // what an admin types: the key lines and the checksum line, in lower case
    let from = page.find("AGE-SECRET-KEY-1").unwrap();
    let to = page.find("checksum:").unwrap();
    let sum_line = page[to..].lines().next().unwrap();
    let typed = format!("{}{sum_line}\n", page[from..to].to_lowercase());
    let back = s.path().join("keys/back.txt");
    let type_in = |text: &str, out: &std::path::Path| {
        let mut c = s.cmd(&["keygen", "--from-paper", "-o", out.to_str().unwrap()]);
        c.stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = c.spawn().unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        crate::common::finish(child.wait_with_output().unwrap())
    };
    let r = type_in(&typed, &back);
    r.assert_code(0);
    assert_eq!(r.stdout.trim(), recipient);
    let secret = |p: &std::path::Path| {
        fs::read_to_string(p)
            .unwrap()
            .lines()
            .find(|l| l.starts_with("AGE-SECRET-KEY-1"))
            .unwrap()
            .to_string()
    };
    assert_eq!(secret(&back), secret(&id));
    // the stock age decrypts with it what was encrypted to the page's public key
    let msg = s.path().join("msg.age");
    crate::common::sh(
        &format!("echo paper | age -r {recipient} -o {}", msg.display()),
        s.path(),
    );
    let o = std::process::Command::new("age")
        .args(["-d", "-i", back.to_str().unwrap(), msg.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stdout), "paper\n");
    // it never overwrites; a typo is refused and writes nothing
    let r = type_in(&typed, &back);
    assert_ne!(r.code, 0);
    let at = "age-secret-key-1".len() + 2;
    let mut typo = typed.clone();
    let c = if &typed[at..at + 1] == "q" { "p" } else { "q" };
    typo.replace_range(at..at + 1, c);
    let bad = s.path().join("keys/bad.txt");
    let r = type_in(&typo, &bad);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("typo"), "{}", r.stderr);
    assert!(!bad.exists());
}
