//! Where a vtape's slots live, as a value the changer holds and passes down: a local
//! directory, a mirror on object storage (`--from s3://BUCKET/PREFIX`, read by ranged GETs),
//! or memory (unit tests of the scan, the reader and the relabel policy). Nothing about it
//! is process-global: two roots in one process never see each other's files.

use super::source::{Remote, RemoteFile, TapeSource};
use crate::s3::Store;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A vtape root.
#[derive(Clone)]
pub enum Root {
    Local(PathBuf),
    S3(Arc<Remote>),
    #[cfg(test)]
    Memory(Arc<Memory>),
}

/// A file or directory under a root: the root's place plus a relative path.
#[derive(Clone)]
pub enum TapePath {
    Local(PathBuf),
    S3 {
        remote: Arc<Remote>,
        key: String,
    },
    #[cfg(test)]
    Memory {
        mem: Arc<Memory>,
        key: String,
    },
}

impl Root {
    /// A root on object storage, `url` being `s3://BUCKET/PREFIX` as given.
    pub fn s3(url: &str, store: Store) -> Root {
        Root::S3(Arc::new(Remote::new(url, store)))
    }

    /// The root itself as a place.
    pub fn path(&self) -> TapePath {
        match self {
            Root::Local(p) => TapePath::Local(p.clone()),
            Root::S3(r) => TapePath::S3 {
                remote: r.clone(),
                key: String::new(),
            },
            #[cfg(test)]
            Root::Memory(m) => TapePath::Memory {
                mem: m.clone(),
                key: String::new(),
            },
        }
    }

    /// The directory of slot `n`.
    pub fn slot(&self, n: u32) -> TapePath {
        self.path().join(&super::slot_name(n))
    }

    /// File `name` of slot `n`.
    pub fn file(&self, n: u32, name: &str) -> TapePath {
        self.slot(n).join(name)
    }

    /// The local directory, when the root is one.
    pub fn local(&self) -> Option<&Path> {
        match self {
            Root::Local(p) => Some(p),
            _ => None,
        }
    }

    /// The local directory for `what`, which works on a local root only, or an error naming
    /// the root.
    pub fn local_only(&self, what: &str) -> anyhow::Result<&Path> {
        self.local().ok_or_else(|| {
            anyhow::anyhow!(crate::error::Error::config(format!(
                "{self} is on object storage: {what} works on a local vtape root only"
            )))
        })
    }

    /// Bytes read from object storage through this root so far (0 for a local one).
    pub fn fetched(&self) -> u64 {
        match self {
            Root::S3(r) => r.fetched(),
            _ => 0,
        }
    }
}

impl fmt::Display for Root {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.path().fmt(f)
    }
}

impl fmt::Debug for Root {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Root({self})")
    }
}

impl serde::Serialize for Root {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl TapePath {
    /// `name` inside this directory.
    pub fn join(&self, name: &str) -> TapePath {
        let under = |key: &str| match key {
            "" => name.to_string(),
            k => format!("{k}/{name}"),
        };
        match self {
            TapePath::Local(p) => TapePath::Local(p.join(name)),
            TapePath::S3 { remote, key } => TapePath::S3 {
                remote: remote.clone(),
                key: under(key),
            },
            #[cfg(test)]
            TapePath::Memory { mem, key } => TapePath::Memory {
                mem: mem.clone(),
                key: under(key),
            },
        }
    }

    /// For messages, as `Path::display`.
    pub fn display(&self) -> &Self {
        self
    }

    /// The last component: a file's name, or a slot's `slotN`.
    pub fn file_name(&self) -> Option<String> {
        match self {
            TapePath::Local(p) => p.file_name().map(|n| n.to_string_lossy().into_owned()),
            TapePath::S3 { key, .. } => key.rsplit('/').next().map(String::from),
            #[cfg(test)]
            TapePath::Memory { key, .. } => key.rsplit('/').next().map(String::from),
        }
    }

    /// The local path, when the place is on a local root.
    pub fn local(&self) -> Option<&Path> {
        match self {
            TapePath::Local(p) => Some(p),
            _ => None,
        }
    }

