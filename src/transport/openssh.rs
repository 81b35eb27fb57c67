//! The default SSH transport: the system OpenSSH client as a child process, speaking the
//! same framed protocol over its pipes as the local agent. OpenSSH decrypts in large blocks
//! (a quarter of libssh2's server CPU per GB), gets the OS's security fixes, and brings what
//! fleets use: `@cert-authority` host certificates, hashed known_hosts, ssh-agent, FIDO keys,
//! ssh_config and jump hosts. Its failures (exit 255 and a stderr meant for people) are read
//! back into tapir's own messages, naming the host and the fix.

use super::ssh::Login;
use crate::config::Target;
use crate::error::Error;
use crate::transport::known_hosts;
use anyhow::{Context, Result, bail};
use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::os::fd::AsFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

/// Ciphers in order of preference: AES-GCM first (AES-NI), ChaCha20 for machines without it.
const CIPHERS: &str = "aes128-gcm@openssh.com,aes256-gcm@openssh.com,chacha20-poly1305@openssh.com";
/// Key exchange: curve25519 first (fast and everywhere), then what older servers offer.
const KEX: &str = "curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256,diffie-hellman-group14-sha256";

/// A running `ssh … tapir agent`.
pub struct Spawned {
    pub child: Child,
    pub stdout: ChildStdout,
    pub stdin: ChildStdin,
    pub stderr: super::Drain,
}

/// A host or address as it may reach argv: letters, digits, `.`, `-`, `_`, `:` (IPv6), not
/// starting with `-`.
fn check_name(what: &str, s: &str, host: &str) -> Result<()> {
    let ok = !s.is_empty()
        && !s.starts_with('-')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'));
    if !ok {
        bail!("{host}: {what} {s:?} is not a valid host or user name (letters, digits, . - _ :)");
    }
    Ok(())
}

fn check_target(t: &Target) -> Result<()> {
    check_name("host name", &t.name, &t.name)?;
    check_name("address", &t.address, &t.name)?;
    check_name("user", &t.user, &t.name)?;
    if t.user.contains(':') {
        bail!("{}: user {:?} is not a valid user name", t.name, t.user);
    }
    Ok(())
}

/// The options every connection gets, the jump host's included: strict host keys from
/// tapir's known_hosts, no prompts, no forwarding, no shared master, fast ciphers.
fn common(l: &Login) -> Vec<OsString> {
    let mut a: Vec<OsString> = ["-T", "-x", "-a", "-S", "none"]
        .map(OsString::from)
        .to_vec();
    if let Some(f) = l.ssh_config {
        a.push("-F".into());
        a.push(f.into());
    }
    let mut opt = |k: &str, v: &std::ffi::OsStr| {
        let mut s = OsString::from(format!("{k}="));
        s.push(v);
        a.push("-o".into());
        a.push(s);
    };
    opt("BatchMode", "yes".as_ref());
    opt("StrictHostKeyChecking", "yes".as_ref());
    opt("UserKnownHostsFile", &path_value(l.known_hosts));
    opt("IdentityFile", &path_value(l.identity));
    let secs = l.connect_timeout.as_secs().max(1).to_string();
    opt("ConnectTimeout", secs.as_ref());
    opt("ServerAliveInterval", "15".as_ref());
    opt("ServerAliveCountMax", "4".as_ref());
    opt("Ciphers", CIPHERS.as_ref());
    opt("KexAlgorithms", KEX.as_ref());
    opt("LogLevel", "ERROR".as_ref());
    // an admin's ssh.config LocalCommand would run on the backup server for every session
    opt("PermitLocalCommand", "no".as_ref());
    a
}

/// A path as an `-o` value: ssh splits values at whitespace unless double-quoted.
fn path_value(p: &Path) -> OsString {
    let raw = p.as_os_str();
    if !raw.to_string_lossy().contains(char::is_whitespace) {
        return raw.to_owned();
    }
    let mut q = OsString::from("\"");
    q.push(raw);
    q.push("\"");
    q
}

