//! Trust, second round: what a careless admin, a bit of rot or a wrong clock does must never
//! lose dumps or restore the wrong state with exit 0. A damaged label keeps its tape's dumps,
//! a lost signing key is not silently replaced, a clock set back is refused, a mirror target
//! holds one tape set, and a restore that restores nothing is not a success.

use crate::common::{Setup, day, noise};
use std::path::{Path, PathBuf};

/// One DLE dumped on three nights (a full each night), each night on its own tape.
fn three_tapes() -> (Setup, PathBuf) {
    let s = Setup::new(
        "tapecycle = 3\nruntapes = 1\nrunspercycle = 1\ndumpcycle = 1",
        "slots = 4\nautolabel = \"daily-%%\"\n",
    );
    let d = s.path().join("src");
    std::fs::create_dir_all(&d).unwrap();
    s.write("disklist", &format!("localhost {} local\n", d.display()));
    for n in 0..3 {
        std::fs::write(d.join("data"), noise(20 << 10, n as u64 + 1)).unwrap();
        s.run_env(&["dump"], &[("TAPIR_NOW", &day(n))])
            .assert_code(0);
    }
    (s, d)
}

fn slot(s: &Setup, n: u32) -> PathBuf {
    s.path().join(format!("vtape/slot{n}"))
}

/// Replace `from` by `to` in a file's bytes, keeping everything else (the signature too).
fn edit(path: &Path, from: &str, to: &str) {
    let bytes = std::fs::read(path).unwrap();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    assert!(text.contains(from), "{} lacks {from:?}", path.display());
    let pos = bytes
        .windows(from.len())
        .position(|w| w == from.as_bytes())
        .unwrap();
    let mut out = bytes.clone();
    out[pos..pos + from.len()].copy_from_slice(to.as_bytes());
    std::fs::write(path, out).unwrap();
}

fn records_of_slot(s: &Setup, n: u64) -> usize {
    let all = s.find_json();
    all.as_array()
        .unwrap()
        .iter()
        .filter(|r| r["slot"] == n && r["status"] == "OK")
        .count()
}

#[test]
fn an_edited_label_marks_the_slot_damaged_and_keeps_its_dumps() {
    let (s, d) = three_tapes();
    // the newest full is on slot 3: its label line edited inside the signed label file
    let label = slot(&s, 3).join("00000.daily-03");
    edit(&label, "label = \"daily-03\"", "label = \"daily-09\"");
    assert_eq!(records_of_slot(&s, 3), 1);

    let r = s.run(&["tapes"]);
    assert!(r.stdout.contains("DAMAGED"), "{}", r.stdout);
    assert!(!r.stdout.contains("daily-09"), "{}", r.stdout);

    let r = s.run(&["verify", "-i", &s.identity.display().to_string()]);
    r.assert_code(1);
    let line = r
        .stdout
        .lines()
        .find(|l| l.contains("00000.daily-03"))
        .unwrap_or_else(|| panic!("{}", r.stdout));
    assert!(line.starts_with("BADSIG"), "{}", r.stdout);

    let r = s.run(&["check"]);
    assert_ne!(r.code, 0, "{}", r.stdout);
    assert!(r.stdout.contains("DAMAGED"), "{}", r.stdout);

    // the next night: the damaged slot's dumps stay catalogued, it is not written, the run
    // says so and exits 1, and the planner does not think the full is gone
    std::fs::write(d.join("new"), b"night four").unwrap();
    let r = s.run_env(&["dump"], &[("TAPIR_NOW", &day(3))]);
    r.assert_code(1);
    assert!(r.stdout.contains("PROBLEMS"), "{}", r.stdout);
    assert!(r.stdout.contains("slot 3 is DAMAGED"), "{}", r.stdout);
    assert!(!r.stdout.contains("forgot"), "{}", r.stdout);
    assert_eq!(records_of_slot(&s, 3), 1);
    assert!(
        std::fs::read_dir(slot(&s, 3)).unwrap().count() == 2,
        "the damaged slot was written"
    );
    let st = s.run(&["status"]);
    st.assert_code(1);
    assert!(st.stdout.contains("DAMAGED"), "{}", st.stdout);
    let rep = s.run(&["report"]);
    assert!(rep.stdout.contains("slot 3 is DAMAGED"), "{}", rep.stdout);

    // the dumps of the damaged slot still restore (each file carries its own signature)
    let to = s.path().join("restored");
    let r = s.recover(
        "localhost",
        &d.display().to_string(),
        &to,
        &["--date", &day(2)[..10]],
    );
    r.assert_code(0);
    assert_eq!(
        std::fs::read(to.join("data")).unwrap(),
        noise(20 << 10, 3),
        "the newest full of the damaged slot"
    );

    // relabelling the damaged slot needs --force
    let r = s.run(&["label", "3", "daily-03"]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("--force"), "{}", r.stderr);
}

