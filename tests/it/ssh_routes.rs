//! The ways fleets reach clients, through the system OpenSSH client (the default transport),
//! each with a real sshd on 127.0.0.1: a host whose CA-signed host key is trusted through an
//! `@cert-authority` line (and one signed by another CA refused), a host reached only through
//! a jump host, and the built-in libssh2 transport kept for servers without `ssh`.

use crate::common::sshd::{Sshd, current_user, keygen};
use crate::common::{Setup, tree};
use std::path::Path;
use std::process::Command;

/// A server setup with an SSH identity and a dumptype `ssh`; returns it and the
/// forced-command line for clients' authorized_keys.
fn server(extra_ssh: &str) -> (Setup, String) {
    server_with(extra_ssh, "keys/known_hosts")
}

/// [`server`] with its known_hosts at `known_hosts` (relative to the setup).
fn server_with(extra_ssh: &str, known_hosts: &str) -> (Setup, String) {
    let s = Setup::new("", "");
    keygen(&s.path().join("keys/id_ed25519"));
    let pubkey = std::fs::read_to_string(s.path().join("keys/id_ed25519.pub")).unwrap();
    let line = format!(
        "restrict,command=\"{} agent\" {}",
        crate::common::BIN,
        pubkey.trim()
    );
    let mut cfg = std::fs::read_to_string(s.path().join("tapir.toml")).unwrap();
    cfg.push_str(&format!(
        "\n[ssh]\nidentity = \"keys/id_ed25519\"\nknown_hosts = \"{known_hosts}\"\n\
         connect_timeout = \"5s\"\n{extra_ssh}\n"
    ));
    s.write("tapir.toml", &cfg);
    s.write(
        "dumptypes/ssh.toml",
        "auth = \"ssh\"\nstall_timeout = \"10s\"\n",
    );
    (s, line)
}

fn append(s: &Setup, text: &str) {
    let mut cfg = std::fs::read_to_string(s.path().join("tapir.toml")).unwrap();
    cfg.push_str(text);
    s.write("tapir.toml", &cfg);
}

/// A source tree, the disklist line for `host`, and a check that the newest dump of it
/// restores equal to the tree.
fn source(s: &Setup) -> std::path::PathBuf {
    let src = s.path().join("src");
    tree::awkward(&src);
    src
}

fn restores_equal(s: &Setup, host: &str, src: &Path) {
    let out = s.path().join(format!("restore-{host}"));
    let disk = src.display().to_string();
    s.recover(host, &disk, &out, &[]).assert_code(0);
    tree::assert_same(src, &out, &|_| false);
}

fn ssh_keygen(args: &[&str]) {
    let out = Command::new("ssh-keygen").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "ssh-keygen {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_ca_signed_host_key_is_trusted_through_cert_authority_and_another_cas_is_refused() {
    let (s, line) = server("");
    // the host key, signed by the fleet's CA for the name the server connects to
    let dir = s.path().join("sshd-127.0.0.1");
    std::fs::create_dir_all(&dir).unwrap();
    let hk = dir.join("host_key");
    keygen(&hk);
    let ca = s.path().join("ca");
    keygen(&ca);
    let hkp = format!("{}.pub", hk.display());
    let ca_s = ca.display().to_string();
    ssh_keygen(&[
        "-q",
        "-s",
        &ca_s,
        "-h",
        "-I",
        "host",
        "-n",
        "127.0.0.1",
        &hkp,
    ]);
    let cert = dir.join("host_key-cert.pub");
    let extra = format!("HostCertificate {}", cert.display());
    let h = Sshd::start_with(s.path(), "127.0.0.1", &line, &extra);
    append(
        &s,
        &format!(
            "[hosts.\"127.0.0.1\"]\nport = {}\nuser = \"{}\"\n",
            h.port,
            current_user()
        ),
    );
    let ca_pub = std::fs::read_to_string(format!("{}.pub", ca.display())).unwrap();
    // no plain key for the host anywhere: only the CA line vouches for it
    s.write("keys/known_hosts", &format!("@cert-authority * {ca_pub}"));
    let src = source(&s);
    s.write("disklist", &format!("127.0.0.1 {} ssh\n", src.display()));
    let r = s.run(&["dump"]);
    r.assert_code(0);
    restores_equal(&s, "127.0.0.1", &src);

    // the same host, its key now signed by a CA the server does not trust
    let rogue = s.path().join("rogue-ca");
    keygen(&rogue);
    let rogue_s = rogue.display().to_string();
    ssh_keygen(&[
        "-q",
        "-s",
        &rogue_s,
        "-h",
        "-I",
        "host",
        "-n",
        "127.0.0.1",
        &hkp,
    ]);
    let mut h = h;
    h.stop();
    let h2 = Sshd::start_with(s.path(), "127.0.0.1", &line, &extra);
    let cfg = std::fs::read_to_string(s.path().join("tapir.toml"))
        .unwrap()
        .replace(
            &format!("port = {}", h.port),
            &format!("port = {}", h2.port),
        );
    s.write("tapir.toml", &cfg);
    let r = s.run_env(
        &["dump", "--json"],
        &[("TAPIR_NOW", &crate::common::day(400))],
    );
    r.assert_code(1);
    let o = crate::common::outcome(&r.stdout, "127.0.0.1", &src.display().to_string());
    assert_eq!(o["status"], "FAILED", "{o}");
    let why = o["reason"].as_str().unwrap_or_default().to_string();
    assert!(
        why.contains("host key of 127.0.0.1") && why.contains("tapir enroll 127.0.0.1"),
        "{why}"
    );
}

