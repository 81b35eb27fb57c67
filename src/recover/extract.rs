//! Safe extraction of a tar stream from a client that may be hostile: nothing is written
//! outside the target (absolute names, `..` and NUL are refused; parents are never followed
//! through symlinks; symlinks are created last), hard links only to files this restore
//! extracted, nothing existing is overwritten without `overwrite`. GNU dumpdirs are applied
//! (deleting what a later level no longer lists), so a chain restores as of its last dump.

use anyhow::{Context, Result};
use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// What to restore and how.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub overwrite: bool,
    /// Member paths to restore (relative, without `./`); empty: everything.
    pub paths: Vec<Vec<u8>>,
}

/// The outcome of a restore.
#[derive(Debug, Default)]
pub struct Report {
    pub restored: u64,
    /// Regular files whose content was checked against the sha256 their index recorded.
    pub checked: u64,
    /// Members not restored, each with why (hostile names, existing files…).
    pub refused: Vec<String>,
}

pub struct Extractor {
    root: PathBuf,
    opts: Options,
    /// Relative paths created by this restore (files may be replaced by later levels).
    ours: HashSet<Vec<u8>>,
    /// Symlinks to create last: target, owner.
    symlinks: BTreeMap<Vec<u8>, (Vec<u8>, u64, u64)>,
    dirs: BTreeMap<Vec<u8>, (u32, i64)>,
    report: Report,
    /// Per wanted path: whether any member matched it.
    hits: Vec<bool>,
    /// Names the stream's dumpdirs list as unchanged (`N`): an incremental holds only what
    /// changed since the dump before it.
    unchanged: u64,
    /// The per-file sha256s of the archive being extracted (its dump's index).
    sums: Option<crate::catalog::sums::Cursor>,
}

/// A restored file whose content is not what the index recorded at dump time: it ends the
/// restore (nothing is moved into place), where other refusals only skip their member.
#[derive(Debug)]
pub struct ContentMismatch(pub String);

impl std::fmt::Display for ContentMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for ContentMismatch {}

/// A reader that hashes what passes through it.
struct Hashing<'r, R> {
    inner: &'r mut R,
    hash: sha2::Sha256,
}

impl<R: Read> Read for Hashing<'_, R> {
    fn read(&mut self, b: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(b)?;
        sha2::Digest::update(&mut self.hash, &b[..n]);
        Ok(n)
    }
}

/// A member name made relative and checked: None for the archive root, Err if hostile.
fn clean(name: &[u8]) -> Result<Option<Vec<u8>>, String> {
    if name.contains(&0) {
        return Err("NUL in the name".into());
    }
    if name.starts_with(b"/") {
        return Err("absolute name".into());
    }
    let mut parts: Vec<&[u8]> = Vec::new();
    for c in name.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => return Err("`..` in the name".into()),
            c => parts.push(c),
        }
    }
    Ok((!parts.is_empty()).then(|| parts.join(&b'/')))
}

fn show(b: &[u8]) -> String {
    crate::catalog::index::escape_bytes(b)
}

impl Extractor {
    pub fn new(root: &Path, opts: Options) -> Result<Self> {
        fs::create_dir_all(root).with_context(|| format!("cannot create {}", root.display()))?;
        let root = root.canonicalize()?;
        Ok(Extractor {
            root,
            opts,
            ours: HashSet::new(),
            symlinks: BTreeMap::new(),
            dirs: BTreeMap::new(),
            report: Report::default(),
            hits: Vec::new(),
            unchanged: 0,
            sums: None,
        })
    }

    fn selected(&self, rel: &[u8]) -> bool {
        self.opts.paths.is_empty()
            || self
                .opts
                .paths
                .iter()
                .any(|p| rel == &p[..] || (rel.starts_with(p) && rel.get(p.len()) == Some(&b'/')))
    }

    /// An ancestor of a selected path: its directory is made, nothing else.
    fn ancestor(&self, rel: &[u8]) -> bool {
        self.opts
            .paths
            .iter()
            .any(|p| p.starts_with(rel) && p.get(rel.len()) == Some(&b'/'))
    }

