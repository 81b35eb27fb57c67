//! One tape file rekeyed, crash-safe. In a directory: the new file is written beside the old
//! one (new signed header, new age header, the payload's bytes as they were) and fsynced; the
//! catalog then records the new payload with the old one still accepted; the rename puts it
//! in place; the catalog drops the old one. On object storage the same, with a multipart
//! upload whose completion is the rename. A kill at any point leaves a file that the old
//! recipients or the new ones open, and that the catalog accepts; a rerun finishes.

use super::Ctx;
use super::head::NewHead;
use crate::catalog::{DumpRecord, history};
use crate::fsutil;
use crate::vtape::TapePath;
use crate::vtape::header::{DumpHeader, HEADER_SIZE, Sealed};
use crate::vtape::reader::Opened;
use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::Path;

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

/// Rekey the file of `r`.
pub fn rekey(ctx: &Ctx, r: &DumpRecord) -> Result<Done> {
    let r = settle(ctx, r)?;
    let path = ctx.cfg.dump_path(&r);
    let opened = crate::fetch::open(&path, &r, ctx.trust)?;
    if opened.header.encrypt != Sealed::Server {
        return Ok(Done::Plain);
    }
    let Some(set) = ctx.change.new_set(&opened.header.recipients)? else {
        return Ok(Done::Unchanged);
    };
    if ctx.dry_run {
        return Ok(Done::Would(set.iter().map(|r| r.text.clone()).collect()));
    }
    let new = super::head::new_head(ctx, &r, &opened, &set)?;
    match &path {
        TapePath::Local(local) => in_directory(ctx, &r, opened, new, local),
        TapePath::S3 { remote, key } => super::remote::in_store(ctx, &r, opened, new, remote, key),
        #[allow(unreachable_patterns)]
        _ => bail!("{path}: cannot be rekeyed here"),
    }
}

/// A record a killed rekey left with two payloads: keep the one the file holds.
fn settle(ctx: &Ctx, r: &DumpRecord) -> Result<DumpRecord> {
    let Some(before) = &r.rekeyed_from else {
        return Ok(r.clone());
    };
    let path = ctx.cfg.dump_path(r);
    let opened = crate::fetch::open(&path, r, ctx.trust)?;
    let mut settled = r.clone();
    settled.rekeyed_from = None;
    if opened.header.payload_sha256 == before.payload_sha256 {
        settled.payload_sha256 = before.payload_sha256.clone();
        settled.payload_size = before.tape_bytes;
    }
    if let TapePath::Local(p) = &path {
        let _ = std::fs::remove_file(fsutil::temp_name(p));
    }
    replace_record(ctx, r, &settled)?;
    Ok(settled)
}

fn in_directory(
    ctx: &Ctx,
    r: &DumpRecord,
    opened: Opened,
    new: NewHead,
    local: &Path,
) -> Result<Done> {
    let tmp = fsutil::temp_name(local);
    let mode = std::fs::metadata(local).map(|m| m.mode()).ok();
    let written = write_beside(ctx, opened, &new, &tmp, mode);
    let (h, read) = written.inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })?;
    let sent = HEADER_SIZE as u64 + h.payload_size;
    put_in_place(ctx, r, &h, || fsutil::rename_durable(&tmp, local))?;
    Ok(Done::Rekeyed {
        read,
        sent,
        locked: None,
    })
}

/// The new file at `tmp`: header, new age header, the old payload after its age header.
fn write_beside(
    ctx: &Ctx,
    opened: Opened,
    new: &NewHead,
    tmp: &Path,
    mode: Option<u32>,
) -> Result<(DumpHeader, u64)> {
    let file_name = opened.path.file_name().unwrap_or_default();
    let mut out = File::create(tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    out.write_all(&[0u8; HEADER_SIZE])?;
    out.write_all(&new.age)?;
    let (h, read) = stream(ctx, opened, new, &file_name, |chunk| {
        out.write_all(chunk)
            .with_context(|| format!("cannot write {}", tmp.display()))
    })?;
    out.write_all_at(&h.1, 0)?;
    if let Some(mode) = mode {
        use std::os::unix::fs::PermissionsExt;
        out.set_permissions(std::fs::Permissions::from_mode(mode))?;
    }
    if let Some(t) = new.mtime {
        out.set_modified(t)?;
    }
    out.sync_all()
        .with_context(|| format!("cannot sync {}", tmp.display()))?;
    Ok((h.0, read))
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
fn replace_record(ctx: &Ctx, old: &DumpRecord, new: &DumpRecord) -> Result<()> {
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
    super::remote::push_history(ctx, &old.host, &old.disk)
}
