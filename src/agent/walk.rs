//! Walks one DLE and writes it as GNU incremental tar: every directory as a `D` member whose
//! dumpdir lists all its names (`Y` in this archive, `N` unchanged, `D` directory), then the
//! files that changed since the reference time (all of them at level 0, and all below a
//! directory the reference dump did not have). Hard links once then as links; symlinks, FIFOs
//! and devices as such; an unreadable or changing file is a warning (PARTIAL), never a broken
//! stream.

use super::tar_out::{Copied, Meta, TarWriter};
use std::collections::{HashMap, HashSet};
use std::fs::{File, Metadata, OpenOptions};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::Path;
use tar::EntryType;

/// Where the tar bytes go, and where warnings go beside them.
pub trait Sink: Write {
    fn warning(&mut self, path: &str, message: &str) -> io::Result<()>;
}

/// What to walk.
pub struct Walk<'a> {
    pub root: &'a Path,
    pub select: &'a super::Selection,
    pub one_file_system: bool,
    /// Incremental: the reference time and the directories (member names) it had.
    pub since: Option<Since<'a>>,
}

/// The reference of an incremental dump.
pub struct Since<'a> {
    pub time: i64,
    pub known_dirs: &'a HashSet<Vec<u8>>,
}

/// File timestamps come from the kernel's coarse clock, which may lag the precise clock the
/// reference was read from by a tick (1–10 ms): compare with this margin, so a change at
/// the boundary is dumped twice rather than missed.
const CLOCK_MARGIN_NS: i64 = 50_000_000;

/// Changed since `t_ns`: content (mtime) or inode (ctime: rename, chmod, new link).
pub fn changed_since(md: &Metadata, t_ns: i64) -> bool {
    let ns = |s: i64, n: i64| s.saturating_mul(1_000_000_000).saturating_add(n);
    let newest = ns(md.mtime(), md.mtime_nsec()).max(ns(md.ctime(), md.ctime_nsec()));
    newest >= t_ns.saturating_sub(CLOCK_MARGIN_NS)
}

/// Counts for the summary.
#[derive(Debug, Default)]
pub struct Stats {
    pub files: u64,
    pub warnings: u64,
}

struct Walker<'w, 'a, W: Sink> {
    tar: &'w mut TarWriter<W>,
    walk: &'w Walk<'a>,
    /// Multi-link inodes seen: the first name, and whether that name is in this archive
    /// (else it is an unchanged file that earlier levels of the chain restore).
    links: HashMap<(u64, u64), (Vec<u8>, bool)>,
    stats: Stats,
    root_dev: u64,
    /// Depth of the new (or renamed) directory we are inside, if any: all of it is dumped.
    new_from: Option<usize>,
    /// The `lstat` of each name a directory's dumpdir listed, at that directory's depth:
    /// its entries take theirs from there (one stat a name, relative to the directory, and
    /// the dumpdir's `Y`/`N` and the archive agree).
    listed: Vec<Listed>,
}

/// The names of one directory and their `lstat`, as its dumpdir saw them.
struct Listed {
    dir: std::path::PathBuf,
    names: HashMap<std::ffi::OsString, Metadata>,
}

/// Write the whole tree under `w.root` to `tar`. Errors are only those of the output.
pub fn dump_tree<W: Sink>(tar: &mut TarWriter<W>, w: &Walk) -> io::Result<Stats> {
    let root_dev = w.root.metadata().map(|m| m.dev()).unwrap_or(0);
    let mut walker = Walker {
        tar,
        walk: w,
        links: HashMap::new(),
        stats: Stats::default(),
        root_dev,
        new_from: None,
        listed: Vec::new(),
    };
    let mut it = walkdir::WalkDir::new(w.root)
        .follow_links(false)
        .follow_root_links(true)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| !excluded(w, e.path()));
    while let Some(entry) = it.next() {
        match entry {
            Ok(e) => {
                if walker.entry(e.path(), e.depth())? == Descend::No {
                    it.skip_current_dir();
                }
            }
            Err(err) => {
                let path = err
                    .path()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default();
                let msg = err.io_error().map_or(err.to_string(), |e| e.to_string());
                walker.warn(&path, &format!("cannot read: {msg}"))?;
            }
        }
    }
    Ok(walker.stats)
}

fn excluded(w: &Walk, path: &Path) -> bool {
    match below(w.root, path) {
        Some(rel) => w.select.skips(rel),
        _ => false,
    }
}

