//! The server's `known_hosts` (OpenSSH format, plain entries): strict host-key checking,
//! with the recorded key type pinned so a server offering another type reads as "changed".

use anyhow::{Context, Result};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use sha2::{Digest, Sha256};
use std::path::Path;

/// One recorded key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub key_type: String,
    pub key: Vec<u8>,
}

/// The known_hosts name of a host: `name`, or `[name]:port` when the port is not 22.
pub fn host_pattern(name: &str, port: u16) -> String {
    if port == 22 {
        name.to_string()
    } else {
        format!("[{name}]:{port}")
    }
}

/// OpenSSH-style fingerprint of a key blob: `SHA256:` + unpadded base64.
pub fn fingerprint(key: &[u8]) -> String {
    format!("SHA256:{}", STANDARD_NO_PAD.encode(Sha256::digest(key)))
}

/// Whether the expected fingerprint `want` names `key` (of type `key_type`). `want` is
/// `SHA256:…` (ssh-keygen -l), or SSHFP records as facter gives them (`SSHFP 4 2 <hex>`, one or
/// several lines) or `ssh-keygen -r` prints them (`host IN SSHFP 4 2 <hex>`). Err: `want`
/// says nothing about a key of this type.
pub fn expected(want: &str, key_type: &str, key: &[u8]) -> Result<bool, String> {
    let want = want.trim();
    if want.starts_with("SHA256:") {
        return Ok(want == fingerprint(key));
    }
    let alg = match key_type {
        "ssh-rsa" => 1,
        "ssh-dss" => 2,
        t if t.starts_with("ecdsa-") => 3,
        "ssh-ed25519" => 4,
        _ => 0,
    };
    let sha = crate::units::hex(&Sha256::digest(key));
    let mut records = 0;
    let mut same_alg = false;
    for line in want.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let Some(at) = words.iter().position(|w| w.eq_ignore_ascii_case("SSHFP")) else {
            continue;
        };
        let (Some(a), Some(t), Some(hex)) =
            (words.get(at + 1), words.get(at + 2), words.get(at + 3))
        else {
            continue;
        };
        records += 1;
        if a.parse() == Ok(alg) && *t == "2" {
            same_alg = true;
            if hex.eq_ignore_ascii_case(&sha) {
                return Ok(true);
            }
        }
    }
    match (records, same_alg) {
        (0, _) => Err(format!(
            "--fingerprint {want:?} is neither SHA256:… (ssh-keygen -l) nor an SSHFP record \
             (facter's \"SSHFP 4 2 <hex>\", ssh-keygen -r)"
        )),
        (_, false) => Err(format!(
            "the SSHFP record(s) given are not SHA-256 records for a {key_type} key, which the \
             host offers: give its \"SSHFP {alg} 2 <hex>\" record"
        )),
        _ => Ok(false),
    }
}

/// The entries recorded for `pattern`.
pub fn lookup(file: &Path, pattern: &str) -> Result<Vec<Entry>> {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", file.display())),
    };
    Ok(text
        .lines()
        .filter_map(|l| parse_line(l, pattern))
        .collect())
}

fn parse_line(line: &str, pattern: &str) -> Option<Entry> {
    let mut f = line.split_whitespace();
    let hosts = f.next()?;
    if hosts.starts_with('#') || !hosts.split(',').any(|h| h == pattern) {
        return None;
    }
    let key_type = f.next()?.to_string();
    let key = STANDARD.decode(f.next()?).ok()?;
    Some(Entry { key_type, key })
}

/// Append an entry (creating the file, 0644).
pub fn add(file: &Path, pattern: &str, e: &Entry) -> Result<()> {
    use std::io::Write;
    if let Some(d) = file.parent() {
        crate::fsutil::create_dir_all(d)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)
        .with_context(|| format!("cannot open {}", file.display()))?;
    writeln!(f, "{pattern} {} {}", e.key_type, STANDARD.encode(&e.key))?;
    f.sync_all()?;
    Ok(())
}

/// The OpenSSH name of an ssh2 host key type.
pub fn type_name(t: ssh2::HostKeyType) -> &'static str {
    match t {
        ssh2::HostKeyType::Rsa => "ssh-rsa",
        ssh2::HostKeyType::Dss => "ssh-dss",
        ssh2::HostKeyType::Ecdsa256 => "ecdsa-sha2-nistp256",
        ssh2::HostKeyType::Ecdsa384 => "ecdsa-sha2-nistp384",
        ssh2::HostKeyType::Ecdsa521 => "ecdsa-sha2-nistp521",
        ssh2::HostKeyType::Ed25519 => "ssh-ed25519",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_matches_exact_patterns_and_skips_comments() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("known_hosts");
        let e = Entry {
            key_type: "ssh-ed25519".into(),
            key: vec![1, 2, 3],
        };
        add(&f, "[web1]:2222", &e).unwrap();
        std::fs::write(
            &f,
            format!(
                "# comment\n{}web1 ssh-rsa AAAA\n",
                std::fs::read_to_string(&f).unwrap()
            ),
        )
        .unwrap();
        assert_eq!(lookup(&f, "[web1]:2222").unwrap(), vec![e]);
        assert!(lookup(&f, "[web1]:22").unwrap().is_empty());
        assert_eq!(lookup(&f, "web1").unwrap()[0].key_type, "ssh-rsa");
        assert_eq!(host_pattern("web1", 22), "web1");
    }

    #[test]
    fn fingerprint_is_openssh_style() {
        assert_eq!(
            fingerprint(b""),
            "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU"
        );
    }
}
