//! Object storage for the off-site mirror: S3 and what speaks its API (AWS, Ceph RGW,
//! SeaweedFS, MinIO, Garage). rusty-s3 signs each request (SigV4, presigned), ureq sends it;
//! no signing is written here. Credentials never come from tapir.toml: the AWS environment,
//! or an AWS-style credentials file.

pub mod splice;
pub mod upload;
pub mod versions;

use crate::error::Error;
use anyhow::{Context, Result, anyhow, bail};
use rusty_s3::{Bucket, Credentials, S3Action, UrlStyle};
use serde::{Deserialize, Serialize};
use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

/// `[s3]`: how to reach the store. Every key may be omitted.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// e.g. `https://s3.eu-west-1.amazonaws.com`, `http://127.0.0.1:8333`; default:
    /// `AWS_ENDPOINT_URL`, else AWS for the region.
    pub endpoint: Option<String>,
    /// Default: `AWS_REGION`, `AWS_DEFAULT_REGION`, else us-east-1.
    pub region: Option<String>,
    /// Path-style URLs (`ENDPOINT/BUCKET/KEY`); default: when the endpoint is an IP address
    /// or `AWS_S3_FORCE_PATH_STYLE=true`.
    pub path_style: Option<bool>,
    /// An AWS-style credentials file (`[default]` or `$AWS_PROFILE`: aws_access_key_id,
    /// aws_secret_access_key, aws_session_token); default: the AWS environment variables.
    pub credentials_file: Option<PathBuf>,
    /// Object Lock retention (COMPLIANCE mode) set on every object, in days.
    pub object_lock_days: Option<u32>,
    /// Multipart part size (at least 5M).
    pub part_size: String,
    /// Parts in flight at once.
    pub parallel: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            endpoint: None,
            region: None,
            path_style: None,
            credentials_file: None,
            object_lock_days: None,
            part_size: "16M".into(),
            parallel: 4,
        }
    }
}

/// One bucket and prefix, ready to talk to.
pub struct Store {
    bucket: Bucket,
    prefix: String,
    creds: Credentials,
    agent: ureq::Agent,
    /// `s3://BUCKET/PREFIX`, as given.
    pub url: String,
    pub part_size: u64,
    pub parallel: u32,
    pub lock_days: Option<u32>,
    /// Object Lock retention until this instant for the objects put next (a vault's copies,
    /// each until its policy releases it); before `lock_days`.
    pub lock_until: Option<chrono::DateTime<chrono::Utc>>,
}

/// What HEAD says of an object.
pub struct Head {
    pub size: u64,
    /// `x-amz-meta-*` headers, the prefix removed.
    pub meta: Vec<(String, String)>,
    /// The other `x-amz-*` headers (`version-id`, `object-lock-mode`, …), the prefix removed.
    pub amz: Vec<(String, String)>,
}

impl Head {
    pub fn meta(&self, k: &str) -> Option<&str> {
        find(&self.meta, k)
    }

    pub fn amz(&self, k: &str) -> Option<&str> {
        find(&self.amz, k)
    }
}

fn find<'a>(all: &'a [(String, String)], k: &str) -> Option<&'a str> {
    all.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
}

fn env(k: &str) -> Option<String> {
    std::env::var(k).ok().filter(|v| !v.is_empty())
}

/// `s3://BUCKET/PREFIX` → (bucket, prefix without slashes at the ends).
pub fn parse_url(url: &str) -> Result<(String, String)> {
    let Some(rest) = url.strip_prefix("s3://") else {
        bail!("{url:?} is not an s3://BUCKET/PREFIX address");
    };
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        bail!("{url:?}: no bucket");
    }
    Ok((bucket.to_string(), prefix.trim_matches('/').to_string()))
}

pub fn is_url(s: &str) -> bool {
    s.starts_with("s3://")
}

/// A path argument (`--from`, a target) that is an `s3://` URL.
pub fn is_url_path(p: &std::path::Path) -> bool {
    p.to_str().is_some_and(is_url)
}