    /// Whether a member does anything in this restore (selected, an ancestor directory of a
    /// selection, the root, or a bad name to refuse): what a random-access restore reads.
    pub fn wants(&self, name: &[u8], kind: u8) -> bool {
        match clean(name) {
            Err(_) => true,
            Ok(rel) => self.takes(rel.as_deref().unwrap_or(b""), kind),
        }
    }

    fn takes(&self, rel: &[u8], kind: u8) -> bool {
        let is_dir = matches!(kind, b'5' | b'D');
        self.selected(rel) || (is_dir && (rel.is_empty() || self.ancestor(rel)))
    }

    /// Mark the wanted paths `rel` is (or is inside of) as matched.
    fn hit(&mut self, rel: &[u8]) {
        self.hits.resize(self.opts.paths.len(), false);
        for (p, hit) in self.opts.paths.iter().zip(self.hits.iter_mut()) {
            *hit |= rel == &p[..] || (rel.starts_with(p) && rel.get(p.len()) == Some(&b'/'));
        }
    }

    /// The wanted paths that no member matched (so far).
    pub fn unmatched(&self) -> Vec<Vec<u8>> {
        self.opts
            .paths
            .iter()
            .enumerate()
            .filter(|(i, _)| !self.hits.get(*i).copied().unwrap_or(false))
            .map(|(_, p)| p.clone())
            .collect()
    }

    /// How many names the stream's directories list as unchanged since an older dump: more
    /// than none means an incremental, which holds only what changed.
    pub fn unchanged(&self) -> u64 {
        self.unchanged
    }

    fn refuse(&mut self, name: &[u8], why: impl std::fmt::Display) {
        self.report.refused.push(format!("{}: {why}", show(name)));
    }

    /// Check the regular files of the next archive against the sha256s of its index.
    pub fn check_sums(&mut self, sums: Option<crate::catalog::sums::Cursor>) {
        self.sums = sums;
    }

    /// Extract one archive of the chain.
    pub fn extract(&mut self, r: impl Read) -> Result<()> {
        let mut a = tar::Archive::new(r);
        for entry in a.entries().context("not a tar stream")? {
            let mut e = entry.context("damaged tar stream")?;
            let name = e.path_bytes().into_owned();
            let rel = match clean(&name) {
                Ok(r) => r,
                Err(why) => {
                    self.refuse(&name, why);
                    continue;
                }
            };
            if let Err(err) = self.member(rel.as_deref().unwrap_or(b""), &name, &mut e) {
                if err.is::<ContentMismatch>() {
                    return Err(err);
                }
                self.refuse(&name, format!("{err:#}"));
            }
        }
        // Read past the end-of-archive marker to the end, as GNU tar does: the producer
        // (decryption, the payload's sha256) must see its whole stream, never a closed pipe.
        std::io::copy(&mut a.into_inner(), &mut std::io::sink())
            .context("cannot read the stream after its end-of-archive marker")?;
        Ok(())
    }

    fn member(&mut self, rel: &[u8], name: &[u8], e: &mut tar::Entry<impl Read>) -> Result<()> {
        let kind = e.header().entry_type().as_byte();
        let mut list = Vec::new();
        if kind == b'D' {
            e.read_to_end(&mut list)?;
            self.unchanged += list
                .split(|&b| b == 0)
                .filter(|r| r.len() > 1 && r[0] == b'N')
                .count() as u64;
        }
        if !self.takes(rel, kind) {
            return Ok(());
        }
        self.hit(rel);
        let path = self.safe_path(rel)?;
        let mode = e.header().mode().unwrap_or(0o644);
        let mtime = crate::pipeline::index::mtime_of(e.header());
        match kind {
            b'5' | b'D' => {
                if kind == b'D' && self.selected(rel) {
                    self.purge(rel, &path, &list)?;
                }
                self.make_dir(&path)?;
                self.dirs.insert(rel.to_vec(), (mode, mtime));
                return Ok(());
            }
            b'2' => {
                let target = e
                    .link_name_bytes()
                    .context("symlink without a target")?
                    .into_owned();
                self.make_way(rel, &path)?;
                let (u, g) = (e.header().uid().unwrap_or(0), e.header().gid().unwrap_or(0));
                self.symlinks.insert(rel.to_vec(), (target, u, g));
            }
            b'1' => self.hard_link(rel, &path, e)?,
            b'0' | 0 | b'7' => self.file(rel, name, &path, e, (mode, mtime))?,
            b'3' | b'4' | b'6' => {
                self.make_way(rel, &path)?;
                make_node(&path, kind, e.header())?;
                let (u, g) = (e.header().uid().unwrap_or(0), e.header().gid().unwrap_or(0));
                set_meta_by_path(&path, mode, mtime, u, g)?;
                self.ours.insert(rel.to_vec());
            }
            k => anyhow::bail!("member type {:?} not restored", k as char),
        }
        self.report.restored += 1;
        Ok(())
    }

