//! The agent as the security boundary, and clients that die, are down or stall: only that
//! DLE fails, with the reason; tape and catalog stay consistent.

use crate::common::sshd::{Sshd, keygen};
use crate::common::{Setup, noise};
use std::process::{Command, Stdio};

struct Env {
    s: Setup,
    line: String,
    src: String,
}

/// A setup with a server SSH identity, an agent.toml allowing only `src`, and a big-enough
/// tree in `src` (30 files) for mid-stream failures.
fn env() -> Env {
    let s = Setup::new("", "");
    keygen(&s.path().join("keys/id_ed25519"));
    let pubkey = std::fs::read_to_string(s.path().join("keys/id_ed25519.pub")).unwrap();
    let agent_cfg = s.path().join("agent.toml");
    let src = s.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    for k in 0..30 {
        std::fs::write(src.join(format!("f{k:02}")), noise(64 << 10, k)).unwrap();
    }
    let hooks = format!(
        "[hooks.snap]\npre = [\"/bin/sh\", \"-c\", \"env > {0}/hook-env.txt\"]\npost = [\"/bin/sh\", \"-c\", \"echo done > {0}/hook-post.txt\"]\n",
        s.path().display()
    );
    s.write(
        "agent.toml",
        &format!(
            "allow = [\"{}\"]\nlog = \"{}/agent.log\"\n{hooks}",
            src.display(),
            s.path().display()
        ),
    );
    let line = format!(
        "restrict,command=\"{} agent --agent-config {}\" {}",
        crate::common::BIN,
        agent_cfg.display(),
        pubkey.trim()
    );
    s.write(
        "dumptypes/ssh.toml",
        "auth = \"ssh\"\nstall_timeout = \"3s\"\n",
    );
    s.write(
        "dumptypes/ssh-hooked.toml",
        "auth = \"ssh\"\nhooks = [\"snap\"]\n",
    );
    s.write(
        "dumptypes/ssh-badhook.toml",
        "auth = \"ssh\"\nhooks = [\"nonesuch\"]\n",
    );
    let src = src.display().to_string();
    Env { s, line, src }
}

impl Env {
    fn with_hosts(&self, hosts: &[&Sshd]) {
        let mut cfg = std::fs::read_to_string(self.s.path().join("tapir.toml")).unwrap();
        cfg.push_str("\n[ssh]\nidentity = \"keys/id_ed25519\"\nknown_hosts = \"keys/known_hosts\"\nconnect_timeout = \"3s\"\n");
        for h in hosts {
            cfg.push_str(&h.host_block());
        }
        self.s.write("tapir.toml", &cfg);
        for h in hosts {
            self.s.run(&["enroll", &h.name]).assert_code(0);
        }
    }

