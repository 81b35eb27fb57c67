//! One vault target: a directory, or an S3 prefix whose copies Object Lock can hold until the
//! policy releases them. Both hold the same layout (`dumps/…`, `catalog/…`, the markers); the
//! catalog is worked on locally (the directory's own, or a cache of the prefix's) and each
//! changed file is put back.

use super::{MARKER, key};
use crate::catalog::{DumpRecord, history};
use crate::config::Config;
use crate::config::vault::Vault;
use crate::error::Error;
use crate::fsutil;
use crate::mirror::tapeset::{self, Found, TapeSet};
use crate::s3::{Store, upload};
use crate::signing::Trust;
use crate::vtape::reader::{self, Expect, Opened};
use crate::vtape::{Root, TapePath};
use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use std::path::{Path, PathBuf};

/// Where the copies are.
enum Place {
    Dir(PathBuf),
    S3(Box<Remote>),
}

/// An S3 prefix and what its uploads need.
struct Remote {
    store: Store,
    state: upload::State,
    readback: bool,
    /// Reads the copies back through the tape reader.
    root: Root,
}

/// An opened vault target.
pub struct Target {
    /// The directory or `s3://BUCKET/PREFIX`, as messages and `vault.json` name it.
    pub name: String,
    /// The vault's catalog, local: the directory's own, or the prefix's cached.
    pub catalog: PathBuf,
    place: Place,
    /// A directory's own lock (its catalog's), held while it is open.
    _lock: Option<crate::catalog::lock::RunLock>,
}

