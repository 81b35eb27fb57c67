//! One tape file rekeyed: a record a killed rekey left half done is settled first, then the
//! file is rewrapped in its directory ([`super::local`]) or on its store ([`super::remote`]).

use super::Ctx;
use super::write::{Done, replace_record};
use crate::catalog::DumpRecord;
use crate::fsutil;
use crate::vtape::TapePath;
use crate::vtape::header::Sealed;
use anyhow::{Result, bail};

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
        TapePath::Local(local) => super::local::in_directory(ctx, &r, opened, new, local),
        TapePath::S3 { remote, key } => super::remote::in_store(ctx, &r, opened, new, remote, key),
        #[allow(unreachable_patterns)]
        _ => bail!("{path}: cannot be rekeyed here"),
    }
}

/// A record a killed rekey left with two payloads: keep the one the file holds (a dry run
/// only looks).
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
    if ctx.dry_run {
        return Ok(settled);
    }
    if let TapePath::Local(p) = &path {
        let _ = std::fs::remove_file(fsutil::temp_name(p));
    }
    replace_record(ctx, r, &settled)?;
    Ok(settled)
}
