//! The age header of a payload, rewritten without touching the data: every recipient stanza
//! wraps the same file key, and the payload key comes from that file key and the nonce that
//! follows the header, so a new set of recipients needs a new header (stanzas and MAC) and
//! nothing else. The age crate encrypts and decrypts whole files; this is the one piece of
//! the format (age-encryption.org/v1) it does not offer.

use age::secrecy::ExposeSecret;
use age_core::format::{FileKey, Stanza};
use anyhow::{Context, Result, bail};
use base64::Engine;
use base64::prelude::BASE64_STANDARD_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::collections::HashSet;

const INTRO: &[u8] = b"age-encryption.org/v1\n";
const MAC_TAG: &[u8] = b"---";

/// A payload's age header as read: its stanzas and how many bytes it takes (the MAC line
/// included, the nonce not).
pub struct Head {
    pub stanzas: Vec<Stanza>,
    pub len: usize,
    mac: Vec<u8>,
}

/// Parse the age header at the start of `buf` (which must hold all of it).
pub fn parse(buf: &[u8]) -> Result<Head> {
    let Some(mut rest) = buf.strip_prefix(INTRO) else {
        bail!("not an age file (no age-encryption.org/v1 line)");
    };
    let mut stanzas = Vec::new();
    while !rest.starts_with(MAC_TAG) {
        let (tail, s) = age_core::format::read::age_stanza(rest)
            .map_err(|_| anyhow::anyhow!("unreadable age header (a recipient stanza)"))?;
        stanzas.push(Stanza::from(s));
        rest = tail;
    }
    let line_end = rest
        .iter()
        .position(|&b| b == b'\n')
        .context("unreadable age header (no end of its MAC line)")?;
    let encoded = rest[..line_end]
        .strip_prefix(b"--- ")
        .context("unreadable age header (its MAC line)")?;
    let mac = BASE64_STANDARD_NO_PAD
        .decode(encoded)
        .ok()
        .filter(|m| m.len() == 32)
        .context("unreadable age header (its MAC)")?;
    let len = buf.len() - rest.len() + line_end + 1;
    Ok(Head { stanzas, len, mac })
}

impl Head {
    /// The file key, unwrapped by the first of `ids` that can, with the header's MAC checked
    /// against it (a header changed by anyone without the file key is refused).
    pub fn file_key(&self, buf: &[u8], ids: &crate::vtape::decode::Ids) -> Result<FileKey> {
        let key = ids
            .iter()
            .find_map(|i| i.unwrap_stanzas(&self.stanzas))
            .context("none of the identities opens it (its file key is wrapped to others)")?
            .map_err(|e| anyhow::anyhow!("cannot unwrap its file key: {e}"))?;
        let signed = &buf[..self.len - (self.len_of_mac_line() - MAC_TAG.len())];
        let mut mac = mac_of(&key);
        mac.update(signed);
        mac.verify_slice(&self.mac)
            .map_err(|_| anyhow::anyhow!("its age header's MAC does not match (altered header)"))?;
        Ok(key)
    }

    /// `--- ` + base64 MAC + newline.
    fn len_of_mac_line(&self) -> usize {
        MAC_TAG.len() + 1 + BASE64_STANDARD_NO_PAD.encode(&self.mac).len() + 1
    }
}

fn mac_of(key: &FileKey) -> Hmac<Sha256> {
    let k = age_core::primitives::hkdf(&[], b"header", key.expose_secret());
    Hmac::<Sha256>::new_from_slice(&k).expect("an HMAC takes a 32-byte key")
}

/// A new age header wrapping `key` to `recipients` (with its MAC): what goes before the
/// unchanged nonce and payload.
pub fn build(key: &FileKey, recipients: &[&dyn age::Recipient]) -> Result<Vec<u8>> {
    if recipients.is_empty() {
        bail!("no recipient to wrap the file key to");
    }
    let mut text = INTRO.to_vec();
    let mut labels: Option<HashSet<String>> = None;
    for r in recipients {
        let (stanzas, l) = r
            .wrap_file_key(key)
            .map_err(|e| anyhow::anyhow!("cannot wrap the file key: {e}"))?;
        match &labels {
            Some(prev) if *prev != l => bail!("these recipients cannot be mixed in one file"),
            _ => labels = Some(l),
        }
        for s in &stanzas {
            write_stanza(&mut text, s);
        }
    }
    text.extend_from_slice(MAC_TAG);
    let mut mac = mac_of(key);
    mac.update(&text);
    let tag = mac.finalize().into_bytes();
    text.push(b' ');
    text.extend_from_slice(BASE64_STANDARD_NO_PAD.encode(tag).as_bytes());
    text.push(b'\n');
    Ok(text)
}

