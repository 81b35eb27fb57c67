//! `tapir check` catches each broken precondition in its own test, and passes a good setup.

use crate::common::Setup;
use crate::common::sshd::{Sshd, keygen};

fn items(r: &crate::common::Run) -> Vec<serde_json::Value> {
    serde_json::from_str(&r.stdout).unwrap_or_else(|_| panic!("{}\n{}", r.stdout, r.stderr))
}

/// The item whose name contains `name` and whose status is `status`, or a panic listing all.
fn has(r: &crate::common::Run, status: &str, name: &str, detail: &str) {
    let all = items(r);
    assert!(
        all.iter().any(|i| i["status"] == status
            && i["item"].as_str().unwrap().contains(name)
            && i["detail"].as_str().unwrap().contains(detail)),
        "no {status} {name} ({detail}) in {all:#?}"
    );
}

fn local_setup() -> Setup {
    // a tape size any test machine has room for: "disk space" is judged against free space
    local_setup_with(
        "",
        "slots = 10\nautolabel = \"daily-%%\"\ntape_size = \"64M\"\n",
    )
}

/// One local DLE, `src`, with these top-level and changer settings.
fn local_setup_with(top: &str, changer: &str) -> Setup {
    let s = Setup::new(top, changer);
    let src = s.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    s.write("disklist", &format!("localhost {} local\n", src.display()));
    s
}

#[test]
fn a_good_setup_passes_and_says_what_it_checked() {
    let s = local_setup();
    // a second recipient, and the identity moved off the "server"
    let other = s.path().join("other.txt");
    let r2 = s.run(&["keygen", "-o", other.to_str().unwrap()]).stdout;
    let r1 = std::fs::read_to_string(s.path().join("keys/recipients.txt")).unwrap();
    s.write("keys/recipients.txt", &format!("{r1}{r2}"));
    std::fs::rename(&s.identity, s.path().join("offline-identity.txt")).unwrap();
    let r = s.run(&["check", "--json"]);
    r.assert_code(0);
    assert!(
        items(&r).iter().all(|i| i["status"] == "OK"),
        "{:#?}",
        items(&r)
    );
    has(&r, "OK", "client localhost", "reachable");
    has(&r, "OK", "localhost", "exists and is readable");
    let text = s.run(&["check"]);
    assert!(
        text.stdout.contains("checks: 0 failed, 0 warnings"),
        "{}",
        text.stdout
    );
}

#[test]
fn tapes_bigger_than_the_free_space_are_a_warning_naming_the_numbers() {
    let s = local_setup_with(
        "runtapes = 2\ntapecycle = 20",
        "slots = 20\nautolabel = \"daily-%%\"\ntape_size = \"900000T\"\n",
    );
    let r = s.run(&["check", "--json"]);
    r.assert_code(0);
    has(&r, "WARN", "disk space", "(runtapes × tape_size)");
    has(&r, "WARN", "disk space", "a run may write 1800000.0 TiB");
}

#[test]
fn config_error_is_exit_2() {
    let s = local_setup();
    s.write("disklist", "localhost /x nosuchtype\n");
    let r = s.run(&["check"]);
    r.assert_code(2);
    assert!(r.stderr.contains("unknown dumptype"), "{}", r.stderr);
}

#[test]
fn no_writable_tape_fails() {
    let s = Setup::new("", "slots = 10\n");
    s.write("disklist", "");
    let r = s.run(&["check", "--json"]);
    r.assert_code(1);
    has(&r, "FAIL", "tapes", "no tape may be written");
}

#[test]
fn unwritable_catalog_fails() {
    let s = local_setup();
    std::fs::write(
        s.path().join("catalog"),
        b"a file where the catalog should be",
    )
    .unwrap();
    let r = s.run(&["check", "--json"]);
    r.assert_code(1);
    has(&r, "FAIL", "catalog", "not writable");
}

#[test]
fn recipients_missing_single_or_with_identity_on_the_server() {
    let s = local_setup();
    let r = s.run(&["check", "--json"]);
    has(&r, "WARN", "recipients", "only one age recipient");
    has(&r, "WARN", "recipients", "lies on this server");
    r.assert_code(0);
    std::fs::remove_file(s.path().join("keys/recipients.txt")).unwrap();
    let r = s.run(&["check", "--json"]);
    r.assert_code(1);
    has(&r, "FAIL", "recipients", "no age recipients");
}

