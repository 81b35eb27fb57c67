//! A drill's restore held against its index, entry by entry: type, size, mode, mtime, owner
//! (as root), symlink target, hard links (one inode) and content (sha256 read back from the
//! scratch directory, not trusted from the restore).

use crate::catalog::index::{IndexLine, unescape};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

/// What a comparison found.
#[derive(Debug, Default)]
pub struct Compared {
    pub entries: u64,
    /// Bytes of file content read back and hashed.
    pub bytes: u64,
    /// Each difference, naming the path.
    pub problems: Vec<String>,
}

/// Compare the restore in `root` with `state` (path inside the DLE → its line), for the
/// `only` paths when given (a sample: files only), else every entry. A program DLE's
/// `stream` is one file with no metadata of its own: its size and content are compared.
pub fn compare(
    root: &Path,
    state: &BTreeMap<String, IndexLine>,
    only: Option<&[String]>,
    stream: bool,
) -> Compared {
    let mut c = Compared::default();
    let keys: Vec<&String> = match only {
        Some(paths) => paths.iter().collect(),
        None => state.keys().collect(),
    };
    for rel in keys {
        let Some(line) = state.get(rel) else {
            c.problems.push(format!("{rel}: not in the index"));
            continue;
        };
        c.entries += 1;
        let path = root.join(std::ffi::OsStr::from_bytes(&unescape(rel)));
        let checked = match stream {
            true => content(&path, line, &mut c.bytes),
            false => entry(&path, line, root, &mut c.bytes),
        };
        if let Err(why) = checked {
            c.problems.push(format!("{rel}: {why}"));
        }
    }
    c
}

fn entry(path: &Path, l: &IndexLine, root: &Path, bytes: &mut u64) -> Result<(), String> {
    let md = fs::symlink_metadata(path).map_err(|_| "missing from the restore".to_string())?;
    let ft = md.file_type();
    let kind_ok = match l.t.as_str() {
        "0" | "7" | "1" => ft.is_file(),
        "5" => ft.is_dir(),
        "2" => ft.is_symlink(),
        "3" => ft.is_char_device(),
        "4" => ft.is_block_device(),
        "6" => ft.is_fifo(),
        _ => true,
    };
    if !kind_ok {
        return Err(format!(
            "restored as another type than the index's `{}`",
            l.t
        ));
    }
    if crate::sys::is_root() && (md.uid() as u64, md.gid() as u64) != (l.u, l.g) {
        return Err(format!(
            "owner {}:{}, the index says {}:{}",
            md.uid(),
            md.gid(),
            l.u,
            l.g
        ));
    }
    if ft.is_symlink() {
        let target = fs::read_link(path).map_err(|e| format!("cannot read the link: {e}"))?;
        let want = l.l.as_deref().map(unescape).unwrap_or_default();
        if target.as_os_str().as_bytes() != want {
            return Err(format!(
                "links to {}, the index says {}",
                target.display(),
                String::from_utf8_lossy(&want)
            ));
        }
        return Ok(());
    }
    if md.mode() & 0o7777 != l.mode & 0o7777 {
        return Err(format!(
            "mode {:o}, the index says {:o}",
            md.mode() & 0o7777,
            l.mode & 0o7777
        ));
    }
    if md.mtime() != l.m {
        return Err(format!("mtime {}, the index says {}", md.mtime(), l.m));
    }
    if l.t == "1" {
        return same_inode(l, root, &md);
    }
    if !ft.is_file() {
        return Ok(());
    }
    content(path, l, bytes)
}

/// A file's size and content against its line.
fn content(path: &Path, l: &IndexLine, bytes: &mut u64) -> Result<(), String> {
    let md = fs::metadata(path).map_err(|_| "missing from the restore".to_string())?;
    if md.len() != l.s {
        return Err(format!("{} bytes, the index says {}", md.len(), l.s));
    }
    let Some(want) = &l.h else { return Ok(()) };
    let got = sha256(path).map_err(|e| format!("cannot read it back: {e}"))?;
    *bytes += md.len();
    if &got != want {
        return Err(format!(
            "content sha256 {got}, the index recorded {want} at dump time"
        ));
    }
    Ok(())
}

/// A hard link is the same file as its target.
fn same_inode(l: &IndexLine, root: &Path, md: &fs::Metadata) -> Result<(), String> {
    let target = l.l.as_deref().unwrap_or("");
    let rel = unescape(crate::catalog::search::relative(target));
    match fs::symlink_metadata(root.join(std::ffi::OsStr::from_bytes(&rel))) {
        Ok(t) if (t.dev(), t.ino()) == (md.dev(), md.ino()) => Ok(()),
        _ => Err(format!("not a hard link of {target} as the index says")),
    }
}

fn sha256(p: &Path) -> std::io::Result<String> {
    let mut f = fs::File::open(p)?;
    let (mut h, mut buf) = (Sha256::new(), vec![0u8; 1 << 20]);
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok(crate::units::hex(&h.finalize()));
        }
        h.update(&buf[..n]);
    }
}