#[test]
fn a_flipped_bit_in_a_label_is_damage_not_a_new_tape() {
    let (s, _) = three_tapes();
    let label = slot(&s, 2).join("00000.daily-02");
    edit(&label, "slot = 2", "slot = 3");
    let r = s.run(&["verify"]);
    r.assert_code(1);
    assert!(
        r.stdout
            .lines()
            .any(|l| l.starts_with("BADSIG") && l.contains("00000.daily-02")),
        "{}",
        r.stdout
    );
    let r = s.run(&["tapes", "--json"]);
    let st: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(st[1]["damaged"], true, "{}", st[1]);
    assert_eq!(st[1]["reusable"], false, "{}", st[1]);
}

#[test]
fn a_missing_dump_stays_listed_until_an_admin_forgets_it() {
    let (s, _) = three_tapes();
    let dump = std::fs::read_dir(slot(&s, 2))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            !p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("00000.")
        })
        .unwrap();
    std::fs::remove_file(&dump).unwrap();
    let r = s.run_env(&["dump"], &[("TAPIR_NOW", &day(3))]);
    r.assert_code(1);
    assert!(r.stdout.contains("MISSING:"), "{}", r.stdout);
    let r = s.run(&["find"]);
    assert!(
        r.stdout
            .lines()
            .any(|l| l.contains("daily-02") && l.ends_with("MISSING")),
        "{}",
        r.stdout
    );
    // it stays listed night after night
    let r = s.run_env(&["dump"], &[("TAPIR_NOW", &day(4))]);
    r.assert_code(1);
    assert!(r.stdout.contains("MISSING"), "{}", r.stdout);
    let r = s.run(&["catalog", "forget-missing"]);
    r.assert_code(0);
    assert!(r.stdout.contains("forgot MISSING"), "{}", r.stdout);
    let r = s.run(&["find"]);
    assert!(!r.stdout.contains("MISSING"), "{}", r.stdout);
    s.run_env(&["dump"], &[("TAPIR_NOW", &day(5))])
        .assert_code(0);
}