impl Target {
    /// Open (and on first use claim) `to` for `vault`: refuse a place that holds a mirror's
    /// slots, another vault, or another server's tape set, and an S3 prefix without Object
    /// Lock when the vault asks for it, before anything is written.
    pub fn open(
        cfg: &Config,
        vault: &Vault,
        to: &str,
        set: &TapeSet,
        trust: &Trust,
    ) -> Result<Target> {
        if crate::s3::is_url(to) {
            return open_s3(cfg, vault, to, set, trust);
        }
        let dir = std::path::absolute(to)?;
        let overlaps = |p: &Path| dir.starts_with(p) || p.starts_with(&dir);
        if cfg.changer.root.local().is_some_and(overlaps) || overlaps(&cfg.catalog) {
            bail!(Error::config(format!(
                "vault {} target {} overlaps the vtape root or the catalog",
                vault.name,
                dir.display()
            )));
        }
        // only a marker that is not there is absent: an unreadable one stops the run
        let marker = match std::fs::read_to_string(dir.join(MARKER)) {
            Ok(t) => Some(t),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("cannot read {}", dir.join(MARKER).display()));
            }
        };
        check_marker(vault, &dir.display().to_string(), marker.as_deref())?;
        let found = tapeset::found_in_dir(&dir)?;
        let name = dir.display().to_string();
        if claim(vault, set, trust, &found, &name)? {
            fsutil::create_dir_all(&dir)?;
            fsutil::write_atomic(&dir.join(tapeset::FILE), &set.encode()?)?;
        }
        if marker.is_none() {
            fsutil::write_atomic(&dir.join(MARKER), marker_text(vault).as_bytes())?;
        }
        // the vault's own lock, held while the target is open: a `rekey --from` it holds it
        let lock = crate::catalog::lock::copy(&dir.join("catalog"), "vault")?;
        if lock.is_none() {
            crate::say::problem(format!(
                "tapir: WARNING: vault {}: {}",
                vault.name,
                crate::mirror::no_lock_note(&dir)
            ));
        }
        Ok(Target {
            name,
            catalog: dir.join("catalog"),
            place: Place::Dir(dir),
            _lock: lock,
        })
    }

    /// The copies the vault's catalog lists.
    pub fn records(&self) -> Result<Vec<DumpRecord>> {
        history::load_all(&self.catalog)
    }

    /// Where a file of the vault is, for the tape reader.
    pub fn path(&self, rel: &str) -> TapePath {
        match &self.place {
            Place::Dir(d) => TapePath::Local(d.join(rel)),
            Place::S3(r) => r.root.path().join(rel),
        }
    }

    /// Put one dump (opened by the tape reader at its source) at `rel`, retained until
    /// `until` on an S3 prefix with Object Lock; then open it there through the reader once
    /// more. The bytes written.
    pub fn put_dump(
        &mut self,
        rel: &str,
        opened: Opened,
        expect: Expect,
        trust: &Trust,
        until: Option<DateTime<Utc>>,
    ) -> Result<u64> {
        let bytes = match &mut self.place {
            Place::Dir(d) => return put_dir(d, rel, opened, expect, trust),
            Place::S3(r) => {
                r.store.lock_until = until;
                let up = crate::mirror::s3::Up {
                    store: &r.store,
                    state: &r.state,
                    readback: r.readback,
                };
                let sent = crate::mirror::s3::put_file(
                    &up,
                    rel,
                    Path::new(rel),
                    Some(opened),
                    Some(None),
                )?;
                sent.unwrap_or(0)
            }
        };
        let path = self.path(rel);
        reader::open(&path, trust, expect)
            .with_context(|| format!("the copy {path} does not open as written"))?;
        Ok(bytes)
    }

    /// The directory, when the target is one.
    pub fn dir(&self) -> Option<&Path> {
        match &self.place {
            Place::Dir(d) => Some(d),
            Place::S3(_) => None,
        }
    }

    /// Before a run: abort the multipart uploads open under an S3 target that no state file
    /// knows (a run killed before it saved one); said in `notes`.
    pub fn abort_orphans(&self, notes: &mut Vec<String>) {
        if let Place::S3(r) = &self.place {
            let mut rep = crate::mirror::Report::default();
            crate::mirror::s3::abort_orphans(&r.store, &r.state, &mut rep);
            notes.extend(rep.notes);
        }
    }

    /// After a run: abort the uploads a killed run left for copies this run did not make
    /// (`used`: the paths it put), so that no part lingers.
    pub fn abort_stale(&self, used: &[String]) -> Result<()> {
        match &self.place {
            Place::S3(r) => {
                let keys: Vec<String> = used.iter().map(|u| r.store.key(u)).collect();
                crate::mirror::s3::abort_stale(&r.store, &r.state, &keys)
            }
            Place::Dir(_) => Ok(()),
        }
    }

    /// Put a file of the local catalog (`rel` under it) in place on the target.
    pub fn put_catalog(&self, rel: &str) -> Result<()> {
        if let Place::S3(r) = &self.place {
            let store = &r.store;
            let body = std::fs::read(self.catalog.join(rel))?;
            store.put_unlocked(&format!("catalog/{rel}"), &body, &[])?;
        }
        Ok(())
    }

    /// Remove a file of the catalog (`rel` under it), here and on the target.
    pub fn remove_catalog(&self, rel: &str) -> Result<()> {
        let _ = std::fs::remove_file(self.catalog.join(rel));
        if let Place::S3(r) = &self.place {
            let store = &r.store;
            store.delete(&format!("catalog/{rel}"))?;
        }
        Ok(())
    }

    /// List `r` (a copy now in place) in the vault's catalog.
    pub fn list(&self, r: DumpRecord) -> Result<()> {
        let (host, disk) = (r.host.clone(), r.disk.clone());
        let mut all = history::load(&self.catalog, &host, &disk)?;
        all.retain(|x| key(x) != key(&r));
        all.push(r);
        all.sort_by(|a, b| a.datestamp.cmp(&b.datestamp));
        self.save_history(&host, &disk, &all)
    }

    /// Replace one DLE's history in the vault's catalog.
    pub fn save_history(&self, host: &str, disk: &str, records: &[DumpRecord]) -> Result<()> {
        history::save(&self.catalog, host, disk, records)?;
        let rel = history::path(Path::new(""), host, disk);
        self.put_catalog(&rel.display().to_string())
    }

    /// Until when the store holds the copy at `rel` against deletion (none: not locked, or
    /// a directory).
    pub fn locked_until(&self, rel: &str) -> Result<Option<DateTime<Utc>>> {
        let Place::S3(r) = &self.place else {
            return Ok(None);
        };
        let Some(head) = r.store.head(rel)? else {
            return Ok(None);
        };
        Ok(head
            .amz("object-lock-retain-until-date")
            .and_then(|d| DateTime::parse_from_rfc3339(d).ok())
            .map(|d| d.with_timezone(&Utc)))
    }

    /// Remove the copy at `rel` (on S3: its versions, which Object Lock refuses while held).
    pub fn remove_dump(&self, rel: &str) -> Result<()> {
        match &self.place {
            Place::Dir(d) => match std::fs::remove_file(d.join(rel)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
                _ => Ok(()),
            },
            Place::S3(r) => {
                // every version (a copy put again after a killed run has two): deleting
                // the newest makes the one before it the object again
                let store = &r.store;
                for _ in 0..16 {
                    let Some(head) = store.head(rel)? else {
                        return Ok(());
                    };
                    match head.amz("version-id").filter(|v| *v != "null") {
                        Some(v) => store.delete_version(rel, v)?,
                        None => return store.delete(rel),
                    }
                }
                bail!("{}: {rel} still has versions after 16 deletions", store.url)
            }
        }
    }

    /// The files under `dumps/`, relative to the target (temp files of a killed copy too).
    pub fn dump_files(&self) -> Result<Vec<String>> {
        match &self.place {
            Place::Dir(d) => Ok(walkdir::WalkDir::new(d.join("dumps"))
                .min_depth(1)
                .into_iter()
                .flatten()
                .filter(|e| e.file_type().is_file())
                .filter_map(|e| Some(e.path().strip_prefix(d).ok()?.display().to_string()))
                .collect()),
            Place::S3(r) => Ok(r
                .store
                .list("dumps/")?
                .into_iter()
                .map(|(k, _)| k)
                .collect()),
        }
    }

    /// Remove directories left empty under `dumps/` (a directory target).
    pub fn tidy(&self) {
        if let Place::Dir(d) = &self.place {
            for e in walkdir::WalkDir::new(d.join("dumps"))
                .min_depth(1)
                .contents_first(true)
                .into_iter()
                .flatten()
            {
                if e.file_type().is_dir() {
                    let _ = std::fs::remove_dir(e.path()); // only when empty
                }
            }
        }
    }
}

