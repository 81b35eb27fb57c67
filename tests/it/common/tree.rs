//! The awkward corpus and a strict comparison of two trees: type, content, mode, mtime,
//! owner, symlink target, hard-link groups, empty directories.

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::{Seek, SeekFrom, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};

const MTIME: i64 = 1_600_000_000;

fn set_mtime(p: &Path, secs: i64) {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs as u64);
    File::open(p).unwrap().set_modified(t).unwrap();
}

fn file(p: &Path, data: &[u8], mode: u32) {
    fs::write(p, data).unwrap();
    fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
}

/// Build the corpus of DESIGN's awkward cases under `root` (which must not exist).
pub fn awkward(root: &Path) {
    fs::create_dir_all(root).unwrap();
    file(&root.join("empty"), b"", 0o644);
    file(&root.join("one-byte"), b"x", 0o600);
    file(&root.join("block-512"), &[7u8; 512], 0o644);
    let big: Vec<u8> = (0..(1 << 20) + 1)
        .map(|i: u32| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    file(&root.join("big.bin"), &big, 0o640);
    file(&root.join("script.sh"), b"#!/bin/sh\necho hi\n", 0o755);
    file(&root.join("readonly"), b"ro", 0o444);
    file(&root.join("excluded.tmp"), b"never dumped", 0o644);
    // long names: a deep path over 100 bytes and a single 200-byte component
    let deep = root.join("deep/".repeat(30));
    fs::create_dir_all(&deep).unwrap();
    file(&deep.join("leaf.txt"), b"deep leaf", 0o644);
    file(&root.join("n".repeat(200)), b"long component", 0o644);
    // non-UTF-8 and odd names
    file(
        &root.join(OsStr::from_bytes(b"caf\xe9")),
        b"latin-1 name",
        0o644,
    );
    file(&root.join("with space and \"quotes\""), b"q", 0o644);
    file(&root.join("back\\slash"), b"b", 0o644);
    // symlinks: to a file, dangling, to a dir, with a long target
    symlink("one-byte", root.join("link-to-file")).unwrap();
    symlink("does/not/exist", root.join("dangling")).unwrap();
    symlink("deep", root.join("link-to-dir")).unwrap();
    symlink("t".repeat(150), root.join("long-target")).unwrap();
    // hard links: a group of three and one of two across directories
    fs::create_dir_all(root.join("hl")).unwrap();
    file(&root.join("hl/a"), b"hard linked", 0o644);
    fs::hard_link(root.join("hl/a"), root.join("hl/b")).unwrap();
    fs::hard_link(root.join("hl/a"), root.join("hl-c")).unwrap();
    file(&root.join("hl/x"), b"pair", 0o600);
    fs::hard_link(root.join("hl/x"), root.join("deep/x-link")).unwrap();
    // empty directories, one with odd permissions
    fs::create_dir_all(root.join("empty-dir")).unwrap();
    fs::create_dir_all(root.join("private-dir")).unwrap();
    fs::set_permissions(root.join("private-dir"), fs::Permissions::from_mode(0o700)).unwrap();
    // FIFO
    let fifo = std::ffi::CString::new(root.join("fifo").as_os_str().as_bytes()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o640) }, 0);
    // sparse: 1 MiB of hole, 5 bytes, hole, 5 bytes at 8 MiB
    let mut sp = File::create(root.join("sparse")).unwrap();
    sp.seek(SeekFrom::Start(1 << 20)).unwrap();
    sp.write_all(b"hello").unwrap();
    sp.seek(SeekFrom::Start(8 << 20)).unwrap();
    sp.write_all(b"world").unwrap();
    drop(sp);
    if super::is_root() {
        std::os::unix::fs::chown(root.join("one-byte"), Some(1234), Some(5678)).unwrap();
        std::os::unix::fs::lchown(root.join("dangling"), Some(4321), Some(8765)).unwrap();
        file(&root.join("setuid"), b"s", 0o4755);
        fs::set_permissions(root.join("setuid"), fs::Permissions::from_mode(0o4755)).unwrap();
    }
    fix_mtimes(root);
}

