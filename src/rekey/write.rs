//! What every rekeyed file goes through: its old payload read once (checked against its
//! signed sha256, the new sha256 computed), and the catalog changed around the swap so that
//! a kill at any point leaves a file the catalog accepts, which the old recipients or the
//! new ones open; a rerun finishes.

use super::Ctx;
use super::head::NewHead;
use crate::catalog::{DumpRecord, history};
use crate::vtape::header::DumpHeader;
use crate::vtape::reader::Opened;
use anyhow::{Result, bail};
use sha2::{Digest, Sha256};
use std::io::Read;

/// What became of one file.
pub enum Done {
    /// Rewritten: the payload bytes read, the bytes sent (a store's upload; the file's size
    /// in a directory), and what Object Lock keeps of the old version.
    Rekeyed {
        read: u64,
        sent: u64,
        locked: Option<String>,
    },
    /// Already wrapped to the set asked for.
    Unchanged,
    /// Not encrypted on the server: nothing to rekey.
    Plain,
    /// `--dry-run`: the recipients it would get.
    Would(Vec<String>),
}

/// Read the old payload: its age header is dropped, the rest handed to `sink`. The old
/// payload is hashed as it is read and must be the one its signed header names (a damaged
/// file is never signed anew); the new header (and its block) carries the new sha256.
pub(super) fn stream(
    ctx: &Ctx,
    mut opened: Opened,
    new: &NewHead,
    file_name: &str,
    mut sink: impl FnMut(&[u8]) -> Result<()>,
) -> Result<((DumpHeader, Vec<u8>), u64)> {
    let want = opened.header.payload_sha256.clone();
    let mut new_hash = Sha256::new();
    new_hash.update(&new.age);
    let (old_sha, read) = std::thread::scope(|s| -> Result<(String, u64)> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<std::sync::Arc<Vec<u8>>>(4);
        let old = s.spawn(move || {
            let mut hash = Sha256::new();
            for chunk in rx {
                hash.update(&chunk[..]);
            }
            crate::units::hex(&hash.finalize())
        });
        let mut src = opened.unhashed()?;
        let mut skip = new.old_age_len;
        let mut read = 0u64;
        loop {
            let mut buf = vec![0u8; 1 << 20];
            let n = read_full(&mut src, &mut buf)?;
            if n == 0 {
                break;
            }
            buf.truncate(n);
            read += n as u64;
            let from = skip.min(n);
            skip -= from;
            new_hash.update(&buf[from..]);
            sink(&buf[from..])?;
            crate::failpoint::hit("rekey-copying");
            if tx.send(std::sync::Arc::new(buf)).is_err() {
                break;
            }
        }
        drop(tx);
        let sha = old
            .join()
            .map_err(|_| anyhow::anyhow!("the hashing thread failed"))?;
        Ok((sha, read))
    })?;
    if old_sha != want {
        bail!("CORRUPT: payload sha256 {old_sha}, its signed header says {want}: not rekeyed");
    }
    let sha = crate::units::hex(&new_hash.finalize());
    let done = new.finish(ctx, sha, file_name)?;
    Ok((done, read))
}

/// Read until `buf` is full or the reader ends.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// Catalog first (both payloads accepted), then `swap` (the rename, the upload's
/// completion), then the catalog again.
pub(super) fn put_in_place(
    ctx: &Ctx,
    r: &DumpRecord,
    h: &DumpHeader,
    swap: impl FnOnce() -> Result<()>,
) -> Result<()> {
    let mut both = r.clone();
    both.payload_sha256 = h.payload_sha256.clone();
    both.payload_size = h.payload_size;
    both.rekeyed_from = Some(history::Payload {
        tape_bytes: r.payload_size,
        payload_sha256: r.payload_sha256.clone(),
    });
    replace_record(ctx, r, &both)?;
    crate::failpoint::hit("rekey-before-rename");
    swap()?;
    crate::failpoint::hit("rekey-after-rename");
    let mut done = both.clone();
    done.rekeyed_from = None;
    replace_record(ctx, &both, &done)
}

/// Put `new` where `old` is in its DLE's history (and the history on the store, when the
/// root is one).
pub(super) fn replace_record(ctx: &Ctx, old: &DumpRecord, new: &DumpRecord) -> Result<()> {
    let cat = &ctx.cfg.catalog;
    let mut all = history::load(cat, &old.host, &old.disk)?;
    let Some(at) = all.iter().position(|x| x == old) else {
        bail!(
            "the catalog's record of {} {} {} changed while rekeying",
            old.host,
            old.disk,
            old.datestamp
        );
    };
    all[at] = new.clone();
    history::save(cat, &old.host, &old.disk, &all)?;
    push_history(ctx, &old.host, &old.disk)
}

/// After a record changed in the local copy of a store's catalog: the store's copy too.
pub fn push_history(ctx: &Ctx, host: &str, disk: &str) -> Result<()> {
    let crate::vtape::Root::S3(remote) = &ctx.cfg.changer.root else {
        return Ok(());
    };
    let local = history::path(&ctx.cfg.catalog, host, disk);
    let Ok(sub) = local.strip_prefix(&ctx.cfg.catalog) else {
        return Ok(());
    };
    let body = std::fs::read(&local)?;
    let sha = crate::units::hex(&Sha256::digest(&body));
    let rel = format!("catalog/{}", sub.display());
    remote
        .store()
        .put(&rel, &body, &[("tapir-sha256".into(), sha)])
}
