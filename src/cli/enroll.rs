//! `tapir enroll`: record a client's host key and print the line for its authorized_keys.

use super::Cli;
use crate::config::SshClient;
use crate::transport::{known_hosts, openssh, ssh};
use anyhow::{Context, bail};

/// Record a client's SSH host key and print its authorized_keys line.
///
/// Record HOST's SSH host key in ssh.known_hosts (trust on first use, or checked against
/// --fingerprint), then print the authorized_keys line to install on HOST. Idempotent.
#[derive(Debug, clap::Args)]
pub struct Args {
    pub host: String,
    /// Expected host key fingerprint: SHA256:… (ssh-keygen -l), or SSHFP records as facter
    /// gives them ("SSHFP 4 2 <hex>", several lines allowed) or ssh-keygen -r prints them.
    #[arg(long)]
    pub fingerprint: Option<String>,
    /// Restrict the key to these source addresses (authorized_keys from="…").
    #[arg(long, value_name = "PATTERNS")]
    pub from: Option<String>,
}

pub fn run(cli: &Cli, a: &Args) -> anyhow::Result<i32> {
    let cfg = super::load_config(cli)?;
    if !cfg.disklist.iter().any(|d| d.host == a.host) {
        eprintln!("tapir: note: {} has no DLE in the disklist yet", a.host);
    }
    let line = authorized_keys_line(&cfg.ssh.identity, a.from.as_deref())?;
    let t = cfg.target(&a.host);
    let pattern = known_hosts::host_pattern(&t.name, t.port);
    let recorded = known_hosts::lookup(&cfg.ssh.known_hosts, &pattern)?;
    let entry = offered_key(&cfg, &t, &recorded)?;
    let key = entry.key.as_slice();
    let fp = known_hosts::fingerprint(key);
    if let Some(want) = &a.fingerprint {
        let ok = known_hosts::expected(want, &entry.key_type, key)
            .map_err(|m| crate::error::Error::config(format!("{}: {m}: NOT recorded", a.host)))?;
        if !ok {
            bail!(
                "{} offers {} {fp}, not the expected {}: NOT recorded",
                a.host,
                entry.key_type,
                want.trim()
            );
        }
    }
    if recorded.contains(&entry) {
        eprintln!("tapir: {pattern} {} {fp} is already known", entry.key_type);
    } else if !recorded.is_empty() {
        bail!(
            "{pattern} is recorded in {} with another key; it now offers {} {fp}. If the change is expected, \
             remove its line from that file and enroll again",
            cfg.ssh.known_hosts.display(),
            entry.key_type
        );
    } else {
        known_hosts::add(&cfg.ssh.known_hosts, &pattern, &entry)?;
        eprintln!(
            "tapir: recorded {pattern} {} {fp} in {}",
            entry.key_type,
            cfg.ssh.known_hosts.display()
        );
    }
    outln!("{line}");
    Ok(0)
}

/// The host key `t` offers, fetched by the configured SSH client (OpenSSH reaches hosts
/// behind a jump host too).
fn offered_key(
    cfg: &crate::config::Config,
    t: &crate::config::Target,
    recorded: &[known_hosts::Entry],
) -> anyhow::Result<known_hosts::Entry> {
    match cfg.ssh.client {
        SshClient::Openssh => {
            let login = ssh::Login {
                identity: &cfg.ssh.identity,
                known_hosts: &cfg.ssh.known_hosts,
                connect_timeout: cfg.ssh.connect_timeout(),
                stall_timeout: cfg.ssh.connect_timeout(),
                ssh: &cfg.ssh.command,
                ssh_config: cfg.ssh.config.as_deref(),
            };
            openssh::host_key(t, &login, recorded)
        }
        SshClient::Libssh2 => {
            let session = ssh::handshake(t, recorded, cfg.ssh.connect_timeout())?;
            let (key, kind) = session.host_key().context("the server sent no host key")?;
            Ok(known_hosts::Entry {
                key_type: known_hosts::type_name(kind).to_string(),
                key: key.to_vec(),
            })
        }
    }
}

/// `restrict[,from="…"],command="tapir agent" TYPE KEY tapir@SERVER` from the identity's .pub.
fn authorized_keys_line(identity: &std::path::Path, from: Option<&str>) -> anyhow::Result<String> {
    let mut pubfile = identity.as_os_str().to_owned();
    pubfile.push(".pub");
    let text = std::fs::read_to_string(&pubfile).with_context(|| {
        format!(
            "cannot read the server's public key {}: create the identity with `ssh-keygen -t ed25519 -N '' -f {}`",
            std::path::Path::new(&pubfile).display(),
            identity.display()
        )
    })?;
    let mut f = text.split_whitespace();
    let (Some(kind), Some(key)) = (f.next(), f.next()) else {
        bail!(
            "{} is not an OpenSSH public key",
            std::path::Path::new(&pubfile).display()
        );
    };
    let server = hostname();
    let from = from
        .map(|f| format!(",from=\"{}\"", f.replace('"', "")))
        .unwrap_or_default();
    Ok(format!(
        "restrict{from},command=\"tapir agent\" {kind} {key} tapir@{server}"
    ))
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "server".into())
}