#[test]
fn a_lost_signing_key_is_not_silently_replaced() {
    let (s, d) = three_tapes();
    let key = s.path().join("keys/signing_key");
    let old_pub = s.path().join("keys/signing_key.pub");
    assert!(key.exists() && old_pub.exists());
    let kept = s.path().join("keys/old.pub");
    std::fs::copy(&old_pub, &kept).unwrap();
    std::fs::remove_file(&key).unwrap();
    std::fs::remove_file(&old_pub).unwrap();
    let before: Vec<_> = std::fs::read_dir(s.path().join("vtape/slot4"))
        .map(|r| r.count())
        .into_iter()
        .collect();

    let r = s.run_env(&["dump"], &[("TAPIR_NOW", &day(3))]);
    r.assert_code(2);
    assert!(r.stderr.contains("signing_key"), "{}", r.stderr);
    assert!(r.stderr.contains("SHA256:"), "{}", r.stderr);
    assert!(r.stderr.contains("previous"), "{}", r.stderr);
    assert!(!key.exists(), "a new key was made");
    let after: Vec<_> = std::fs::read_dir(s.path().join("vtape/slot4"))
        .map(|r| r.count())
        .into_iter()
        .collect();
    assert_eq!(before, after, "something was written");

    // a new key made on purpose, the old public key kept trusted
    let r = s.run(&["keygen", "--signing", "-o", &key.display().to_string()]);
    r.assert_code(0);
    let cfg = std::fs::read_to_string(s.path().join("tapir.toml")).unwrap();
    s.write(
        "tapir.toml",
        &format!("{cfg}\n[signing]\nprevious = [\"keys/old.pub\"]\n"),
    );
    std::fs::write(d.join("more"), b"after the key change").unwrap();
    s.run_env(&["dump"], &[("TAPIR_NOW", &day(4))])
        .assert_code(0);
    s.run(&["verify"]).assert_code(0);
    let to = s.path().join("restored");
    s.recover("localhost", &d.display().to_string(), &to, &[])
        .assert_code(0);
    assert_eq!(
        std::fs::read(to.join("more")).unwrap(),
        b"after the key change"
    );
    // an old tape reads with the old key trusted
    let to = s.path().join("old");
    s.recover(
        "localhost",
        &d.display().to_string(),
        &to,
        &["--date", &day(1)[..10]],
    )
    .assert_code(0);
    assert_eq!(std::fs::read(to.join("data")).unwrap(), noise(20 << 10, 2));
}

#[test]
fn a_clock_set_back_is_refused_before_anything_is_written() {
    let (s, _) = three_tapes();
    let files = |s: &Setup| walk(&s.path().join("vtape"));
    let before = files(&s);
    // five days before the newest dump
    let back = (chrono::DateTime::parse_from_rfc3339(&day(2)).unwrap() - chrono::Duration::days(5))
        .to_rfc3339();
    let r = s.run_env(&["dump"], &[("TAPIR_NOW", &back)]);
    r.assert_code(2);
    assert!(r.stderr.contains("2026-01-03"), "{}", r.stderr);
    assert!(r.stderr.contains("clock"), "{}", r.stderr);
    assert_eq!(before, files(&s), "a tape was written");
    let r = s.run_env(&["check"], &[("TAPIR_NOW", &back)]);
    assert!(
        r.stdout
            .lines()
            .any(|l| l.contains("FAIL") && l.contains("clock")),
        "{}",
        r.stdout
    );
    // an admin whose clock is right and whose newest dump was dated ahead goes on on purpose
    let r = s.run_env(&["dump", "--after-newest"], &[("TAPIR_NOW", &back)]);
    r.assert_code(0);
    assert_eq!(s.newest_record()["datestamp"], "20260103020001");
    // within the tolerance the run goes on, dated after the newest dump
    let slight = (chrono::DateTime::parse_from_rfc3339(&day(2)).unwrap()
        - chrono::Duration::minutes(2))
    .to_rfc3339();
    s.run_env(&["dump"], &[("TAPIR_NOW", &slight)])
        .assert_code(0);
    let newest = s.newest_record();
    assert!(
        newest["datestamp"].as_str().unwrap() > "20260103020001",
        "{newest}"
    );
}

fn walk(root: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = walkdir::WalkDir::new(root)
        .into_iter()
        .map(|e| e.unwrap().path().to_path_buf())
        .collect();
    out.sort();
    out
}

