//! An object replaced by a new beginning followed by the rest of the old object, copied by
//! the store itself (UploadPartCopy): what `tapir rekey` does to a tape file on object
//! storage, so that its payload is never sent again. The new object appears whole when the
//! upload completes, or not at all.

use super::{Store, expiry, versions};
use anyhow::{Result, anyhow, bail};
use rusty_s3::S3Action;

/// The smallest part S3 takes, but for the last one.
pub const MIN_PART: u64 = 5 << 20;
/// The parts copied server side (S3 takes up to 5 GiB a part).
const COPY_PART: u64 = 1 << 30;

/// What to write at `rel`: `first`, then bytes `from..size` of the object there now (its
/// version `version` when the bucket keeps versions). `first` must be at least
/// [`MIN_PART`] long unless nothing follows it.
pub struct Splice<'a> {
    pub rel: &'a str,
    pub first: &'a [u8],
    pub from: u64,
    pub size: u64,
    pub version: Option<&'a str>,
    pub meta: &'a [(String, String)],
    /// Object Lock retention for the new object (the old one's), over the store's own.
    pub retain_until: Option<&'a str>,
}

impl Store {
    /// Replace the object as `s` says; the bytes sent in request bodies.
    pub fn splice(&self, s: &Splice) -> Result<u64> {
        if (s.first.len() as u64) < MIN_PART && s.from < s.size {
            bail!(
                "{}: a first part of {} bytes is too small",
                self.url,
                s.first.len()
            );
        }
        let key = self.key(s.rel);
        let id = self.create_plain(&key, s)?;
        let sent = self.splice_parts(&key, &id, s);
        if sent.is_err() {
            super::upload::abort(self, &key, &id);
        }
        sent
    }

    fn splice_parts(&self, key: &str, id: &str, s: &Splice) -> Result<u64> {
        let mut etags = vec![self.put_plain_part(key, id, 1, s.first)?];
        let mut source = format!("/{}/{key}", self.bucket.name());
        if let Some(v) = s.version {
            source.push_str(&format!("?versionId={v}"));
        }
        let mut at = s.from;
        while at < s.size {
            let end = (at + COPY_PART).min(s.size);
            let n = u16::try_from(etags.len() + 1)?;
            etags.push(self.copy_part(key, id, n, &source, at, end)?);
            at = end;
        }
        let action = self.bucket.complete_multipart_upload(
            self.creds(),
            key,
            id,
            etags.iter().map(String::as_str),
        );
        let url = action.sign(expiry());
        let body = action.body();
        let what = format!("COMPLETE {key}");
        let resp = self.send("POST", url, &[], Some(body.as_bytes()), &what)?;
        self.answer(resp, &what)?;
        Ok(s.first.len() as u64)
    }

    /// Start a multipart upload without per-part checksums (copied parts have none to send).
    fn create_plain(&self, key: &str, s: &Splice) -> Result<String> {
        let mut action = self.bucket.create_multipart_upload(self.creds(), key);
        let mut headers = self.object_headers(s.meta, None);
        if let Some(until) = s.retain_until {
            headers.retain(|(k, _)| !k.starts_with("x-amz-object-lock-"));
            headers.push(("x-amz-object-lock-mode".into(), "COMPLIANCE".into()));
            headers.push(("x-amz-object-lock-retain-until-date".into(), until.into()));
        }
        for (k, v) in &headers {
            action.headers_mut().insert(k.clone(), v.clone());
        }
        let url = action.sign(expiry());
        let mut resp = self.send("POST", url, &headers, Some(b""), &format!("CREATE {key}"))?;
        let text = resp.body_mut().read_to_string()?;
        let r = rusty_s3::actions::CreateMultipartUpload::parse_response(&text)
            .map_err(|e| anyhow!("{} CREATE {key}: unreadable answer: {e}", self.url))?;
        Ok(r.upload_id().to_string())
    }

    fn put_plain_part(&self, key: &str, id: &str, n: u16, body: &[u8]) -> Result<String> {
        let url = self
            .bucket
            .upload_part(self.creds(), key, n, id)
            .sign(expiry());
        let what = format!("PUT {key} part {n}");
        let resp = self.send("PUT", url, &[], Some(body), &what)?;
        resp.headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .map(String::from)
            .ok_or_else(|| anyhow!("{} {what}: no ETag in the answer", self.url))
    }

    /// Part `n`: bytes `a..b` of `source`, copied by the store.
    fn copy_part(
        &self,
        key: &str,
        id: &str,
        n: u16,
        source: &str,
        a: u64,
        b: u64,
    ) -> Result<String> {
        let mut action = self.bucket.upload_part(self.creds(), key, n, id);
        let headers = [
            ("x-amz-copy-source".to_string(), source.to_string()),
            (
                "x-amz-copy-source-range".to_string(),
                format!("bytes={a}-{}", b - 1),
            ),
        ];
        for (k, v) in &headers {
            action.headers_mut().insert(k.clone(), v.clone());
        }
        let url = action.sign(expiry());
        let what = format!("COPY {source} bytes {a}-{} to {key} part {n}", b - 1);
        let resp = self.send("PUT", url, &headers, Some(b""), &what)?;
        let text = self.answer(resp, &what)?;
        versions::tag(&text, "ETag")
            .ok_or_else(|| anyhow!("{} {what}: no ETag in the answer: {text}", self.url))
    }
}
