//! `tapir rekey`: two recipients A and B, three nights of dumps, then B out and C in. Only
//! the age headers change (the bytes after them are compared), B opens nothing (tapir and
//! the stock `age`), A and C restore everything (the stock pipeline too), the stock
//! `ssh-keygen -Y verify` accepts the new headers; a kill -9 at any point leaves every file
//! readable by the old set or the new one, and a rerun finishes.

use crate::common::{Run, Setup, day, noise, sh, tree};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

struct Fixture {
    s: Setup,
    b: PathBuf,
    c: PathBuf,
    c_recipient: String,
    b_recipient: String,
    /// The tree as it was after the first night (its level 0).
    night0: PathBuf,
}

fn three_nights() -> Fixture {
    let s = Setup::new("", "");
    let src = s.path().join("src");
    tree::awkward(&src);
    fs::write(src.join("big"), noise(600 << 10, 1)).unwrap();
    s.write("disklist", &format!("localhost {} local\n", src.display()));
    let (b, b_recipient) = s.new_identity("b");
    let (c, c_recipient) = s.new_identity("c");
    s.add_recipient(&b_recipient);
    let night0 = s.path().join("night0");
    for n in 0..3 {
        fs::write(src.join(format!("night{n}")), noise(50 << 10, n as u64 + 7)).unwrap();
        tree::fix_mtimes(&src);
        s.run_env(&["dump"], &[("TAPIR_NOW", &day(n))])
            .assert_code(0);
        if n == 0 {
            sh(
                &format!("cp -a {} {}", src.display(), night0.display()),
                s.path(),
            );
        }
    }
    Fixture {
        s,
        b,
        c,
        c_recipient,
        b_recipient,
        night0,
    }
}

fn records(s: &Setup) -> Vec<serde_json::Value> {
    s.find_json().as_array().unwrap().clone()
}

/// Where the age header ends (the MAC line's newline) in a tape file.
fn age_end(file: &[u8]) -> usize {
    let p = &file[32768..];
    let mac = p.windows(5).position(|w| w == b"\n--- ").unwrap() + 1;
    32768 + mac + p[mac..].iter().position(|&b| b == b'\n').unwrap() + 1
}

/// The stock `dd | age -d -i ID | gzip -dc` of a tape file.
fn stock_plain(file: &Path, id: &Path) -> Result<Vec<u8>, String> {
    let o = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "set -o pipefail; dd if={} bs=32k skip=1 2>/dev/null | age -d -i {} | gzip -dc",
            file.display(),
            id.display()
        ))
        .output()
        .unwrap();
    if o.status.success() {
        Ok(o.stdout)
    } else {
        Err(String::from_utf8_lossy(&o.stderr).into_owned())
    }
}

/// `rekey -i A --remove-recipient B --add-recipient C`, then `extra`.
fn rekey(f: &Fixture, env: &[(&str, &str)], extra: &[&str]) -> Run {
    let a = f.s.identity.display().to_string();
    let mut args = vec![
        "rekey",
        "-i",
        &a,
        "--remove-recipient",
        &f.b_recipient,
        "--add-recipient",
        &f.c_recipient,
    ];
    args.extend_from_slice(extra);
    f.s.run_env(&args, env)
}

/// What the `local` dumptype excludes from the awkward tree.
fn excluded(p: &Path) -> bool {
    p.ends_with("excluded.tmp")
}

fn keys_check(f: &Fixture, id: &Path) -> Run {
    f.s.run(&["keys", "check", "-i", id.to_str().unwrap()])
}