#[test]
fn two_configs_cannot_share_a_mirror_target() {
    let (a, _) = three_tapes();
    let (b, _) = three_tapes();
    let target = a.path().parent().unwrap().join(format!(
        "shared-mirror-{}",
        a.path().file_name().unwrap().to_string_lossy()
    ));
    let t = target.display().to_string();
    a.run(&["mirror", "--to", &t]).assert_code(0);
    let before = walk(&target)
        .into_iter()
        .filter(|p| p.is_file())
        .map(|p| (p.clone(), std::fs::read(&p).unwrap()))
        .collect::<Vec<_>>();
    let marker = std::fs::read_to_string(target.join("tapir-tapeset.toml")).unwrap();
    let r = b.run(&["mirror", "--to", &t]);
    r.assert_code(1);
    assert!(r.stderr.contains("holds another tape set"), "{}", r.stderr);
    let theirs = std::fs::read_to_string(b.path().join("catalog/tapir-tapeset.toml")).unwrap();
    let id = |text: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix("id = "))
            .unwrap()
            .trim_matches('"')
            .to_string()
    };
    assert!(r.stderr.contains(&id(&marker)), "{}", r.stderr);
    assert!(r.stderr.contains(&id(&theirs)), "{}", r.stderr);
    let after = walk(&target)
        .into_iter()
        .filter(|p| p.is_file())
        .map(|p| (p.clone(), std::fs::read(&p).unwrap()))
        .collect::<Vec<_>>();
    assert!(before == after, "the other config changed the mirror");
    // the first config's copy still restores from the mirror alone, and mirrors again
    a.run(&["mirror", "--to", &t]).assert_code(0);
    let r = a.run(&["verify", "--from", &t]);
    r.assert_code(0);
    // a file the mirror did not put there survives the recycling of its slot
    std::fs::write(target.join("slot1/NOTE.txt"), b"kept by the admin").unwrap();
    for n in 3..5 {
        a.run_env(&["dump"], &[("TAPIR_NOW", &day(n))])
            .assert_code(0);
    }
    a.run(&["mirror", "--to", &t]).assert_code(0);
    assert_eq!(
        std::fs::read(target.join("slot1/NOTE.txt")).unwrap(),
        b"kept by the admin"
    );
    assert_eq!(
        std::fs::read(target.join("slot1/00000.daily-01")).unwrap(),
        std::fs::read(slot(&a, 1).join("00000.daily-01")).unwrap(),
        "slot 1 was not recycled on the mirror"
    );
    let label = std::fs::read_to_string(slot(&a, 1).join("00000.daily-01")).unwrap();
    assert!(
        label.contains("datestamp = \"20260105"),
        "not recycled: {label}"
    );
    // a directory holding something that is not a tape set is not written either
    let other = a.path().join("not-a-mirror");
    std::fs::create_dir_all(other.join("slot1")).unwrap();
    std::fs::write(other.join("slot1/00000.x"), b"not a label").unwrap();
    let r = b.run(&["mirror", "--to", &other.display().to_string()]);
    r.assert_code(1);
    assert!(r.stderr.contains("not this server's"), "{}", r.stderr);
    assert_eq!(
        std::fs::read(other.join("slot1/00000.x")).unwrap(),
        b"not a label"
    );
    std::fs::remove_dir_all(&target).unwrap();
}

/// A DLE with a level 0 (day 0) and a level 1 (day 1) that changed one file.
fn full_and_incremental() -> (Setup, PathBuf) {
    let s = Setup::new(
        "dumpcycle = 20\nruntapes = 1\ntapecycle = 10\nrunspercycle = 7\nbumpsize = \"1K\"\nbumpdays = 1",
        "",
    );
    let d = s.path().join("etc");
    std::fs::create_dir_all(d.join("ssh")).unwrap();
    std::fs::write(d.join("passwd"), b"root:x:0:0\n").unwrap();
    std::fs::write(d.join("ssh/sshd_config"), b"Port 22\n").unwrap();
    std::fs::write(d.join("hosts"), noise(10 << 10, 7)).unwrap();
    s.write("disklist", &format!("localhost {} local\n", d.display()));
    // a file changed in the same tick as the full starts counts as changed (as in GNU
    // tar): the files are made a clear second before, so that the level 1 holds one file
    std::thread::sleep(std::time::Duration::from_millis(1100));
    s.run_env(&["dump"], &[("TAPIR_NOW", &day(0))])
        .assert_code(0);
    std::fs::write(d.join("passwd"), b"root:x:0:0\nadmin:x:1000:1000\n").unwrap();
    s.run_env(&["dump"], &[("TAPIR_NOW", &day(1))])
        .assert_code(0);
    assert_eq!(s.levels(), vec![0, 1]);
    (s, d)
}

