//! age keys: recipients the server encrypts to (it holds no identity), `keygen`, and the
//! identities an admin brings to `fetch`/`recover`.

use crate::error::Error;
use anyhow::{Context, Result};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Where the age recipients come from.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Encryption {
    pub recipients: Vec<String>,
    pub recipients_file: Option<PathBuf>,
    pub generate_identity: Option<PathBuf>,
}

/// A recipient ready for encryption, with the text it came from.
pub struct Recipient {
    pub text: String,
    pub key: Box<dyn age::Recipient + Send + Sync>,
}

impl Recipient {
    /// Short, stable fingerprint for headers: `sha256:` + 16 hex digits of the key text.
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.text)
    }
}

pub fn fingerprint(text: &str) -> String {
    let d = Sha256::digest(text.trim().as_bytes());
    format!("sha256:{}", &crate::units::hex(&d)[..16])
}

/// Parse one `age1…` or `ssh-ed25519 …`/`ssh-rsa …` recipient.
pub fn parse_recipient(s: &str) -> Result<Box<dyn age::Recipient + Send + Sync>, String> {
    let s = s.trim();
    if s.starts_with("age1") {
        return s
            .parse::<age::x25519::Recipient>()
            .map(|r| Box::new(r) as _)
            .map_err(|e| format!("invalid age recipient {s:?}: {e}"));
    }
    if s.starts_with("ssh-") {
        return s
            .parse::<age::ssh::Recipient>()
            .map(|r| Box::new(r) as _)
            .map_err(|e| format!("invalid ssh recipient {s:?}: {e:?}"));
    }
    Err(format!(
        "{s:?} is not an age recipient (age1…) or an ssh public key (ssh-ed25519 …)"
    ))
}

/// All recipients of the config: inline ones, then the recipients file. Generates the
/// example identity first when the config asks for it and the file does not exist yet.
pub fn recipients(enc: &Encryption) -> Result<Vec<Recipient>> {
    if let (Some(id), Some(rf)) = (&enc.generate_identity, &enc.recipients_file)
        && !rf.exists()
    {
        generate_example_keys(id, rf)?;
    }
    let mut out = Vec::new();
    for r in &enc.recipients {
        out.push(Recipient {
            text: r.clone(),
            key: parse_recipient(r).map_err(Error::config)?,
        });
    }
    if let Some(rf) = &enc.recipients_file {
        out.extend(read_recipients_file(rf)?);
    }
    if out.is_empty() {
        let why = match &enc.recipients_file {
            Some(rf) if !rf.exists() => {
                format!("encryption.recipients_file {} does not exist", rf.display())
            }
            Some(rf) => format!(
                "encryption.recipients_file {} lists no recipient",
                rf.display()
            ),
            None => "encryption.recipients is empty and no recipients_file is set".into(),
        };
        return Err(Error::config(format!("no age recipients: {why}"))
            .hint(
                "create one with `tapir keygen -o FILE` on an offline machine and put its \
                 public key there",
            )
            .into());
    }
    Ok(out)
}

fn read_recipients_file(path: &Path) -> Result<Vec<Recipient>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
            return Err(Error::config(format!(
                "encryption.recipients_file {} is not text (a binary file: not a list of age \
                 recipients, one `age1…` or `ssh-ed25519 …` per line)",
                path.display()
            ))
            .into());
        }
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let key = parse_recipient(line)
            .map_err(|m| Error::config(format!("{}:{}: {m}", path.display(), i + 1)))?;
        out.push(Recipient {
            text: line.to_string(),
            key,
        });
    }
    Ok(out)
}

/// Write a new identity to `out` (mode 0600, never overwriting) and return its recipient.
pub fn keygen(out: &Path) -> Result<String> {
    let id = age::x25519::Identity::generate();
    let recipient = id.to_public().to_string();
    let created = chrono::Local::now().to_rfc3339();
    let secret = age::secrecy::ExposeSecret::expose_secret(&id.to_string()).to_string();
    let body = format!("# created: {created}\n# public key: {recipient}\n{secret}\n");
    crate::fsutil::create_secret(out, body.as_bytes())?;
    Ok(recipient)
}

