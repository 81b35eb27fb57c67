//! Which tape set a mirror target holds, so that two configs pointed at one target (the same
//! NFS directory, the same S3 prefix) cannot overwrite each other's copies: the set is named
//! once in the catalog (`catalog/tapeset.toml`, made at first use) and in each target
//! (`tapir-tapeset.toml` beside `slotN/`), and a target holding another set is refused.

use crate::config::Config;
use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The marker's name, in the catalog and at the top of every target.
pub const FILE: &str = "tapir-tapeset.toml";

/// One tape set: this server's tapes, wherever they are copied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TapeSet {
    /// Random, made when the set is first named.
    pub id: String,
    pub org: String,
    /// The fingerprint of the key that signs the set's tapes.
    pub signer: String,
    pub created: String,
}

impl TapeSet {
    pub fn describe(&self) -> String {
        format!(
            "tape set {} (org {:?}, signed by {}, named {})",
            self.id, self.org, self.signer, self.created
        )
    }

    pub fn encode(&self) -> Result<Vec<u8>> {
        let head = "# tapir: the tape set this directory (or prefix) holds; `tapir mirror` \
                    refuses to write another set here\n";
        Ok(format!("{head}{}", toml::to_string(self)?).into_bytes())
    }

    pub fn decode(bytes: &[u8], place: &str) -> Result<TapeSet> {
        let text = String::from_utf8_lossy(bytes);
        toml::from_str(&text).with_context(|| format!("{place} is not a tape-set marker"))
    }
}

/// This server's set: read from the catalog, or named now (first use).
pub fn ours(cfg: &Config, signer: &str) -> Result<TapeSet> {
    let path = cfg.catalog.join(FILE);
    match std::fs::read(&path) {
        Ok(b) => return TapeSet::decode(&b, &path.display().to_string()),
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(e).with_context(|| format!("cannot read {}", path.display()));
        }
        Err(_) => {}
    }
    let set = TapeSet {
        id: new_id(&cfg.org, signer),
        org: cfg.org.clone(),
        signer: signer.to_string(),
        created: crate::clock::now()?.to_rfc3339(),
    };
    crate::fsutil::write_atomic(&path, &set.encode()?)?;
    Ok(set)
}

/// 128 random-enough bits: the org, the key, the time to the nanosecond, the process, and
/// the kernel's random bytes when it gives them.
fn new_id(org: &str, signer: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(org.as_bytes());
    h.update(signer.as_bytes());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    h.update(now.as_nanos().to_le_bytes());
    h.update(std::process::id().to_le_bytes());
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let mut buf = [0u8; 16];
        if std::io::Read::read_exact(&mut f, &mut buf).is_ok() {
            h.update(buf);
        }
    }
    crate::units::hex(&h.finalize()[..16])
}

/// What a target says about itself before anything is written.
pub struct Found {
    pub marker: Option<TapeSet>,
    /// The target holds tapir content (a slot or a catalog).
    pub holds_tapes: bool,
    /// The signers of the label files the target holds (read, not verified).
    pub signers: Vec<String>,
}

/// May `ours` be written to `target`? `Ok(true)`: write the marker first (an empty target,
/// or one whose labels are all signed by keys this server trusts, its own or `[signing]
/// previous`, from before targets were marked); `Ok(false)`: it is ours.
pub fn claim(
    ours: &TapeSet,
    found: &Found,
    target: &str,
    trusted: impl Fn(&str) -> bool,
) -> Result<bool> {
    match &found.marker {
        Some(m) if m.id == ours.id => Ok(false),
        Some(m) => bail!(
            crate::error::Error::failed(format!(
                "mirror target {target} holds another {}; this server's is {}: two configs \
                 must not share a mirror target; nothing was written",
                m.describe(),
                ours.describe()
            ))
            .hint("give each config its own mirror directory or prefix")
        ),
        None if !found.holds_tapes => Ok(true),
        None if !found.signers.is_empty() && found.signers.iter().all(|s| trusted(s)) => Ok(true),
        None => bail!(
            crate::error::Error::failed(format!(
                "mirror target {target} holds tapes that are not this server's (their labels \
                 are signed by {}, this server's key is {}) and no {FILE}: another tape set, or \
                 something else; this server's is {}; nothing was written",
                if found.signers.is_empty() {
                    "no key".to_string()
                } else {
                    found.signers.join(", ")
                },
                ours.signer,
                ours.describe()
            ))
            .hint(
                "give this config its own mirror directory or prefix; if those tapes are this \
                 server's, signed by an older key, trust it with `[signing] previous`"
            )
        ),
    }
}