/// known_hosts lines are recorded under the disklist name (`tapir enroll NAME`): when the
/// address differs, OpenSSH is told to look the key up under that name.
fn alias(t: &Target) -> Option<OsString> {
    (t.address != t.name).then(|| {
        OsString::from(format!(
            "HostKeyAlias={}",
            known_hosts::host_pattern(&t.name, t.port)
        ))
    })
}

/// One word of a ProxyCommand: quoted for the shell OpenSSH runs it with, and `%` doubled
/// so that ssh does not take it for one of its tokens.
fn proxy_word(s: &std::ffi::OsStr) -> String {
    format!("'{}'", s.to_string_lossy().replace('\'', r"'\''")).replace('%', "%%")
}

/// The whole argv after `ssh`, ending in `-- ADDRESS tapir agent`.
pub fn argv(t: &Target, l: &Login) -> Result<Vec<OsString>> {
    check_target(t)?;
    let mut a = common(l);
    if let Some(al) = alias(t) {
        a.extend(["-o".into(), al]);
    }
    if let Some(j) = &t.jump {
        check_target(j)?;
        // the jump's own ssh gets the same strict options (ProxyJump would give it only -F)
        let mut ja = vec![l.ssh.as_os_str().to_owned()];
        ja.extend(common(l));
        if let Some(al) = alias(j) {
            ja.extend(["-o".into(), al]);
        }
        ja.extend(["-p", &j.port.to_string(), "-l", &j.user].map(OsString::from));
        let mut cmd: Vec<String> = ja.iter().map(|s| proxy_word(s)).collect();
        // ssh's own tokens: the target's address and port, as the bastion resolves them
        cmd.push("-W '[%h]:%p'".into());
        cmd.push(proxy_word(OsStr::new("--")));
        cmd.push(proxy_word(OsStr::new(&j.address)));
        a.push("-o".into());
        a.push(format!("ProxyCommand={}", cmd.join(" ")).into());
    }
    a.extend(
        [
            "-p",
            &t.port.to_string(),
            "-l",
            &t.user,
            "--",
            &t.address,
            "tapir agent",
        ]
        .map(OsString::from),
    );
    Ok(a)
}

/// Start `ssh … tapir agent` towards `t`.
pub fn spawn(t: &Target, l: &Login) -> Result<Spawned> {
    let args = argv(t, l)?;
    // a group of its own: its ProxyCommand and anything a wrapper starts are killed with it
    let mut child = Command::new(l.ssh)
        .args(&args)
        .process_group(0)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| {
            format!(
                "cannot run {} for {} (install openssh-client, or set ssh.client = \"libssh2\")",
                l.ssh.display(),
                t.name
            )
        })?;
    let stdout = child.stdout.take().expect("piped");
    super::big_pipe(&stdout);
    let stdin = child.stdin.take().expect("piped");
    let stderr = super::drain_stderr(child.stderr.take().expect("piped"));
    Ok(Spawned {
        child,
        stdout,
        stdin,
        stderr,
    })
}

