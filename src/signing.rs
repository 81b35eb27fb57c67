//! The server's signature on every tape header and label: OpenSSH SSHSIG with an ed25519
//! key, so that `ssh-keygen -Y verify` checks a tape with no tapir at all. The private key
//! stays on the server; its public half goes with the age identities (offline) and in the
//! config, and is what readers trust.

use anyhow::{Context, Result, bail};
use serde::Serialize;
use ssh_key::{Algorithm, HashAlg, LineEnding, PrivateKey, PublicKey, SshSig};
use std::path::{Path, PathBuf};

/// SSHSIG namespace of tape headers and labels (`ssh-keygen -Y … -n`).
pub const NAMESPACE: &str = "tapir-tape";
/// The principal readers name in their allowed-signers file (`ssh-keygen -Y verify -I`).
pub const PRINCIPAL: &str = "tapir";
/// Where a header's signature starts; the signed text is everything before this line.
pub const BEGIN: &str = "-----BEGIN SSH SIGNATURE-----\n";
/// The line an identity file may carry so that it alone restores and verifies.
pub const IDENTITY_COMMENT: &str = "# tapir signing key: ";

/// The server's signing key (SSHSIG over every tape header and label).
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Signing {
    /// The private ed25519 key the server signs with (created on first use).
    pub key: PathBuf,
    /// The trusted public key, when given in the config (else the key's own public half).
    pub public_key: Option<String>,
    /// Older signing public keys still trusted for the tapes they signed (`[signing]
    /// previous`): a key replaced on purpose keeps its tapes readable, within its window.
    #[serde(default)]
    pub previous: Vec<Previous>,
}

/// One older signing key of `[signing] previous`: a path, or `{ key = PATH, valid_after =
/// "YYYYMMDD", valid_before = "YYYYMMDD" }`.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Previous {
    pub key: PathBuf,
    #[serde(flatten)]
    pub window: Window,
}

/// When a signing key signed tapes, as OpenSSH allowed-signers options say it
/// (`valid-after`, `valid-before`: `YYYYMMDD[HHMM[SS]]`, the server's local time): a header
/// dated outside it is refused.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Window {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid_after: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid_before: Option<String>,
}

impl Window {
    /// A window bound as given, checked: 8, 12 or 14 digits.
    pub fn bound(s: &str) -> Result<String, String> {
        let t = s.trim().trim_end_matches('Z');
        if t.bytes().all(|b| b.is_ascii_digit()) && [8, 12, 14].contains(&t.len()) {
            return Ok(t.to_string());
        }
        Err(format!(
            "{s:?} is not a time as YYYYMMDD, YYYYMMDDHHMM or YYYYMMDDHHMMSS"
        ))
    }

    /// Whether a header dated `when` (14 digits, a datestamp) falls inside; else why not.
    pub fn admits(&self, when: &str) -> Result<(), String> {
        let full = |b: &str| format!("{b:0<14}");
        if let Some(a) = &self.valid_after
            && when < full(a).as_str()
        {
            return Err(format!(
                "it is dated {when}, before the key's valid-after {a}"
            ));
        }
        if let Some(b) = &self.valid_before
            && when >= full(b).as_str()
        {
            return Err(format!(
                "it is dated {when}, after the key's valid-before {b} (a key retired on \
                 purpose signs nothing after its window)"
            ));
        }
        Ok(())
    }

    /// The allowed-signers options (`valid-after="…",valid-before="…"`), with a leading
    /// comma, or nothing.
    pub fn options(&self) -> String {
        let mut out = String::new();
        if let Some(a) = &self.valid_after {
            out.push_str(&format!(",valid-after=\"{a}\""));
        }
        if let Some(b) = &self.valid_before {
            out.push_str(&format!(",valid-before=\"{b}\""));
        }
        out
    }

    /// The window the options before a key on a line give (`valid-after="…"` and
    /// `valid-before="…"`, quoted or not, separated by commas or spaces); a bound that is
    /// not a time is an error, never an open window.
    pub fn from_options(text: &str) -> Result<Window, String> {
        let mut w = Window::default();
        for opt in text.split([',', ' ']) {
            let Some((k, v)) = opt.split_once('=') else {
                continue;
            };
            let slot = match k.trim() {
                "valid-after" => &mut w.valid_after,
                "valid-before" => &mut w.valid_before,
                _ => continue,
            };
            *slot = Some(Window::bound(v.trim_matches('"'))?);
        }
        Ok(w)
    }
}