#[test]
fn missing_dle_path_and_path_outside_the_agents_roots_fail() {
    let s = local_setup();
    let src = s.path().join("src");
    s.write("agent.toml", &format!("allow = [\"{}\"]\n", src.display()));
    s.write(
        "disklist",
        &format!(
            "localhost {} local\nlocalhost /nonexistent local\nlocalhost /etc local\n",
            src.display()
        ),
    );
    let cfg = s.path().join("agent.toml");
    let r = s.run_env(
        &["check", "--json"],
        &[("TAPIR_AGENT_CONFIG", cfg.to_str().unwrap())],
    );
    r.assert_code(1);
    has(&r, "OK", "localhost", "exists and is readable");
    has(&r, "FAIL", "localhost /nonexistent", "cannot dump");
    has(&r, "FAIL", "localhost /etc", "outside the allowed roots");
}

fn ssh_setup(s: &Setup, hosts: &[&Sshd]) {
    let mut cfg = std::fs::read_to_string(s.path().join("tapir.toml")).unwrap();
    cfg.push_str("\n[ssh]\nidentity = \"keys/id_ed25519\"\nknown_hosts = \"keys/known_hosts\"\nconnect_timeout = \"3s\"\n");
    for h in hosts {
        cfg.push_str(&h.host_block());
    }
    s.write("tapir.toml", &cfg);
    s.write("dumptypes/ssh.toml", "auth = \"ssh\"\n");
    let dl: String = hosts
        .iter()
        .map(|h| format!("{} {} ssh\n", h.name, s.path().display()))
        .collect();
    s.write("disklist", &dl);
}

fn forced_line(s: &Setup, command: &str) -> String {
    keygen(&s.path().join("keys/id_ed25519"));
    let pubkey = std::fs::read_to_string(s.path().join("keys/id_ed25519.pub")).unwrap();
    format!("restrict,command=\"{command}\" {}", pubkey.trim())
}

#[test]
fn unreachable_client_and_unknown_host_key_fail() {
    let s = Setup::new("", "");
    let line = forced_line(&s, &format!("{} agent", crate::common::BIN));
    let mut down = Sshd::start(s.path(), "down", &line);
    let unknown = Sshd::start(s.path(), "unknown", &line);
    ssh_setup(&s, &[&down, &unknown]);
    s.run(&["enroll", "down"]).assert_code(0);
    down.stop();
    let r = s.run(&["check", "--json"]);
    r.assert_code(1);
    has(&r, "FAIL", "client down", "cannot connect");
    has(&r, "FAIL", "client unknown", "tapir enroll unknown");
    has(&r, "OK", "ssh client", "ssh: OpenSSH_");
    // no OpenSSH client where the config says: one FAIL naming it and the way out
    let cfg = std::fs::read_to_string(s.path().join("tapir.toml")).unwrap();
    s.write(
        "tapir.toml",
        &cfg.replace("[ssh]\n", "[ssh]\ncommand = \"/nonexistent/ssh\"\n"),
    );
    let r = s.run(&["check", "--json"]);
    r.assert_code(1);
    has(&r, "FAIL", "ssh client", "cannot run /nonexistent/ssh");
    has(&r, "FAIL", "ssh client", "ssh.client = \"libssh2\"");
}

/// A forced command that answers Hello with `hello_ok` JSON of our choosing.
fn fake_agent(s: &Setup, json: &str) -> String {
    let mut frame = format!("\\115\\000\\000\\000\\{:03o}", json.len());
    frame.push_str(json);
    let script = s.path().join("fake-agent.sh");
    std::fs::write(&script, format!("#!/bin/sh\nprintf '{frame}'\nsleep 1\n")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script.display().to_string()
}

#[test]
fn incompatible_agent_fails() {
    let s = Setup::new("", "");
    let fake = fake_agent(
        &s,
        r#"{"type":"hello_ok","protocol":99,"tool_version":"9.9.9","time":0}"#,
    );
    let line = forced_line(&s, &fake);
    let h = Sshd::start(s.path(), "old", &line);
    ssh_setup(&s, &[&h]);
    s.run(&["enroll", "old"]).assert_code(0);
    let r = s.run(&["check", "--json"]);
    r.assert_code(1);
    has(&r, "FAIL", "client old", "agent speaks protocol 99");
}

#[test]
fn client_clock_skew_fails() {
    let s = Setup::new("", "");
    let skewed = chrono::Utc::now().timestamp() - 1000;
    let fake = fake_agent(
        &s,
        &format!(r#"{{"type":"hello_ok","protocol":1,"tool_version":"0.1.0","time":{skewed}}}"#),
    );
    let line = forced_line(&s, &fake);
    let h = Sshd::start(s.path(), "skewed", &line);
    ssh_setup(&s, &[&h]);
    s.run(&["enroll", "skewed"]).assert_code(0);
    let r = s.run(&["check", "--json"]);
    r.assert_code(1);
    has(&r, "FAIL", "client skewed clock", "-100");
}