/// The host key `t` offers, fetched the way a session reaches it (through its jump host
/// too): ssh records it with `accept-new` into a scratch known_hosts beside the real one,
/// whose strict settings still hold for the jump host. The login is refused by design (no
/// key is offered): the host key is recorded before it.
pub fn host_key(
    t: &Target,
    l: &Login,
    recorded: &[known_hosts::Entry],
) -> Result<known_hosts::Entry> {
    let scratch = l.known_hosts.with_file_name(format!(
        ".{}.enroll-{}",
        l.known_hosts
            .file_name()
            .map_or("known_hosts".into(), |n| n.to_string_lossy()),
        std::process::id()
    ));
    if let Some(d) = scratch.parent() {
        crate::fsutil::create_dir_all(d)?;
    }
    let _ = std::fs::remove_file(&scratch);
    let mut args: Vec<OsString> = Vec::new();
    // first values win in ssh: these override the strict ones for this one connection, and
    // it offers no key at all, so it ends right after the host key (the jump host's own ssh,
    // in the ProxyCommand, keeps its identity and strict checks)
    for o in [
        "StrictHostKeyChecking=accept-new",
        "GlobalKnownHostsFile=none",
        "HashKnownHosts=no",
        "PreferredAuthentications=none",
    ] {
        args.extend(["-o".into(), o.into()]);
    }
    // a host recorded before is asked for the same type of key, as a session would
    if let Some(e) = recorded.first() {
        let algs = match e.key_type.as_str() {
            "ssh-rsa" => "rsa-sha2-512,rsa-sha2-256,ssh-rsa",
            other => other,
        };
        args.extend(["-o".into(), format!("HostKeyAlgorithms={algs}").into()]);
    }
    let mut kh = OsString::from("UserKnownHostsFile=");
    kh.push(path_value(&scratch));
    args.extend(["-o".into(), kh]);
    args.extend(argv(t, l)?);
    let out = Command::new(l.ssh)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .with_context(|| format!("cannot run {} for {}", l.ssh.display(), t.name));
    let text = std::fs::read_to_string(&scratch).unwrap_or_default();
    let _ = std::fs::remove_file(&scratch);
    let out = out?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    let entry = text.lines().find_map(|line| {
        let mut f = line.split_whitespace();
        let (_, kind, key) = (f.next()?, f.next()?, f.next()?);
        use base64::Engine;
        let key = base64::engine::general_purpose::STANDARD.decode(key).ok()?;
        Some(known_hosts::Entry {
            key_type: kind.to_string(),
            key,
        })
    });
    entry.ok_or_else(|| {
        let why = explain(t, l.identity, l.known_hosts, out.status.code(), &stderr)
            .unwrap_or_else(|| Error::failed(format!("ssh said: {}", last_line(&stderr))));
        anyhow::anyhow!(why.prefixed(&format!("no host key from {}: ", t.name)))
    })
}

/// What a session keeps to explain ssh's failures.
pub struct Why {
    target: Target,
    identity: PathBuf,
    known_hosts: PathBuf,
}

impl Why {
    pub fn new(t: &Target, l: &Login) -> Why {
        Why {
            target: t.clone(),
            identity: l.identity.to_path_buf(),
            known_hosts: l.known_hosts.to_path_buf(),
        }
    }

    pub fn explain(&self, code: Option<i32>, stderr: &str) -> Option<Error> {
        explain(
            &self.target,
            &self.identity,
            &self.known_hosts,
            code,
            stderr,
        )
    }
}

/// What ssh's exit and stderr mean, in tapir's words; None when it is not a failure of
/// ssh itself (the agent's own exit, or a connection lost after the start).
pub fn explain(
    t: &Target,
    identity: &Path,
    known_hosts_file: &Path,
    code: Option<i32>,
    stderr: &str,
) -> Option<Error> {
    if code != Some(255) {
        return None;
    }
    // the jump host's own ssh writes to the same stderr: its host-key failures are its own
    if let Some(j) = &t.jump {
        let names = [
            known_hosts::host_pattern(&j.name, j.port),
            known_hosts::host_pattern(&j.address, j.port),
        ];
        let about_jump = stderr.lines().any(|l| {
            (l.contains("is known for") || l.contains("Host key for"))
                && names.iter().any(|n| l.contains(&format!(" {n} ")))
        });
        if about_jump {
            return explain(j, identity, known_hosts_file, code, stderr)
                .map(|m| m.prefixed(&format!("jump host for {}: ", t.name)));
        }
    }
    let has = |s: &str| stderr.contains(s);
    let pattern = known_hosts::host_pattern(&t.name, t.port);
    let at = format!("{} ({}:{})", t.name, t.address, t.port);
    let file = known_hosts_file.display();
    if has("REMOTE HOST IDENTIFICATION HAS CHANGED") || has("Host key for") && has("has changed") {
        let offers = offered_key(stderr).unwrap_or_else(|| "another key".into());
        return Some(
            Error::failed(format!(
                "HOST KEY OF {at} HAS CHANGED: it now offers {offers}, {file} records another key"
            ))
            .hint(format!(
                "if the change is expected (reinstall), remove the line for {pattern} from \
                 {file} and run `tapir enroll {}`",
                t.name
            )),
        );
    }
    if has("Host key verification failed") {
        let mut m = format!("host key of {at} is not known (no host is trusted silently)");
        if has("Certificate invalid") || has("certificate") {
            m.push_str(&format!("; ssh said: {}", last_line(stderr)));
        }
        return Some(Error::failed(m).hint(format!("check it and run `tapir enroll {}`", t.name)));
    }
    if has("Permission denied") {
        return Some(
            Error::failed(format!(
                "{}@{}: public key login with {} refused",
                t.user,
                t.name,
                identity.display()
            ))
            .hint(format!(
                "put the line `tapir enroll {}` prints into ~{}/.ssh/authorized_keys there",
                t.name, t.user
            )),
        );
    }
    // why a connection could not be made, and what ssh says when one ended before it began
    let no_route = [
        "Connection refused",
        "Connection timed out",
        "timed out during banner exchange",
        "No route to host",
        "Network is unreachable",
        "Could not resolve hostname",
        "Name or service not known",
    ];
    let cut = ["kex_exchange_identification", "Connection closed by"];
    if no_route.iter().chain(&cut).any(|u| has(u)) {
        // through a jump host, the proxy's own failure says more than ssh's last words
        let said = stderr
            .lines()
            .find(|l| no_route.iter().any(|u| l.contains(u)))
            .map_or_else(|| last_line(stderr), |l| l.trim().to_string());
        let via = t.jump.as_ref().map_or(String::new(), |j| {
            format!(" through {} ({}:{})", j.name, j.address, j.port)
        });
        return Some(Error::failed(format!(
            "cannot connect to {at}{via}: {said}"
        )));
    }
    None
}

