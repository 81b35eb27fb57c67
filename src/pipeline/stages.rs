//! The compression, encryption and metering stages. Each is a `Write` adapter whose
//! `finish()` hands back the inner writer, so a stage left unfinished is an error, not a
//! silently short file.

use flate2::write::GzEncoder;
use sha2::{Digest, Sha256};
use std::io::{self, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// gzip, or nothing.
// Built once per dump and never stored in bulk: boxing the big variant would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum Compressor<W: Write> {
    Pass(W),
    Gzip(GzEncoder<W>),
}

impl<W: Write> Compressor<W> {
    pub fn new(inner: W, gzip_level: Option<u32>) -> Self {
        match gzip_level {
            Some(l) => Compressor::Gzip(GzEncoder::new(inner, flate2::Compression::new(l))),
            None => Compressor::Pass(inner),
        }
    }
    pub fn finish(self) -> io::Result<W> {
        match self {
            Compressor::Pass(w) => Ok(w),
            Compressor::Gzip(g) => g.finish(),
        }
    }
}

impl<W: Write> Write for Compressor<W> {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        match self {
            Compressor::Pass(w) => w.write(b),
            Compressor::Gzip(g) => g.write(b),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Compressor::Pass(w) => w.flush(),
            Compressor::Gzip(g) => g.flush(),
        }
    }
}

/// age to every recipient, or nothing.
pub enum Encryptor<W: Write> {
    Pass(W),
    Age(age::stream::StreamWriter<W>),
}

impl<W: Write> Encryptor<W> {
    pub fn new(inner: W, recipients: Option<&[crate::keys::Recipient]>) -> io::Result<Self> {
        let Some(rs) = recipients else {
            return Ok(Encryptor::Pass(inner));
        };
        let enc = age::Encryptor::with_recipients(
            rs.iter().map(|r| r.key.as_ref() as &dyn age::Recipient),
        )
        .map_err(io::Error::other)?;
        Ok(Encryptor::Age(enc.wrap_output(inner)?))
    }
    pub fn finish(self) -> io::Result<W> {
        match self {
            Encryptor::Pass(w) => Ok(w),
            Encryptor::Age(a) => a.finish(),
        }
    }
}

impl<W: Write> Write for Encryptor<W> {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        match self {
            Encryptor::Pass(w) => w.write(b),
            Encryptor::Age(a) => a.write(b),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Encryptor::Pass(w) => w.flush(),
            Encryptor::Age(a) => a.flush(),
        }
    }
}

/// The error a [`Meter`] raises when the tape's capacity would be exceeded.
#[derive(Debug)]
pub struct TapeFull {
    pub limit: u64,
}

impl std::fmt::Display for TapeFull {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(
            f,
            "tape full: the dump does not fit in the {} bytes left on the tape",
            self.limit
        )
    }
}
impl std::error::Error for TapeFull {}

/// Counts and hashes what passes, and refuses to pass more than `limit` bytes. When it
/// refuses it also raises `full`, which survives however the error is wrapped upstream.
pub struct Meter<W: Write> {
    inner: W,
    hash: Sha256,
    bytes: u64,
    limit: u64,
    full: Arc<AtomicBool>,
}

impl<W: Write> Meter<W> {
    pub fn new(inner: W, limit: u64, full: Arc<AtomicBool>) -> Self {
        Meter {
            inner,
            hash: Sha256::new(),
            bytes: 0,
            limit,
            full,
        }
    }
    /// (inner, bytes, sha256 hex)
    pub fn finish(self) -> (W, u64, String) {
        (
            self.inner,
            self.bytes,
            crate::keys::hex(&self.hash.finalize()),
        )
    }
}

impl<W: Write> Write for Meter<W> {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        if self.bytes + b.len() as u64 > self.limit {
            self.full.store(true, Ordering::Relaxed);
            return Err(io::Error::other(TapeFull { limit: self.limit }));
        }
        let n = self.inner.write(b)?;
        self.hash.update(&b[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Counts what passes (the tar stream's original size).
pub struct Counter<W: Write> {
    pub inner: W,
    pub bytes: u64,
}

impl<W: Write> Write for Counter<W> {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(b)?;
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
