//! The SSH transport: TCP with a connect timeout, strict host-key check against
//! `ssh.known_hosts`, public-key login with the server's identity, then `tapir agent` (the
//! client's forced command) on one channel. A stall timeout bounds every read.

use super::known_hosts::{self, Entry};
use crate::config::Target;
use anyhow::{Context, Result, anyhow, bail};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::time::Duration;

/// What the server needs to open a session.
pub struct Login<'a> {
    pub identity: &'a Path,
    pub known_hosts: &'a Path,
    pub connect_timeout: Duration,
    pub stall_timeout: Duration,
    /// The OpenSSH client binary (`ssh.command`), and its `-F` file (`ssh.config`).
    pub ssh: &'a Path,
    pub ssh_config: Option<&'a Path>,
}

/// An authenticated SSH session running `tapir agent`.
pub struct Connected {
    pub session: ssh2::Session,
    pub channel: ssh2::Channel,
}

fn tcp(t: &Target, timeout: Duration) -> Result<TcpStream> {
    let addrs: Vec<_> = (t.address.as_str(), t.port)
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve {} ({})", t.name, t.address))?
        .collect();
    let mut last = None;
    for a in addrs {
        match TcpStream::connect_timeout(&a, timeout) {
            Ok(s) => {
                // Without TCP_NODELAY every request/answer round trip of the handshake and
                // the protocol waits for the peer's delayed ACK (~40 ms): a connection took
                // 0.17 s on loopback instead of 0.08 s.
                s.set_nodelay(true)
                    .with_context(|| format!("cannot set TCP_NODELAY towards {}", t.name))?;
                return Ok(s);
            }
            Err(e) => last = Some(anyhow!("cannot connect to {} ({a}): {e}", t.name)),
        }
    }
    Err(last.unwrap_or_else(|| anyhow!("{} ({}) has no address", t.name, t.address)))
}

/// Ciphers in order of preference.
const CIPHERS: &str = "aes128-gcm@openssh.com,aes256-gcm@openssh.com,chacha20-poly1305@openssh.com,aes128-ctr,aes256-ctr";

/// Open the TCP connection and do the SSH handshake, pinning the recorded host-key type.
pub fn handshake(t: &Target, recorded: &[Entry], timeout: Duration) -> Result<ssh2::Session> {
    let stream = tcp(t, timeout)?;
    let mut s = ssh2::Session::new().context("cannot start an SSH session")?;
    s.set_tcp_stream(stream);
    s.set_timeout(timeout.as_millis().min(u32::MAX as u128) as u32);
    if let Some(e) = recorded.first() {
        s.method_pref(ssh2::MethodType::HostKey, &e.key_type)?;
    }
    // AES-GCM first: with AES-NI libssh2 decrypts it faster than chacha20-poly1305 (a
    // 2 GB level 0 over loopback: 9.5 s against 11.2 s); servers without it pick the next.
    for m in [ssh2::MethodType::CryptCs, ssh2::MethodType::CryptSc] {
        s.method_pref(m, CIPHERS)?;
    }
    s.handshake().map_err(|e| {
        let hint = if recorded.is_empty() { String::new() } else {
            format!(" (the key type recorded for it is {}; a server that cannot offer it has changed its host key)", recorded[0].key_type)
        };
        anyhow!("SSH handshake with {} ({}:{}) failed: {e}{hint}", t.name, t.address, t.port)
    })?;
    Ok(s)
}

/// Refuse unknown or changed host keys, with the way to fix it.
fn check_host_key(t: &Target, s: &ssh2::Session, recorded: &[Entry], file: &Path) -> Result<()> {
    let (key, kind) = s.host_key().context("the server sent no host key")?;
    let (kind, fp) = (known_hosts::type_name(kind), known_hosts::fingerprint(key));
    if recorded.iter().any(|e| e.key_type == kind && e.key == key) {
        return Ok(());
    }
    if recorded.is_empty() {
        bail!(
            crate::error::Error::failed(format!(
                "host key of {} ({}:{}) is not known ({kind} {fp}; no host is trusted silently)",
                t.name, t.address, t.port,
            ))
            .hint(format!("check it and run `tapir enroll {}`", t.name))
        );
    }
    bail!(
        crate::error::Error::failed(format!(
            "HOST KEY OF {} ({}:{}) HAS CHANGED: it now offers {kind} {fp}, {} records another key",
            t.name,
            t.address,
            t.port,
            file.display(),
        ))
        .hint(format!(
            "if the change is expected (reinstall), remove the line for {} from {} and run \
             `tapir enroll {}`",
            known_hosts::host_pattern(&t.name, t.port),
            file.display(),
            t.name
        ))
    )
}

/// Connect, verify, log in and start the agent.
pub fn connect(t: &Target, l: &Login) -> Result<Connected> {
    let pattern = known_hosts::host_pattern(&t.name, t.port);
    let recorded = known_hosts::lookup(l.known_hosts, &pattern)?;
    let session = handshake(t, &recorded, l.connect_timeout)?;
    check_host_key(t, &session, &recorded, l.known_hosts)?;
    session
        .userauth_pubkey_file(&t.user, None, l.identity, None)
        .with_context(|| format!("{}@{}: public key login with {} refused (is the enroll line in ~{}/.ssh/authorized_keys?)", t.user, t.name, l.identity.display(), t.user))?;
    let mut channel = session
        .channel_session()
        .with_context(|| format!("{}: cannot open a channel", t.name))?;
    // The agent's stderr is diagnostics only; unread it would stall the channel's window.
    channel.handle_extended_data(ssh2::ExtendedData::Ignore)?;
    channel
        .exec("tapir agent")
        .with_context(|| format!("{}: cannot start the agent", t.name))?;
    session.set_timeout(l.stall_timeout.as_millis().min(u32::MAX as u128) as u32);
    Ok(Connected { session, channel })
}
