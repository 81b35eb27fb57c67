//! The mirror on object storage: objects mirror the vtape layout (`PREFIX/slotN/NAME`,
//! `PREFIX/catalog/…`). A source file is checked (signature, catalog, payload sha256) while it
//! is read; S3 checks each request's sha256 on its side. Unchanged objects (same size and the
//! same header sha256, kept as object metadata) are not sent again. A recycled slot is built
//! under `.slotN.new/` and copied over `slotN/` only when all its files are up.

use super::{Check, Report, slot_names};
use crate::config::Config;
use crate::s3::{Head, Store, upload};
use crate::vtape::reader::{Opened, Payload, TapeError};
use crate::vtape::{self, Slot, header::HEADER_SIZE};
use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::rc::Rc;

/// Mirror the vtape root and catalog of `cfg` to `store`.
pub fn run(cfg: &Config, store: &Store) -> Result<Report> {
    let _lock = crate::catalog::lock::exclusive(&cfg.catalog, "mirror")?;
    let check = Check::new(cfg)?;
    let state_path = cfg.catalog.join("s3-uploads.json");
    let state: upload::State =
        std::sync::Mutex::new((upload::Pending::load(&state_path), state_path));
    let remote: BTreeMap<String, u64> = store.list("")?.into_iter().collect();
    let mut rep = Report::default();
    store.check_lock()?;
    claim(store, &check, &remote)?;
    let readback = !store.checks_checksums()?;
    if readback {
        rep.notes.push(format!(
            "{} does not check x-amz-checksum-sha256: each object is read back instead",
            store.url
        ));
    }
    // before this run opens any: every open upload the state does not know is an orphan
    abort_orphans(store, &state, &mut rep);
    let cx = Cx {
        up: Up {
            store,
            state: &state,
            readback,
        },
        check: &check,
    };
    let mut labels = vec![];
    let mut keys_used = vec![];
    for slot in vtape::scan(&cfg.changer, &check.trust)? {
        if mirror_slot(&cx, &slot, &remote, &mut rep, &mut keys_used)? {
            labels.extend(slot.label_name().map(String::from));
        }
    }
    mirror_catalog(store, &cfg.catalog, &remote, &mut rep)?;
    abort_stale(store, &state, &keys_used)?;
    super::save_state(cfg, &store.url, &labels, rep.problems.len())?;
    Ok(rep)
}

/// A small object, asked again (up to 5 times, 1 s apart) when the store answers with an
/// error it says to retry (HTTP 500 "please try again", as a store just restarted does).
fn get_retrying(store: &Store, rel: &str, len: u64) -> Result<Vec<u8>> {
    let mut tries = 0;
    loop {
        match store.get_range(rel, 0, len) {
            Err(e) if tries < 5 && format!("{e:#}").contains("HTTP 5") => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_secs(1));
            }
            r => return r,
        }
    }
}

/// Refuse a prefix that holds another tape set; mark an empty one (or one this key wrote
/// before prefixes were marked) as this server's before anything else is written.
fn claim(store: &Store, check: &Check, remote: &BTreeMap<String, u64>) -> Result<()> {
    use super::tapeset::{self, Found, TapeSet};
    let marker = match remote.get(tapeset::FILE) {
        Some(&len) => {
            let b = get_retrying(store, tapeset::FILE, len.min(64 << 10))?;
            Some(TapeSet::decode(&b, &store.key(tapeset::FILE))?)
        }
        None => None,
    };
    let is_tape = |k: &str| {
        k.starts_with("catalog/")
            || k.strip_prefix("slot")
                .and_then(|r| r.split_once('/'))
                .is_some_and(|(n, _)| n.parse::<u32>().is_ok())
    };
    let mut signers = vec![];
    for k in remote
        .keys()
        .filter(|k| is_tape(k) && k.contains("/00000."))
    {
        let head = store.get_range(k, 0, HEADER_SIZE as u64)?;
        if let Ok(l) = crate::vtape::header::parse_label(&head) {
            signers.push(l.header.signer);
        }
    }
    signers.sort();
    signers.dedup();
    let found = Found {
        marker,
        holds_tapes: remote.keys().any(|k| is_tape(k)),
        signers,
    };
    if tapeset::claim(&check.set, &found, &store.url, |fp| check.trust.trusts(fp))? {
        store.put(tapeset::FILE, &check.set.encode()?, &[])?;
    }
    Ok(())
}

