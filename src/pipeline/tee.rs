//! The index tee runs alongside the stream, on a thread of its own: parsing tar headers,
//! hashing each file and writing the index stay off the path every byte takes to the tape
//! (the reader, the compressors' dispatch, age, the payload hash), which is serial.
//!
//! ```text
//! reader ─ chunk ─▶ compressors … ─▶ tape
//!    └──── copy (256 KiB batches, 4 in flight) ─▶ tee thread: parse, sha256, index
//! ```
//! With compression on the server the thread reads the compressors' own blocks instead
//! ([`Alongside::share`], 2 in flight): the stream is not copied for it.
//! A stream that is not a tar is known a few batches late (at most 1 MiB; 3 blocks when
//! shared), and stops the dump at the next write or at its end.

use std::io;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// What the tee thread runs: one chunk at a time, `Some(why)` once the stream is not a tar.
pub trait Feed: Send + 'static {
    fn feed(&mut self, chunk: &[u8]) -> Option<String>;
}

const BATCH: usize = 256 << 10;
const IN_FLIGHT: usize = 4;
/// Shared blocks waiting for the thread (each is a compressor's block, 1–4 MiB).
const SHARED_IN_FLIGHT: usize = 2;

/// A piece of the stream for the thread: a copy, or a block it shares with the compressors.
enum Batch {
    Copy(Vec<u8>),
    Shared(Arc<Vec<u8>>),
}

/// Hands the compressors' blocks to the thread (see [`Alongside::share`]).
pub struct Share(SyncSender<Batch>);

impl Share {
    pub fn send(&self, block: &Arc<Vec<u8>>) -> io::Result<()> {
        self.0
            .send(Batch::Shared(block.clone()))
            .map_err(|_| io::Error::other("the index thread died"))
    }
}

/// A [`Feed`] on its own thread, fed copies of the stream in batches.
pub struct Alongside<T: Feed> {
    batch: Vec<u8>,
    tx: Option<SyncSender<Batch>>,
    /// Emptied buffers coming back, so that no batch allocates.
    back: Receiver<Vec<u8>>,
    not_tar: Arc<Mutex<Option<String>>>,
    handle: Option<JoinHandle<T>>,
}

impl<T: Feed> Alongside<T> {
    /// The thread, fed copies ([`Alongside::feed`]) or, when `shared`, the blocks a
    /// [`Share`] sends.
    pub fn spawn(mut inner: T, shared: bool) -> io::Result<Self> {
        let depth = if shared { SHARED_IN_FLIGHT } else { IN_FLIGHT };
        let (tx, rx) = sync_channel::<Batch>(depth);
        let (back_tx, back) = sync_channel::<Vec<u8>>(IN_FLIGHT + 2);
        let not_tar = Arc::new(Mutex::new(None));
        let found = not_tar.clone();
        let handle = std::thread::Builder::new()
            .name("tapir-index".into())
            .spawn(move || {
                for batch in rx {
                    let chunk: &[u8] = match &batch {
                        Batch::Copy(v) => v,
                        Batch::Shared(b) => b,
                    };
                    let seen = found.lock().map(|g| g.is_some()).unwrap_or(true);
                    if !seen && let Some(why) = inner.feed(chunk) {
                        *found.lock().unwrap_or_else(|p| p.into_inner()) = Some(why);
                    }
                    if let Batch::Copy(mut v) = batch {
                        v.clear();
                        let _ = back_tx.try_send(v);
                    }
                }
                inner
            })?;
        Ok(Alongside {
            batch: Vec::with_capacity(BATCH),
            tx: Some(tx),
            back,
            not_tar,
            handle: Some(handle),
        })
    }

    /// Copy `b` towards the thread; `Some(why)` when the thread found the stream not a tar.
    pub fn feed(&mut self, mut b: &[u8]) -> io::Result<Option<String>> {
        while !b.is_empty() {
            let n = (BATCH - self.batch.len()).min(b.len());
            self.batch.extend_from_slice(&b[..n]);
            b = &b[n..];
            if self.batch.len() == BATCH {
                self.send()?;
            }
        }
        Ok(self.not_tar())
    }

    /// A sender of shared blocks; the thread ends once every one is dropped (and
    /// [`Alongside::finish`] is called).
    pub fn share(&self) -> Share {
        Share(self.tx.as_ref().expect("sharing after finish").clone())
    }

    /// Why the thread found the stream not a tar, if it did.
    pub fn not_tar(&self) -> Option<String> {
        self.not_tar.lock().map(|g| g.clone()).unwrap_or(None)
    }

    fn send(&mut self) -> io::Result<()> {
        let next = self
            .back
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(BATCH));
        let full = std::mem::replace(&mut self.batch, next);
        let tx = self.tx.as_ref().expect("sending after finish");
        tx.send(Batch::Copy(full))
            .map_err(|_| io::Error::other("the index thread died"))
    }

    /// The rest of the stream to the thread, then its feed back, and why the stream is not a
    /// tar if it is not.
    pub fn finish(mut self) -> io::Result<(T, Option<String>)> {
        if !self.batch.is_empty() {
            self.send()?;
        }
        drop(self.tx.take());
        let inner = self
            .handle
            .take()
            .expect("joined once")
            .join()
            .map_err(|_| io::Error::other("the index thread panicked"))?;
        Ok((inner, self.not_tar()))
    }
}

impl<T: Feed> Drop for Alongside<T> {
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}