/// `ED25519 key SHA256:…` from OpenSSH's changed-key warning.
fn offered_key(stderr: &str) -> Option<String> {
    let lines: Vec<&str> = stderr.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.contains("key sent by the remote host is"))?;
    let kind = lines[at]
        .split("The fingerprint for the ")
        .nth(1)?
        .split(' ')
        .next()?
        .to_string();
    let fp = lines.get(at + 1)?.trim().trim_end_matches('.');
    Some(format!("{kind} key {fp}"))
}

fn last_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .unwrap_or("(nothing on stderr)")
        .to_string()
}

/// A child's stdout with a timeout: a read that waits longer than the limit for a byte is a
/// TimedOut error (the stalled client), as the libssh2 transport's socket timeout is. The
/// limit is shared, so the session shortens it while connecting and lengthens it after.
pub struct TimedRead {
    pub inner: ChildStdout,
    pub limit: Limit,
}

/// A read timeout in milliseconds that its owner can change while a reader holds it.
#[derive(Debug, Clone)]
pub struct Limit(std::sync::Arc<std::sync::atomic::AtomicU64>);

impl Limit {
    pub fn new(d: Duration) -> Limit {
        let l = Limit(std::sync::Arc::new(std::sync::atomic::AtomicU64::new(1)));
        l.set(d);
        l
    }
    pub fn set(&self, d: Duration) {
        let ms = d.as_millis().clamp(1, u64::MAX as u128) as u64;
        self.0.store(ms, std::sync::atomic::Ordering::Relaxed);
    }
    pub fn get(&self) -> Duration {
        Duration::from_millis(self.0.load(std::sync::atomic::Ordering::Relaxed))
    }
}