impl Signing {
    /// The keys of `previous` with their windows, each read and parsed (an unreadable one is
    /// an error naming it); a window in the file's own line counts when the config has none.
    pub fn previous_keys(&self) -> Result<Vec<(PublicKey, Window)>> {
        let mut out = Vec::new();
        for p in &self.previous {
            let key = read_public(&p.key)?;
            let text = std::fs::read_to_string(&p.key).unwrap_or_default();
            let own = parse_windowed(&text)
                .into_iter()
                .find(|(k, _)| k.key_data() == key.key_data())
                .map(|(_, w)| w)
                .unwrap_or_default();
            let given = p.window.valid_after.is_some() || p.window.valid_before.is_some();
            out.push((key, if given { p.window.clone() } else { own }));
        }
        Ok(out)
    }
}
/// The server's signing key.
pub struct Signer {
    key: PrivateKey,
}

impl Signer {
    /// Load the key at `path`; a missing key is created (0600, with `PATH.pub`), and the
    /// caller is told so through `created`.
    pub fn load_or_create(path: &Path) -> Result<(Signer, bool)> {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let key = PrivateKey::from_openssh(&text).map_err(|e| {
                    anyhow::anyhow!("{}: not an OpenSSH private key: {e}", path.display())
                })?;
                if key.algorithm() != Algorithm::Ed25519 || key.is_encrypted() {
                    bail!(
                        "{}: the signing key must be an unencrypted ed25519 key",
                        path.display()
                    );
                }
                Ok((Signer { key }, false))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok((create(path)?, true)),
            Err(e) => Err(e).with_context(|| format!("cannot read signing key {}", path.display())),
        }
    }

    pub fn public(&self) -> &PublicKey {
        self.key.public_key()
    }

    /// The armored SSHSIG of `msg` (a tape header or label).
    pub fn sign(&self, msg: &[u8]) -> Result<String> {
        self.sign_in(NAMESPACE, msg)
    }

    /// The armored SSHSIG of `msg` in namespace `ns` (`ssh-keygen -Y sign -n NS`): what a
    /// key signs for one purpose cannot be taken for another.
    pub fn sign_in(&self, ns: &str, msg: &[u8]) -> Result<String> {
        let sig = self
            .key
            .sign(ns, HashAlg::Sha512, msg)
            .map_err(|e| anyhow::anyhow!("cannot sign: {e}"))?;
        sig.to_pem(LineEnding::LF)
            .map_err(|e| anyhow::anyhow!("cannot encode the signature: {e}"))
    }
}

/// A new ed25519 key at `path` (never overwriting) and its `.pub` beside it.
pub fn create(path: &Path) -> Result<Signer> {
    let key = PrivateKey::random(&mut ssh_key::rand_core::OsRng, Algorithm::Ed25519)
        .map_err(|e| anyhow::anyhow!("cannot generate a signing key: {e}"))?;
    let mut key = key;
    key.set_comment(format!(
        "tapir signing key, created {}",
        chrono::Local::now().to_rfc3339()
    ));
    let text = key
        .to_openssh(LineEnding::LF)
        .map_err(|e| anyhow::anyhow!("cannot encode the signing key: {e}"))?;
    if let Some(d) = path.parent() {
        crate::fsutil::create_dir_all(d)?;
    }
    crate::fsutil::create_secret(path, text.as_bytes())?;
    let signer = Signer { key };
    crate::fsutil::write_atomic(
        &pub_path(path),
        format!("{}\n", openssh(signer.public())).as_bytes(),
    )?;
    Ok(signer)
}

/// The public half of the private key at `path` (or of its `.pub`), if either is there.
pub fn public_of(path: &Path) -> Option<PublicKey> {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| PrivateKey::from_openssh(&t).ok())
        .map(|k| k.public_key().clone())
        .or_else(|| {
            let t = std::fs::read_to_string(pub_path(path)).ok()?;
            parse_public(&t)
        })
}

/// `KEY.pub` for a private key path.
pub fn pub_path(key: &Path) -> PathBuf {
    let mut s = key.as_os_str().to_owned();
    s.push(".pub");
    PathBuf::from(s)
}

/// `ssh-ed25519 AAAA… comment`.
pub fn openssh(k: &PublicKey) -> String {
    k.to_openssh().unwrap_or_default()
}

/// `SHA256:…`, as `ssh-keygen -l` prints it.
pub fn fingerprint(k: &PublicKey) -> String {
    k.fingerprint(HashAlg::Sha256).to_string()
}

/// The line of an allowed-signers file for `ssh-keygen -Y verify`.
pub fn allowed_signers_line(k: &PublicKey) -> String {
    allowed_signers_line_within(k, &Window::default())
}