impl Store {
    /// Open `s3://BUCKET/PREFIX` with `[s3]` settings, the AWS environment filling the gaps.
    pub fn open(url: &str, s: &Settings) -> Result<Store> {
        let (name, prefix) = parse_url(url)?;
        let region = s
            .region
            .clone()
            .or_else(|| env("AWS_REGION"))
            .or_else(|| env("AWS_DEFAULT_REGION"))
            .unwrap_or_else(|| "us-east-1".into());
        let endpoint = s
            .endpoint
            .clone()
            .or_else(|| env("AWS_ENDPOINT_URL_S3"))
            .or_else(|| env("AWS_ENDPOINT_URL"))
            .unwrap_or_else(|| format!("https://s3.{region}.amazonaws.com"));
        let endpoint: url::Url = endpoint
            .parse()
            .with_context(|| format!("s3 endpoint {endpoint:?} is not a URL"))?;
        let ip_host = endpoint.host_str().is_some_and(|h| {
            h.trim_matches(['[', ']'])
                .parse::<std::net::IpAddr>()
                .is_ok()
        });
        let path = s.path_style.unwrap_or_else(|| {
            ip_host || env("AWS_S3_FORCE_PATH_STYLE").is_some_and(|v| v == "true")
        });
        let style = if path {
            UrlStyle::Path
        } else {
            UrlStyle::VirtualHost
        };
        let bucket = Bucket::new(endpoint, style, name, region)
            .map_err(|e| anyhow!("s3 bucket {url}: {e}"))?;
        let creds = credentials(s)?;
        let agent = ureq::Agent::new_with_config(
            ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_connect(Some(Duration::from_secs(10)))
                .timeout_recv_response(Some(Duration::from_secs(120)))
                .timeout_recv_body(Some(Duration::from_secs(120)))
                .build(),
        );
        let part_size =
            crate::units::parse_size(&s.part_size).map_err(|m| anyhow!("s3.part_size: {m}"))?;
        if part_size < 5 << 20 {
            bail!("s3.part_size must be at least 5M (S3's smallest part)");
        }
        Ok(Store {
            bucket,
            prefix,
            creds,
            agent,
            url: url.to_string(),
            part_size,
            parallel: s.parallel.clamp(1, 32),
            lock_days: s.object_lock_days,
            lock_until: None,
        })
    }

    /// The key of `rel` (a path in the vtape layout) under the prefix.
    pub fn key(&self, rel: &str) -> String {
        if self.prefix.is_empty() {
            rel.to_string()
        } else {
            format!("{}/{rel}", self.prefix)
        }
    }

    fn creds(&self) -> Option<&Credentials> {
        Some(&self.creds)
    }

    /// Send a signed request; a non-2xx answer is an error naming the object and S3's own
    /// code and message.
    fn send(
        &self,
        method: &str,
        url: url::Url,
        headers: &[(String, String)],
        body: Option<&[u8]>,
        what: &str,
    ) -> Result<ureq::http::Response<ureq::Body>> {
        let mut req = ureq::http::Request::builder()
            .method(method)
            .uri(url.as_str());
        for (k, v) in headers {
            req = req.header(k.as_str(), v.as_str());
        }
        // the body is sent from the caller's buffer: no copy of a part per request
        let req = req.body(body.unwrap_or_default())?;
        let mut resp = self
            .agent
            .run(req)
            .map_err(|e| anyhow!("{} {what}: {e}", self.url))?;
        let status = resp.status().as_u16();
        if (200..300).contains(&status) {
            return Ok(resp);
        }
        let text = resp
            .body_mut()
            .with_config()
            .limit(64 << 10)
            .read_to_string()
            .unwrap_or_default();
        bail!(s3_error(
            &format!("{} {what}: HTTP {status}", self.url),
            Some(status),
            &text
        ));
    }