    /// `root/rel`, refusing if any existing parent is a symlink (or not a directory).
    fn safe_path(&self, rel: &[u8]) -> Result<PathBuf> {
        let mut p = self.root.clone();
        let parts: Vec<&[u8]> = if rel.is_empty() {
            vec![]
        } else {
            rel.split(|&b| b == b'/').collect()
        };
        for (k, c) in parts.iter().enumerate() {
            p.push(std::ffi::OsStr::from_bytes(c));
            if k + 1 < parts.len()
                && let Ok(md) = p.symlink_metadata()
                && !md.is_dir()
            {
                anyhow::bail!(
                    "a parent ({}) is not a directory: nothing is written through links",
                    p.display()
                );
            }
        }
        Ok(p)
    }

    fn make_dir(&self, path: &Path) -> Result<()> {
        match path.symlink_metadata() {
            Ok(md) if md.is_dir() => Ok(()),
            Ok(_) => anyhow::bail!("exists and is not a directory"),
            Err(_) => {
                if let Some(parent) = path.parent() {
                    fs::create_dir_all(parent)?;
                }
                fs::create_dir(path).context("cannot make the directory")
            }
        }
    }

    /// Remove what is in the way of `rel`, if this restore made it or `overwrite` allows.
    fn make_way(&mut self, rel: &[u8], path: &Path) -> Result<()> {
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        self.symlinks.remove(rel);
        match path.symlink_metadata() {
            Err(_) => Ok(()),
            Ok(_) if !self.ours.contains(rel) && !self.opts.overwrite => {
                anyhow::bail!("exists (restore into an empty directory, or use --overwrite)")
            }
            Ok(md) if md.is_dir() => {
                fs::remove_dir_all(path).context("cannot replace the directory")
            }
            Ok(_) => fs::remove_file(path).context("cannot replace the file"),
        }
    }

    /// A regular file: written, then checked against the sha256 its index recorded.
    fn file(
        &mut self,
        rel: &[u8],
        name: &[u8],
        path: &Path,
        e: &mut tar::Entry<impl Read>,
        (mode, mtime): (u32, i64),
    ) -> Result<()> {
        let want = match &mut self.sums {
            Some(c) => c.find(name)?,
            None => None,
        };
        self.make_way(rel, path)?;
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .custom_flags(crate::sys::oflags(&[rustix::fs::OFlags::NOFOLLOW]))
            .mode(0o600)
            .open(path)
            .context("cannot create")?;
        match want {
            // nothing recorded to check against (an index from before per-file sums)
            None => copy_sparse(e, &mut f).context("cannot write")?,
            Some(want) => {
                let mut hashing = Hashing {
                    inner: e,
                    hash: sha2::Digest::new(),
                };
                copy_sparse(&mut hashing, &mut f).context("cannot write")?;
                let got = crate::units::hex(&sha2::Digest::finalize(hashing.hash));
                if got != want {
                    return Err(ContentMismatch(format!(
                        "{}: its content does not match its index: sha256 {got} restored, \
                         {want} recorded at dump time",
                        show(name)
                    ))
                    .into());
                }
                self.report.checked += 1;
            }
        }
        self.finish_file(&f, e, mode, mtime)?;
        self.ours.insert(rel.to_vec());
        Ok(())
    }