/// Give every file and directory a distinct old mtime, children before parents.
pub fn fix_mtimes(root: &Path) {
    let entries: Vec<_> = walkdir::WalkDir::new(root)
        .contents_first(true)
        .into_iter()
        .map(|e| e.unwrap())
        .collect();
    for (i, e) in entries.iter().enumerate() {
        let ft = e.file_type();
        if ft.is_file() || ft.is_dir() {
            set_mtime(e.path(), MTIME + i as i64 * 3600);
        }
    }
}

#[derive(Debug, PartialEq)]
struct Node {
    kind: &'static str,
    mode: u32,
    mtime: Option<i64>,
    owner: (u32, u32),
    content: Option<Vec<u8>>,
    link: Option<PathBuf>,
}

/// Every entry under `root` by relative path, and the hard-link groups.
fn snapshot(
    root: &Path,
    skip: &dyn Fn(&Path) -> bool,
) -> (BTreeMap<PathBuf, Node>, Vec<Vec<PathBuf>>) {
    let mut nodes = BTreeMap::new();
    let mut inodes: HashMap<u64, Vec<PathBuf>> = HashMap::new();
    for e in walkdir::WalkDir::new(root).min_depth(1) {
        let e = e.unwrap();
        let rel = e.path().strip_prefix(root).unwrap().to_path_buf();
        if skip(&rel) {
            continue;
        }
        let md = e.path().symlink_metadata().unwrap();
        let ft = md.file_type();
        use std::os::unix::fs::FileTypeExt;
        let kind = if ft.is_dir() {
            "dir"
        } else if ft.is_file() {
            "file"
        } else if ft.is_symlink() {
            "symlink"
        } else if ft.is_fifo() {
            "fifo"
        } else {
            "other"
        };
        if ft.is_file() && md.nlink() > 1 {
            inodes.entry(md.ino()).or_default().push(rel.clone());
        }
        nodes.insert(
            rel,
            Node {
                kind,
                mode: if ft.is_symlink() {
                    0
                } else {
                    md.mode() & 0o7777
                },
                mtime: (!ft.is_symlink()).then_some(md.mtime()),
                owner: (md.uid(), md.gid()),
                content: ft.is_file().then(|| fs::read(e.path()).unwrap()),
                link: ft.is_symlink().then(|| fs::read_link(e.path()).unwrap()),
            },
        );
    }
    let mut groups: Vec<Vec<PathBuf>> = inodes.into_values().filter(|g| g.len() > 1).collect();
    for g in &mut groups {
        g.sort();
    }
    groups.sort();
    (nodes, groups)
}

/// Assert that `restored` equals `source`, ignoring paths for which `skip` is true in source.
pub fn assert_same(source: &Path, restored: &Path, skip: &dyn Fn(&Path) -> bool) {
    let (a, ga) = snapshot(source, skip);
    let (b, gb) = snapshot(restored, &|_| false);
    let missing: Vec<_> = a.keys().filter(|k| !b.contains_key(*k)).collect();
    let extra: Vec<_> = b.keys().filter(|k| !a.contains_key(*k)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing {missing:?}, extra {extra:?}"
    );
    for (k, na) in &a {
        let nb = &b[k];
        assert_eq!(na.kind, nb.kind, "{k:?} type");
        assert_eq!(na.content, nb.content, "{k:?} content");
        assert_eq!(na.link, nb.link, "{k:?} symlink target");
        assert_eq!(na.mode, nb.mode, "{k:?} mode");
        assert_eq!(na.mtime, nb.mtime, "{k:?} mtime");
        if super::is_root() {
            assert_eq!(na.owner, nb.owner, "{k:?} owner");
        }
    }
    assert_eq!(ga, gb, "hard-link groups");
}
