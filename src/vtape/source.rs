//! Where tape files are read from: the local vtape root, or a mirror on object storage
//! (`--from s3://BUCKET/PREFIX`). A remote tape file reads by ranged GETs: a window that
//! grows while reading goes on in order (a whole restore streams) and starts small again
//! after a seek (a one-file restore fetches only the blocks it needs). Every byte fetched is
//! counted, so that a restore can say what it read.

use crate::s3::Store;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

/// A tape file, local or remote.
pub trait TapeSource: Read + Seek + Send {
    fn size(&self) -> io::Result<u64>;
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
}

impl TapeSource for std::fs::File {
    fn size(&self) -> io::Result<u64> {
        Ok(self.metadata()?.len())
    }
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        std::os::unix::fs::FileExt::read_exact_at(self, buf, offset)
    }
}

/// The remote root of this process (`--from s3://…`), once set.
static REMOTE: OnceLock<(String, Arc<Store>)> = OnceLock::new();
static FETCHED: AtomicU64 = AtomicU64::new(0);

/// Make `url` (`s3://BUCKET/PREFIX`) the root remote paths are read from.
pub fn register(url: &str, store: Store) {
    let _ = REMOTE.set((url.trim_end_matches('/').to_string(), Arc::new(store)));
}

/// Bytes fetched from the remote root so far.
pub fn fetched() -> u64 {
    FETCHED.load(Ordering::Relaxed)
}

/// The store and the key (relative to its prefix) of a remote path.
fn remote(path: &Path) -> Option<(Arc<Store>, String)> {
    let p = path.to_str()?;
    let (root, store) = REMOTE.get()?;
    let rel = p.strip_prefix(root.as_str())?.trim_start_matches('/');
    Some((store.clone(), rel.to_string()))
}

pub fn is_remote(path: &Path) -> bool {
    path.to_str().is_some_and(crate::s3::is_url)
}

/// Open a tape file.
pub fn open(path: &Path) -> io::Result<Box<dyn TapeSource>> {
    if !is_remote(path) {
        return Ok(Box::new(std::fs::File::open(path)?));
    }
    let (store, rel) = remote(path).ok_or_else(|| io::Error::other("no remote root registered"))?;
    let head = store.head(&rel).map_err(io::Error::other)?;
    let Some(head) = head else {
        return Err(io::Error::new(io::ErrorKind::NotFound, "no such object"));
    };
    Ok(Box::new(Remote {
        store,
        rel,
        size: head.size,
        pos: 0,
        buf: Vec::new(),
        buf_at: 0,
        window: MIN_WINDOW,
    }))
}

/// Names and sizes of the files in a remote directory (a slot), or None for a local one.
pub fn list_dir(dir: &Path) -> Option<io::Result<Vec<(String, u64)>>> {
    let (store, rel) = remote(dir)?;
    let prefix = format!("{rel}/");
    Some(
        store
            .list(&prefix)
            .map(|v| {
                v.into_iter()
                    .filter_map(|(k, size)| {
                        let name = k.strip_prefix(&prefix)?;
                        (!name.contains('/')).then(|| (name.to_string(), size))
                    })
                    .collect()
            })
            .map_err(io::Error::other),
    )
}

const MIN_WINDOW: u64 = 256 << 10;
const MAX_WINDOW: u64 = 32 << 20;

/// A remote tape file read by ranged GETs.
struct Remote {
    store: Arc<Store>,
    rel: String,
    size: u64,
    pos: u64,
    /// The last window fetched, and where it starts.
    buf: Vec<u8>,
    buf_at: u64,
    window: u64,
}

impl Remote {
    fn get(&self, start: u64, len: u64) -> io::Result<Vec<u8>> {
        let b = self
            .store
            .get_range(&self.rel, start, len)
            .map_err(io::Error::other)?;
        FETCHED.fetch_add(b.len() as u64, Ordering::Relaxed);
        if (b.len() as u64) < len {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("{}: short read at {start}", self.rel),
            ));
        }
        Ok(b)
    }
}

impl Read for Remote {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.size || out.is_empty() {
            return Ok(0);
        }
        let end = self.buf_at + self.buf.len() as u64;
        if self.pos < self.buf_at || self.pos >= end {
            // reading on where the last window ended: a stream, so fetch more at once
            self.window = if self.pos == end && !self.buf.is_empty() {
                (self.window * 2).min(MAX_WINDOW)
            } else {
                MIN_WINDOW
            };
            let len = self.window.min(self.size - self.pos);
            self.buf = self.get(self.pos, len)?;
            self.buf_at = self.pos;
        }
        let off = (self.pos - self.buf_at) as usize;
        let n = out.len().min(self.buf.len() - off);
        out[..n].copy_from_slice(&self.buf[off..off + n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for Remote {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let p = match to {
            SeekFrom::Start(n) => n as i64,
            SeekFrom::Current(d) => self.pos as i64 + d,
            SeekFrom::End(d) => self.size as i64 + d,
        };
        if p < 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "seek before 0"));
        }
        self.pos = p as u64;
        Ok(self.pos)
    }
}

impl TapeSource for Remote {
    fn size(&self) -> io::Result<u64> {
        Ok(self.size)
    }
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        if offset + buf.len() as u64 > self.size {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "past the end"));
        }
        let b = self.get(offset, buf.len() as u64)?;
        buf.copy_from_slice(&b);
        Ok(())
    }
}