    fn finish_file(
        &self,
        f: &fs::File,
        e: &tar::Entry<impl Read>,
        mode: u32,
        mtime: i64,
    ) -> Result<()> {
        if crate::sys::is_root() {
            let (u, g) = (e.header().uid().unwrap_or(0), e.header().gid().unwrap_or(0));
            std::os::unix::fs::fchown(f, Some(u as u32), Some(g as u32))?;
        }
        f.set_permissions(fs::Permissions::from_mode(mode & 0o7777))?;
        f.set_modified(system_time(mtime))?;
        Ok(())
    }

    fn hard_link(&mut self, rel: &[u8], path: &Path, e: &tar::Entry<impl Read>) -> Result<()> {
        let raw = e
            .link_name_bytes()
            .context("hard link without a target")?
            .into_owned();
        let target =
            clean(&raw).map_err(|w| anyhow::anyhow!("hard link to {}: {w}", show(&raw)))?;
        let target = target.context("hard link to the archive root")?;
        if !self.ours.contains(&target) {
            anyhow::bail!(
                "hard link to {}, which this restore did not extract (add that path to restore both)",
                show(&raw)
            );
        }
        let tpath = self.safe_path(&target)?;
        if !tpath.symlink_metadata().is_ok_and(|m| m.is_file()) {
            anyhow::bail!("hard link to {}, which is not a restored file", show(&raw));
        }
        self.make_way(rel, path)?;
        fs::hard_link(&tpath, path).context("cannot link")?;
        self.ours.insert(rel.to_vec());
        Ok(())
    }

    /// GNU dumpdir: delete what the directory held before but this level no longer lists
    /// (or lists with another type). Only what this restore made, unless `overwrite`.
    fn purge(&mut self, rel: &[u8], dir: &Path, list: &[u8]) -> Result<()> {
        let listed: BTreeMap<&[u8], u8> = list
            .split(|&b| b == 0)
            .filter(|r| r.len() > 1)
            .map(|r| (&r[1..], r[0]))
            .collect();
        let Ok(rd) = fs::read_dir(dir) else {
            return Ok(());
        };
        for ent in rd.flatten() {
            let name = ent.file_name().as_bytes().to_vec();
            let is_dir = ent.file_type().is_ok_and(|t| t.is_dir());
            let keep = match listed.get(&name[..]) {
                Some(b'D') => is_dir,
                Some(b'Y') => !is_dir,
                Some(_) => true,
                None => false,
            };
            let child = if rel.is_empty() {
                name.clone()
            } else {
                [rel, b"/", &name].concat()
            };
            if keep
                || !(self.ours.contains(&child)
                    || self.dirs.contains_key(&child)
                    || self.opts.overwrite)
            {
                continue;
            }
            if is_dir {
                fs::remove_dir_all(ent.path())?
            } else {
                fs::remove_file(ent.path())?
            }
            self.forget(&child);
        }
        let deferred: Vec<Vec<u8>> = self
            .symlinks
            .keys()
            .filter(|k| parent_of(k) == rel && !listed.contains_key(&base(k)[..]))
            .cloned()
            .collect();
        for k in deferred {
            self.symlinks.remove(&k);
        }
        Ok(())
    }

    fn forget(&mut self, rel: &[u8]) {
        let under =
            |k: &Vec<u8>| k == rel || (k.starts_with(rel) && k.get(rel.len()) == Some(&b'/'));
        self.ours.retain(|k| !under(k));
        self.dirs.retain(|k, _| !under(k));
        self.symlinks.retain(|k, _| !under(k));
    }

    pub fn overwrite(&self) -> bool {
        self.opts.overwrite
    }