    /// The local path, or an error naming the place (tapes are written, mirrored and
    /// erased on a local root only).
    pub fn local_only(&self) -> anyhow::Result<&Path> {
        self.local().ok_or_else(|| {
            anyhow::anyhow!("{self} is on object storage: only a local vtape root is written")
        })
    }

    /// Open a tape file.
    pub fn open(&self) -> io::Result<Box<dyn TapeSource>> {
        match self {
            TapePath::Local(p) => Ok(Box::new(std::fs::File::open(p)?)),
            TapePath::S3 { remote, key } => Ok(Box::new(RemoteFile::open(remote, key)?)),
            #[cfg(test)]
            TapePath::Memory { mem, key } => mem.open(key),
        }
    }

    /// Names and sizes of the files in this directory; `None` when it does not exist (a
    /// directory on object storage exists as soon as it is asked for: it may be empty).
    pub fn list(&self) -> io::Result<Option<Vec<(String, u64)>>> {
        match self {
            TapePath::Local(dir) => list_local(dir),
            TapePath::S3 { remote, key } => {
                let prefix = format!("{key}/");
                let listed = remote.store().list(&prefix).map_err(io::Error::other)?;
                Ok(Some(children(&prefix, listed)))
            }
            #[cfg(test)]
            TapePath::Memory { mem, key } => Ok(Some(mem.list(&format!("{key}/")))),
        }
    }
}

fn list_local(dir: &Path) -> io::Result<Option<Vec<(String, u64)>>> {
    let rd = match std::fs::read_dir(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        rd => rd?,
    };
    let mut out = vec![];
    for e in rd {
        let e = e?;
        out.push((
            e.file_name().to_string_lossy().into_owned(),
            e.metadata()?.len(),
        ));
    }
    Ok(Some(out))
}

/// The direct children of `prefix` among listed keys.
fn children(prefix: &str, keys: Vec<(String, u64)>) -> Vec<(String, u64)> {
    keys.into_iter()
        .filter_map(|(k, size)| {
            let name = k.strip_prefix(prefix)?;
            (!name.contains('/')).then(|| (name.to_string(), size))
        })
        .collect()
}

impl fmt::Display for TapePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let remote = |f: &mut fmt::Formatter<'_>, base: &str, key: &str| match key {
            "" => write!(f, "{base}"),
            k => write!(f, "{base}/{k}"),
        };
        match self {
            TapePath::Local(p) => write!(f, "{}", p.display()),
            TapePath::S3 { remote: r, key } => remote(f, r.url(), key),
            #[cfg(test)]
            TapePath::Memory { key, .. } => remote(f, "mem:", key),
        }
    }
}

impl fmt::Debug for TapePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl From<&Path> for TapePath {
    fn from(p: &Path) -> TapePath {
        TapePath::Local(p.to_path_buf())
    }
}

impl From<PathBuf> for TapePath {
    fn from(p: PathBuf) -> TapePath {
        TapePath::Local(p)
    }
}

/// Files held in memory, keyed `slotN/NAME`: a root for unit tests.
#[cfg(test)]
#[derive(Default)]
pub struct Memory {
    files: std::sync::Mutex<std::collections::BTreeMap<String, Vec<u8>>>,
}

#[cfg(test)]
impl Memory {
    pub fn root() -> (Root, Arc<Memory>) {
        let m = Arc::new(Memory::default());
        (Root::Memory(m.clone()), m)
    }

    pub fn put(&self, key: &str, bytes: Vec<u8>) {
        self.files.lock().unwrap().insert(key.to_string(), bytes);
    }

    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        self.files.lock().unwrap().get(key).cloned()
    }

    fn open(&self, key: &str) -> io::Result<Box<dyn TapeSource>> {
        let b = self
            .get(key)
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        Ok(Box::new(io::Cursor::new(b)))
    }

    fn list(&self, prefix: &str) -> Vec<(String, u64)> {
        let files = self.files.lock().unwrap();
        let all = files.iter().map(|(k, v)| (k.clone(), v.len() as u64));
        children(prefix, all.collect())
    }
}