/// `path` relative to `root`, for the paths the walk makes (`root` joined with names): the
/// bytes after `root/`, else (a root written unlike them) by components.
fn below<'p>(root: &Path, path: &'p Path) -> Option<&'p Path> {
    let (r, p) = (root.as_os_str().as_bytes(), path.as_os_str().as_bytes());
    let rest = p.strip_prefix(r).and_then(|rest| match rest {
        [] => Some(rest),
        [b'/', tail @ ..] if !r.ends_with(b"/") && !tail.starts_with(b"/") => Some(tail),
        _ if r.ends_with(b"/") && !rest.starts_with(b"/") => Some(rest),
        _ => None,
    });
    match rest {
        Some(rest) => Some(Path::new(std::ffi::OsStr::from_bytes(rest))),
        None => path.strip_prefix(root).ok(),
    }
}

/// `./rel` as tar member name bytes (`./` for the root, trailing `/` for directories).
fn member_name(root: &Path, path: &Path, dir: bool) -> Vec<u8> {
    let rel = below(root, path).unwrap_or(path).as_os_str().as_bytes();
    let mut name = b"./".to_vec();
    name.extend_from_slice(rel);
    if dir && !rel.is_empty() {
        name.push(b'/');
    }
    name
}

fn meta_of(md: &Metadata) -> Meta {
    let rdev = md.rdev();
    Meta {
        mode: md.mode(),
        uid: md.uid() as u64,
        gid: md.gid() as u64,
        mtime: md.mtime(),
        rdev_major: rustix::fs::major(rdev),
        rdev_minor: rustix::fs::minor(rdev),
    }
}

/// Whether the walk goes into the directory just written.
#[derive(PartialEq)]
enum Descend {
    Yes,
    No,
}

impl<W: Sink> Walker<'_, '_, W> {
    fn warn(&mut self, path: &str, msg: &str) -> io::Result<()> {
        self.stats.warnings += 1;
        self.tar.get_mut().warning(path, msg)
    }

    fn entry(&mut self, path: &Path, depth: usize) -> io::Result<Descend> {
        if self.new_from.is_some_and(|d| depth <= d) {
            self.new_from = None;
        }
        let md = match if depth == 0 {
            path.metadata()
        } else if let Some(md) = self.listed_md(path, depth) {
            Ok(md)
        } else {
            path.symlink_metadata()
        } {
            Ok(md) => md,
            Err(e) => return self.vanished(path, e).map(|_| Descend::Yes),
        };
        let ft = md.file_type();
        let name = member_name(self.walk.root, path, ft.is_dir());
        if ft.is_dir() {
            if depth > 0 && self.walk.one_file_system && md.dev() != self.root_dev {
                return self.mount_point(name, &md).map(|_| Descend::No);
            }
            return self.directory(path, name, &md, depth).map(|_| Descend::Yes);
        }
        let r = if !self.wanted(&md) {
            self.unchanged(name, &md)
        } else {
            self.stats.files += 1;
            if ft.is_file() {
                self.file(path, name, &md)
            } else if ft.is_symlink() {
                self.symlink(path, &name, &md)
            } else {
                self.special(path, &name, &md)
            }
        };
        r.map(|_| Descend::Yes)
    }

    /// The `lstat` of `path` (at `depth`) that its directory's dumpdir took, if it did.
    fn listed_md(&mut self, path: &Path, depth: usize) -> Option<Metadata> {
        let l = self.listed.get_mut(depth.checked_sub(1)?)?;
        if Some(l.dir.as_path()) != path.parent() {
            return None;
        }
        l.names.remove(path.file_name()?)
    }

    /// A directory where another file system is mounted (`one_file_system`): like GNU tar,
    /// the directory itself (owner, mode, mtime, so that the mount has its place on
    /// restore) and none of its contents; a plain member, so a restore purges nothing in it.
    fn mount_point(&mut self, name: Vec<u8>, md: &Metadata) -> io::Result<()> {
        self.stats.files += 1;
        self.tar
            .header(&name, None, EntryType::Directory, &meta_of(md), 0)
    }

    /// Is a non-directory in this archive (`Y`) rather than only listed (`N`)?
    fn wanted(&self, md: &Metadata) -> bool {
        match &self.walk.since {
            None => true,
            Some(s) => self.new_from.is_some() || changed_since(md, s.time),
        }
    }