#[test]
fn rekey_rewraps_every_tape_to_the_new_set_and_keeps_its_data() {
    let f = three_nights();
    let s = &f.s;
    let recs = records(s);
    assert_eq!(recs.len(), 3);
    let before: Vec<Vec<u8>> = recs
        .iter()
        .map(|r| fs::read(s.tape_file(r)).unwrap())
        .collect();
    let m = s.path().join("mirror");
    s.run(&["mirror", "--to", m.to_str().unwrap()])
        .assert_code(0);
    let plain: Vec<Vec<u8>> = recs
        .iter()
        .map(|r| stock_plain(&s.tape_file(r), &f.b).unwrap())
        .collect();

    // a dry run changes nothing
    let r = rekey(&f, &[], &["--dry-run"]);
    r.assert_code(0);
    assert_eq!(r.stdout.matches("WOULD REKEY").count(), 3, "{}", r.stdout);
    for (r, b) in recs.iter().zip(&before) {
        assert_eq!(&fs::read(s.tape_file(r)).unwrap(), b);
    }

    // B leaves the config: check says which tapes it still opens, by its fingerprint
    let b_fp = tapir::keys::fingerprint(&f.b_recipient);
    let rf = s.path().join("keys/recipients.txt");
    let a_recipient = fs::read_to_string(&rf)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_string();
    fs::write(&rf, format!("{a_recipient}\n")).unwrap();
    let ck = s.run(&["check"]);
    let warned = format!("3 tape file(s) are still wrapped to {b_fp}");
    assert!(ck.stdout.contains(&warned), "{}", ck.stdout);
    // removed by that fingerprint
    let r = s.run(&[
        "rekey",
        "-i",
        s.identity.to_str().unwrap(),
        "--remove-recipient",
        &b_fp,
        "--add-recipient",
        &f.c_recipient,
    ]);
    r.assert_code(0);
    assert_eq!(r.stdout.matches("REKEYED").count(), 3, "{}", r.stdout);
    // C is not in the config: check names it now
    let ck = s.run(&["check"]);
    assert!(!ck.stdout.contains(&b_fp), "{}", ck.stdout);
    let c_fp = tapir::keys::fingerprint(&f.c_recipient);
    assert!(
        ck.stdout.contains(&format!("still wrapped to {c_fp}")),
        "{}",
        ck.stdout
    );
    let after = records(s);
    for ((old, new), (bytes, plain)) in recs.iter().zip(&after).zip(before.iter().zip(&plain)) {
        let file = s.tape_file(new);
        let now = fs::read(&file).unwrap();
        // the bytes after the age header (nonce and data) are the same
        assert_eq!(&now[age_end(&now)..], &bytes[age_end(bytes)..]);
        assert_ne!(old["payload_sha256"], new["payload_sha256"]);
        assert!(new.get("rekeyed_from").is_none(), "{new}");
        // B opens nothing, C and A open everything, to the same stream
        let e = stock_plain(&file, &f.b).unwrap_err();
        assert!(e.contains("no identity matched"), "{e}");
        assert_eq!(&stock_plain(&file, &f.c).unwrap(), plain);
        assert_eq!(&stock_plain(&file, &s.identity).unwrap(), plain);
    }
    // the mirror's copies get the very same bytes (the vtape's new headers), so the next
    // mirror run has nothing to copy
    let r = s.run(&[
        "rekey",
        "-i",
        s.identity.to_str().unwrap(),
        "--remove-recipient",
        &f.b_recipient,
        "--add-recipient",
        &f.c_recipient,
        "--from",
        m.to_str().unwrap(),
    ]);
    r.assert_code(0);
    assert_eq!(r.stdout.matches("REKEYED").count(), 3, "{}", r.stdout);
    for rec in &after {
        let file = s.tape_file(rec);
        let copy = m.join(file.strip_prefix(s.path().join("vtape")).unwrap());
        assert_eq!(fs::read(&copy).unwrap(), fs::read(&file).unwrap());
    }
    let r = s.run(&["mirror", "--to", m.to_str().unwrap(), "--json"]);
    r.assert_code(0);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert!(v["copied"].as_array().unwrap().is_empty(), "{v}");
    // the catalog follows: verify with C reads every file whole
    s.run(&["verify", "--identity", f.c.to_str().unwrap()])
        .assert_code(0);
    let ck = keys_check(&f, &f.b);
    ck.assert_code(1);
    assert_eq!(ck.stdout.matches("CANNOT OPEN").count(), 3, "{}", ck.stdout);
    keys_check(&f, &f.c).assert_code(0);
    keys_check(&f, &s.identity).assert_code(0);
    // tapir restores the first night with C, and the stock pipeline does too
    let to = s.path().join("restored");
    let r = s.run(&[
        "recover",
        "--host",
        "localhost",
        "--disk",
        s.path().join("src").to_str().unwrap(),
        "--date",
        after[0]["datestamp"].as_str().unwrap(),
        "--identity",
        f.c.to_str().unwrap(),
        "--to",
        to.to_str().unwrap(),
    ]);
    r.assert_code(0);
    tree::assert_same(&f.night0, &to, &excluded);
    let stock = s.path().join("stock");
    fs::create_dir(&stock).unwrap();
    sh(
        &format!(
            "dd if={} bs=32k skip=1 2>/dev/null | age -d -i {} | gzip -dc | tar -xpf -",
            s.tape_file(&after[0]).display(),
            f.c.display()
        ),
        &stock,
    );
    tree::assert_same(&f.night0, &stock, &excluded);
    // the stock ssh-keygen accepts every new header
    let signers = crate::common::allowed_signers(s);
    for r in &after {
        let file = s.tape_file(r);
        let hdr = String::from_utf8_lossy(&fs::read(&file).unwrap()[..32768]).into_owned();
        assert!(hdr.contains("recipients = ["), "{hdr}");
        let o = crate::common::stock_verify(&file, &signers);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(String::from_utf8_lossy(&o.stdout).contains("Good \"tapir-tape\" signature"));
    }

    // a rerun has nothing left to do
    let r = rekey(&f, &[], &[]);
    r.assert_code(0);
    assert!(
        r.stdout.contains("0 rekeyed") && r.stdout.contains("3 already wrapped"),
        "{}",
        r.stdout
    );
    assert!(
        r.stderr
            .contains("no tape file here is wrapped to the removed recipient"),
        "{}",
        r.stderr
    );
    // a set left empty is refused, file by file, and nothing changes
    let now: Vec<Vec<u8>> = after
        .iter()
        .map(|r| fs::read(s.tape_file(r)).unwrap())
        .collect();
    let r = s.run(&[
        "rekey",
        "-i",
        f.c.to_str().unwrap(),
        "--remove-recipient",
        s.identity.to_str().unwrap(),
        "--remove-recipient",
        &f.c_recipient,
    ]);
    r.assert_code(2);
    assert!(r.stderr.contains("--remove-recipient"), "{}", r.stderr);
    let r = s.run(&[
        "rekey",
        "-i",
        f.c.to_str().unwrap(),
        "--remove-recipient",
        &a_recipient,
        "--remove-recipient",
        &f.c_recipient,
    ]);
    r.assert_code(1);
    // still configured: new dumps would go to A, and the admin is told
    assert!(
        r.stderr.contains("is still in encryption.recipients"),
        "{}",
        r.stderr
    );
    assert_eq!(
        r.stderr.matches("no recipient at all").count(),
        3,
        "{}",
        r.stderr
    );
    for (r, b) in after.iter().zip(&now) {
        assert_eq!(&fs::read(s.tape_file(r)).unwrap(), b);
    }
}