    /// Size and tapir metadata of an object, or None when there is none.
    pub fn head(&self, rel: &str) -> Result<Option<Head>> {
        let key = self.key(rel);
        let url = self.bucket.head_object(self.creds(), &key).sign(expiry());
        let req = ureq::http::Request::builder()
            .method("HEAD")
            .uri(url.as_str())
            .body(Vec::new())?;
        let resp = self
            .agent
            .run(req)
            .map_err(|e| anyhow!("{} HEAD {key}: {e}", self.url))?;
        match resp.status().as_u16() {
            404 => return Ok(None),
            s if !(200..300).contains(&s) => {
                bail!(s3_error(
                    &format!("{} HEAD {key}: HTTP {s}", self.url),
                    Some(s),
                    ""
                ))
            }
            _ => {}
        }
        let size = resp
            .headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let (meta, amz) = resp
            .headers()
            .iter()
            .filter_map(|(k, v)| {
                let k = k.as_str().strip_prefix("x-amz-")?;
                Some((k.to_string(), v.to_str().ok()?.to_string()))
            })
            .partition::<Vec<_>, _>(|(k, _)| k.starts_with("meta-"));
        let meta = meta
            .into_iter()
            .map(|(k, v)| (k["meta-".len()..].to_string(), v))
            .collect();
        Ok(Some(Head { size, meta, amz }))
    }

    /// A whole object, streamed.
    pub fn get(&self, rel: &str) -> Result<Box<dyn Read + Send>> {
        let key = self.key(rel);
        let url = self.bucket.get_object(self.creds(), &key).sign(expiry());
        let resp = self.send("GET", url, &[], None, &format!("GET {key}"))?;
        Ok(Box::new(resp.into_body().into_reader()))
    }

    /// `len` bytes of an object from `start` (a ranged GET).
    pub fn get_range(&self, rel: &str, start: u64, len: u64) -> Result<Vec<u8>> {
        let key = self.key(rel);
        let url = self.bucket.get_object(self.creds(), &key).sign(expiry());
        let range = format!("bytes={start}-{}", start + len.max(1) - 1);
        let resp = self.send(
            "GET",
            url,
            &[("range".into(), range)],
            None,
            &format!("GET {key}"),
        )?;
        let mut out = Vec::with_capacity(len as usize);
        resp.into_body()
            .into_reader()
            .take(len)
            .read_to_end(&mut out)
            .with_context(|| format!("{} GET {key}", self.url))?;
        Ok(out)
    }