/// The paper copy (`paper`, 0600, never overwriting) of the identity file `identity`.
pub fn write_paper(identity: &Path, paper: &Path) -> Result<()> {
    let text = std::fs::read_to_string(identity)
        .with_context(|| format!("cannot read {}", identity.display()))?;
    let secret = text
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-1"))
        .with_context(|| format!("{}: no AGE-SECRET-KEY-1 line", identity.display()))?;
    let id: age::x25519::Identity = secret
        .parse()
        .map_err(|e| anyhow::anyhow!("{}: {e}", identity.display()))?;
    let page = crate::paper::page(
        secret,
        &id.to_public().to_string(),
        &chrono::Local::now().to_rfc3339(),
    )?;
    crate::fsutil::create_secret(paper, page.as_bytes())
}

fn generate_example_keys(identity: &Path, recipients_file: &Path) -> Result<()> {
    for p in [identity, recipients_file] {
        if let Some(d) = p.parent() {
            crate::fsutil::create_dir_all(d)?;
        }
    }
    let recipient = keygen(identity)?;
    let text = format!(
        "# written by tapir on first use; identity: {}\n{recipient}\n",
        identity.display()
    );
    crate::fsutil::write_atomic(recipients_file, text.as_bytes())?;
    let bar = "!".repeat(72);
    crate::say::notice(format!(
        "{bar}\ntapir: generated a NEW age identity: {}\n\
         tapir: WITHOUT THIS FILE NOTHING CAN BE RESTORED. Copy it somewhere safe and offline\n\
         tapir: now, then delete it from this server (it only needs {}).\n{bar}",
        identity.display(),
        recipients_file.display()
    ));
    Ok(())
}

/// The server's signing key, created on first use (said loudly: its public half must go
/// where the age identities are kept, so that tapes can be checked without this server).
pub fn signer(
    sig: &crate::signing::Signing,
    enc: &Encryption,
    changer: &crate::vtape::Changer,
) -> Result<crate::signing::Signer> {
    use crate::signing;
    let path = &sig.key;
    if !path.exists() {
        refuse_new_key(sig, changer)?;
    }
    let (s, created) = signing::Signer::load_or_create(path)?;
    if let Some(want) = sig.public_key.as_deref().and_then(signing::parse_public)
        && want.key_data() != s.public().key_data()
    {
        return Err(Error::config(format!(
            "signing.public_key ({}) is not the public half of signing.key {} ({})",
            signing::fingerprint(&want),
            path.display(),
            signing::fingerprint(s.public())
        ))
        .into());
    }
    if created {
        let line = format!(
            "{}{}",
            signing::IDENTITY_COMMENT,
            signing::openssh(s.public())
        );
        let mut added = String::new();
        if let Some(id) = enc.generate_identity.as_ref().filter(|p| p.exists()) {
            let mut f = std::fs::OpenOptions::new().append(true).open(id)?;
            writeln!(f, "{line}")?;
            added = format!(" (added to {} already)", id.display());
        }
        crate::say::notice(format!(
            "tapir: generated the tape signing key {} ({}).\n\
             tapir: Keep its public half with the age identities: append this line to each \
             identity file{added}:\ntapir:   {line}",
            path.display(),
            signing::fingerprint(s.public()),
        ));
    }
    Ok(s)
}

/// The fingerprints of keys that signed tapes under the changer's root and that
/// `[signing] previous` does not list: what a new signing key would leave unverifiable.
pub fn foreign_signers(
    sig: &crate::signing::Signing,
    changer: &crate::vtape::Changer,
) -> Result<Vec<String>> {
    let trusted: Vec<String> = sig
        .previous_keys()?
        .iter()
        .map(|(k, _)| crate::signing::fingerprint(k))
        .collect();
    Ok(crate::vtape::signers_on_tapes(changer)
        .into_iter()
        .filter(|f| !trusted.contains(f))
        .collect())
}