#[test]
fn a_restore_that_restores_nothing_fails_and_dle_prefixed_paths_are_understood() {
    let (s, d) = full_and_incremental();
    let disk = d.display().to_string();
    // relative to the DLE: works
    let to = s.path().join("r1");
    s.recover("localhost", &disk, &to, &["passwd"])
        .assert_code(0);
    assert_eq!(
        std::fs::read(to.join("passwd")).unwrap(),
        b"root:x:0:0\nadmin:x:1000:1000\n"
    );
    assert!(!to.join("hosts").exists());
    // the absolute path on the client, and the DLE-prefixed relative one: understood, said
    for given in [format!("{disk}/passwd"), format!("{}/passwd", &disk[1..])] {
        let to = s.path().join(format!("r-{}", given.len()));
        let r = s.recover("localhost", &disk, &to, &[&given]);
        r.assert_code(0);
        assert!(r.stderr.contains("taken as passwd"), "{}", r.stderr);
        assert!(to.join("passwd").is_file(), "{given}");
    }
    // nothing matched: exit 1 naming it, nothing restored
    let to = s.path().join("r2");
    let r = s.recover("localhost", &disk, &to, &["etc/nonesuch"]);
    r.assert_code(1);
    assert!(
        r.stderr.contains("`etc/nonesuch` matched nothing"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("relative to the DLE"), "{}", r.stderr);
    assert!(!to.exists() || std::fs::read_dir(&to).unwrap().count() == 0);
    assert!(!r.stdout.contains("restored 0 members"), "{}", r.stdout);
}

#[test]
fn recover_tar_of_an_incremental_says_so_and_the_readme_chain_pipe_restores_all() {
    let (s, d) = full_and_incremental();
    let disk = d.display().to_string();
    let id = s.identity.display().to_string();
    let sh = |script: &str| {
        let out = s.cmd(&[]).get_program().to_owned();
        let o = std::process::Command::new("bash")
            .arg("-c")
            .arg(script)
            .current_dir(s.path())
            .env("TAPIR", &out)
            .env("TZ", "UTC")
            .output()
            .unwrap();
        crate::common::finish(o)
    };
    // the newest image alone is the level 1: one changed file, and it says so
    let r = sh(&format!(
        "set -o pipefail; \"$TAPIR\" fetch --host localhost --disk {disk} -i {id} -o - | \"$TAPIR\" recover --tar - --to only-newest"
    ));
    r.assert_code(0);
    assert!(r.stderr.contains("incremental"), "{}", r.stderr);
    assert!(r.stderr.contains("only the files changed"), "{}", r.stderr);
    assert!(!s.path().join("only-newest/hosts").exists());
    // the README's pipe for a whole chain
    let r = sh(&format!(
        "set -e -o pipefail; for level in 0 1; do \"$TAPIR\" fetch --host localhost --disk {disk} --level $level -i {id} -o - | \"$TAPIR\" recover --tar - --overwrite --to chain; done"
    ));
    r.assert_code(0);
    assert!(!r.stderr.contains("only the files changed"), "{}", r.stderr);
    let chain = s.path().join("chain");
    for f in ["passwd", "ssh/sshd_config", "hosts"] {
        assert_eq!(
            std::fs::read(chain.join(f)).unwrap(),
            std::fs::read(d.join(f)).unwrap(),
            "{f}"
        );
    }
}

#[test]
fn smaller_holes_check_find_from_recipients_and_overlapping_roots() {
    let (s, _) = three_tapes();
    let cfg = std::fs::read_to_string(s.path().join("tapir.toml")).unwrap();
    // a pinned public key that is not the signing key's: check FAILs as dump refuses
    let other = s.path().join("other_signing");
    s.run(&["keygen", "--signing", "-o", &other.display().to_string()])
        .assert_code(0);
    let other_pub = std::fs::read_to_string(other.with_extension("pub"))
        .or_else(|_| std::fs::read_to_string(format!("{}.pub", other.display())))
        .unwrap();
    s.write(
        "tapir.toml",
        &format!("{cfg}\n[signing]\npublic_key = \"{}\"\n", other_pub.trim()),
    );
    let r = s.run(&["check"]);
    assert_ne!(r.code, 0, "{}", r.stdout);
    assert!(
        r.stdout
            .lines()
            .any(|l| l.contains("FAIL") && l.contains("signing.public_key")),
        "{}",
        r.stdout
    );
    assert_ne!(s.run_env(&["dump"], &[("TAPIR_NOW", &day(3))]).code, 0);
    s.write("tapir.toml", &cfg);

    // find --from a mirror without a catalog reads the mirror, not the server's catalog
    let m = s.path().join("mirror");
    s.run(&["mirror", "--to", &m.display().to_string()])
        .assert_code(0);
    std::fs::remove_dir_all(m.join("catalog")).unwrap();
    std::fs::remove_dir_all(m.join("slot1")).unwrap();
    let r = s.run(&["--json", "find", "--from", &m.display().to_string()]);
    r.assert_code(0);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let labels: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["daily-02", "daily-03"], "{}", r.stdout);

    // a binary recipients file is a config error naming it
    std::fs::write(s.path().join("keys/recipients.txt"), [0xff, 0xfe, 0, 1, 2]).unwrap();
    let r = s.run_env(&["dump"], &[("TAPIR_NOW", &day(3))]);
    r.assert_code(2);
    assert!(r.stderr.contains("recipients.txt"), "{}", r.stderr);
    assert!(r.stderr.contains("not text"), "{}", r.stderr);

    // the catalog inside the vtape root, or the same directory: refused
    for (catalog, root) in [
        ("vtape/catalog", "vtape"),
        ("vtape", "vtape"),
        ("c", "c/vtape"),
    ] {
        let text = cfg.replacen("root = \"vtape\"", &format!("root = \"{root}\""), 1);
        s.write("tapir.toml", &format!("catalog = \"{catalog}\"\n{text}"));
        let r = s.run(&["check"]);
        r.assert_code(2);
        assert!(
            r.stderr.contains("overlap"),
            "{catalog} {root}: {}",
            r.stderr
        );
    }
}

