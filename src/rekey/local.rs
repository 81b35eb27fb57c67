//! A tape file in a directory rekeyed, crash-safe: the new file is written beside the old
//! one (new signed header, new age header, the payload's bytes as they were) and fsynced; the
//! catalog then records the new payload with the old one still accepted; the rename puts it
//! in place; the catalog drops the old one.

use super::Ctx;
use super::head::NewHead;
use super::write::{Done, put_in_place, stream};
use crate::catalog::DumpRecord;
use crate::fsutil;
use crate::vtape::header::{DumpHeader, HEADER_SIZE};
use crate::vtape::reader::Opened;
use anyhow::{Context, Result};
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::Path;

pub fn in_directory(
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
