//! Big objects as multipart uploads. The file is read once, in order (its sha256 computed on
//! the way), and cut into parts that `parallel` threads send at once: memory holds at most
//! (parallel + 1) parts. Each part carries its sha256 for S3 to check. The upload id and the
//! source's identity are kept in a state file, so that a run killed mid-upload resumes: the
//! parts S3 lists as received are not sent again. An upload not completed is never a visible
//! object; one no longer wanted is aborted.

use super::Store;
use anyhow::{Context, Result, anyhow, bail};
use rusty_s3::S3Action;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::sync::Mutex;

/// Uploads begun and not completed, by key (kept in the catalog, `s3-uploads.json`).
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Pending {
    pub uploads: BTreeMap<String, Upload>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Upload {
    pub upload_id: String,
    /// What the source was: size and its identity (a dump's header sha256).
    pub size: u64,
    pub source: String,
    pub part_size: u64,
}

impl Upload {
    /// Whether a killed run's upload may go on for this source: the same size, content
    /// (the header's sha256) and part size, so that every part it holds is this file's.
    fn resumes(&self, size: u64, source: &str, part_size: u64) -> bool {
        self.size == size && self.source == source && self.part_size == part_size
    }
}

/// The etag of part `n` when S3 already holds it whole (`len` bytes): not sent again.
fn held(have: &Have, n: u16, len: usize) -> Option<&str> {
    have.get(&n)
        .filter(|(_, size)| *size == len as u64)
        .map(|(etag, _)| etag.as_str())
}

impl Pending {
    /// The uploads a killed run left; a missing or unreadable state file is none (each
    /// upload is then found by listing, or sent again).
    pub fn load(path: &Path) -> Pending {
        crate::fsutil::read_json_or_default(path)
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        crate::fsutil::write_atomic(path, serde_json::to_string_pretty(self)?.as_bytes())
    }
}

/// The source is not what its header says: the upload is dropped, never completed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

/// What an upload sent.
pub struct Sent {
    /// sha256 of the whole file as read.
    pub sha256: String,
    /// Bytes sent now (parts S3 already had are not counted).
    pub bytes: u64,
}

/// The file to upload: its size, what identifies its content (a resumed upload must be of
/// the same), and the metadata its object gets.
pub struct Source<'a> {
    pub size: u64,
    pub identity: &'a str,
    pub meta: &'a [(String, String)],
}

/// Part number → (etag, size) of the parts S3 has.
type Have = BTreeMap<u16, (String, u64)>;

/// The state file and what it holds, shared by the uploads of one run.
pub type State = Mutex<(Pending, std::path::PathBuf)>;

/// Upload what `body` reads (`src` says what it is) to `rel` as a multipart upload, resuming
/// one a killed run left. `verdict` may refuse the file once all of it was read: the upload
/// is then aborted and no object appears.
pub fn multipart(
    store: &Store,
    rel: &str,
    src: &Source,
    body: &mut dyn Read,
    state: &State,
    verdict: &mut dyn FnMut() -> Result<()>,
) -> Result<Sent> {
    let (size, source, meta) = (src.size, src.identity, src.meta);
    let key = store.key(rel);
    let part_size = store.part_size;
    let resumed = resume(store, &key, size, source, part_size, state)?;
    let (upload_id, have) = match resumed {
        Some(r) => r,
        None => {
            let id = create(store, &key, meta)?;
            // killed here, the upload is in no state file: the next run finds it by listing
            crate::failpoint::hit("s3-upload-created");
            let mut s = state.lock().unwrap();
            s.0.uploads.insert(
                key.clone(),
                Upload {
                    upload_id: id.clone(),
                    size,
                    source: source.to_string(),
                    part_size,
                },
            );
            s.0.save(&s.1)?;
            (id, BTreeMap::new())
        }
    };
    let sent = send_parts(store, &key, &upload_id, body, &have).and_then(|r| {
        verdict()?;
        Ok(r)
    });
    let forget = |state: &State| -> Result<()> {
        let mut s = state.lock().unwrap();
        s.0.uploads.remove(&key);
        s.0.save(&s.1)
    };
    let (etags, sha, bytes) = match sent {
        Ok(r) => r,
        Err(e) if e.chain().any(|c| c.is::<Refused>()) => {
            abort(store, &key, &upload_id);
            forget(state)?;
            return Err(e);
        }
        Err(e) => return Err(e),
    };
    crate::failpoint::hit("s3-before-complete");
    complete(store, &key, &upload_id, &etags)?;
    forget(state)?;
    Ok(Sent { sha256: sha, bytes })
}

