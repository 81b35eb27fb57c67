//! Which recipients a tape file is wrapped to after a rekey: its own (the fingerprints its
//! signed header lists, resolved to keys tapir knows), minus the removed ones, plus the
//! added ones.

use crate::keys::{self, Recipient};
use anyhow::{Result, bail};

/// What `tapir rekey` was asked to change.
pub struct Change {
    /// Added recipients (`--add-recipient`, `--add-recipients-file`).
    pub add: Vec<Recipient>,
    /// Fingerprints (`sha256:…`) of the removed recipients.
    pub remove: Vec<String>,
    /// Every recipient whose key text is known (the config's and the added ones): a file's
    /// own recipients are found here by fingerprint.
    pub known: Vec<Recipient>,
}

impl Change {
    /// Build the change; refuses one that changes nothing, and a removal that would leave
    /// no recipient at all.
    pub fn new(
        add: Vec<String>,
        remove: Vec<String>,
        configured: Vec<Recipient>,
    ) -> Result<Change> {
        if add.is_empty() && remove.is_empty() {
            bail!("nothing to change: give --add-recipient and/or --remove-recipient");
        }
        let mut known = configured;
        let mut added = Vec::new();
        for text in add {
            let key = keys::parse_recipient(&text).map_err(|e| anyhow::anyhow!("{e}"))?;
            added.push(Recipient {
                text: text.trim().to_string(),
                key,
            });
            let key = keys::parse_recipient(&text).map_err(|e| anyhow::anyhow!("{e}"))?;
            known.push(Recipient {
                text: text.trim().to_string(),
                key,
            });
        }
        let remove = remove
            .iter()
            .map(|r| fingerprint_of(r))
            .collect::<Result<Vec<_>>>()?;
        if let Some(r) = added.iter().find(|a| remove.contains(&a.fingerprint())) {
            bail!("{} is both added and removed", r.text);
        }
        Ok(Change {
            add: added,
            remove,
            known,
        })
    }

    /// The recipients of a file now wrapped to `old` (fingerprints), or None when it is
    /// wrapped to exactly those already. Refuses a file that would be left with no
    /// recipient, and one wrapped to a key tapir cannot name.
    pub fn new_set(&self, old: &[String]) -> Result<Option<Vec<&Recipient>>> {
        let mut fps: Vec<String> = old
            .iter()
            .filter(|f| !self.remove.contains(f))
            .cloned()
            .collect();
        for a in &self.add {
            if !fps.contains(&a.fingerprint()) {
                fps.push(a.fingerprint());
            }
        }
        if fps.len() == old.len() && fps.iter().all(|f| old.contains(f)) {
            return Ok(None);
        }
        if fps.is_empty() {
            bail!(
                "it would be wrapped to no recipient at all (it is wrapped to {} only): add \
                 one with --add-recipient",
                old.join(", ")
            );
        }
        let mut out = Vec::new();
        for f in &fps {
            let Some(r) = self.known.iter().find(|k| k.fingerprint() == *f) else {
                bail!(
                    "it is wrapped to {f}, a recipient that is no longer in the config: give \
                     its public key with --add-recipient to keep it, or --remove-recipient {f} \
                     to drop it"
                );
            };
            out.push(r);
        }
        Ok(Some(out))
    }
}

/// `sha256:…` of a recipient given as its key text or as that fingerprint already.
fn fingerprint_of(r: &str) -> Result<String> {
    let r = r.trim();
    if r.starts_with("sha256:") {
        return Ok(r.to_string());
    }
    keys::parse_recipient(r).map_err(|e| anyhow::anyhow!("--remove-recipient: {e}"))?;
    Ok(keys::fingerprint(r))
}

/// The recipients in a file, one a line (`#` comments, blank lines), as `-R` takes them.
pub fn read_file(path: &std::path::Path) -> Result<Vec<String>> {
    use anyhow::Context;
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read recipients file {}", path.display()))?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rcp() -> String {
        age::x25519::Identity::generate().to_public().to_string()
    }

    fn known(texts: &[&String]) -> Vec<Recipient> {
        texts
            .iter()
            .map(|t| Recipient {
                text: t.to_string(),
                key: keys::parse_recipient(t).unwrap(),
            })
            .collect()
    }

    #[test]
    fn removes_adds_and_refuses_an_empty_or_unknown_set() {
        let (a, b, c) = (rcp(), rcp(), rcp());
        let fp = |t: &String| keys::fingerprint(t);
        let ch = Change::new(vec![c.clone()], vec![b.clone()], known(&[&a, &b])).unwrap();
        let set = ch.new_set(&[fp(&a), fp(&b)]).unwrap().unwrap();
        let texts: Vec<&str> = set.iter().map(|r| r.text.as_str()).collect();
        assert_eq!(texts, [a.as_str(), c.as_str()]);
        assert!(ch.new_set(&[fp(&a), fp(&c)]).unwrap().is_none());
        let e = ch.new_set(&["sha256:0000".into()]).err().unwrap();
        assert!(e.to_string().contains("no longer in the config"), "{e}");
        let only_b = Change::new(vec![], vec![fp(&b)], known(&[&a, &b])).unwrap();
        let e = only_b.new_set(&[fp(&b)]).err().unwrap();
        assert!(e.to_string().contains("no recipient at all"), "{e}");
        assert!(Change::new(vec![], vec![], vec![]).is_err());
        assert!(Change::new(vec![a.clone()], vec![a.clone()], vec![]).is_err());
    }
}