    /// A directory: a `D` member listing every name in it, so an incremental restore can
    /// delete what is gone. If it cannot be listed, a plain directory member (no purge).
    fn directory(
        &mut self,
        path: &Path,
        name: Vec<u8>,
        md: &Metadata,
        depth: usize,
    ) -> io::Result<()> {
        self.stats.files += 1;
        if let Some(s) = &self.walk.since
            && self.new_from.is_none()
            && !s.known_dirs.contains(&name)
        {
            self.new_from = Some(depth);
        }
        self.listed.truncate(depth);
        match self.dumpdir(path) {
            Ok((list, names)) => {
                self.listed.push(Listed {
                    dir: path.to_path_buf(),
                    names,
                });
                let kind = EntryType::new(b'D');
                self.tar
                    .header(&name, None, kind, &meta_of(md), list.len() as u64)?;
                self.tar.data(&mut &list[..], list.len() as u64).map(|_| ())
            }
            Err(_) => self
                .tar
                .header(&name, None, EntryType::Directory, &meta_of(md), 0),
        }
    }

    /// The GNU dumpdir of `dir` (sorted `Cname\0` records and a final `\0`), and the
    /// `lstat` of each name in it.
    fn dumpdir(&self, dir: &Path) -> io::Result<(Vec<u8>, HashMap<std::ffi::OsString, Metadata>)> {
        let mut names: Vec<(Vec<u8>, u8)> = Vec::new();
        let mut stats = HashMap::new();
        for e in std::fs::read_dir(dir)? {
            let e = e?;
            let path = e.path();
            if excluded(self.walk, &path) {
                continue;
            }
            // relative to the directory, never following a symlink
            let Ok(md) = e.metadata() else {
                continue;
            };
            let ft = md.file_type();
            let code = if ft.is_dir() {
                b'D'
            } else if ft.is_socket() {
                continue;
            } else if self.wanted(&md) {
                b'Y'
            } else {
                b'N'
            };
            names.push((e.file_name().as_bytes().to_vec(), code));
            stats.insert(e.file_name(), md);
        }
        names.sort();
        let mut out = Vec::new();
        for (n, code) in names {
            out.push(code);
            out.extend_from_slice(&n);
            out.push(0);
        }
        out.push(0);
        Ok((out, stats))
    }

    fn vanished(&mut self, path: &Path, e: io::Error) -> io::Result<()> {
        let what = if e.kind() == io::ErrorKind::NotFound {
            "vanished before it was read"
        } else {
            "cannot read"
        };
        self.warn(&path.display().to_string(), &format!("{what}: {e}"))
    }

    /// An unchanged non-directory (dumpdir `N`). A hard link to an inode this archive
    /// already holds is written as a link so the restored group stays one inode; an
    /// unchanged multi-link file is remembered as a link target for later names.
    fn unchanged(&mut self, name: Vec<u8>, md: &Metadata) -> io::Result<()> {
        if !md.is_file() || md.nlink() < 2 {
            return Ok(());
        }
        match self.links.get(&(md.dev(), md.ino())) {
            Some((target, true)) => {
                let target = target.clone();
                self.stats.files += 1;
                self.tar
                    .header(&name, Some(&target), EntryType::Link, &meta_of(md), 0)
            }
            Some((_, false)) => Ok(()),
            None => {
                self.links.insert((md.dev(), md.ino()), (name, false));
                Ok(())
            }
        }
    }

    fn file(&mut self, path: &Path, name: Vec<u8>, md: &Metadata) -> io::Result<()> {
        if let Some((target, _)) = self
            .links
            .get(&(md.dev(), md.ino()))
            .filter(|_| md.nlink() > 1)
        {
            let target = target.clone();
            return self
                .tar
                .header(&name, Some(&target), EntryType::Link, &meta_of(md), 0);
        }
        let mut f = match open_noatime(path) {
            Ok(f) => f,
            Err(e) => return self.vanished(path, e),
        };
        let md = f.metadata().unwrap_or_else(|_| md.clone());
        if !md.is_file() {
            return self.warn(
                &path.display().to_string(),
                "replaced by a non-file while being read",
            );
        }
        self.tar
            .header(&name, None, EntryType::Regular, &meta_of(&md), md.size())?;
        let copied = self.tar.data(&mut f, md.size())?;
        if self.stats.files > 20 {
            crate::failpoint::hit("agent-mid-stream");
        }
        if md.nlink() > 1 {
            self.links.insert((md.dev(), md.ino()), (name, true));
        }
        self.check_copy(path, copied, &md, &f)
    }

