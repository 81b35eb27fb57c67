//! The encryption and metering stages. Each is a `Write` adapter whose
//! `finish()` hands back the inner writer, so a stage left unfinished is an error, not a
//! silently short file.

use sha2::{Digest, Sha256};
use std::io::{self, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering};

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
    pub capacity: u64,
}

impl std::fmt::Display for TapeFull {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "tape full: the tape's {} bytes are taken", self.capacity)
    }
}
impl std::error::Error for TapeFull {}

/// The room on one tape, shared by every dump writing to it at once: each meter takes
/// bytes as it writes and a dump that does not finish gives them back.
#[derive(Debug)]
pub struct TapeSpace {
    pub capacity: u64,
    used: AtomicU64,
    /// Dumps writing to this tape right now.
    pub writers: AtomicUsize,
}

impl TapeSpace {
    pub fn new(capacity: u64, used: u64) -> Arc<TapeSpace> {
        Arc::new(TapeSpace {
            capacity,
            used: AtomicU64::new(used),
            writers: AtomicUsize::new(0),
        })
    }
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::SeqCst)
    }
    pub fn left(&self) -> u64 {
        self.capacity.saturating_sub(self.used())
    }
    pub fn take(&self, n: u64) -> bool {
        let before = self.used.fetch_add(n, Ordering::SeqCst);
        if before + n > self.capacity {
            self.used.fetch_sub(n, Ordering::SeqCst);
            return false;
        }
        true
    }
    fn give(&self, n: u64) {
        self.used.fetch_sub(n, Ordering::SeqCst);
    }
}

/// What a [`Meter`] reports through its flag, whatever upstream does with the error.
pub const ROOM_OK: u8 = 0;
/// The tape has no room left for this dump now.
pub const TAPE_FULL: u8 = 1;
/// This dump alone needs more than an empty tape holds.
pub const TOO_BIG: u8 = 2;

/// Counts and hashes what passes and takes its room on the tape as it goes. When the tape
/// is full it refuses and sets `full` ([`TAPE_FULL`] or [`TOO_BIG`]), which survives however
/// upstream wraps the error.
/// Dropped without [`Meter::finish`], it gives its room (header included) back.
pub struct Meter<W: Write> {
    inner: Option<W>,
    hash: Sha256,
    bytes: u64,
    held: u64,
    space: Arc<TapeSpace>,
    full: Arc<AtomicU8>,
}

impl<W: Write> Meter<W> {
    /// Take `header` bytes of room first (the tape file's header).
    pub fn new(
        inner: W,
        space: Arc<TapeSpace>,
        header: u64,
        full: Arc<AtomicU8>,
    ) -> io::Result<Self> {
        space.writers.fetch_add(1, Ordering::SeqCst);
        let mut m = Meter {
            inner: Some(inner),
            hash: Sha256::new(),
            bytes: 0,
            held: 0,
            space,
            full,
        };
        m.take(header)?;
        Ok(m)
    }

    fn take(&mut self, n: u64) -> io::Result<()> {
        if !self.space.take(n) {
            // an empty tape holds its label header and nothing else
            let label = crate::vtape::header::HEADER_SIZE as u64;
            let too_big = self.held + n + label > self.space.capacity;
            self.full
                .store(if too_big { TOO_BIG } else { TAPE_FULL }, Ordering::SeqCst);
            return Err(io::Error::other(TapeFull {
                capacity: self.space.capacity,
            }));
        }
        self.held += n;
        Ok(())
    }

    /// (inner, payload bytes, sha256 hex); the room stays taken.
    pub fn finish(mut self) -> (W, u64, String) {
        self.held = 0;
        let hash = std::mem::take(&mut self.hash);
        (
            self.inner.take().expect("finished once"),
            self.bytes,
            crate::units::hex(&hash.finalize()),
        )
    }
}

impl<W: Write> Drop for Meter<W> {
    fn drop(&mut self) {
        self.space.writers.fetch_sub(1, Ordering::SeqCst);
        self.space.give(self.held);
    }
}

impl<W: Write> Write for Meter<W> {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.take(b.len() as u64)?;
        let n = match self.inner.as_mut().expect("not finished").write(b) {
            Ok(n) => n,
            Err(e) => {
                self.space.give(b.len() as u64);
                self.held -= b.len() as u64;
                return Err(e);
            }
        };
        self.space.give((b.len() - n) as u64);
        self.held -= (b.len() - n) as u64;
        self.hash.update(&b[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.as_mut().expect("not finished").flush()
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