#[test]
fn kill_9_during_a_rekey_leaves_every_file_readable_and_a_rerun_finishes() {
    for point in ["rekey-copying", "rekey-before-rename", "rekey-after-rename"] {
        let f = three_nights();
        let s = &f.s;
        let r = rekey(&f, &[("TAPIR_FAILPOINT", point)], &[]);
        assert!(
            r.code != 0 && r.stderr.contains(&format!("failpoint {point}")),
            "{point}: {}",
            r.stderr
        );
        // every file opens with the old set (B) or the new one (C), and the catalog takes it
        for rec in records(s) {
            let file = s.tape_file(&rec);
            let b = stock_plain(&file, &f.b);
            let c = stock_plain(&file, &f.c);
            assert!(b.is_ok() != c.is_ok(), "{point}: {}", file.display());
        }
        s.run(&["verify", "--identity", s.identity.to_str().unwrap()])
            .assert_code(0);
        // a dry run only looks, also at a record left half done
        let seen = records(s);
        rekey(&f, &[], &["--dry-run"]).assert_code(0);
        assert_eq!(records(s), seen, "{point}");
        let r = rekey(&f, &[], &[]);
        r.assert_code(0);
        assert!(r.stdout.contains("3 tape file(s)"), "{point}: {}", r.stdout);
        assert_eq!(keys_check(&f, &f.c).code, 0, "{point}");
        assert_eq!(keys_check(&f, &s.identity).code, 0, "{point}");
        let ck = keys_check(&f, &f.b);
        assert_eq!(ck.stdout.matches("CANNOT OPEN").count(), 3, "{point}");
        assert!(
            records(s).iter().all(|r| r.get("rekeyed_from").is_none()),
            "{point}"
        );
        let left: Vec<_> = crate::common::files_under(&s.path().join("vtape"))
            .into_iter()
            .filter(|p| p.to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(left.is_empty(), "{point}: {left:?}");
        s.run(&["verify", "--identity", f.c.to_str().unwrap()])
            .assert_code(0);
    }
}

/// One DLE (`src`, a file `kept` of `size` bytes) dumped full every night, and a vault
/// `arch` in `vault` keeping two weeks.
fn one_dle_and_a_vault(size: usize) -> (Setup, PathBuf) {
    let s = Setup::new(
        "[vault.arch]\nto = \"vault\"\nkeep_weekly = 2\ndles = [\"*\"]\n",
        "",
    );
    let src = s.path().join("src");
    fs::create_dir_all(&src).unwrap();
    fs::write(src.join("kept"), noise(size, 9)).unwrap();
    tree::fix_mtimes(&src);
    s.write(
        "disklist",
        &format!("localhost {} local-full\n", src.display()),
    );
    (s, src)
}

#[test]
fn a_vault_is_rekeyed_to_the_vtapes_bytes_and_restores_with_the_new_key_only() {
    let (s, src) = one_dle_and_a_vault(80 << 10);
    let (b, b_rcp) = s.new_identity("b");
    let (c, c_rcp) = s.new_identity("c");
    s.add_recipient(&b_rcp);
    s.run_env(&["dump"], &[("TAPIR_NOW", &day(0))])
        .assert_code(0);
    s.run_env(&["vault"], &[("TAPIR_NOW", &day(0))])
        .assert_code(0);
    let vault = s.path().join("vault");
    let a = s.identity.display().to_string();
    let args = [
        "rekey",
        "-i",
        &a,
        "--remove-recipient",
        &b_rcp,
        "--add-recipient",
        &c_rcp,
    ];
    s.run(&args).assert_code(0);
    let mut from = args.to_vec();
    from.extend_from_slice(&["--from", vault.to_str().unwrap()]);
    let r = s.run(&from);
    r.assert_code(0);
    assert_eq!(r.stdout.matches("REKEYED").count(), 1, "{}", r.stdout);
    let tape = fs::read(s.tape_file(&s.find_json()[0])).unwrap();
    let copies: Vec<_> = crate::common::files_under(&vault.join("dumps"));
    assert_eq!(copies.len(), 1, "{copies:?}");
    assert_eq!(fs::read(&copies[0]).unwrap(), tape);
    let check = |id: &Path| {
        s.run(&[
            "keys",
            "check",
            "-i",
            id.to_str().unwrap(),
            "--from",
            vault.to_str().unwrap(),
        ])
    };
    assert_eq!(check(&b).code, 1);
    check(&c).assert_code(0);
    let to = s.path().join("restored");
    let vault_s = vault.display().to_string();
    let disk = src.display().to_string();
    let recover = |id: &Path| {
        let args = [
            "recover",
            "--from",
            &vault_s,
            "--host",
            "localhost",
            "--disk",
            &disk,
            "--identity",
            id.to_str().unwrap(),
            "--to",
            to.to_str().unwrap(),
        ];
        crate::common::bare(s.path(), &args, &[])
    };
    let signing = fs::read_to_string(s.path().join("keys/signing_key.pub")).unwrap();
    let with_line = |id: &Path| {
        let p = PathBuf::from(format!("{}.with-line", id.display()));
        let text = format!(
            "{}# tapir signing key: {signing}",
            fs::read_to_string(id).unwrap()
        );
        fs::write(&p, text).unwrap();
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&p, fs::Permissions::from_mode(0o600)).unwrap();
        p
    };
    let r = recover(&with_line(&b));
    assert_ne!(r.code, 0, "{}", r.stdout);
    assert!(!to.join("kept").exists());
    recover(&with_line(&c)).assert_code(0);
    tree::assert_same(&src, &to, &|_| false);
    // the vault's next run has nothing to copy again
    let r = s.run_env(&["--json", "vault"], &[("TAPIR_NOW", &day(0))]);
    r.assert_code(0);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert!(v[0]["copy"]["copied"].as_array().unwrap().is_empty(), "{v}");
    assert_eq!(v[0]["copy"]["held"], 1, "{v}");
}