/// Uploads a killed run left for files this run no longer sends: aborted, so that no part
/// lingers in the bucket.
pub(crate) fn abort_stale(store: &Store, state: &upload::State, used: &[String]) -> Result<()> {
    let mut s = state.lock().unwrap();
    let stale: Vec<(String, String)> =
        s.0.uploads
            .iter()
            .filter(|(k, _)| !used.contains(k))
            .map(|(k, u)| (k.clone(), u.upload_id.clone()))
            .collect();
    for (k, id) in &stale {
        upload::abort(store, k, id);
        s.0.uploads.remove(k);
    }
    s.0.save(&s.1)
}

/// Uploads open under the prefix that no state file knows (a run killed between creating one
/// and saving its id, or another tool's): aborted, so that their parts do not linger unseen.
/// A store that cannot list them is a note, not a failed mirror.
pub(crate) fn abort_orphans(store: &Store, state: &upload::State, rep: &mut Report) {
    let open = match store.open_uploads() {
        Ok(u) => u,
        Err(e) => {
            rep.notes
                .push(format!("open multipart uploads not checked: {e:#}"));
            return;
        }
    };
    let s = state.lock().unwrap();
    for u in open {
        let ours = s.0.uploads.get(&u.key).map(|x| x.upload_id.as_str());
        if ours != Some(u.upload_id.as_str()) {
            rep.notes
                .push(match upload::try_abort(store, &u.key, &u.upload_id) {
                    Ok(()) => format!(
                        "aborted an upload no run finished: {} ({})",
                        u.key, u.upload_id
                    ),
                    Err(e) => format!(
                        "an upload no run finished is still open: {} ({}): {e:#}",
                        u.key, u.upload_id
                    ),
                });
        }
    }
}

/// What every upload of a run needs.
pub(crate) struct Up<'a> {
    pub store: &'a Store,
    pub state: &'a upload::State,
    /// The server does not check request checksums: read each object back.
    pub readback: bool,
}

/// What a mirror run needs: the uploads', and the checks of the source.
struct Cx<'a> {
    up: Up<'a>,
    check: &'a Check,
}

/// Bring one slot up to date; `true` when the store's slot now equals the source's.
fn mirror_slot(
    cx: &Cx,
    slot: &Slot,
    remote: &BTreeMap<String, u64>,
    rep: &mut Report,
    keys_used: &mut Vec<String>,
) -> Result<bool> {
    let (store, check) = (cx.up.store, cx.check);
    let names = slot_names(slot);
    let src = slot.dir.local_only()?;
    if names.is_empty() {
        return Ok(false);
    }
    let dest = format!("slot{}/", slot.slot);
    let staging = format!(".slot{}.new/", slot.slot);
    let there: Vec<&str> = remote
        .keys()
        .filter_map(|k| k.strip_prefix(dest.as_str()))
        .collect();
    // the same tape with more dumps is completed in place; another tape is staged
    let mut in_place = true;
    let mut heads = BTreeMap::new();
    for n in &there {
        let rel = format!("{dest}{n}");
        let head = match names.iter().any(|x| x == n) {
            true => store.head(&rel)?,
            false => None,
        };
        let same = match &head {
            Some(h) => h.meta("tapir-header-sha256") == Some(header_sha(&src.join(n))?.as_str()),
            None => false,
        };
        if !same {
            in_place = false;
            break;
        }
        heads.insert(rel, head);
    }
    let work = if in_place { &dest } else { &staging };
    let mut complete = true;
    for n in &names {
        let rel = format!("{work}{n}");
        keys_used.push(store.key(&rel));
        let known = heads.remove(&rel);
        let sent = check
            .source(slot, n, rep)
            .and_then(|opened| put_file(&cx.up, &rel, &src.join(n), opened, known));
        complete &= rep.count(slot.slot, n, sent);
    }
    if in_place {
        return Ok(complete);
    }
    if !complete {
        rep.problems.push(format!(
            "slot{}: the recycled tape is not complete on {} yet; the store keeps its previous \
             content",
            slot.slot, store.url
        ));
        return Ok(false);
    }
    swap(cx, slot, &names, &there, &dest, &staging)?;
    Ok(true)
}

