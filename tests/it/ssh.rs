//! Clients over SSH: real sshd processes on 127.0.0.1 as separate hosts. Dumps through them
//! restore byte-identical and index like the local transport; host keys are strict.

use crate::common::sshd::{Sshd, keygen};
use crate::common::{Setup, day, sh, tree};
use std::path::Path;

/// A setup with a server SSH identity, `n` client hosts and the forced-command line each.
struct Fleet {
    s: Setup,
    hosts: Vec<Sshd>,
}

fn fleet(names: &[&str]) -> Fleet {
    let s = Setup::new("", "");
    keygen(&s.path().join("keys/id_ed25519"));
    let pubkey = std::fs::read_to_string(s.path().join("keys/id_ed25519.pub")).unwrap();
    let line = format!(
        "restrict,command=\"{} agent\" {}",
        crate::common::BIN,
        pubkey.trim()
    );
    let hosts: Vec<Sshd> = names
        .iter()
        .map(|n| Sshd::start(s.path(), n, &line))
        .collect();
    let mut cfg = std::fs::read_to_string(s.path().join("tapir.toml")).unwrap();
    cfg.push_str("\n[ssh]\nidentity = \"keys/id_ed25519\"\nknown_hosts = \"keys/known_hosts\"\nconnect_timeout = \"5s\"\n");
    for h in &hosts {
        cfg.push_str(&h.host_block());
    }
    s.write("tapir.toml", &cfg);
    s.write(
        "dumptypes/ssh.toml",
        "auth = \"ssh\"\nexclude = [\"*.tmp\"]\nstall_timeout = \"3s\"\n",
    );
    Fleet { s, hosts }
}

impl Fleet {
    fn enroll_all(&self) {
        for h in &self.hosts {
            let r = self.s.run(&["enroll", &h.name]);
            r.assert_code(0);
            assert!(
                r.stdout
                    .starts_with("restrict,command=\"tapir agent\" ssh-ed25519 "),
                "{}",
                r.stdout
            );
        }
    }
}

fn skip_tmp(rel: &Path) -> bool {
    rel.to_string_lossy().ends_with(".tmp")
}

#[test]
fn dumps_through_two_sshd_hosts_restore_identically_and_index_like_local() {
    let f = fleet(&["web1", "web2"]);
    let s = &f.s;
    f.enroll_all();
    let src = s.path().join("src");
    tree::awkward(&src);
    let d = src.display();
    s.write(
        "disklist",
        &format!("web1 {d} ssh\nweb2 {d} ssh\nlocalhost {d} local\n"),
    );
    let r = s.run(&["dump"]);
    r.assert_code(0);
    let recs = s.find_json();
    assert_eq!(recs.as_array().unwrap().len(), 3, "{}", r.stdout);
    let local = recs
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["host"] == "localhost")
        .unwrap();
    let local_index = s.index_lines(local);
    for host in ["web1", "web2"] {
        let rec = recs
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["host"] == host)
            .unwrap();
        assert_eq!(
            s.index_lines(rec),
            local_index,
            "{host}: index differs from the local transport's"
        );
        let out = s.path().join(format!("restore-{host}"));
        std::fs::create_dir(&out).unwrap();
        sh(
            &format!(
                "dd if={} bs=32k skip=1 status=none | age -d -i {} | gzip -dc | tar -xpf - -C {}",
                s.tape_file(rec).display(),
                s.identity.display(),
                out.display()
            ),
            s.path(),
        );
        tree::assert_same(&src, &out, &skip_tmp);
    }
}