/// An upload a killed run left for this same source: its id and the parts S3 has.
fn resume(
    store: &Store,
    key: &str,
    size: u64,
    source: &str,
    part_size: u64,
    state: &State,
) -> Result<Option<(String, Have)>> {
    let old = state.lock().unwrap().0.uploads.get(key).cloned();
    let Some(old) = old else { return Ok(None) };
    if !old.resumes(size, source, part_size) {
        abort(store, key, &old.upload_id);
        let mut s = state.lock().unwrap();
        s.0.uploads.remove(key);
        s.0.save(&s.1)?;
        return Ok(None);
    }
    match list_parts(store, key, &old.upload_id) {
        Ok(parts) => Ok(Some((old.upload_id, parts))),
        // the server forgot it (expired, aborted): start again
        Err(_) => Ok(None),
    }
}

fn create(store: &Store, key: &str, meta: &[(String, String)]) -> Result<String> {
    let mut action = store.bucket.create_multipart_upload(store.creds(), key);
    let mut headers = store.object_headers(meta, None);
    headers.push(("x-amz-checksum-algorithm".into(), "SHA256".into()));
    for (k, v) in &headers {
        action.headers_mut().insert(k.clone(), v.clone());
    }
    let url = action.sign(super::expiry());
    let mut resp = store.send("POST", url, &headers, Some(b""), &format!("CREATE {key}"))?;
    let text = resp.body_mut().read_to_string()?;
    let r = rusty_s3::actions::CreateMultipartUpload::parse_response(&text)
        .map_err(|e| anyhow!("{} CREATE {key}: unreadable answer: {e}", store.url))?;
    Ok(r.upload_id().to_string())
}

/// Part number → (etag, size) of the parts S3 has received.
fn list_parts(store: &Store, key: &str, id: &str) -> Result<Have> {
    let mut out = BTreeMap::new();
    let mut marker = None;
    loop {
        let mut action = store.bucket.list_parts(store.creds(), key, id);
        if let Some(m) = marker {
            action.set_part_number_marker(m);
        }
        let url = action.sign(super::expiry());
        let mut resp = store.send("GET", url, &[], None, &format!("LIST PARTS {key}"))?;
        let text = resp.body_mut().read_to_string()?;
        let page = rusty_s3::actions::ListParts::parse_response(&text)
            .map_err(|e| anyhow!("{} LIST PARTS {key}: unreadable answer: {e}", store.url))?;
        for p in page.parts {
            out.insert(p.number, (p.etag, p.size));
        }
        match page.next_part_number_marker {
            Some(m) if m > 0 => marker = Some(m),
            _ => return Ok(out),
        }
    }
}

/// Read the file in order, hash it, and send the parts S3 does not have, `parallel` at a
/// time. Returns every part's etag, the file's sha256 and the bytes sent.
fn send_parts(
    store: &Store,
    key: &str,
    id: &str,
    mut f: &mut dyn Read,
    have: &Have,
) -> Result<(Vec<Part>, String, u64)> {
    let (tx, rx) = std::sync::mpsc::sync_channel::<(u16, Vec<u8>)>(1);
    let rx = Mutex::new(rx);
    let etags = Mutex::new(BTreeMap::new());
    let failed: Mutex<Option<anyhow::Error>> = Mutex::new(None);
    let mut hash = Sha256::new();
    let mut sent = 0u64;
    let read: Result<()> = std::thread::scope(|s| {
        for _ in 0..store.parallel {
            s.spawn(|| {
                loop {
                    let next = rx.lock().unwrap().recv();
                    let Ok((n, body)) = next else { return };
                    if failed.lock().unwrap().is_some() {
                        continue;
                    }
                    let sum = super::sha256_b64(&body);
                    match put_part(store, key, id, n, &body, &sum) {
                        Ok(etag) => {
                            etags.lock().unwrap().insert(n, (etag, sum));
                        }
                        Err(e) => *failed.lock().unwrap() = Some(e),
                    }
                }
            });
        }
        let mut n: u16 = 1;
        loop {
            let mut buf = Vec::with_capacity(store.part_size as usize);
            (&mut f).take(store.part_size).read_to_end(&mut buf)?;
            if buf.is_empty() && n > 1 {
                break;
            }
            hash.update(&buf);
            let last = (buf.len() as u64) < store.part_size;
            match held(have, n, buf.len()) {
                Some(etag) => {
                    let sum = super::sha256_b64(&buf);
                    etags.lock().unwrap().insert(n, (etag.to_string(), sum));
                }
                None => {
                    sent += buf.len() as u64;
                    if tx.send((n, buf)).is_err() || failed.lock().unwrap().is_some() {
                        break;
                    }
                    crate::failpoint::hit("s3-part-sent");
                }
            }
            if last {
                break;
            }
            n = n
                .checked_add(1)
                .context("more than 65535 parts: raise s3.part_size")?;
        }
        drop(tx);
        Ok(())
    });
    if let Some(e) = failed.into_inner().unwrap() {
        return Err(e);
    }
    read?;
    let etags: Vec<Part> = etags
        .into_inner()
        .unwrap()
        .into_iter()
        .map(|(n, (etag, sum))| Part { n, etag, sum })
        .collect();
    Ok((etags, crate::units::hex(&hash.finalize()), sent))
}