/// [`allowed_signers_line`] with the key's window as options.
pub fn allowed_signers_line_within(k: &PublicKey, w: &Window) -> String {
    let mut bare = k.clone();
    bare.set_comment("");
    format!(
        "{PRINCIPAL} namespaces=\"{NAMESPACE}\"{} {}",
        w.options(),
        openssh(&bare).trim_end()
    )
}

/// Parse a public key from text: a `.pub` line, an allowed-signers line, or an identity file
/// holding the [`IDENTITY_COMMENT`] line.
pub fn parse_public(text: &str) -> Option<PublicKey> {
    parse_all_public(text).into_iter().next()
}

/// Every public key in `text` (an identity file may carry one line per signing key used).
pub fn parse_all_public(text: &str) -> Vec<PublicKey> {
    parse_windowed(text).into_iter().map(|(k, _)| k).collect()
}

/// Every public key in `text` with the window its line gives (`valid-after="…"`,
/// `valid-before="…"` before the key, as in an allowed-signers file).
pub fn parse_windowed(text: &str) -> Vec<(PublicKey, Window)> {
    text.lines()
        .filter_map(|l| {
            let l = l.trim();
            let l = l
                .strip_prefix(IDENTITY_COMMENT.trim_end())
                .unwrap_or(l)
                .trim();
            let at = l.find("ssh-ed25519 ")?;
            let key = PublicKey::from_openssh(&l[at..]).ok()?;
            match Window::from_options(&l[..at]) {
                Ok(w) => Some((key, w)),
                // a window that cannot be read must not become no window at all
                Err(e) => {
                    crate::say::problem(format!(
                        "tapir: WARNING: signing key {} is not trusted: its window {e}",
                        fingerprint(&key)
                    ));
                    None
                }
            }
        })
        .collect()
}

/// Read a public key file (see [`parse_public`]).
pub fn read_public(path: &Path) -> Result<PublicKey> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read signing public key {}", path.display()))?;
    parse_public(&text).with_context(|| {
        format!(
            "{}: no ssh-ed25519 public key in it (a .pub file, an allowed-signers line, or \
             an identity file with a `{}` line)",
            path.display(),
            IDENTITY_COMMENT.trim_end()
        )
    })
}

/// Check an armored SSHSIG over `msg` against `key`.
pub fn verify(key: &PublicKey, msg: &[u8], armored: &str) -> Result<(), String> {
    verify_any(std::slice::from_ref(key), msg, armored).map(|_| ())
}

/// Check an armored SSHSIG over `msg` against whichever of `keys` made it; that key.
pub fn verify_any<'k>(
    keys: &'k [PublicKey],
    msg: &[u8],
    armored: &str,
) -> Result<&'k PublicKey, String> {
    verify_any_in(NAMESPACE, keys, msg, armored)
}

/// [`verify_any`] in namespace `ns`.
pub fn verify_any_in<'k>(
    ns: &str,
    keys: &'k [PublicKey],
    msg: &[u8],
    armored: &str,
) -> Result<&'k PublicKey, String> {
    let sig = SshSig::from_pem(armored).map_err(|e| format!("unreadable signature: {e}"))?;
    let Some(key) = keys.iter().find(|k| k.key_data() == sig.public_key()) else {
        let other = PublicKey::from(sig.public_key().clone());
        let trusted: Vec<String> = keys.iter().map(fingerprint).collect();
        let what = match trusted.len() {
            1 => "the trusted key",
            _ => "any of the trusted keys",
        };
        return Err(format!(
            "signed by {}, not by {what} {}",
            fingerprint(&other),
            trusted.join(", ")
        ));
    };
    key.verify(ns, msg, &sig)
        .map_err(|e| format!("the signature does not match the header: {e}"))?;
    Ok(key)
}

/// Split a header's text into the signed part and its armored signature, if any.
pub fn split(text: &str) -> (&str, Option<&str>) {
    let at = if text.starts_with(BEGIN) {
        Some(0)
    } else {
        text.find(&format!("\n{BEGIN}")).map(|i| i + 1)
    };
    match at {
        Some(i) => (&text[..i], Some(&text[i..])),
        None => (text, None),
    }
}