    fn check_copy(
        &mut self,
        path: &Path,
        c: Copied,
        before: &Metadata,
        f: &File,
    ) -> io::Result<()> {
        let p = path.display().to_string();
        match c {
            Copied::Short {
                got,
                error: Some(e),
            } => self.warn(
                &p,
                &format!("read error at byte {got}: {e}; rest zero-filled"),
            ),
            Copied::Short { got, error: None } => self.warn(
                &p,
                &format!(
                    "shrank while being read ({got} of {} bytes); rest zero-filled",
                    before.size()
                ),
            ),
            Copied::Grew => self.warn(
                &p,
                "grew while being read; only the first size bytes were saved",
            ),
            Copied::Whole => match f.metadata() {
                Ok(after)
                    if after.mtime() != before.mtime()
                        || after.mtime_nsec() != before.mtime_nsec() =>
                {
                    self.warn(&p, "changed while being read")
                }
                _ => Ok(()),
            },
        }
    }

    fn symlink(&mut self, path: &Path, name: &[u8], md: &Metadata) -> io::Result<()> {
        match std::fs::read_link(path) {
            Ok(t) => {
                let t = t.as_os_str().as_bytes();
                self.tar
                    .header(name, Some(t), EntryType::Symlink, &meta_of(md), 0)
            }
            Err(e) => self.vanished(path, e),
        }
    }

    fn special(&mut self, path: &Path, name: &[u8], md: &Metadata) -> io::Result<()> {
        let ft = md.file_type();
        let kind = if ft.is_fifo() {
            EntryType::Fifo
        } else if ft.is_char_device() {
            EntryType::Char
        } else if ft.is_block_device() {
            EntryType::Block
        } else {
            eprintln!("tapir agent: {}: socket ignored", path.display());
            self.stats.files -= 1;
            return Ok(());
        };
        self.tar.header(name, None, kind, &meta_of(md), 0)
    }
}

/// Open for reading without following a symlink swapped in, and without touching atime
/// where the kernel allows it (only the owner or root may ask for O_NOATIME).
fn open_noatime(path: &Path) -> io::Result<File> {
    let open = |flags| OpenOptions::new().read(true).custom_flags(flags).open(path);
    use rustix::fs::OFlags;
    let nofollow = crate::sys::oflags(&[OFlags::NOFOLLOW]);
    match open(crate::sys::oflags(&[OFlags::NOFOLLOW, OFlags::NOATIME])) {
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::PERM.raw_os_error()) => {
            open(nofollow)
        }
        r => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sink that keeps tar bytes and warnings apart.
    #[derive(Default)]
    struct Collect {
        tar: Vec<u8>,
        warnings: Vec<(String, String)>,
    }

    impl Write for Collect {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.tar.write(b)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Sink for Collect {
        fn warning(&mut self, path: &str, message: &str) -> io::Result<()> {
            self.warnings.push((path.into(), message.into()));
            Ok(())
        }
    }

    #[test]
    fn below_the_root_by_bytes_agrees_with_components() {
        for (root, path) in [
            ("/a/b", "/a/b/c/d"),
            ("/a/b/", "/a/b/c"),
            ("/a/b", "/a/b"),
            ("/", "/etc/x"),
            ("/a//b", "/a/b/c"),
            ("/a/b", "/a/bc/d"),
            ("/a/b", "/a/b//c"),
            ("rel", "rel/x"),
        ] {
            let (r, p) = (Path::new(root), Path::new(path));
            assert_eq!(below(r, p), p.strip_prefix(r).ok(), "{root} {path}");
        }
    }

    #[test]
    fn a_file_that_vanished_is_a_warning_and_the_stream_stays_valid() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("kept"), b"kept").unwrap();
        let mut tar = TarWriter::new(Collect::default());
        let none = super::super::Selection::all();
        let walk = Walk {
            root: d.path(),
            select: &none,
            one_file_system: false,
            since: None,
        };
        let mut w = Walker {
            tar: &mut tar,
            walk: &walk,
            links: HashMap::new(),
            stats: Stats::default(),
            root_dev: 0,
            new_from: None,
            listed: Vec::new(),
        };
        w.entry(&d.path().join("kept"), 1).unwrap();
        w.entry(&d.path().join("gone"), 1).unwrap();
        let warnings = w.stats.warnings;
        let out = tar.finish().unwrap();
        assert_eq!(warnings, 1);
        assert!(out.warnings[0].0.ends_with("gone") && out.warnings[0].1.starts_with("vanished"));
        let mut a = tar::Archive::new(&out.tar[..]);
        let names: Vec<_> = a
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path_bytes().into_owned())
            .collect();
        assert_eq!(names, [b"./kept".to_vec()]);
    }
}