#[test]
fn a_client_reached_only_through_a_jump_host_dumps_and_fails_when_the_bastion_is_down() {
    // a known_hosts path with a space: ssh and its ProxyCommand must keep it one path
    let (s, line) = server_with("", "keys/known hosts");
    let pubkey = std::fs::read_to_string(s.path().join("keys/id_ed25519.pub")).unwrap();
    let db = Sshd::start(s.path(), "db1", &line);
    // the bastion lets this key open the one client port, and nothing else
    let jump_line = format!(
        "restrict,port-forwarding,permitopen=\"127.0.0.1:{}\",command=\"/bin/false\" {}",
        db.port,
        pubkey.trim()
    );
    let mut bastion = Sshd::start_with(s.path(), "bastion", &jump_line, "LogLevel DEBUG1");
    append(
        &s,
        &format!(
            "[hosts.db1]\naddress = \"127.0.0.1\"\nport = {}\nuser = \"{u}\"\nproxy_jump = \"bastion\"\n\
             [hosts.bastion]\naddress = \"127.0.0.1\"\nport = {}\nuser = \"{u}\"\n",
            db.port,
            bastion.port,
            u = current_user()
        ),
    );
    // db1 is enrolled through the bastion, once the bastion itself is known
    let r = s.run(&["enroll", "db1"]);
    r.assert_code(1);
    assert!(
        r.stderr.contains("host key of bastion") && r.stderr.contains("tapir enroll bastion"),
        "{}",
        r.stderr
    );
    s.run(&["enroll", "bastion"]).assert_code(0);
    s.run(&["enroll", "db1"]).assert_code(0);
    let db_pub = std::fs::read_to_string(db.dir.join("host_key.pub")).unwrap();
    let key: Vec<&str> = db_pub.split_whitespace().take(2).collect();
    let kh = std::fs::read_to_string(s.path().join("keys/known hosts")).unwrap();
    assert!(
        kh.lines()
            .any(|l| l == format!("[db1]:{} {} {}", db.port, key[0], key[1])),
        "{kh}"
    );
    let src = source(&s);
    s.write("disklist", &format!("db1 {} ssh\n", src.display()));
    let r = s.run(&["dump"]);
    r.assert_code(0);
    restores_equal(&s, "db1", &src);
    let log = std::fs::read_to_string(bastion.dir.join("sshd.log")).unwrap();
    assert!(
        log.contains(&format!("target 127.0.0.1 port {}", db.port)),
        "the bastion did not forward to db1: {log}"
    );
    // the route depends on the bastion
    bastion.stop();
    let r = s.run_env(
        &["dump", "--json"],
        &[("TAPIR_NOW", &crate::common::day(400))],
    );
    r.assert_code(1);
    let o = crate::common::outcome(&r.stdout, "db1", &src.display().to_string());
    assert_eq!(o["status"], "FAILED", "{o}");
    let why = o["reason"].as_str().unwrap_or_default();
    assert!(
        why.contains(&format!(
            "cannot connect to db1 (127.0.0.1:{}) through bastion",
            db.port
        )) && why.contains("Connection refused"),
        "{why}"
    );
    // a jump host that jumps again, or proxy_jump with libssh2: config errors
    let cfg = std::fs::read_to_string(s.path().join("tapir.toml")).unwrap();
    s.write(
        "tapir.toml",
        &cfg.replace(
            "[hosts.bastion]\n",
            "[hosts.bastion]\nproxy_jump = \"db1\"\n",
        ),
    );
    let r = s.run(&["check"]);
    r.assert_code(2);
    assert!(
        r.stderr.contains("a jump host cannot itself jump"),
        "{}",
        r.stderr
    );
    s.write(
        "tapir.toml",
        &cfg.replace("[ssh]\n", "[ssh]\nclient = \"libssh2\"\n"),
    );
    let r = s.run(&["check"]);
    r.assert_code(2);
    assert!(
        r.stderr.contains("hosts.db1.proxy_jump") && r.stderr.contains("needs ssh.client"),
        "{}",
        r.stderr
    );
}

#[test]
fn the_libssh2_transport_still_dumps_and_refuses_a_changed_key() {
    let (s, line) = server("client = \"libssh2\"");
    let mut h = Sshd::start(s.path(), "web1", &line);
    append(&s, &h.host_block());
    s.run(&["enroll", "web1"]).assert_code(0);
    let src = source(&s);
    s.write("disklist", &format!("web1 {} ssh\n", src.display()));
    s.run(&["dump"]).assert_code(0);
    restores_equal(&s, "web1", &src);
    h.change_host_key();
    let r = s.run_env(&["dump"], &[("TAPIR_NOW", &crate::common::day(400))]);
    r.assert_code(1);
    assert!(
        r.stdout.contains("HOST KEY OF web1") && r.stdout.contains("HAS CHANGED"),
        "{}",
        r.stdout
    );
}

#[test]
fn an_option_like_address_or_user_never_reaches_ssh() {
    let (s, _) = server("");
    let marker = s.path().join("pwned");
    append(
        &s,
        &format!(
            "[hosts.evil]\naddress = \"-oProxyCommand=touch {}\"\n[hosts.evil2]\nuser = \"-oProxyCommand=x\"\n",
            marker.display()
        ),
    );
    let src = source(&s);
    s.write(
        "disklist",
        &format!("evil {0} ssh\nevil2 {0} ssh\n", src.display()),
    );
    let r = s.run(&["dump", "--json"]);
    r.assert_code(1);
    for (host, what) in [("evil", "address"), ("evil2", "user")] {
        let o = crate::common::outcome(&r.stdout, host, &src.display().to_string());
        let why = o["reason"].as_str().unwrap_or_default();
        assert!(
            why.contains(&format!("{host}: {what} \"-oProxyCommand"))
                && why.contains("not a valid"),
            "{why}"
        );
    }
    assert!(!marker.exists(), "ssh ran the injected ProxyCommand");
}