    /// Create the symlinks, then set directory modes and mtimes, deepest first; in
    /// `moved_to` when the extracted tree was moved there from a staging directory.
    pub fn finish(mut self, moved_to: Option<&Path>) -> Result<Report> {
        if let Some(t) = moved_to {
            self.root = t.canonicalize()?;
        }
        let links = std::mem::take(&mut self.symlinks);
        let root = crate::sys::is_root();
        for (rel, (target, u, g)) in links {
            let made = self.safe_path(&rel).and_then(|p| {
                std::os::unix::fs::symlink(std::ffi::OsStr::from_bytes(&target), &p)
                    .context("cannot make the symlink")?;
                if root {
                    std::os::unix::fs::lchown(&p, Some(u as u32), Some(g as u32))?;
                }
                Ok(())
            });
            if let Err(e) = made {
                self.refuse(&[b"./", &rel[..]].concat(), format!("{e:#}"));
            }
        }
        let dirs = std::mem::take(&mut self.dirs);
        for (rel, (mode, mtime)) in dirs.into_iter().rev() {
            if let Ok(p) = self.safe_path(&rel)
                && let Ok(f) = fs::File::open(&p)
            {
                let _ = f.set_permissions(fs::Permissions::from_mode(mode & 0o7777));
                let _ = f.set_modified(system_time(mtime));
            }
        }
        Ok(self.report)
    }
}

/// Owner (as root), mode and mtime of a node that must not be opened (a FIFO, a device).
fn set_meta_by_path(p: &Path, mode: u32, mtime: i64, uid: u64, gid: u64) -> Result<()> {
    if crate::sys::is_root() {
        std::os::unix::fs::lchown(p, Some(uid as u32), Some(gid as u32))
            .context("cannot set the owner")?;
    }
    fs::set_permissions(p, fs::Permissions::from_mode(mode & 0o7777))
        .context("cannot set the mode")?;
    crate::sys::set_mtime_nofollow(p, mtime).context("cannot set the mtime")
}

/// A FIFO, or (as root) a character or block device, as the member says.
fn make_node(p: &Path, kind: u8, h: &tar::Header) -> Result<()> {
    use crate::sys::Node;
    let major = h.device_major().ok().flatten().unwrap_or(0);
    let minor = h.device_minor().ok().flatten().unwrap_or(0);
    let (what, node) = match kind {
        b'3' => ("character device", Node::Char(major, minor)),
        b'4' => ("block device", Node::Block(major, minor)),
        _ => ("FIFO", Node::Fifo),
    };
    if !matches!(node, Node::Fifo) && !crate::sys::is_root() {
        anyhow::bail!("{what}: only root can make device nodes");
    }
    crate::sys::make_node(p, node).with_context(|| format!("cannot make the {what}"))
}

/// Copy a file's data, leaving holes where whole 4 KiB blocks are zeros: sparse files come
/// back sparse (the tape holds their holes as zeros).
fn copy_sparse(r: &mut impl Read, f: &mut fs::File) -> std::io::Result<()> {
    use std::io::{Seek, SeekFrom, Write};
    let mut buf = vec![0u8; 1 << 16];
    let mut len = 0u64;
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            break;
        }
        for block in buf[..n].chunks(4096) {
            if block.len() == 4096 && block.iter().all(|&b| b == 0) {
                f.seek(SeekFrom::Current(4096))?;
            } else {
                f.write_all(block)?;
            }
        }
        len += n as u64;
    }
    f.set_len(len)
}

fn system_time(secs: i64) -> std::time::SystemTime {
    let d = std::time::Duration::from_secs(secs.unsigned_abs());
    if secs < 0 {
        std::time::UNIX_EPOCH - d
    } else {
        std::time::UNIX_EPOCH + d
    }
}

fn parent_of(k: &[u8]) -> &[u8] {
    k.iter()
        .rposition(|&b| b == b'/')
        .map_or(&k[..0], |i| &k[..i])
}

fn base(k: &[u8]) -> Vec<u8> {
    k.iter()
        .rposition(|&b| b == b'/')
        .map_or(k.to_vec(), |i| k[i + 1..].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_cleaned_or_refused() {
        assert_eq!(clean(b"./a/b"), Ok(Some(b"a/b".to_vec())));
        assert_eq!(clean(b"./"), Ok(None));
        assert!(clean(b"../x").is_err());
        assert!(clean(b"a/../../x").is_err());
        assert!(clean(b"/etc/x").is_err());
    }
}