    fn outcome(&self, stdout: &str, host: &str) -> serde_json::Value {
        let v: serde_json::Value =
            serde_json::from_str(stdout).unwrap_or_else(|_| panic!("{stdout}"));
        v["outcomes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["host"] == host)
            .unwrap_or_else(|| panic!("{host}: {stdout}"))
            .clone()
    }

    /// No partial file, every listed dump fetchable.
    fn assert_consistent(&self) {
        assert!(self.s.partials().is_empty(), "{:?}", self.s.partials());
        for rec in self.s.find_json().as_array().unwrap() {
            let r = self.s.run(&[
                "fetch",
                "--host",
                rec["host"].as_str().unwrap(),
                "--disk",
                rec["disk"].as_str().unwrap(),
                "-o",
                "-",
            ]);
            r.assert_code(0);
        }
    }
}

#[test]
fn forced_command_refuses_paths_outside_the_allowed_roots_and_logs_it() {
    let e = env();
    let h = Sshd::start(e.s.path(), "web1", &e.line);
    e.with_hosts(&[&h]);
    e.s.write("disklist", &format!("web1 {} ssh\nweb1 /etc ssh\n", e.src));
    let r = e.s.run(&["dump", "--json"]);
    r.assert_code(1);
    let bad = e.outcome(&r.stdout, "web1");
    let all = serde_json::from_str::<serde_json::Value>(&r.stdout).unwrap();
    let etc = all["outcomes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["disk"] == "/etc")
        .unwrap();
    assert_eq!(etc["status"], "FAILED");
    assert!(
        etc["reason"]
            .as_str()
            .unwrap()
            .contains("outside the allowed roots"),
        "{etc}"
    );
    let ok = all["outcomes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["disk"] == e.src.as_str())
        .unwrap();
    assert_eq!(ok["status"], "OK", "{bad}");
    let log = std::fs::read_to_string(e.s.path().join("agent.log")).unwrap();
    assert!(log.contains("REFUSED") && log.contains("/etc"), "{log}");
}

/// Speak the protocol to the agent directly (what the forced command runs).
fn agent_says(e: &Env, frames: &[&str]) -> (String, bool) {
    let frames: Vec<String> = frames.iter().map(|f| f.to_string()).collect();
    crate::common::agent_says(&e.s.path().join("agent.toml"), &frames)
}

#[test]
fn agent_refuses_unknown_operations_smuggled_fields_and_shell_text() {
    let e = env();
    let hello = r#"{"type":"hello","protocol":1,"tool_version":"x"}"#;
    let (out, ok) = agent_says(&e, &[hello, r#"{"type":"exec","command":"rm -rf /"}"#]);
    assert!(
        !ok && out.contains("refused: protocol error: unknown or malformed request"),
        "{out}"
    );
    let smuggled = format!(
        r#"{{"type":"dump","path":"{}","level":0,"exclude":[],"one_file_system":true,"gzip_level":null,"tar_options":["--to-command=sh"]}}"#,
        e.src
    );
    let (out, ok) = agent_says(&e, &[hello, &smuggled]);
    assert!(!ok && out.contains("unknown field `tar_options`"), "{out}");
    for (path, exclude, expect) in [
        (
            "--checkpoint-action=exec=sh",
            "x",
            "looks like a command-line option",
        ),
        (e.src.as_str(), "$(touch /tmp/tapir-pwned)", "shell syntax"),
        (
            e.src.as_str(),
            "--exclude-from=/etc/shadow",
            "command-line option",
        ),
        ("/etc/../etc", "x", "not a normalized absolute path"),
    ] {
        let req = format!(
            r#"{{"type":"dump","path":"{path}","level":0,"exclude":["{exclude}"],"one_file_system":true,"gzip_level":null}}"#
        );
        let (out, _) = agent_says(&e, &[hello, &req]);
        assert!(
            out.contains("refused") && out.contains(expect),
            "{path} {exclude}: {out}"
        );
        assert!(
            !out.contains("\"type\":\"started\""),
            "nothing was dumped: {out}"
        );
    }
    let log = std::fs::read_to_string(e.s.path().join("agent.log")).unwrap();
    assert!(log.matches("REFUSED").count() >= 6, "{log}");
    assert!(!std::path::Path::new("/tmp/tapir-pwned").exists());
}

#[test]
fn a_shell_command_over_ssh_gets_the_agent_not_a_shell() {
    let e = env();
    let h = Sshd::start(e.s.path(), "web1", &e.line);
    let marker = e.s.path().join("pwned");
    let out = Command::new("ssh")
        .args(["-i"])
        .arg(e.s.path().join("keys/id_ed25519"))
        .args([
            "-p",
            &h.port.to_string(),
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "BatchMode=yes",
        ])
        .arg(format!("{}@127.0.0.1", crate::common::sshd::current_user()))
        .arg(format!("touch {}", marker.display()))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        !marker.exists(),
        "the forced command must not run the requested command: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // refused with a message and an exit code, not ignored silently
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("REFUSED") && stderr.contains("touch"),
        "{stderr}"
    );
    let log = std::fs::read_to_string(e.s.path().join("agent.log")).unwrap();
    assert!(log.contains("REFUSED") && log.contains("touch"), "{log}");
}

#[test]
fn hooks_run_around_the_dump_with_a_cleared_environment_and_unknown_hooks_are_refused() {
    let e = env();
    let h = Sshd::start(e.s.path(), "web1", &e.line);
    e.with_hosts(&[&h]);
    e.s.write("disklist", &format!("web1 {} ssh-hooked\n", e.src));
    e.s.run(&["dump"]).assert_code(0);
    let env_txt = std::fs::read_to_string(e.s.path().join("hook-env.txt")).unwrap();
    let names: Vec<&str> = env_txt
        .lines()
        .filter_map(|l| l.split('=').next())
        .collect();
    assert!(names.contains(&"PATH"), "{env_txt}");
    for leaked in ["SSH_CONNECTION", "HOME", "USER", "SSH_ORIGINAL_COMMAND"] {
        assert!(
            !names.contains(&leaked),
            "{leaked} leaked into the hook: {env_txt}"
        );
    }
    assert_eq!(
        std::fs::read_to_string(e.s.path().join("hook-post.txt"))
            .unwrap()
            .trim(),
        "done"
    );
    e.s.write("disklist", &format!("web1 {} ssh-badhook\n", e.src));
    let r = e.s.run(&["dump"]);
    r.assert_code(1);
    assert!(
        r.stdout.contains("hook \"nonesuch\" is not defined"),
        "{}",
        r.stdout
    );
}

#[test]
fn killed_down_and_stalled_clients_fail_only_their_dle() {
    let e = env();
    let killed = Sshd::start_with(
        e.s.path(),
        "killed",
        &e.line,
        "SetEnv TAPIR_FAILPOINT=agent-mid-stream",
    );
    let stalled = Sshd::start_with(
        e.s.path(),
        "stalled",
        &e.line,
        "SetEnv TAPIR_FAILPOINT=agent-mid-stream:pause",
    );
    let mut down = Sshd::start(e.s.path(), "down", &e.line);
    let fine = Sshd::start(e.s.path(), "fine", &e.line);
    e.with_hosts(&[&killed, &stalled, &down, &fine]);
    down.stop();
    e.s.write(
        "disklist",
        &format!(
            "killed {0} ssh\nstalled {0} ssh\ndown {0} ssh\nfine {0} ssh\n",
            e.src
        ),
    );
    let r = e.s.run(&["dump", "--json"]);
    r.assert_code(1);
    let reason = |h: &str| {
        let o = e.outcome(&r.stdout, h);
        assert_eq!(o["status"], "FAILED", "{h}: {o}");
        o["reason"].as_str().unwrap().to_string()
    };
    assert!(
        reason("killed").contains("disconnected"),
        "{}",
        reason("killed")
    );
    assert!(
        reason("stalled").contains("stalled: no data for 3 s"),
        "{}",
        reason("stalled")
    );
    assert!(
        reason("down").contains("cannot connect to down"),
        "{}",
        reason("down")
    );
    assert_eq!(e.outcome(&r.stdout, "fine")["status"], "OK");
    e.assert_consistent();
    assert_eq!(e.s.find_json().as_array().unwrap().len(), 1);
    let _ = Command::new("pkill")
        .args([
            "-f",
            &format!(
                "agent --agent-config {}",
                e.s.path().join("agent.toml").display()
            ),
        ])
        .status();
}

#[test]
fn a_client_login_script_that_prints_is_named_with_its_text() {
    let e = env();
    // "M" is the message tag: the text must still be told from a frame by its length
    let chatty_line = e.line.replacen(
        "command=\"",
        "command=\"echo 'Message of the day: be nice'; exec ",
        1,
    );
    let chatty = Sshd::start(e.s.path(), "chatty", &chatty_line);
    // and one that says nothing at all: a stalled handshake, not a protocol error
    let mute_line = e
        .line
        .replacen("command=\"", "command=\"sleep 30; exec ", 1);
    let mute = Sshd::start(e.s.path(), "mute", &mute_line);
    let fine = Sshd::start(e.s.path(), "fine", &e.line);
    e.with_hosts(&[&chatty, &mute, &fine]);
    e.s.write(
        "disklist",
        &format!("chatty {0} ssh\nmute {0} ssh\nfine {0} ssh\n", e.src),
    );
    let r = e.s.run(&["dump", "--json"]);
    r.assert_code(1);
    let o = e.outcome(&r.stdout, "chatty");
    assert_eq!(o["status"], "FAILED", "{o}");
    let reason = o["reason"].as_str().unwrap();
    assert!(
        reason.contains("printed \"Message of the day: be nice\" before the agent answered")
            && reason.contains("a login script on chatty"),
        "{reason}"
    );
    let mute = e.outcome(&r.stdout, "mute");
    assert_eq!(mute["status"], "FAILED", "{mute}");
    let why = mute["reason"].as_str().unwrap();
    assert!(why.contains("mute stalled: no data for 3 s"), "{why}");
    assert_eq!(e.outcome(&r.stdout, "fine")["status"], "OK");
    e.assert_consistent();
    e.s.write(
        "disklist",
        &format!("chatty {0} ssh\nfine {0} ssh\n", e.src),
    );
    let c = e.s.run(&["check"]);
    c.assert_code(1);
    assert!(
        c.stdout.contains("Message of the day: be nice"),
        "{}",
        c.stdout
    );
}

/// Run `args` with a deadline: a run that outlives it is killed and the test fails.
fn run_within(s: &Setup, args: &[&str], limit: std::time::Duration) -> crate::common::Run {
    let mut c = s.cmd(args);
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = c.spawn().unwrap();
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(out) => crate::common::finish(out.unwrap()),
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!("tapir {args:?} still running after {limit:?}: it hangs");
        }
    }
}

/// One good sshd host `fine` and a local DLE, with `ssh` settings added to `[ssh]`, `hosts`
/// appended to the config and `more` lines to the disklist.
fn fine_and_local(e: &Env, fine: &Sshd, ssh: &str, hosts: &str, more: &str) {
    e.with_hosts(&[fine]);
    let cfg = std::fs::read_to_string(e.s.path().join("tapir.toml")).unwrap();
    let cfg = cfg.replace("[ssh]\n", &format!("[ssh]\n{ssh}")) + hosts;
    e.s.write("tapir.toml", &cfg);
    let local = e.s.path().join("local-src");
    std::fs::create_dir_all(&local).unwrap();
    std::fs::write(local.join("a"), b"local data").unwrap();
    e.s.write(
        "disklist",
        &format!(
            "fine {0} ssh\nlocalhost {1} local\n{more}",
            e.src,
            local.display()
        ),
    );
}

/// `dump --json`, killed and failed if it runs 120 s; it must end within 60 s with `code`,
/// `fine` and `localhost` OK, and leave tape and catalog consistent.
fn dump_ends(e: &Env, code: i32) -> crate::common::Run {
    let t = std::time::Instant::now();
    let r = run_within(
        &e.s,
        &["dump", "--json"],
        std::time::Duration::from_secs(120),
    );
    r.assert_code(code);
    for host in ["fine", "localhost"] {
        assert_eq!(e.outcome(&r.stdout, host)["status"], "OK", "{}", r.stdout);
    }
    assert!(
        t.elapsed() < std::time::Duration::from_secs(60),
        "the run took {:?}",
        t.elapsed()
    );
    e.assert_consistent();
    r
}

#[test]
fn ssh_children_that_outlive_ssh_cannot_hang_the_run_and_are_killed() {
    let e = env();
    let fine = Sshd::start(e.s.path(), "fine", &e.line);
    // a wrapper that leaves a child holding tapir's pipes, as admins' wrappers do
    let wrapper = e.s.path().join("ssh-wrapper");
    e.s.write("ssh-wrapper", "#!/bin/sh\nsleep 613 &\nexec ssh \"$@\"\n");
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let ssh = format!("command = \"{}\"\n", wrapper.display());
    fine_and_local(&e, &fine, &ssh, "", "");
    dump_ends(&e, 0);
    // the wrapper's children were killed with their ssh
    let left = Command::new("pgrep")
        .args(["-f", "sleep 613"])
        .output()
        .unwrap();
    assert!(
        left.stdout.is_empty(),
        "left behind: {}",
        String::from_utf8_lossy(&left.stdout)
    );
}

#[test]
fn a_silent_bastion_fails_its_host_alone_within_the_connect_limits() {
    let e = env();
    let fine = Sshd::start(e.s.path(), "fine", &e.line);
    // a bastion that accepts and never says a word
    let mute = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mute_port = mute.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for c in mute.incoming() {
            held.push(c);
        }
    });
    let user = crate::common::sshd::current_user();
    let hosts = format!(
        "[hosts.behind]\naddress = \"127.0.0.1\"\nport = {}\nuser = \"{user}\"\nproxy_jump = \"mute\"\n\
         [hosts.mute]\naddress = \"127.0.0.1\"\nport = {mute_port}\nuser = \"{user}\"\n",
        fine.port
    );
    fine_and_local(&e, &fine, "", &hosts, &format!("behind {} ssh\n", e.src));
    // behind is fine's sshd under another name: its key is known under both
    let kh = e.s.path().join("keys/known_hosts");
    let known = std::fs::read_to_string(&kh).unwrap();
    let key = known
        .lines()
        .next()
        .unwrap()
        .split_once(' ')
        .unwrap()
        .1
        .to_string();
    std::fs::write(
        &kh,
        format!(
            "{known}[behind]:{} {key}\n[mute]:{mute_port} {key}\n",
            fine.port
        ),
    )
    .unwrap();
    let r = dump_ends(&e, 1);
    let behind = e.outcome(&r.stdout, "behind");
    assert_eq!(behind["status"], "FAILED", "{behind}");
}

#[test]
fn an_admins_ssh_config_localcommand_does_not_run_on_the_backup_server() {
    let e = env();
    let fine = Sshd::start(e.s.path(), "fine", &e.line);
    let ran = e.s.path().join("localcommand-ran");
    e.s.write(
        "ssh_config",
        &format!(
            "PermitLocalCommand yes\nLocalCommand touch {}\n",
            ran.display()
        ),
    );
    fine_and_local(&e, &fine, "config = \"ssh_config\"\n", "", "");
    dump_ends(&e, 0);
    assert!(!ran.exists(), "ssh ran the config's LocalCommand");
}