/// A directory target: its marker, whether it holds tapes, and its labels' signers.
pub fn found_in_dir(to: &Path) -> Result<Found> {
    // only a marker that is not there is absent: an unreadable one stops the mirror
    let marker = match std::fs::read(to.join(FILE)) {
        Ok(b) => Some(TapeSet::decode(&b, &to.join(FILE).display().to_string())?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            return Err(e).with_context(|| format!("cannot read {}", to.join(FILE).display()));
        }
    };
    let mut holds_tapes = false;
    let mut signers = vec![];
    if let Ok(rd) = std::fs::read_dir(to) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let slot = name
                .strip_prefix("slot")
                .is_some_and(|n| n.parse::<u32>().is_ok());
            if !(slot || name == "catalog") || !dir_has_files(&e.path()) {
                continue;
            }
            holds_tapes = true;
            if slot {
                signers.extend(label_signers(&e.path()));
            }
        }
    }
    signers.sort();
    signers.dedup();
    Ok(Found {
        marker,
        holds_tapes,
        signers,
    })
}

fn dir_has_files(dir: &Path) -> bool {
    walkdir::WalkDir::new(dir)
        .min_depth(1)
        .into_iter()
        .flatten()
        .any(|e| e.file_type().is_file())
}

fn label_signers(slot: &Path) -> Vec<String> {
    std::fs::read_dir(slot)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("00000."))
        .filter_map(|e| crate::vtape::header::read_label(&e.path().into()).ok())
        .map(|l| l.signer)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(id: &str, signer: &str) -> TapeSet {
        TapeSet {
            id: id.into(),
            org: "Org".into(),
            signer: signer.into(),
            created: "2026-01-01T00:00:00Z".into(),
        }
    }

    #[test]
    fn a_target_is_claimed_when_empty_ours_or_signed_by_our_key_only() {
        let ours = set("a", "SHA256:k");
        let mine_key = |fp: &str| fp == "SHA256:k";
        let mine = mine_key;
        let empty = Found {
            marker: None,
            holds_tapes: false,
            signers: vec![],
        };
        assert!(claim(&ours, &empty, "t", mine).unwrap());
        let mine = Found {
            marker: Some(ours.clone()),
            holds_tapes: true,
            signers: vec![],
        };
        assert!(!claim(&ours, &mine, "t", mine_key).unwrap());
        let other = Found {
            marker: Some(set("b", "SHA256:k")),
            holds_tapes: true,
            signers: vec![],
        };
        let e = claim(&ours, &other, "t", mine_key).unwrap_err().to_string();
        assert!(e.contains("tape set b") && e.contains("tape set a"), "{e}");
        let old_mine = Found {
            marker: None,
            holds_tapes: true,
            signers: vec!["SHA256:k".into()],
        };
        assert!(claim(&ours, &old_mine, "t", mine_key).unwrap());
        let foreign = Found {
            marker: None,
            holds_tapes: true,
            signers: vec!["SHA256:x".into()],
        };
        assert!(claim(&ours, &foreign, "t", mine_key).is_err());
        let round_trip = TapeSet::decode(&ours.encode().unwrap(), "x").unwrap();
        assert_eq!(round_trip, ours);
    }
}
