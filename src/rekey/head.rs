//! The new beginning of a rekeyed tape file: its age header wrapped to the new set, and its
//! tapir header with the new recipients, size, age-header pin and (once the payload has
//! been read) sha256, signed. A copy (a mirror, a vault) of a dump the vtape root already
//! holds rekeyed takes the vtape file's own headers instead, so that every copy of a dump
//! stays byte for byte the same file (and the catalog's one sha256 holds for all of them).

use super::Ctx;
use crate::catalog::{DumpRecord, history};
use crate::keys::Recipient;
use crate::vtape::header::DumpHeader;
use crate::vtape::reader::Opened;
use age::secrecy::ExposeSecret;
use anyhow::{Result, bail};
use std::time::SystemTime;

/// What a rekeyed file starts with.
pub struct NewHead {
    /// The new age header (the nonce and data follow unchanged).
    pub age: Vec<u8>,
    /// The length of the age header it replaces.
    pub old_age_len: usize,
    /// The new tapir header, all but its payload sha256.
    header: DumpHeader,
    /// The vtape file's header block, when its headers are taken.
    adopted: Option<Vec<u8>>,
    /// The vtape file's mtime, when its headers are taken (a directory mirror then sees the
    /// copy unchanged).
    pub mtime: Option<SystemTime>,
}

impl NewHead {
    /// The final header and its signed block, once the new payload's sha256 is known.
    pub fn finish(&self, ctx: &Ctx, sha: String, file_name: &str) -> Result<(DumpHeader, Vec<u8>)> {
        if let Some(block) = &self.adopted {
            if sha != self.header.payload_sha256 {
                bail!(
                    "the rekeyed payload's sha256 is {sha}, the vtape's rekeyed file has {}: this \
                     copy holds other data",
                    self.header.payload_sha256
                );
            }
            return Ok((self.header.clone(), block.clone()));
        }
        let mut h = self.header.clone();
        h.payload_sha256 = sha;
        let block = h.encode(file_name, Some(ctx.signer))?;
        Ok((h, block))
    }
}

/// The new headers of `opened` (the file of `r`), wrapped to `set`.
pub fn new_head(ctx: &Ctx, r: &DumpRecord, opened: &Opened, set: &[&Recipient]) -> Result<NewHead> {
    let head = opened.payload_head(64 << 10)?;
    let age = crate::agehead::parse(&head).map_err(|e| e.context("its payload's age header"))?;
    let key = age.file_key(&head, ctx.ids)?;
    let nonce = &head[age.len..(age.len + 16).min(head.len())];
    let fps: Vec<String> = set.iter().map(|r| r.fingerprint()).collect();
    if let Some(adopted) = adopt(ctx, r, &key, nonce, &fps)? {
        return Ok(NewHead {
            old_age_len: age.len,
            ..adopted
        });
    }
    let keys: Vec<&dyn age::Recipient> = set.iter().map(|r| r.key.as_ref() as _).collect();
    let new_age = crate::agehead::build(&key, &keys)?;
    let mut h = opened.header.clone();
    h.recipients = fps;
    h.payload_size = h.payload_size - age.len as u64 + new_age.len() as u64;
    let mut pin = new_age.clone();
    pin.extend_from_slice(nonce);
    h.age_header_sha256 = crate::vtape::reader::age_header_sha256(&pin);
    Ok(NewHead {
        age: new_age,
        old_age_len: age.len,
        header: h,
        adopted: None,
        mtime: None,
    })
}

/// The vtape file of the same dump, when it is rekeyed to `fps` already and wraps the same
/// file key before the same nonce: its headers.
fn adopt(
    ctx: &Ctx,
    r: &DumpRecord,
    key: &age_core::format::FileKey,
    nonce: &[u8],
    fps: &[String],
) -> Result<Option<NewHead>> {
    let Some(server) = ctx.server else {
        return Ok(None);
    };
    let same = |x: &&DumpRecord| {
        (&x.datestamp, x.level, &x.label, x.file_number)
            == (&r.datestamp, r.level, &r.label, r.file_number)
            && x.payload_sha256 != r.payload_sha256
            && x.rekeyed_from.is_none()
    };
    let records = history::load(&server.catalog, &r.host, &r.disk)?;
    let Some(x) = records.iter().find(same) else {
        return Ok(None);
    };
    let path = server.dump_path(x);
    let Ok(theirs) = crate::fetch::open(&path, x, ctx.trust) else {
        return Ok(None);
    };
    if theirs.header.recipients != fps {
        return Ok(None);
    }
    let head = theirs.payload_head(64 << 10)?;
    let age = crate::agehead::parse(&head)?;
    let same_key = age
        .file_key(&head, ctx.ids)
        .is_ok_and(|k| k.expose_secret() == key.expose_secret());
    if !same_key || head.get(age.len..age.len + nonce.len()) != Some(nonce) {
        return Ok(None);
    }
    let mtime = match &path {
        crate::vtape::TapePath::Local(p) => std::fs::metadata(p).and_then(|m| m.modified()).ok(),
        _ => None,
    };
    Ok(Some(NewHead {
        age: head[..age.len].to_vec(),
        old_age_len: 0,
        header: theirs.header.clone(),
        adopted: Some(theirs.header_block()?),
        mtime,
    }))
}
