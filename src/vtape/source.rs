//! How tape files are read: a local file, or an object of a mirror on object storage
//! (`--from s3://BUCKET/PREFIX`). A remote tape file reads by ranged GETs: a window that
//! grows while reading goes on in order (a whole restore streams) and starts small again
//! after a seek (a one-file restore fetches only the blocks it needs). Every byte fetched is
//! counted, so that a restore can say what it read.

use crate::s3::Store;
use std::io::{self, Read, Seek, SeekFrom};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

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

/// A root on object storage: the store, its URL for messages, and the bytes read from it.
pub struct Remote {
    url: String,
    store: Store,
    fetched: AtomicU64,
}

impl Remote {
    pub fn new(url: &str, store: Store) -> Remote {
        Remote {
            url: url.trim_end_matches('/').to_string(),
            store,
            fetched: AtomicU64::new(0),
        }
    }
    pub fn url(&self) -> &str {
        &self.url
    }
    pub fn store(&self) -> &Store {
        &self.store
    }
    /// Bytes fetched from the store so far.
    pub fn fetched(&self) -> u64 {
        self.fetched.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
impl TapeSource for io::Cursor<Vec<u8>> {
    fn size(&self) -> io::Result<u64> {
        Ok(self.get_ref().len() as u64)
    }
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let b = self.get_ref();
        let at = usize::try_from(offset).map_err(io::Error::other)?;
        let end = at.checked_add(buf.len()).filter(|e| *e <= b.len());
        let end = end.ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))?;
        buf.copy_from_slice(&b[at..end]);
        Ok(())
    }
}

const MIN_WINDOW: u64 = 256 << 10;
const MAX_WINDOW: u64 = 32 << 20;

/// A remote tape file read by ranged GETs.
pub struct RemoteFile {
    remote: Arc<Remote>,
    rel: String,
    size: u64,
    pos: u64,
    /// The last window fetched, and where it starts.
    buf: Vec<u8>,
    buf_at: u64,
    window: u64,
}

impl RemoteFile {
    /// Open object `rel` of `remote`, or NotFound.
    pub fn open(remote: &Arc<Remote>, rel: &str) -> io::Result<RemoteFile> {
        let head = remote.store.head(rel).map_err(io::Error::other)?;
        let Some(head) = head else {
            return Err(io::Error::new(io::ErrorKind::NotFound, "no such object"));
        };
        Ok(RemoteFile {
            remote: remote.clone(),
            rel: rel.to_string(),
            size: head.size,
            pos: 0,
            buf: Vec::new(),
            buf_at: 0,
            window: MIN_WINDOW,
        })
    }

    fn get(&self, start: u64, len: u64) -> io::Result<Vec<u8>> {
        let b = self
            .remote
            .store
            .get_range(&self.rel, start, len)
            .map_err(io::Error::other)?;
        self.remote
            .fetched
            .fetch_add(b.len() as u64, Ordering::Relaxed);
        if (b.len() as u64) < len {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("{}: short read at {start}", self.rel),
            ));
        }
        Ok(b)
    }
}

impl Read for RemoteFile {
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

impl Seek for RemoteFile {
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

impl TapeSource for RemoteFile {
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