/// The stock command that checks the signature of `file`'s header, for the header itself;
/// `dated`: the header's datestamp, at which the signing key must have been valid (its
/// window in the allowed-signers file).
pub fn verify_command(file: &str, dated: Option<&str>) -> String {
    let at = dated.map_or(String::new(), |d| format!(" -Overify-time={d}"));
    format!(
        "dd if={file} bs=32k count=1 2>/dev/null | tr -d '\\000' > {file}.hdr && \
         sed -n '/^-----BEGIN SSH SIGNATURE-----$/,$p' {file}.hdr > {file}.sig && \
         sed '/^-----BEGIN SSH SIGNATURE-----$/,$d' {file}.hdr | \
         ssh-keygen -Y verify -f SIGNERS -I {PRINCIPAL} -n {NAMESPACE} -s {file}.sig{at}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_that_cannot_be_read_trusts_nothing() {
        let d = tempfile::tempdir().unwrap();
        let s = create(&d.path().join("k")).unwrap();
        let key = openssh(s.public());
        let good = format!("valid-before=\"20261201\" {key}");
        let w = &parse_windowed(&good)[0].1;
        assert_eq!(w.valid_before.as_deref(), Some("20261201"));
        assert!(w.admits("20261130235959").is_ok() && w.admits("20261201000000").is_err());
        assert!(parse_windowed(&format!("valid-before=\"2026-12\" {key}")).is_empty());
        assert!(Window::from_options("valid-after=\"1\"").is_err());
    }

    #[test]
    fn signs_and_verifies_and_refuses_a_change() {
        let d = tempfile::tempdir().unwrap();
        let (s, created) = Signer::load_or_create(&d.path().join("k")).unwrap();
        assert!(created);
        let sig = s.sign(b"hello\n").unwrap();
        assert!(sig.starts_with(BEGIN));
        verify(s.public(), b"hello\n", &sig).unwrap();
        assert!(verify(s.public(), b"hellO\n", &sig).is_err());
        let other = create(&d.path().join("k2")).unwrap();
        let e = verify(other.public(), b"hello\n", &sig).unwrap_err();
        assert!(e.contains("not by the trusted key"), "{e}");
        let again = Signer::load_or_create(&d.path().join("k")).unwrap();
        assert!(!again.1);
        let pubkey = read_public(&pub_path(&d.path().join("k"))).unwrap();
        assert_eq!(pubkey.key_data(), s.public().key_data());
        let line = allowed_signers_line(s.public());
        assert_eq!(
            parse_public(&line).unwrap().key_data(),
            s.public().key_data()
        );
    }
}

/// What readers trust: the signing public keys (the current one and older ones kept
/// trusted on purpose), or nothing with `skip_signature`.
#[derive(Debug, Clone, Default)]
pub struct Trust {
    pub signers: Vec<PublicKey>,
    /// The window of each signer (by index), unbounded when none was given.
    pub windows: Vec<Window>,
    pub skip_signature: bool,
}

impl Trust {
    /// Trust `signers` (duplicates dropped), none of them bounded in time.
    pub fn new(signers: Vec<PublicKey>, skip_signature: bool) -> Trust {
        let windowed = signers
            .into_iter()
            .map(|k| (k, Window::default()))
            .collect();
        Trust::within(windowed, skip_signature)
    }

    /// Trust `signers`, each within its window; a key given twice keeps its first window.
    pub fn within(signers: Vec<(PublicKey, Window)>, skip_signature: bool) -> Trust {
        let mut out = Trust {
            skip_signature,
            ..Trust::default()
        };
        for (k, w) in signers {
            if !out.signers.iter().any(|o| o.key_data() == k.key_data()) {
                out.signers.push(k);
                out.windows.push(w);
            }
        }
        out
    }

    /// The server's own key and the `[signing] previous` ones.
    pub fn of_server(signer: &PublicKey, sig: &Signing) -> anyhow::Result<Trust> {
        let mut keys = vec![(signer.clone(), Window::default())];
        keys.extend(sig.previous_keys()?);
        Ok(Trust::within(keys, false))
    }

    /// Check an armored SSHSIG over a header dated `when` (a datestamp): made by a trusted
    /// key, inside that key's window.
    pub fn verify_dated(&self, msg: &[u8], armored: &str, when: &str) -> Result<(), String> {
        let key = verify_any(&self.signers, msg, armored)?;
        let at = self.signers.iter().position(|k| std::ptr::eq(k, key));
        match at.and_then(|i| self.windows.get(i)) {
            Some(w) => w
                .admits(when)
                .map_err(|e| format!("signed by {}, but {e}", fingerprint(key))),
            None => Ok(()),
        }
    }

    /// Whether the key with this `SHA256:…` fingerprint is trusted.
    pub fn trusts(&self, fp: &str) -> bool {
        self.signers.iter().any(|k| fingerprint(k) == fp)
    }
}