/// A part S3 holds: its number, etag and sha256 (base64).
struct Part {
    n: u16,
    etag: String,
    sum: String,
}

/// Send one part with its sha256 (S3 refuses a part that does not match); its etag.
fn put_part(store: &Store, key: &str, id: &str, n: u16, body: &[u8], sum: &str) -> Result<String> {
    let mut action = store.bucket.upload_part(store.creds(), key, n, id);
    action
        .headers_mut()
        .insert("x-amz-checksum-sha256", sum.to_string());
    let url = action.sign(super::expiry());
    let headers = [("x-amz-checksum-sha256".to_string(), sum.to_string())];
    let resp = store.send(
        "PUT",
        url,
        &headers,
        Some(body),
        &format!("PUT {key} part {n}"),
    )?;
    let etag = resp
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .map(String::from)
        .ok_or_else(|| anyhow!("{} PUT {key} part {n}: no ETag in the answer", store.url))?;
    Ok(etag)
}

/// Complete the upload with every part's etag and sha256 (S3 checks them all).
fn complete(store: &Store, key: &str, id: &str, parts: &[Part]) -> Result<()> {
    if parts
        .iter()
        .enumerate()
        .any(|(i, p)| usize::from(p.n) != i + 1)
    {
        bail!("{} {key}: parts missing, not completed", store.url);
    }
    let action = store.bucket.complete_multipart_upload(
        store.creds(),
        key,
        id,
        parts.iter().map(|p| p.etag.as_str()),
    );
    let url = action.sign(super::expiry());
    let mut body =
        String::from("<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
    for p in parts {
        body.push_str(&format!(
            "<Part><PartNumber>{}</PartNumber><ETag>{}</ETag><ChecksumSHA256>{}</ChecksumSHA256></Part>",
            p.n,
            xml_escape(&p.etag),
            p.sum
        ));
    }
    body.push_str("</CompleteMultipartUpload>");
    let what = format!("COMPLETE {key}");
    let resp = store.send("POST", url, &[], Some(body.as_bytes()), &what)?;
    store.answer(resp, &what)?;
    Ok(())
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Abort an upload (best effort: its parts are freed, no object appears).
pub fn abort(store: &Store, key: &str, id: &str) {
    let _ = try_abort(store, key, id);
}

/// Abort an upload, saying whether the store did.
pub fn try_abort(store: &Store, key: &str, id: &str) -> Result<()> {
    let url = store
        .bucket
        .abort_multipart_upload(store.creds(), key, id)
        .sign(super::expiry());
    store.send("DELETE", url, &[], None, &format!("ABORT {key}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upload() -> Upload {
        Upload {
            upload_id: "u1".into(),
            size: 100,
            source: "sha-of-header".into(),
            part_size: 40,
        }
    }

    #[test]
    fn an_upload_resumes_only_for_the_same_source_size_and_part_size() {
        let u = upload();
        assert!(u.resumes(100, "sha-of-header", 40));
        assert!(!u.resumes(101, "sha-of-header", 40), "the file grew");
        assert!(
            !u.resumes(100, "another-header", 40),
            "another dump in the same slot"
        );
        assert!(!u.resumes(100, "sha-of-header", 64), "s3.part_size changed");
    }

    #[test]
    fn parts_the_store_holds_whole_are_not_sent_again() {
        let have: Have = [(1, ("e1".into(), 40)), (2, ("e2".into(), 13))].into();
        assert_eq!(held(&have, 1, 40), Some("e1"));
        assert_eq!(
            held(&have, 2, 40),
            None,
            "a part cut short by a kill is sent again"
        );
        assert_eq!(held(&have, 3, 20), None);
    }

    #[test]
    fn the_state_file_round_trips_and_a_broken_one_is_empty() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("s3-uploads.json");
        assert!(Pending::load(&path).uploads.is_empty());
        let mut p = Pending::default();
        p.uploads.insert("prefix/slot1/00001.x".into(), upload());
        p.save(&path).unwrap();
        let back = Pending::load(&path);
        let u = &back.uploads["prefix/slot1/00001.x"];
        assert_eq!((u.upload_id.as_str(), u.size, u.part_size), ("u1", 100, 40));
        std::fs::write(&path, "{ not json").unwrap();
        assert!(Pending::load(&path).uploads.is_empty());
    }
}