    /// Keys (relative to the prefix) and sizes of the objects under `rel_prefix`.
    pub fn list(&self, rel_prefix: &str) -> Result<Vec<(String, u64)>> {
        let full = self.key(rel_prefix);
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut action = self.bucket.list_objects_v2(self.creds());
            action.with_prefix(full.as_str());
            if let Some(t) = &token {
                action.with_continuation_token(t.clone());
            }
            let url = action.sign(expiry());
            let mut resp = self.send("GET", url, &[], None, &format!("LIST {full}"))?;
            let text = resp.body_mut().read_to_string()?;
            let page = rusty_s3::actions::ListObjectsV2::parse_response(&text)
                .map_err(|e| anyhow!("{} LIST {full}: unreadable answer: {e}", self.url))?;
            let strip = if self.prefix.is_empty() {
                0
            } else {
                self.prefix.len() + 1
            };
            out.extend(
                page.contents
                    .into_iter()
                    .map(|c| (c.key[strip.min(c.key.len())..].to_string(), c.size)),
            );
            match page.next_continuation_token {
                Some(t) => token = Some(t),
                None => return Ok(out),
            }
        }
    }

    pub fn delete(&self, rel: &str) -> Result<()> {
        let key = self.key(rel);
        let url = self.bucket.delete_object(self.creds(), &key).sign(expiry());
        self.send("DELETE", url, &[], None, &format!("DELETE {key}"))?;
        Ok(())
    }

    /// Put a small object in one request, with its sha256 for S3 to check and `meta`.
    pub fn put(&self, rel: &str, body: &[u8], meta: &[(String, String)]) -> Result<()> {
        self.put_with(rel, body, self.object_headers(meta, Some(body)))
    }

    fn put_with(&self, rel: &str, body: &[u8], headers: Vec<(String, String)>) -> Result<()> {
        let key = self.key(rel);
        let mut action = self.bucket.put_object(self.creds(), &key);
        for (k, v) in &headers {
            action.headers_mut().insert(k.clone(), v.clone());
        }
        let url = action.sign(expiry());
        self.send("PUT", url, &headers, Some(body), &format!("PUT {key}"))?;
        Ok(())
    }

    /// Put a small object that no retention holds (a catalog file a vault rewrites).
    pub fn put_unlocked(&self, rel: &str, body: &[u8], meta: &[(String, String)]) -> Result<()> {
        let mut headers: Vec<(String, String)> = meta
            .iter()
            .map(|(k, v)| (format!("x-amz-meta-{k}"), v.clone()))
            .collect();
        headers.push(("x-amz-checksum-sha256".into(), sha256_b64(body)));
        self.put_with(rel, body, headers)
    }

    /// Create the bucket (for set-ups and tests; the mirror never creates one).
    pub fn create_bucket(&self) -> Result<()> {
        let url = self.bucket.create_bucket(&self.creds).sign(expiry());
        self.send("PUT", url, &[], Some(b""), "CREATE BUCKET")?;
        Ok(())
    }

    /// Copy an object within the bucket (server side, up to 5 GB), its metadata with it.
    /// The server is asked for the copy's sha256: `Some(base64)` when it answers with one.
    pub fn copy(&self, from_rel: &str, to_rel: &str) -> Result<Option<String>> {
        let key = self.key(to_rel);
        let source = format!("/{}/{}", self.bucket.name(), self.key(from_rel));
        let mut action = self.bucket.put_object(self.creds(), &key);
        let mut headers = self.object_headers(&[], None);
        headers.push(("x-amz-copy-source".into(), source));
        headers.push(("x-amz-checksum-algorithm".into(), "SHA256".into()));
        for (k, v) in &headers {
            action.headers_mut().insert(k.clone(), v.clone());
        }
        let url = action.sign(expiry());
        let what = format!("COPY {key}");
        let resp = self.send("PUT", url, &headers, Some(b""), &what)?;
        let text = self.answer(resp, &what)?;
        Ok(versions::tag(&text, "ChecksumSHA256"))
    }

    /// The body of a 2xx answer, which S3 may still make an error (a copy or a completed
    /// upload that failed after the status was sent): that is an error naming `what`.
    fn answer(&self, mut resp: ureq::http::Response<ureq::Body>, what: &str) -> Result<String> {
        let text = resp.body_mut().read_to_string().unwrap_or_default();
        if text.contains("<Error>") {
            bail!(s3_error(&format!("{} {what}", self.url), None, &text));
        }
        Ok(text)
    }

    /// Headers every new object carries: its tapir metadata, Object Lock retention when set,
    /// and, for a body sent whole, its sha256 for S3 to check.
    fn object_headers(
        &self,
        meta: &[(String, String)],
        body: Option<&[u8]>,
    ) -> Vec<(String, String)> {
        let mut h: Vec<(String, String)> = meta
            .iter()
            .map(|(k, v)| (format!("x-amz-meta-{k}"), v.clone()))
            .collect();
        if let Some(b) = body {
            h.push(("x-amz-checksum-sha256".into(), sha256_b64(b)));
        }
        let until = self.lock_until.or_else(|| {
            self.lock_days
                .map(|days| chrono::Utc::now() + chrono::Duration::days(i64::from(days)))
        });
        if let Some(until) = until {
            h.push(("x-amz-object-lock-mode".into(), "COMPLIANCE".into()));
            h.push((
                "x-amz-object-lock-retain-until-date".into(),
                until.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            ));
        }
        h
    }

    /// Does the server check `x-amz-checksum-sha256`? A small object is put with a wrong one:
    /// refused as a bad digest means it checks (and every upload is confirmed by it); any
    /// other answer means it may not, and the mirror reads each object back instead.
    pub fn checks_checksums(&self) -> Result<bool> {
        let rel = format!(".tapir-probe-{}", std::process::id());
        let key = self.key(&rel);
        let body = b"tapir checksum probe\n";
        let wrong = sha256_b64(b"something else");
        let mut action = self.bucket.put_object(self.creds(), &key);
        action
            .headers_mut()
            .insert("x-amz-checksum-sha256", wrong.clone());
        let url = action.sign(expiry());
        let headers = [("x-amz-checksum-sha256".to_string(), wrong)];
        match self.send("PUT", url, &headers, Some(body), &format!("PUT {key}")) {
            Ok(_) => {
                let _ = self.delete(&rel);
                Ok(false)
            }
            // a 400 is the server's verdict on the request: a bad digest means it checks,
            // anything else that it may not; any other failure is no verdict at all
            Err(e) if format!("{e:#}").contains("HTTP 400") => {
                let said = format!("{e:#}").to_lowercase();
                let refused = ["baddigest", "checksum", "invaliddigest", "digest"];
                Ok(refused.iter().any(|w| said.contains(w)))
            }
            Err(e) => Err(e),
        }
    }

    /// Whether the bucket answers and these credentials may write to it: put, read back and
    /// delete a small object (`tapir check`).
    pub fn check_writable(&self) -> Result<()> {
        let rel = format!(".tapir-check-{}", std::process::id());
        let body = b"tapir check\n";
        self.put(&rel, body, &[])?;
        let mut back = Vec::new();
        self.get(&rel)?.read_to_end(&mut back)?;
        if back != body {
            bail!("{}: an object written does not read back", self.url);
        }
        if self.lock_days.is_none() {
            self.delete(&rel)?;
        }
        self.check_lock()
    }
}