#[test]
fn a_chain_across_a_signing_key_change_verifies_and_restores() {
    let (s, d) = full_and_incremental();
    // the level 0 and level 1 are signed by the first key; it is lost, a new one made on
    // purpose, the old public key kept trusted through the identity file's line
    let key = s.path().join("keys/signing_key");
    let old_pub = std::fs::read_to_string(s.path().join("keys/signing_key.pub")).unwrap();
    std::fs::remove_file(&key).unwrap();
    std::fs::remove_file(s.path().join("keys/signing_key.pub")).unwrap();
    s.run(&["keygen", "--signing", "-o", &key.display().to_string()])
        .assert_code(0);
    let ident = std::fs::read_to_string(&s.identity).unwrap();
    std::fs::write(
        &s.identity,
        format!("{ident}# tapir signing key: {}\n", old_pub.trim()),
    )
    .unwrap();
    // without the old key as [signing] previous, the old tapes are DAMAGED to the server:
    // never written over, said loudly with the way out
    let r = s.run_env(&["dump"], &[("TAPIR_NOW", &day(2))]);
    r.assert_code(1);
    assert!(r.stdout.contains("slot 1 is DAMAGED"), "{}", r.stdout);
    assert!(r.stdout.contains("[signing] previous"), "{}", r.stdout);
    let cfg = std::fs::read_to_string(s.path().join("tapir.toml")).unwrap();
    s.write(
        "tapir.toml",
        &format!(
            "{cfg}\n[signing]\nprevious = [\"{}\"]\n",
            s.identity.display()
        ),
    );
    std::fs::write(d.join("passwd"), b"root:x:0:0\nthird:x:1001:1001\n").unwrap();
    s.run_env(&["dump"], &[("TAPIR_NOW", &day(3))])
        .assert_code(0);
    // a level 0 under the old key, incrementals after it (the planner may bump to 2)
    let levels = s.levels();
    assert_eq!(levels.len(), 4, "{levels:?}");
    assert!(
        levels[0] == 0 && levels[1..].iter().all(|l| *l >= 1),
        "{levels:?}"
    );
    s.run(&["verify"]).assert_code(0);
    // the newest chain: level 0 (old key) and the newest level 1 (new key)
    let to = s.path().join("across");
    s.recover("localhost", &d.display().to_string(), &to, &[])
        .assert_code(0);
    for f in ["passwd", "ssh/sshd_config", "hosts"] {
        assert_eq!(
            std::fs::read(to.join(f)).unwrap(),
            std::fs::read(d.join(f)).unwrap(),
            "{f}"
        );
    }
}

