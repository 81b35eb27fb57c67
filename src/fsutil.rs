//! Crash-safe file writes: temp file, fsync, rename, fsync of the directory.

use anyhow::{Context, Result};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// A JSON state file, or the empty state when it is missing, unreadable or corrupt: callers
/// keep only state whose loss claims less (coverage, copies, drills), never more.
pub fn read_json_or_default<T: serde::de::DeserializeOwned + Default>(path: &Path) -> T {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

/// Write a JSON state file atomically, its directory made when missing.
pub fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<()> {
    if let Some(d) = path.parent() {
        create_dir_all(d)?;
    }
    write_atomic(path, serde_json::to_string(value)?.as_bytes())
}

/// Write `data` to `path` so that a crash leaves either the old or the new content.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let tmp = temp_name(path);
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .with_context(|| format!("cannot create {}", tmp.display()))?;
    let written = f
        .write_all(data)
        .and_then(|_| f.sync_all())
        .with_context(|| format!("cannot write {}", tmp.display()));
    drop(f);
    // a full disk or a failed rename leaves no temp file behind
    let done = written.and_then(|()| rename_durable(&tmp, path));
    if done.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    done
}

/// A new file only its owner reads (0600) holding `data`; never overwrites one.
pub fn create_secret(path: &Path, data: &[u8]) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {} (it must not exist yet)", path.display()))?;
    f.write_all(data)
        .and_then(|_| f.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Rename `from` to `to` and fsync the directory so the rename survives power loss.
pub fn rename_durable(from: &Path, to: &Path) -> Result<()> {
    fs::rename(from, to)
        .with_context(|| format!("cannot rename {} to {}", from.display(), to.display()))?;
    sync_dir(to.parent().unwrap_or(Path::new(".")))
}

/// fsync a directory (makes creations, renames and removals in it durable).
pub fn sync_dir(dir: &Path) -> Result<()> {
    let d = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    File::open(d)
        .and_then(|f| f.sync_all())
        .with_context(|| format!("cannot sync directory {}", d.display()))
}

/// The temp name beside `path` used while writing it (`.NAME.tmp`); never trusted.
pub fn temp_name(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp"))
}

/// Create a directory and its parents, naming it in the error.
pub fn create_dir_all(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("cannot create directory {}", dir.display()))
}

/// Escape bytes for a single file-name component: `/` → `_`, `_` → `%5F`, `%` and
/// non-printable bytes → `%XX`. Reversible, so different DLEs never share a catalog file.
pub fn escape_component(s: &str) -> String {
    bounded(escape_all(s), MAX_COMPONENT)
}

/// Longest file name tapir makes from a host or disk name: NAME_MAX (255) less the most it
/// adds (`.NAME.jsonl.tmp`). Every name that fit before stays as it was; only those that
/// could not be created at all are shortened.
pub const MAX_COMPONENT: usize = 244;

/// `s` if it is at most `max` bytes, else its first bytes, `~`, and 16 hex digits of its
/// sha256: unique, stable, and within NAME_MAX however long the DLE path is.
pub fn bounded(s: String, max: usize) -> String {
    if s.len() <= max {
        return s;
    }
    use sha2::{Digest, Sha256};
    let tag = crate::units::hex(&Sha256::digest(s.as_bytes())[..8]);
    let mut end = max - tag.len() - 1;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}~{tag}", &s[..end])
}

fn escape_all(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'/' => out.push('_'),
            b'_' | b'%' => out.push_str(&format!("%{b:02X}")),
            0x21..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_component_is_injective_on_slash_and_underscore() {
        assert_eq!(escape_component("/var/www"), "_var_www");
        assert_ne!(escape_component("/a_b"), escape_component("/a/b"));
        assert_eq!(escape_component("/my docs"), "_my%20docs");
        let fits = "/d".repeat(122);
        assert_eq!(
            escape_component(&fits).len(),
            244,
            "a name that fit stays as it was"
        );
        let long = "/d".repeat(700);
        let e = escape_component(&long);
        assert_eq!(e.len(), MAX_COMPONENT);
        assert_ne!(e, escape_component(&format!("{long}x")));
    }

    #[test]
    fn write_atomic_replaces_content_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert!(!temp_name(&p).exists());
    }
}