fn expiry() -> Duration {
    Duration::from_secs(3600)
}

/// base64 of the sha256 of `b` (the form of `x-amz-checksum-sha256`).
pub fn sha256_b64(b: &[u8]) -> String {
    use base64::Engine;
    use sha2::Digest;
    base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(b))
}

/// A failed request (`what`: store, verb and key): S3's `<Code>` and `<Message>` from the
/// error body, and what to do for the usual ones.
pub(crate) fn s3_error(what: &str, status: Option<u16>, body: &str) -> Error {
    let tag = |t: &str| versions::tag(body, t);
    let code = tag("Code");
    let e = Error::failed(match (&code, tag("Message")) {
        (Some(c), Some(m)) => format!("{what}: {c}: {m}"),
        (Some(c), None) => format!("{what}: {c}"),
        _ => what.to_string(),
    });
    let creds = "check the credentials: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or \
                 s3.credentials_file";
    match (code.as_deref(), status) {
        (Some("NoSuchBucket"), _) => e.hint("create the bucket first, or check s3://BUCKET"),
        (Some("InvalidAccessKeyId" | "SignatureDoesNotMatch" | "AccessDenied"), _) => e.hint(creds),
        (None, Some(403)) => e.hint(format!("access denied: {creds}")),
        (None, Some(400)) => e.hint("bad request: check s3.region and s3.endpoint"),
        _ => e,
    }
}