/// Put one dump into the directory `dir` at `rel`: to a temp name, fsynced, read back past
/// the page cache (payload sha256), renamed, then opened in its place by the tape reader.
pub fn put_dir(
    dir: &Path,
    rel: &str,
    opened: Opened,
    expect: Expect,
    trust: &Trust,
) -> Result<u64> {
    let dest = dir.join(rel);
    fsutil::create_dir_all(dest.parent().unwrap())?;
    let tmp = fsutil::temp_name(&dest);
    if let Err(e) = crate::mirror::copy_dump(opened, &tmp) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    crate::failpoint::hit("vault-before-rename");
    fsutil::rename_durable(&tmp, &dest)?;
    reader::open(&TapePath::Local(dest.clone()), trust, expect)
        .with_context(|| format!("the copy {} does not open as written", dest.display()))?;
    Ok(std::fs::metadata(&dest)?.len())
}

fn marker_text(vault: &Vault) -> String {
    format!(
        "# tapir: this place is vault {:?}: `tapir recover --from` it\nvault = {:?}\n",
        vault.name, vault.name
    )
}

/// A place already marked for another vault is refused (two vaults' catalogs in one place
/// would overwrite each other).
fn check_marker(vault: &Vault, place: &str, marker: Option<&str>) -> Result<()> {
    let Some(text) = marker else { return Ok(()) };
    let named = super::vault_name(text);
    if named.as_deref() != Some(vault.name.as_str()) {
        bail!(Error::failed(format!(
            "vault {} target {place} holds vault {:?}: each vault needs its own place; nothing \
             was written",
            vault.name,
            named.unwrap_or_default()
        )));
    }
    Ok(())
}

