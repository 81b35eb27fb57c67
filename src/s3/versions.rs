//! What the store keeps beyond the newest objects: versions held by Object Lock (what a thief
//! with the server's credentials cannot delete) and multipart uploads in progress (what a
//! killed run leaves, to be aborted). rusty-s3 has no action for ListMultipartUploads: its
//! own signer signs that request.

use super::{Store, expiry};
use anyhow::{Result, anyhow, bail};
use rusty_s3::S3Action;
use std::io::Read;

/// One multipart upload the store holds open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenUpload {
    /// The full object key (with the prefix).
    pub key: String,
    pub upload_id: String,
}

impl Store {
    /// Create the bucket with Object Lock (and so versioning) enabled: set-ups and tests.
    pub fn create_bucket_locked(&self) -> Result<()> {
        let mut action = self.bucket.create_bucket(&self.creds);
        let h = (
            "x-amz-bucket-object-lock-enabled".to_string(),
            "true".to_string(),
        );
        action.headers_mut().insert(h.0.clone(), h.1.clone());
        let url = action.sign(expiry());
        self.send("PUT", url, &[h], Some(b""), "CREATE BUCKET (object lock)")?;
        Ok(())
    }

    /// With `object_lock_days`: a small probe object must come back retained in COMPLIANCE
    /// mode. A bucket without Object Lock refuses it, or (some servers) takes it unretained:
    /// either way an error, before any tape goes up believed immutable.
    pub fn check_lock(&self) -> Result<()> {
        let Some(days) = self.lock_days else {
            return Ok(());
        };
        let rel = ".tapir-lock-probe";
        let why =
            format!("s3.object_lock_days = {days} needs a bucket created with Object Lock enabled");
        self.put(rel, b"tapir object lock probe\n", &[])
            .map_err(|e| anyhow!("{e:#}; {why}"))?;
        let head = self
            .head(rel)?
            .ok_or_else(|| anyhow!("{}: {rel} is missing after its PUT", self.url))?;
        self.retained(rel, &head)
            .map_err(|e| anyhow!("{e:#}; {why}"))
    }

    /// The object HEAD describes is retained as `object_lock_days` asks (when set).
    pub fn retained(&self, rel: &str, head: &super::Head) -> Result<()> {
        if self.lock_days.is_none() && self.lock_until.is_none() {
            return Ok(());
        }
        match (
            head.amz("object-lock-mode"),
            head.amz("object-lock-retain-until-date"),
        ) {
            (Some("COMPLIANCE"), Some(_)) => Ok(()),
            (mode, _) => bail!(
                "{}: {rel} is not retained by Object Lock (mode {})",
                self.url,
                mode.unwrap_or("none")
            ),
        }
    }

    /// Delete one version of an object for good (what Object Lock refuses while retained).
    pub fn delete_version(&self, rel: &str, version: &str) -> Result<()> {
        let key = self.key(rel);
        let mut action = self.bucket.delete_object(self.creds(), &key);
        action.query_mut().insert("versionId", version.to_string());
        let url = action.sign(expiry());
        self.send("DELETE", url, &[], None, &format!("DELETE {key}@{version}"))?;
        Ok(())
    }

    /// One version of an object, whole (after a plain DELETE left a delete marker on top).
    pub fn get_version(&self, rel: &str, version: &str) -> Result<Vec<u8>> {
        let key = self.key(rel);
        let mut action = self.bucket.get_object(self.creds(), &key);
        action.query_mut().insert("versionId", version.to_string());
        let url = action.sign(expiry());
        let resp = self.send("GET", url, &[], None, &format!("GET {key}@{version}"))?;
        let mut out = Vec::new();
        resp.into_body().into_reader().read_to_end(&mut out)?;
        Ok(out)
    }