#[test]
fn a_label_stripped_of_its_signature_is_damaged_when_its_dumps_are_signed() {
    let (s, _) = three_tapes();
    let label = slot(&s, 2).join("00000.daily-02");
    strip_signature(&label);
    let r = s.run(&["verify"]);
    r.assert_code(1);
    assert!(
        r.stdout
            .lines()
            .any(|l| l.starts_with("UNSIGNED") && l.contains("00000.daily-02")),
        "{}",
        r.stdout
    );
    let r = s.run(&["--json", "tapes"]);
    let st: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(st[1]["damaged"], true, "{}", st[1]);
    let r = s.run_env(&["dump"], &[("TAPIR_NOW", &day(3))]);
    r.assert_code(1);
    assert!(r.stdout.contains("slot 2 is DAMAGED"), "{}", r.stdout);
    // a slot of an upgraded installation (written before tapes were signed: nothing in it
    // signed) keeps its unsigned label believed
    for e in std::fs::read_dir(slot(&s, 2)).unwrap() {
        let p = e.unwrap().path();
        if !p
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("00000.")
        {
            strip_signature(&p);
        }
    }
    let r = s.run(&["--json", "tapes"]);
    let st: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(st[1]["damaged"], false, "{}", st[1]);
    assert_eq!(st[1]["label"], "daily-02", "{}", st[1]);
    // such a slot is mirrored as it is, and said so
    let m = s.path().join("mirror");
    let r = s.run(&["mirror", "--to", &m.display().to_string()]);
    r.assert_code(0);
    let said = format!("{}{}", r.stdout, r.stderr);
    assert!(
        said.contains("unsigned (written before tapes were signed): copied"),
        "{said}"
    );
    for e in std::fs::read_dir(slot(&s, 2)).unwrap() {
        let p = e.unwrap().path();
        let copy = m.join("slot2").join(p.file_name().unwrap());
        assert_eq!(
            std::fs::read(&p).unwrap(),
            std::fs::read(&copy).unwrap(),
            "{copy:?}"
        );
    }
}

/// Zero a tape file header's signature block, as if it was written before signing.
fn strip_signature(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap();
    let text_end = bytes.iter().position(|&b| b == 0).unwrap();
    let sig = bytes
        .windows(30)
        .position(|w| w == b"\n-----BEGIN SSH SIGNATURE-----")
        .unwrap();
    for b in &mut bytes[sig + 1..text_end] {
        *b = 0;
    }
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn check_fails_when_it_cannot_read_the_catalog_it_judges() {
    let (s, _) = three_tapes();
    let hist = walk(&s.path().join("catalog/history"))
        .into_iter()
        .find(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .unwrap();
    std::fs::write(&hist, b"{not json\n").unwrap();
    let r = s.run(&["check"]);
    assert_ne!(r.code, 0, "{}", r.stdout);
    assert!(
        r.stdout
            .lines()
            .any(|l| l.contains("FAIL") && l.contains("server clock") && l.contains("cannot read")),
        "{}",
        r.stdout
    );
    assert!(
        !r.stdout.contains("no dump in the catalog yet"),
        "{}",
        r.stdout
    );
}