/// A mirror's place is no vault; another server's tape set is refused.
fn claim(vault: &Vault, set: &TapeSet, trust: &Trust, found: &Found, place: &str) -> Result<bool> {
    if !found.signers.is_empty() {
        bail!(Error::config(format!(
            "vault {} target {place} holds slots: it is a mirror, not a vault; give the vault \
             its own place",
            vault.name
        )));
    }
    tapeset::claim(set, found, place, |fp| trust.trusts(fp))
}

fn open_s3(cfg: &Config, vault: &Vault, url: &str, set: &TapeSet, trust: &Trust) -> Result<Target> {
    let mut store = Store::open(url, &cfg.s3)?;
    // the vault's retention is its policy's, never the mirror's fixed days
    store.lock_days = None;
    let listed: Vec<(String, u64)> = store.list("")?;
    let has = |p: &str| listed.iter().any(|(k, _)| k.starts_with(p));
    let slots = listed.iter().any(|(k, _)| {
        k.strip_prefix("slot")
            .and_then(|r| r.split_once('/'))
            .is_some_and(|(n, _)| n.parse::<u32>().is_ok())
    });
    let text = |rel: &str| -> Result<Option<String>> {
        if !has(rel) {
            return Ok(None);
        }
        let mut body = String::new();
        std::io::Read::read_to_string(&mut store.get(rel)?, &mut body)?;
        Ok(Some(body))
    };
    let marker = text(MARKER)?;
    check_marker(vault, url, marker.as_deref())?;
    let found = Found {
        marker: text(tapeset::FILE)?
            .map(|t| TapeSet::decode(t.as_bytes(), url))
            .transpose()?,
        holds_tapes: has("dumps/") || has("catalog/") || slots,
        signers: if slots {
            vec!["(a mirror's labels)".into()]
        } else {
            vec![]
        },
    };
    if vault.object_lock {
        check_lock(&mut store, &vault.name)?;
    }
    if claim(vault, set, trust, &found, url)? {
        store.put_unlocked(tapeset::FILE, &set.encode()?, &[])?;
    }
    if marker.is_none() {
        store.put_unlocked(MARKER, marker_text(vault).as_bytes(), &[])?;
    }
    let catalog = crate::config::reading::cache_dir(url);
    crate::s3::sync_catalog(&store, &catalog)
        .map_err(|e| e.context(format!("cannot copy the catalog of {url}")))?;
    let readback = !store.checks_checksums()?;
    // its own upload state: a killed copy resumes at the next vault run, and no mirror run
    // takes it for one of its own
    let state_path = cfg.catalog.join(format!(
        "vault-uploads-{}.json",
        fsutil::escape_component(url.trim_start_matches("s3://"))
    ));
    let root = Root::s3(url, Store::open(url, &cfg.s3)?);
    Ok(Target {
        name: url.to_string(),
        catalog,
        place: Place::S3(Box::new(Remote {
            store,
            state: std::sync::Mutex::new((upload::Pending::load(&state_path), state_path)),
            readback,
            root,
        })),
        _lock: None,
    })
}

/// `object_lock = true`: a probe put with a day's COMPLIANCE retention must come back
/// retained; a bucket without Object Lock is an error before any copy goes up.
pub fn check_lock(store: &mut Store, vault: &str) -> Result<()> {
    store.lock_until = Some(Utc::now() + chrono::Duration::days(1));
    let rel = ".tapir-vault-lock-probe";
    let why = format!(
        "vault {vault}: object_lock = true needs a bucket created with Object Lock enabled; \
         nothing was copied"
    );
    let put = store.put(rel, b"tapir vault object lock probe\n", &[]);
    store.lock_until = None;
    put.map_err(|e| anyhow::anyhow!("{e:#}; {why}"))?;
    let head = store.head(rel)?;
    match head.as_ref().and_then(|h| h.amz("object-lock-mode")) {
        Some("COMPLIANCE") => Ok(()),
        mode => bail!(Error::failed(format!(
            "{}: the probe {rel} is not retained (mode {}); {why}",
            store.url,
            mode.unwrap_or("none")
        ))),
    }
}