    /// The multipart uploads open under this store's prefix (ListMultipartUploads, all
    /// pages).
    pub fn open_uploads(&self) -> Result<Vec<OpenUpload>> {
        let prefix = self.key("");
        let mut out = Vec::new();
        let mut marker: Option<(String, String)> = None;
        loop {
            let mut query = vec![("uploads", String::new()), ("prefix", prefix.clone())];
            if let Some((k, u)) = &marker {
                query.push(("key-marker", k.clone()));
                query.push(("upload-id-marker", u.clone()));
            }
            // the signer merges its own parameters into a sorted list: give it ours sorted
            query.sort();
            let url = rusty_s3::signing::sign(
                &jiff::Timestamp::now(),
                rusty_s3::Method::Get,
                self.bucket.base_url().clone(),
                self.creds.key(),
                self.creds.secret(),
                self.creds.token(),
                self.bucket.region(),
                expiry().as_secs(),
                query.iter().map(|(k, v)| (*k, v.as_str())),
                std::iter::empty(),
            );
            let mut resp = self.send("GET", url, &[], None, "LIST UPLOADS")?;
            let text = resp.body_mut().read_to_string()?;
            let page = parse_uploads(&text)
                .ok_or_else(|| anyhow!("{} LIST UPLOADS: unreadable answer", self.url))?;
            out.extend(page.uploads);
            match page.next {
                Some(m) if marker.as_ref() != Some(&m) => marker = Some(m),
                Some(_) => bail!("{} LIST UPLOADS: the listing does not advance", self.url),
                None => return Ok(out),
            }
        }
    }
}

struct UploadsPage {
    uploads: Vec<OpenUpload>,
    /// (key-marker, upload-id-marker) of the next page, when truncated.
    next: Option<(String, String)>,
}

/// A ListMultipartUploadsResult: its `<Upload>`s and, when truncated, the next markers.
fn parse_uploads(xml: &str) -> Option<UploadsPage> {
    if !xml.contains("ListMultipartUploadsResult") {
        return None;
    }
    let uploads = xml
        .split("<Upload>")
        .skip(1)
        .filter_map(|u| {
            Some(OpenUpload {
                key: tag(u, "Key")?,
                upload_id: tag(u, "UploadId")?,
            })
        })
        .collect();
    let next = if tag(xml, "IsTruncated").as_deref() == Some("true") {
        Some((tag(xml, "NextKeyMarker")?, tag(xml, "NextUploadIdMarker")?))
    } else {
        None
    };
    Some(UploadsPage { uploads, next })
}

/// The unescaped text of the first `<t>…</t>` in `s`.
pub(super) fn tag(s: &str, t: &str) -> Option<String> {
    let a = s.find(&format!("<{t}>"))? + t.len() + 2;
    let b = s[a..].find(&format!("</{t}>"))? + a;
    Some(
        s[a..b]
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&amp;", "&"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_uploads_listing_parses_with_escapes_and_pages() {
        let xml = "<?xml version=\"1.0\"?><ListMultipartUploadsResult><Bucket>b</Bucket>\
            <IsTruncated>true</IsTruncated><NextKeyMarker>off/slot2/x</NextKeyMarker>\
            <NextUploadIdMarker>u2</NextUploadIdMarker>\
            <Upload><Key>off/slot1/a&amp;b</Key><UploadId>u1</UploadId></Upload>\
            <Upload><Key>off/slot2/x</Key><UploadId>u2</UploadId></Upload>\
            </ListMultipartUploadsResult>";
        let p = parse_uploads(xml).unwrap();
        assert_eq!(p.uploads.len(), 2);
        assert_eq!(p.uploads[0].key, "off/slot1/a&b");
        assert_eq!(p.uploads[1].upload_id, "u2");
        assert_eq!(p.next, Some(("off/slot2/x".into(), "u2".into())));
        let last = xml.replace(
            "<IsTruncated>true</IsTruncated>",
            "<IsTruncated>false</IsTruncated>",
        );
        assert_eq!(parse_uploads(&last).unwrap().next, None);
        assert!(parse_uploads("<Error><Code>x</Code></Error>").is_none());
    }
}