/// All of a recycled slot is up under the staging prefix: copy it over the slot, then remove
/// what the old tape had and the staging copies.
fn swap(
    cx: &Cx,
    slot: &Slot,
    names: &[String],
    there: &[&str],
    dest: &str,
    staging: &str,
) -> Result<()> {
    let store = cx.up.store;
    let src = slot.dir.local_only()?;
    for n in names {
        let to = format!("{dest}{n}");
        let path = src.join(n);
        match store.copy(&format!("{staging}{n}"), &to) {
            Ok(said) => confirm_copy(store, &to, &path, said)?,
            // too big for one copy request (or not supported): send it again
            Err(_) => {
                let opened = cx.check.source(slot, n, &mut Report::default())?;
                put_file(&cx.up, &to, &path, opened, None)?;
            }
        }
    }
    for n in there
        .iter()
        .filter(|n| super::is_tape_name(n) && !names.iter().any(|x| x == *n))
    {
        store.delete(&format!("{dest}{n}"))?;
    }
    for n in names {
        store.delete(&format!("{staging}{n}"))?;
    }
    Ok(())
}

/// A server-side copy is the file, byte for byte: the sha256 the server gives for the copy,
/// else the copy read back whole, must be the local file's; and it must be retained when
/// Object Lock is asked for.
fn confirm_copy(store: &Store, rel: &str, path: &Path, said: Option<String>) -> Result<()> {
    let mut h = Sha256::new();
    std::io::copy(
        &mut std::fs::File::open(path)
            .with_context(|| format!("cannot read {}", path.display()))?,
        &mut h,
    )?;
    let want = crate::units::hex(&h.finalize());
    // a checksum in another form (a composite `…-N`) is no answer: read the copy back
    let got = match said.as_deref().and_then(base64_hex) {
        Some(hex) => hex,
        None => {
            let mut h = Sha256::new();
            std::io::copy(&mut store.get(rel)?, &mut h)
                .with_context(|| format!("{}: reading the copy {rel} back", store.url))?;
            crate::units::hex(&h.finalize())
        }
    };
    if got != want {
        bail!(
            "{}: the copy {rel} has sha256 {got}, the file {} has {want}",
            store.url,
            path.display()
        );
    }
    let head = store
        .head(rel)?
        .ok_or_else(|| anyhow::anyhow!("{}: the copy {rel} is missing", store.url))?;
    store.retained(rel, &head)
}

fn base64_hex(b64: &str) -> Option<String> {
    use base64::Engine;
    let raw = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    Some(crate::units::hex(&raw))
}

/// The sha256 of a file's 32 KiB header block.
fn header_sha(path: &Path) -> Result<String> {
    let block = vtape::header::read_block(&path.into())?;
    Ok(crate::units::hex(&Sha256::digest(&block)))
}

/// Put one tape file unless the object already holds it; `Some(bytes)` when sent. A dump
/// (`opened`: by the one tape reader, its header checked) is read through the reader, whose
/// verdict on size and sha256 decides before the object is made; S3 checks each request's
/// sha256. `known`: what a HEAD of `rel` said earlier in this run (`Some(None)`: no object).
pub(crate) fn put_file(
    up: &Up,
    rel: &str,
    path: &Path,
    opened: Option<Opened>,
    known: Option<Option<Head>>,
) -> Result<Option<u64>> {
    let (store, state) = (up.store, up.state);
    // a dump's header block is read once: hashed for the metadata, then sent
    let block = opened.as_ref().map(Opened::header_block).transpose()?;
    let (size, hsha, payload_sha) = match (&opened, &block) {
        (Some(o), Some(b)) => (
            HEADER_SIZE as u64 + o.header.payload_size,
            crate::units::hex(&Sha256::digest(b)),
            Some(o.header.payload_sha256.clone()),
        ),
        _ => (std::fs::metadata(path)?.len(), header_sha(path)?, None),
    };
    let head = match known {
        Some(h) => h,
        None => store.head(rel)?,
    };
    if let Some(h) = head
        && h.size == size
        && h.meta("tapir-header-sha256") == Some(hsha.as_str())
    {
        return Ok(None);
    }
    let meta = vec![("tapir-header-sha256".to_string(), hsha.clone())];
    let verdict = Rc::new(RefCell::new(None));
    let mut body: Box<dyn Read> = match (opened, block) {
        (Some(o), Some(block)) => Box::new(DumpBody {
            head: std::io::Cursor::new(block),
            payload: Some(o.payload()?),
            verdict: verdict.clone(),
        }),
        _ => Box::new(
            std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?,
        ),
    };
    let dump = payload_sha.is_some();
    let mut judged = || -> Result<()> {
        match (dump, verdict.borrow_mut().take()) {
            (false, _) | (true, Some(Ok(()))) => Ok(()),
            (true, Some(Err(e))) => {
                Err(upload::Refused(format!("{}: not copied", e.problem)).into())
            }
            (true, None) => bail!("the payload was not read to its end: not copied"),
        }
    };
    let sent = if size <= store.part_size {
        let mut buf = Vec::with_capacity(size as usize);
        body.read_to_end(&mut buf)?;
        judged()?;
        store.put(rel, &buf, &meta)?;
        buf.len() as u64
    } else {
        let src = upload::Source {
            size,
            identity: &hsha,
            meta: &meta,
        };
        upload::multipart(store, rel, &src, &mut body, state, &mut judged)?.bytes
    };
    if up.readback {
        read_back(store, rel, payload_sha.as_deref(), &hsha)?;
    }
    match store.head(rel)? {
        Some(h) if h.size == size => {
            store.retained(rel, &h)?;
            Ok(Some(sent))
        }
        Some(h) => bail!(
            "{}: the object has {} bytes after the upload, the file {size}",
            store.url,
            h.size
        ),
        None => bail!("{}: the object is missing after its upload", store.url),
    }
}