/// A mirror or vault run into a directory and a `rekey --from` that directory take the same
/// lock (the copy's `catalog/lock`), so the one cannot rewrite a file the other is copying:
/// while another holds it (here the test, as a tapir on another machine would), each is
/// refused with exit 3 naming the lock, and the refused mirror copied nothing.
#[test]
fn a_mirror_or_vault_run_and_a_rekey_from_the_same_directory_exclude_each_other() {
    let (s, src) = one_dle_and_a_vault(40 << 10);
    let (_, b_rcp) = s.new_identity("b");
    let m = s.path().join("mirror");
    let (m_s, vault) = (m.display().to_string(), s.path().join("vault"));
    let (d0, d1) = (day(0), day(1));
    let env = [("TAPIR_NOW", d0.as_str())];
    s.run_env(&["dump"], &env).assert_code(0);
    s.run_env(&["mirror", "--to", &m_s], &env).assert_code(0);
    s.run_env(&["vault"], &env).assert_code(0);
    // a second night: a new dump the mirror does not have yet
    fs::write(src.join("new"), noise(20 << 10, 4)).unwrap();
    let env1 = [("TAPIR_NOW", d1.as_str())];
    s.run_env(&["dump"], &env1).assert_code(0);
    let a = s.identity.display().to_string();
    for (dir, cmd) in [
        (&m, vec!["mirror", "--to", m_s.as_str()]),
        (&vault, vec!["vault"]),
    ] {
        let lock = dir.join("catalog/lock");
        let holder = fs::File::options().write(true).open(&lock).unwrap();
        holder.lock().unwrap();
        let before = crate::common::files_under(dir);
        let r = s.run_env(&cmd, &env1);
        r.assert_code(3);
        let named = format!("holds the lock {}", lock.display());
        assert!(r.stderr.contains(&named), "{cmd:?}: {}", r.stderr);
        assert_eq!(crate::common::files_under(dir), before, "{cmd:?} wrote");
        let from = dir.display().to_string();
        let args = [
            "rekey",
            "-i",
            &a,
            "--add-recipient",
            &b_rcp,
            "--from",
            &from,
        ];
        let r = s.run(&args);
        r.assert_code(3);
        assert!(r.stderr.contains(&named), "rekey: {}", r.stderr);
        drop(holder);
        s.run_env(&cmd, &env1).assert_code(0);
    }
    // the mirror now has the second night too
    let r = s.run(&["find", "--from", &m_s, "--json"]);
    r.assert_code(0);
    let found: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(found.as_array().unwrap().len(), 2, "{}", r.stdout);
}