impl Read for TimedRead {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if !crate::sys::readable_within(self.inner.as_fd(), self.limit.get())? {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "no data within the stall timeout",
            ));
        }
        self.inner.read(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn login() -> Login<'static> {
        Login {
            identity: Path::new("/k/id"),
            known_hosts: Path::new("/k/known hosts"),
            connect_timeout: Duration::from_secs(7),
            stall_timeout: Duration::from_secs(60),
            ssh: Path::new("ssh"),
            ssh_config: None,
        }
    }

    fn target(name: &str, address: &str, user: &str) -> Target {
        Target {
            name: name.into(),
            address: address.into(),
            port: 2222,
            user: user.into(),
            jump: None,
        }
    }

    #[test]
    fn argv_is_strict_and_ends_with_the_agent() {
        let a: Vec<String> = argv(&target("web1", "10.0.0.5", "tapir"), &login())
            .unwrap()
            .into_iter()
            .map(|s| s.into_string().unwrap())
            .collect();
        let joined = a.join(" ");
        for want in [
            "-T -x -a -S none",
            "-o BatchMode=yes",
            "-o StrictHostKeyChecking=yes",
            "-o UserKnownHostsFile=\"/k/known hosts\"",
            "-o ConnectTimeout=7",
            "-o HostKeyAlias=[web1]:2222",
            "-p 2222 -l tapir -- 10.0.0.5 tapir agent",
        ] {
            assert!(joined.contains(want), "{want} not in {joined}");
        }
        assert_eq!(a.last().unwrap(), "tapir agent");
    }

    #[test]
    fn option_like_and_shell_like_names_never_reach_argv() {
        for (n, addr, u) in [
            ("web1", "-oProxyCommand=x", "tapir"),
            ("web1", "web1", "-l"),
            ("web1", "a;b", "tapir"),
            ("web1", "web1", "ta pir"),
            ("web1", "web1", "a:b"),
        ] {
            assert!(argv(&target(n, addr, u), &login()).is_err(), "{addr} {u}");
        }
    }

    #[test]
    fn a_jump_host_gets_the_same_strict_options_quoted() {
        let mut t = target("db1", "db1", "tapir");
        t.jump = Some(Box::new(target("bastion", "192.0.2.1", "jump")));
        let mut l = login();
        l.identity = Path::new("/k/100%/id");
        l.ssh = Path::new("/opt/open ssh/bin/ssh");
        let a: Vec<String> = argv(&t, &l)
            .unwrap()
            .into_iter()
            .map(|s| s.into_string().unwrap())
            .collect();
        let proxy = a.iter().find(|s| s.starts_with("ProxyCommand=")).unwrap();
        for want in [
            "ProxyCommand='/opt/open ssh/bin/ssh' '-T'",
            "'StrictHostKeyChecking=yes'",
            "'UserKnownHostsFile=\"/k/known hosts\"'",
            "'IdentityFile=/k/100%%/id'",
            "'HostKeyAlias=[bastion]:2222'",
            "-W '[%h]:%p' '--' '192.0.2.1'",
        ] {
            assert!(proxy.contains(want), "{want} not in {proxy}");
        }
    }

    fn why(t: &Target) -> Why {
        Why::new(t, &login())
    }

    #[test]
    fn ssh_failures_read_as_tapir_messages() {
        let t = target("web1", "127.0.0.1", "tapir");
        let changed = "@@@@\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n\
            The fingerprint for the ED25519 key sent by the remote host is\n\
            SHA256:abcDEF.\nHost key verification failed.\n";
        let m = why(&t).explain(Some(255), changed).unwrap().to_string();
        assert!(
            m.contains("HOST KEY OF web1") && m.contains("ED25519 key SHA256:abcDEF"),
            "{m}"
        );
        assert!(m.contains("remove the line for [web1]:2222"), "{m}");
        let unknown = "No ED25519 host key is known for [127.0.0.1]:2222 and you have requested \
            strict checking.\nHost key verification failed.\n";
        let m = why(&t).explain(Some(255), unknown).unwrap().to_string();
        assert!(
            m.contains("host key of web1") && m.contains("tapir enroll web1"),
            "{m}"
        );
        let refused = "ssh: connect to host 127.0.0.1 port 2222: Connection refused\n";
        let m = why(&t).explain(Some(255), refused).unwrap().to_string();
        assert!(
            m.starts_with("cannot connect to web1 (127.0.0.1:2222)"),
            "{m}"
        );
        let denied = "tapir@127.0.0.1: Permission denied (publickey).\n";
        assert!(
            why(&t)
                .explain(Some(255), denied)
                .unwrap()
                .to_string()
                .contains("login with /k/id refused; to fix: put the line")
        );
        assert_eq!(why(&t).explain(Some(1), denied), None);
    }
}