/// A dump as an upload reads it: its header block, then its payload through the tape reader;
/// at the payload's end the reader's verdict (size, sha256) is kept for the upload to ask.
struct DumpBody {
    head: std::io::Cursor<Vec<u8>>,
    payload: Option<Payload>,
    verdict: Rc<RefCell<Option<Result<(), TapeError>>>>,
}

impl Read for DumpBody {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.head.read(buf)?;
        if n > 0 || buf.is_empty() {
            return Ok(n);
        }
        let Some(p) = self.payload.as_mut() else {
            return Ok(0);
        };
        let n = p.read(buf)?;
        if n == 0
            && let Some(p) = self.payload.take()
        {
            *self.verdict.borrow_mut() = Some(p.finish());
        }
        Ok(n)
    }
}

/// Read an object back whole: its header block must be the source's and its payload's
/// sha256 the header's (for a server that does not check request checksums).
fn read_back(store: &Store, rel: &str, payload: Option<&str>, header: &str) -> Result<()> {
    let mut r = store.get(rel)?;
    let mut block = vec![0u8; HEADER_SIZE];
    r.read_exact(&mut block)
        .with_context(|| format!("{}: reading {rel} back", store.url))?;
    if crate::units::hex(&Sha256::digest(&block)) != header {
        bail!(
            "{}: {rel} does not read back as written (header)",
            store.url
        );
    }
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    if let Some(want) = payload
        && crate::units::hex(&h.finalize()) != want
    {
        bail!(
            "{}: {rel} does not read back as written (payload sha256)",
            store.url
        );
    }
    Ok(())
}

/// Put the catalog (small files) where its sha256 differs, then remove what it no longer has.
fn mirror_catalog(
    store: &Store,
    catalog: &Path,
    remote: &BTreeMap<String, u64>,
    rep: &mut Report,
) -> Result<()> {
    let skip = |n: &str| {
        matches!(n, "lock" | "tapes.lock" | "s3-uploads.json" | "mirror.json") || n.starts_with('.')
    };
    let mut seen = Vec::new();
    for e in walkdir::WalkDir::new(catalog).min_depth(1) {
        let e = e.with_context(|| format!("cannot read {}", catalog.display()))?;
        let name = e.file_name().to_string_lossy().into_owned();
        if skip(&name) || !e.file_type().is_file() {
            continue;
        }
        let rel = format!(
            "catalog/{}",
            e.path().strip_prefix(catalog).unwrap().display()
        );
        seen.push(rel.clone());
        let body = std::fs::read(e.path())?;
        let sha = crate::units::hex(&Sha256::digest(&body));
        if remote.get(&rel) == Some(&(body.len() as u64))
            && store
                .head(&rel)?
                .is_some_and(|h| h.meta("tapir-sha256") == Some(sha.as_str()))
        {
            rep.unchanged += 1;
            continue;
        }
        match store.put(&rel, &body, &[("tapir-sha256".into(), sha)]) {
            Ok(()) => rep.bytes += body.len() as u64,
            Err(err) => rep.problems.push(format!("{rel}: {err:#}")),
        }
    }
    for k in remote.keys().filter(|k| k.starts_with("catalog/")) {
        if !seen.contains(k) {
            store.delete(k)?;
        }
    }
    Ok(())
}