#[test]
fn unknown_and_changed_host_keys_are_refused_and_others_go_on() {
    let mut f = fleet(&["web1", "web2"]);
    let src = f.s.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("f"), b"data").unwrap();
    f.s.write(
        "disklist",
        &format!("web1 {0} ssh\nweb2 {0} ssh\n", src.display()),
    );
    // nothing enrolled yet: both refused, nothing trusted silently
    let r = f.s.run_env(&["dump"], &[("TAPIR_NOW", &day(0))]);
    r.assert_code(1);
    assert!(
        r.stdout.contains("host key of web1")
            && r.stdout.contains("is not known")
            && r.stdout.contains("tapir enroll web1"),
        "{}",
        r.stdout
    );
    f.enroll_all();
    f.s.run_env(&["dump"], &[("TAPIR_NOW", &day(1))])
        .assert_code(0);
    f.hosts[0].change_host_key();
    let r = f.s.run_env(&["dump"], &[("TAPIR_NOW", &day(2))]);
    r.assert_code(1);
    assert!(
        r.stdout.contains("HOST KEY OF web1") && r.stdout.contains("HAS CHANGED"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("remove the line for [web1]:"),
        "{}",
        r.stdout
    );
    let summary =
        f.s.run_env(&["dump", "--json", "web2"], &[("TAPIR_NOW", &day(3))]);
    summary.assert_code(0);
    // enroll refuses the changed key too
    let e = f.s.run(&["enroll", "web1"]);
    e.assert_code(1);
    assert!(
        e.stderr.contains("recorded") && e.stderr.contains("another key"),
        "{}",
        e.stderr
    );
}

#[test]
fn enroll_is_idempotent_checks_fingerprints_and_prints_the_line() {
    let f = fleet(&["web1"]);
    let s = &f.s;
    let hostpub = std::fs::read_to_string(f.hosts[0].dir.join("host_key.pub")).unwrap();
    let fp = {
        let out = std::process::Command::new("ssh-keygen")
            .args(["-l", "-E", "sha256", "-f"])
            .arg(f.hosts[0].dir.join("host_key.pub"))
            .output()
            .unwrap();
        String::from_utf8(out.stdout)
            .unwrap()
            .split_whitespace()
            .nth(1)
            .unwrap()
            .to_string()
    };
    let bad = s.run(&[
        "enroll",
        "web1",
        "--fingerprint",
        "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    ]);
    bad.assert_code(1);
    assert!(bad.stderr.contains("NOT recorded"), "{}", bad.stderr);
    assert!(!s.path().join("keys/known_hosts").exists());
    let good = s.run(&["enroll", "web1", "--fingerprint", &fp, "--from", "10.0.0.5"]);
    good.assert_code(0);
    assert!(
        good.stdout
            .starts_with("restrict,from=\"10.0.0.5\",command=\"tapir agent\" ssh-ed25519 "),
        "{}",
        good.stdout
    );
    // the forms facter and ssh-keygen -r give, and a record for another key type
    let sshfp = std::process::Command::new("ssh-keygen")
        .args(["-r", "web1", "-f"])
        .arg(f.hosts[0].dir.join("host_key.pub"))
        .output()
        .unwrap();
    let records = String::from_utf8(sshfp.stdout).unwrap();
    assert!(records.contains("IN SSHFP 4 2 "), "{records}");
    s.run(&["enroll", "web1", "--fingerprint", &records])
        .assert_code(0);
    let facter: String = records
        .lines()
        .map(|l| format!("SSHFP {}\n", l.split("SSHFP ").nth(1).unwrap()))
        .collect();
    s.run(&["enroll", "web1", "--fingerprint", &facter])
        .assert_code(0);
    let wrong = facter.replace("SSHFP 4 2 ", "SSHFP 4 2 00");
    let r = s.run(&["enroll", "web1", "--fingerprint", &wrong]);
    r.assert_code(1);
    assert!(r.stderr.contains("NOT recorded"), "{}", r.stderr);
    let r = s.run(&["enroll", "web1", "--fingerprint", "SSHFP 1 2 abcd"]);
    r.assert_code(2);
    assert!(
        r.stderr
            .contains("not SHA-256 records for a ssh-ed25519 key"),
        "{}",
        r.stderr
    );
    let again = s.run(&["enroll", "web1"]);
    again.assert_code(0);
    assert!(again.stderr.contains("already known"), "{}", again.stderr);
    let kh = std::fs::read_to_string(s.path().join("keys/known_hosts")).unwrap();
    assert_eq!(kh.lines().count(), 1);
    let key_b64 = hostpub.split_whitespace().nth(1).unwrap();
    assert_eq!(
        kh.trim(),
        format!("[web1]:{} ssh-ed25519 {key_b64}", f.hosts[0].port)
    );
}
