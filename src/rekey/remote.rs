//! A tape file on object storage rekeyed: the payload is read once (to check its sha256 and
//! compute the new one), and the new object is a multipart upload whose first part is the
//! new headers and the first few MiB of data, and whose other parts the store copies from
//! the old object (UploadPartCopy): the payload is not sent again. Under Object Lock the
//! old version stays until its retention ends, still wrapped to the old recipients.

use super::Ctx;
use super::head::NewHead;
use super::write::{Done, put_in_place, stream};
use crate::catalog::DumpRecord;
use crate::s3::splice::{MIN_PART, Splice};
use crate::vtape::header::HEADER_SIZE;
use crate::vtape::reader::Opened;
use crate::vtape::source::Remote;
use anyhow::{Result, bail};
use sha2::{Digest, Sha256};

pub fn in_store(
    ctx: &Ctx,
    r: &DumpRecord,
    opened: Opened,
    new: NewHead,
    remote: &Remote,
    rel: &str,
) -> Result<Done> {
    let store = remote.store();
    let Some(old) = store.head(rel)? else {
        bail!("{}: {rel} is gone", store.url);
    };
    let file_name = opened.path.file_name().unwrap_or_default();
    let room = MIN_PART.saturating_sub((HEADER_SIZE + new.age.len()) as u64) as usize;
    let mut first_data = Vec::with_capacity(room.min(opened.header.payload_size as usize));
    let ((h, block), read) = stream(ctx, opened, &new, &file_name, |chunk| {
        let take = room.saturating_sub(first_data.len()).min(chunk.len());
        first_data.extend_from_slice(&chunk[..take]);
        Ok(())
    })?;
    let mut first = block.clone();
    first.extend_from_slice(&new.age);
    first.extend_from_slice(&first_data);
    let version = old.amz("version-id").filter(|v| *v != "null");
    let until = old
        .amz("object-lock-retain-until-date")
        .filter(|_| old.amz("object-lock-mode").is_some());
    let meta = [(
        "tapir-header-sha256".to_string(),
        crate::units::hex(&Sha256::digest(&block)),
    )];
    let splice = Splice {
        rel,
        first: &first,
        from: (HEADER_SIZE + new.old_age_len + first_data.len()) as u64,
        size: old.size,
        version,
        meta: &meta,
        retain_until: until,
    };
    let mut sent = 0;
    put_in_place(ctx, r, &h, || {
        sent = store.splice(&splice)?;
        let want = HEADER_SIZE as u64 + h.payload_size;
        match store.head(rel)? {
            Some(now) if now.size == want => {}
            now => bail!(
                "{}: {rel} has {:?} bytes after the rekey, {want} expected",
                store.url,
                now.map(|n| n.size)
            ),
        }
        if store.get_range(rel, 0, first.len() as u64)? != first {
            bail!(
                "{}: {rel} does not begin with the new headers after the rekey",
                store.url
            );
        }
        Ok(())
    })?;
    let locked = match (version, until) {
        (Some(v), Some(u)) => Some(format!(
            "its old version {v} stays, readable by the old recipients, until {u} (Object Lock)"
        )),
        (Some(v), None) => Some(format!(
            "its old version {v} stays in the bucket's versions, readable by the old \
             recipients, until it is deleted"
        )),
        _ => None,
    };
    Ok(Done::Rekeyed { read, sent, locked })
}
