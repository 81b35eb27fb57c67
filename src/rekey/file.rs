//! One tape file rekeyed in place, crash-safe: the new file is written beside the old one
//! (new signed header, new age header, the payload's bytes as they were) and fsynced; the
//! catalog then records the new payload with the old one still accepted; the rename puts it
//! in place; the catalog drops the old one. A kill at any point leaves a file that the old
//! recipients or the new ones open, and that the catalog accepts; a rerun finishes.

use super::Ctx;
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
    /// Rewritten: the payload bytes read.
    Rekeyed(u64),
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
    let TapePath::Local(local) = &path else {
        bail!("rekey on object storage is not built yet: rekey the directory it mirrors");
    };
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
    let head = opened.payload_head(64 << 10)?;
    let age = crate::agehead::parse(&head).context("its payload's age header")?;
    let key = age.file_key(&head, ctx.ids)?;
    let keys: Vec<&dyn age::Recipient> = set.iter().map(|r| r.key.as_ref() as _).collect();
    let new_age = crate::agehead::build(&key, &keys)?;
    let mut h = opened.header.clone();
    h.recipients = set.iter().map(|r| r.fingerprint()).collect();
    h.payload_size = h.payload_size - age.len as u64 + new_age.len() as u64;
    let mut pin = new_age.clone();
    pin.extend_from_slice(&head[age.len..(age.len + 16).min(head.len())]);
    h.age_header_sha256 = crate::vtape::reader::age_header_sha256(&pin);
    let tmp = fsutil::temp_name(local);
    let mode = std::fs::metadata(local).map(|m| m.mode()).ok();
    let written = write_beside(ctx, opened, (age.len, &new_age), h, &tmp, mode);
    let (h, bytes) = written.inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })?;
    put_in_place(ctx, &r, &h, &tmp, local)?;
    Ok(Done::Rekeyed(bytes))
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

/// The new file at `tmp`: header, new age header, the old payload after its age header.
/// The old payload is hashed as it is read and must be the one its signed header names
/// (a damaged file is never signed anew); the new header carries the new sha256.
fn write_beside(
    ctx: &Ctx,
    mut opened: Opened,
    (old_age_len, new_age): (usize, &[u8]),
    mut h: DumpHeader,
    tmp: &Path,
    mode: Option<u32>,
) -> Result<(DumpHeader, u64)> {
    let file_name = opened.path.file_name().unwrap_or_default();
    let want = opened.header.payload_sha256.clone();
    let mut out = File::create(tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    out.write_all(&[0u8; HEADER_SIZE])?;
    out.write_all(new_age)?;
    let mut new_hash = Sha256::new();
    new_hash.update(new_age);
    let (old_sha, bytes) = std::thread::scope(|s| -> Result<(String, u64)> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<std::sync::Arc<Vec<u8>>>(4);
        let old = s.spawn(move || {
            let mut hash = Sha256::new();
            for chunk in rx {
                hash.update(&chunk[..]);
            }
            crate::units::hex(&hash.finalize())
        });
        let mut src = opened.unhashed()?;
        let mut skip = old_age_len;
        let mut bytes = 0u64;
        loop {
            let mut buf = vec![0u8; 1 << 20];
            let n = read_full(&mut src, &mut buf)?;
            if n == 0 {
                break;
            }
            buf.truncate(n);
            bytes += n as u64;
            let from = skip.min(n);
            skip -= from;
            new_hash.update(&buf[from..]);
            out.write_all(&buf[from..])
                .with_context(|| format!("cannot write {}", tmp.display()))?;
            crate::failpoint::hit("rekey-copying");
            if tx.send(std::sync::Arc::new(buf)).is_err() {
                break;
            }
        }
        drop(tx);
        let sha = old
            .join()
            .map_err(|_| anyhow::anyhow!("the hashing thread failed"))?;
        Ok((sha, bytes))
    })?;
    if old_sha != want {
        bail!("CORRUPT: payload sha256 {old_sha}, its signed header says {want}: not rekeyed");
    }
    h.payload_sha256 = crate::units::hex(&new_hash.finalize());
    let block = h.encode(&file_name, Some(ctx.signer))?;
    out.write_all_at(&block, 0)?;
    if let Some(mode) = mode {
        use std::os::unix::fs::PermissionsExt;
        out.set_permissions(std::fs::Permissions::from_mode(mode))?;
    }
    out.sync_all()
        .with_context(|| format!("cannot sync {}", tmp.display()))?;
    Ok((h, bytes))
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

/// Catalog first (both payloads accepted), then the rename, then the catalog again.
fn put_in_place(ctx: &Ctx, r: &DumpRecord, h: &DumpHeader, tmp: &Path, to: &Path) -> Result<()> {
    let mut both = r.clone();
    both.payload_sha256 = h.payload_sha256.clone();
    both.payload_size = h.payload_size;
    both.rekeyed_from = Some(history::Payload {
        tape_bytes: r.payload_size,
        payload_sha256: r.payload_sha256.clone(),
    });
    replace_record(ctx, r, &both)?;
    crate::failpoint::hit("rekey-before-rename");
    fsutil::rename_durable(tmp, to)?;
    crate::failpoint::hit("rekey-after-rename");
    let mut done = both.clone();
    done.rekeyed_from = None;
    replace_record(ctx, &both, &done)
}

/// Put `new` where `old` is in its DLE's history.
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
    history::save(cat, &old.host, &old.disk, &all)
}