/// Bring a local copy of the store's catalog up to date (for `--from s3://`): index files
/// (immutable once written) are fetched when missing or of another size, everything else
/// every time; files the store no longer has are removed.
pub fn sync_catalog(store: &Store, local: &std::path::Path) -> Result<()> {
    let remote = store.list("catalog/")?;
    if remote.is_empty() {
        // the store has no catalog (lost): keep what is here (e.g. a rebuilt one)
        return crate::fsutil::create_dir_all(local);
    }
    let mut keep = std::collections::HashSet::new();
    for (rel, size) in &remote {
        let Some(sub) = rel.strip_prefix("catalog/") else {
            continue;
        };
        if sub.split('/').any(|c| c == ".." || c.is_empty()) {
            continue;
        }
        let path = local.join(sub);
        keep.insert(path.clone());
        let fresh =
            sub.starts_with("index/") && std::fs::metadata(&path).is_ok_and(|m| m.len() == *size);
        if fresh {
            continue;
        }
        let mut body = Vec::with_capacity(*size as usize);
        store.get(rel)?.read_to_end(&mut body)?;
        if let Some(parent) = path.parent() {
            crate::fsutil::create_dir_all(parent)?;
        }
        crate::fsutil::write_atomic(&path, &body)?;
    }
    for e in walkdir::WalkDir::new(local)
        .min_depth(1)
        .contents_first(true)
    {
        let Ok(e) = e else { continue };
        let stale = e.file_type().is_file() && !keep.contains(e.path());
        let lock = matches!(e.file_name().to_str(), Some("lock" | "tapes.lock"));
        if stale && !lock {
            let _ = std::fs::remove_file(e.path());
        }
    }
    Ok(())
}

/// The highest slot number under the store's prefix (0: none).
pub fn slots(store: &Store) -> Result<u32> {
    Ok(store
        .list("slot")?
        .iter()
        .filter_map(|(k, _)| k.strip_prefix("slot")?.split('/').next()?.parse().ok())
        .max()
        .unwrap_or(0))
}

/// Credentials: `credentials_file` (profile `$AWS_PROFILE` or default), else the AWS
/// environment.
fn credentials(s: &Settings) -> Result<Credentials> {
    let file = s
        .credentials_file
        .clone()
        .or_else(|| env("AWS_SHARED_CREDENTIALS_FILE").map(PathBuf::from));
    if let Some(f) = file.filter(|f| s.credentials_file.is_some() || f.exists()) {
        return profile(&f);
    }
    Credentials::from_env().ok_or_else(|| {
        anyhow!(
            "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or \
             s3.credentials_file (never the secret itself in tapir.toml)"
        )
    })
}

/// One profile of an AWS credentials file.
fn profile(f: &std::path::Path) -> Result<Credentials> {
    let text = std::fs::read_to_string(f)
        .with_context(|| format!("cannot read the credentials file {}", f.display()))?;
    let want = env("AWS_PROFILE").unwrap_or_else(|| "default".into());
    let mut section = String::new();
    let (mut key, mut secret, mut token) = (None, None, None);
    for line in text.lines().map(str::trim) {
        if let Some(s) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = s.trim().to_string();
            continue;
        }
        if section != want {
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            let v = v.trim().to_string();
            match k.trim() {
                "aws_access_key_id" => key = Some(v),
                "aws_secret_access_key" => secret = Some(v),
                "aws_session_token" => token = Some(v),
                _ => {}
            }
        }
    }
    match (key, secret) {
        (Some(k), Some(s)) => Ok(match token {
            Some(t) => Credentials::new_with_token(k, s, t),
            None => Credentials::new(k, s),
        }),
        _ => bail!(
            "{}: profile [{want}] has no aws_access_key_id and aws_secret_access_key",
            f.display()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_error_bodies() {
        assert_eq!(
            parse_url("s3://b/some/prefix/").unwrap(),
            ("b".into(), "some/prefix".into())
        );
        assert_eq!(parse_url("s3://b").unwrap(), ("b".into(), "".into()));
        assert!(parse_url("/mnt/nfs").is_err());
        let body = "<Error><Code>NoSuchBucket</Code><Message>gone</Message></Error>";
        let e = s3_error("s3://b GET k", Some(404), body).to_string();
        assert_eq!(
            e,
            "s3://b GET k: NoSuchBucket: gone; to fix: create the bucket first, or check s3://BUCKET"
        );
        let e = s3_error("s3://b HEAD k: HTTP 403", Some(403), "").to_string();
        assert!(e.ends_with("; to fix: access denied: check the credentials: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or s3.credentials_file"), "{e}");
    }
}