/// `-> TAG ARGS…` and the body in base64 lines of 64 columns, the last one short.
fn write_stanza(out: &mut Vec<u8>, s: &Stanza) {
    out.extend_from_slice(b"-> ");
    out.extend_from_slice(s.tag.as_bytes());
    for a in &s.args {
        out.push(b' ');
        out.extend_from_slice(a.as_bytes());
    }
    out.push(b'\n');
    let body = BASE64_STANDARD_NO_PAD.encode(&s.body);
    let mut rest = body.as_bytes();
    while rest.len() >= 64 {
        out.extend_from_slice(&rest[..64]);
        out.push(b'\n');
        rest = &rest[64..];
    }
    out.extend_from_slice(rest);
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    fn encrypt(to: &[&dyn age::Recipient], data: &[u8]) -> Vec<u8> {
        let e = age::Encryptor::with_recipients(to.iter().copied()).unwrap();
        let mut out = Vec::new();
        let mut w = e.wrap_output(&mut out).unwrap();
        w.write_all(data).unwrap();
        w.finish().unwrap();
        out
    }

    fn decrypt(id: &age::x25519::Identity, file: &[u8]) -> Result<Vec<u8>> {
        let d = age::Decryptor::new(file)?;
        let mut r = d.decrypt(std::iter::once(id as &dyn age::Identity))?;
        let mut out = Vec::new();
        r.read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn rewraps_to_new_recipients_and_keeps_the_payload() {
        let (a, b, c) = (
            age::x25519::Identity::generate(),
            age::x25519::Identity::generate(),
            age::x25519::Identity::generate(),
        );
        let data = vec![7u8; 200_000];
        let file = encrypt(&[&a.to_public(), &b.to_public()], &data);
        let head = parse(&file).unwrap();
        // two recipients, and the grease stanza age adds
        assert!(head.stanzas.len() >= 2);
        let ids: Vec<Box<dyn age::Identity + Send + Sync>> = vec![Box::new(a.clone())];
        let key = head.file_key(&file, &ids).unwrap();
        let new = build(&key, &[&a.to_public(), &c.to_public()]).unwrap();
        let mut out = new.clone();
        out.extend_from_slice(&file[head.len..]);
        assert_eq!(parse(&out).unwrap().len, new.len());
        assert_eq!(decrypt(&c, &out).unwrap(), data);
        assert_eq!(decrypt(&a, &out).unwrap(), data);
        assert!(decrypt(&b, &out).is_err());
        assert_eq!(&out[new.len()..], &file[head.len..]);
    }

    #[test]
    fn an_altered_header_or_a_stranger_is_refused() {
        let (a, b) = (
            age::x25519::Identity::generate(),
            age::x25519::Identity::generate(),
        );
        let mut file = encrypt(&[&a.to_public()], b"x");
        let ids: Vec<Box<dyn age::Identity + Send + Sync>> = vec![Box::new(b)];
        let e = parse(&file).unwrap().file_key(&file, &ids).err().unwrap();
        assert!(format!("{e:#}").contains("none of the identities"), "{e:#}");
        let ids: Vec<Box<dyn age::Identity + Send + Sync>> = vec![Box::new(a)];
        // add a stanza the MAC does not cover
        let at = parse(&file).unwrap().len - 48;
        file.splice(at..at, b"-> junk\n\n".iter().copied());
        let e = parse(&file).unwrap().file_key(&file, &ids).err().unwrap();
        assert!(format!("{e:#}").contains("MAC"), "{e:#}");
        assert!(parse(b"tar").is_err());
    }
}