/// A missing signing key is made anew only when no tape carries a signature that the new
/// key and `[signing] previous` would not verify: a lost key is a refusal, never a silent
/// replacement that makes every older tape fail `verify`, `recover` and `mirror`.
fn refuse_new_key(sig: &crate::signing::Signing, changer: &crate::vtape::Changer) -> Result<()> {
    let foreign = foreign_signers(sig, changer)?;
    if foreign.is_empty() {
        return Ok(());
    }
    let key = sig.key.display();
    Err(Error::config(format!(
        "the signing key {key} is missing, but the tapes in {} are signed by {}: a new key \
         would make every one of them fail verify, recover and mirror",
        changer.root,
        foreign.join(", ")
    ))
    .hint(format!(
        "restore {key} from a backup of this server; or make a new key on purpose with \
         `tapir keygen --signing -o {key}` and keep the old public key trusted: `[signing] \
         previous = [\"keys/old.pub\"]` in tapir.toml (or its `# tapir signing key:` line in \
         the identity file)"
    ))
    .into())
}

/// What the server itself trusts (its own key or `signing.public_key`, and `[signing]
/// previous`), without creating anything.
pub fn server_trust(sig: &crate::signing::Signing) -> Result<crate::signing::Trust> {
    trust(sig, None, None, false)
}

/// What readers trust: `--signing-pub FILE` (every key in it), else `signing.public_key`,
/// else the public half of the server's own signing key; then the keys of `[signing]
/// previous` and every `# tapir signing key:` line of the identity file (keys replaced on
/// purpose keep their tapes readable).
pub fn trust(
    sig: &crate::signing::Signing,
    signing_pub: Option<&Path>,
    identity: Option<&Path>,
    skip: bool,
) -> Result<crate::signing::Trust> {
    use crate::signing;
    let from_identity = identity
        .and_then(|p| std::fs::read_to_string(p).ok())
        .map(|t| signing::parse_windowed(&t))
        .unwrap_or_default();
    let mut signers = match signing_pub {
        Some(p) => {
            let first = signing::read_public(p)?;
            let text = std::fs::read_to_string(p).unwrap_or_default();
            let mut all = signing::parse_windowed(&text);
            if all.is_empty() {
                all.push((first, signing::Window::default()));
            }
            all
        }
        None => sig
            .public_key
            .as_deref()
            .and_then(signing::parse_public)
            .or_else(|| signing::public_of(&sig.key))
            .map(|k| (k, signing::Window::default()))
            .into_iter()
            .collect(),
    };
    signers.extend(sig.previous_keys()?);
    signers.extend(from_identity);
    Ok(crate::signing::Trust::within(signers, skip))
}

/// Identities from an age identity file, for decryption.
pub fn identities(path: &Path) -> Result<Vec<Box<dyn age::Identity + Send + Sync>>> {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(md) = std::fs::metadata(path)
        && md.permissions().mode() & 0o077 != 0
    {
        crate::say::problem(format!(
            "WARNING: identity file {} is readable by others (mode {:04o}): anyone who \
             can read it can read every backup; chmod 600 it",
            path.display(),
            md.permissions().mode() & 0o7777
        ));
    }
    let f = age::IdentityFile::from_file(path.to_string_lossy().into_owned())
        .with_context(|| format!("cannot read identity file {}", path.display()))?;
    let ids = f
        .into_identities()
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    anyhow::ensure!(!ids.is_empty(), "{}: no identities in file", path.display());
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keygen_writes_0600_and_refuses_overwrite() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("id.txt");
        let r = keygen(&p).unwrap();
        assert!(r.starts_with("age1"));
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(keygen(&p).is_err());
        assert_eq!(identities(&p).unwrap().len(), 1);
    }

    #[test]
    fn bad_recipient_is_refused() {
        assert!(parse_recipient("age1nope").is_err());
        assert!(parse_recipient("hello").is_err());
    }
}
