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
    /// Each removed recipient as given, with the fingerprints it stands for.
    pub removals: Vec<(String, Vec<String>)>,
    /// Every recipient whose key text is known (the config's and the added ones): a file's
    /// own recipients are found here by fingerprint.
    pub known: Vec<Recipient>,
    /// The removed fingerprints some file was wrapped to.
    pub seen: std::cell::RefCell<std::collections::BTreeSet<String>>,
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
        let mut removals = Vec::new();
        for r in &remove {
            removals.push((r.trim().to_string(), fingerprints_of(r, &known)?));
        }
        let remove: Vec<String> = removals.iter().flat_map(|(_, f)| f.clone()).collect();
        if let Some(r) = added.iter().find(|a| remove.contains(&a.fingerprint())) {
            bail!("{} is both added and removed", r.text);
        }
        Ok(Change {
            add: added,
            remove,
            removals,
            known,
            seen: Default::default(),
        })
    }

    /// The removed recipients (as given) that no file was wrapped to: they removed nothing
    /// (a typo, or an ssh key given with another comment than the config had).
    pub fn removed_nothing(&self) -> Vec<&str> {
        let seen = self.seen.borrow();
        self.removals
            .iter()
            .filter(|(_, fps)| !fps.iter().any(|f| seen.contains(f)))
            .map(|(given, _)| given.as_str())
            .collect()
    }

    /// The recipients of a file now wrapped to `old` (fingerprints), or None when it is
    /// wrapped to exactly those already. Refuses a file that would be left with no
    /// recipient, and one wrapped to a key tapir cannot name.
    pub fn new_set(&self, old: &[String]) -> Result<Option<Vec<&Recipient>>> {
        let removed = old.iter().filter(|f| self.remove.contains(f)).cloned();
        self.seen.borrow_mut().extend(removed);
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

/// The `sha256:…` fingerprints a removed recipient stands for: given as one, or as its key
/// text, which also names every known recipient with the same key (an ssh key's comment
/// is part of the text a header's fingerprint was taken of).
fn fingerprints_of(r: &str, known: &[Recipient]) -> Result<Vec<String>> {
    let r = r.trim();
    if r.starts_with("sha256:") {
        return Ok(vec![r.to_string()]);
    }
    keys::parse_recipient(r).map_err(|e| anyhow::anyhow!("--remove-recipient: {e}"))?;
    let key = |t: &str| t.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
    let mut out = vec![keys::fingerprint(r)];
    for k in known.iter().filter(|k| key(&k.text) == key(r)) {
        if !out.contains(&k.fingerprint()) {
            out.push(k.fingerprint());
        }
    }
    Ok(out)
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
        // the removals a file was wrapped to are remembered
        assert!(only_b.seen.borrow().contains(&fp(&b)));
        // an ssh key removed without the comment the config gives it
        let k = ssh_key::PrivateKey::random(
            &mut ssh_key::rand_core::OsRng,
            ssh_key::Algorithm::Ed25519,
        )
        .unwrap();
        let ssh: String = k.public_key().to_openssh().unwrap();
        let ssh = ssh.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
        let with = format!("{ssh} ops@laptop");
        let ch = Change::new(vec![], vec![ssh.clone()], known(&[&a, &with])).unwrap();
        let set = ch.new_set(&[fp(&a), fp(&with)]).unwrap().unwrap();
        assert_eq!(set.len(), 1);
        assert_eq!(set[0].text, a);
        assert!(ch.removed_nothing().is_empty());
        let typo = Change::new(vec![], vec![c.clone()], known(&[&a, &b])).unwrap();
        assert!(typo.new_set(&[fp(&a), fp(&b)]).unwrap().is_none());
        assert_eq!(typo.removed_nothing(), [c.as_str()]);
        assert!(Change::new(vec![a.clone()], vec![a.clone()], vec![]).is_err());
    }
}
