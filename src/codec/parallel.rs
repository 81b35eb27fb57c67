//! The parallel block compressor: the caller fills fixed-size blocks, worker threads compress
//! them into independent members/frames, and the caller writes the results in order.
//!
//! ```text
//! caller ─ block k ─▶ worker (k mod n) ─ member k ─▶ caller ─▶ inner writer (age, tape)
//! ```
//! At most `4 n` blocks (and no more than 64 MiB of input) are in flight, so memory is
//! bounded whatever the stream's size, and buffers are recycled (a fresh buffer per block
//! fragments the heap). Block k goes to
//! worker `k mod n` and comes back from it, so results need no reordering. A filled block
//! can also be shown to an observer (the index tee) that reads it alongside the workers,
//! without a copy; its buffer is reused once both are done with it.

use super::Codec;
use super::blocks::TableWriter;
use std::io::{self, Write};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, sync_channel};
use std::thread::JoinHandle;

/// Sees each filled block, in order, before it is compressed.
pub type Observer = Box<dyn FnMut(&Arc<Vec<u8>>) -> io::Result<()> + Send>;

struct Job {
    data: Option<Arc<Vec<u8>>>,
    out: Vec<u8>,
    /// The compressed block's length in `out`, or why it failed.
    result: io::Result<usize>,
}

struct Worker {
    tx: Option<SyncSender<Job>>,
    rx: Receiver<Job>,
    handle: Option<JoinHandle<()>>,
}

/// What [`ParallelWriter::finish`] hands back.
pub struct Finished<W> {
    pub inner: W,
    /// Blocks written (an empty stream is one empty block).
    pub blocks: u64,
    /// The block table, complete and ready to commit.
    pub table: Option<TableWriter>,
}

/// A `Write` that compresses into independent blocks on `threads` worker threads.
pub struct ParallelWriter<W: Write> {
    inner: W,
    block_size: usize,
    /// The block being filled: always `block_size` long (zeroed once per buffer), of which
    /// `fill` bytes are the stream's.
    filling: Vec<u8>,
    fill: usize,
    workers: Vec<Worker>,
    sent: u64,
    written: u64,
    /// Compressed bytes written so far: where the next block begins.
    offset: u64,
    pool: Vec<Job>,
    /// Blocks back from the workers, reused once no observer holds them either.
    spare: Vec<Arc<Vec<u8>>>,
    observer: Option<Observer>,
    table: Option<TableWriter>,
}

impl<W: Write> ParallelWriter<W> {
    pub fn new(
        inner: W,
        codec: Codec,
        threads: usize,
        table: Option<TableWriter>,
    ) -> io::Result<Self> {
        let threads = threads.max(1);
        let mut workers = Vec::with_capacity(threads);
        for i in 0..threads {
            workers.push(spawn(codec, i)?);
        }
        let block_size = codec.block_size();
        Ok(ParallelWriter {
            inner,
            block_size,
            filling: vec![0; block_size],
            fill: 0,
            workers,
            sent: 0,
            written: 0,
            offset: 0,
            pool: Vec::new(),
            spare: Vec::new(),
            observer: None,
            table,
        })
    }

    /// Show every block to `o` from now on (before the workers compress it).
    pub fn observe(&mut self, o: Observer) {
        self.observer = Some(o);
    }

    /// A buffer for the next block: one no worker or observer holds, or a new one.
    fn fresh(&mut self) -> Vec<u8> {
        if let Some(i) = self.spare.iter().position(|a| Arc::strong_count(a) == 1)
            && let Ok(mut v) = Arc::try_unwrap(self.spare.swap_remove(i))
        {
            v.resize(self.block_size, 0);
            return v;
        }
        vec![0; self.block_size]
    }

    /// The rest of the block being filled, for a caller that reads the stream straight
    /// into it; then [`ParallelWriter::filled`] with what it read.
    pub fn room(&mut self) -> &mut [u8] {
        &mut self.filling[self.fill..]
    }

    /// `n` bytes of [`ParallelWriter::room`] now hold the stream.
    pub fn filled(&mut self, n: usize) -> io::Result<()> {
        self.fill += n;
        assert!(self.fill <= self.block_size, "filled past the block");
        if self.fill == self.block_size {
            self.dispatch()?;
        }
        Ok(())
    }

    /// The writer the blocks go to (for messages between them).
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }

    fn in_flight(&self) -> u64 {
        self.sent - self.written
    }

    /// Hand the filled block to its worker, first writing results until there is room.
    fn dispatch(&mut self) -> io::Result<()> {
        let n = self.workers.len() as u64;
        let limit = (4 * n).min((64 << 20) / self.block_size as u64).max(n + 1);
        while self.in_flight() >= limit {
            self.collect(true)?;
        }
        let mut job = self.pool.pop().unwrap_or_else(|| Job {
            data: None,
            out: Vec::new(),
            result: Ok(0),
        });
        let fresh = self.fresh();
        let mut full = std::mem::replace(&mut self.filling, fresh);
        full.truncate(std::mem::take(&mut self.fill));
        let block = Arc::new(full);
        if let Some(o) = &mut self.observer {
            o(&block)?;
        }
        job.data = Some(block);
        let w = &self.workers[(self.sent % n) as usize];
        w.tx.as_ref()
            .expect("open")
            .send(job)
            .map_err(|_| io::Error::other("a compression thread died"))?;
        self.sent += 1;
        while self.in_flight() > 0 && self.collect(false)? {}
        Ok(())
    }

    /// Write the next block's result if it is ready (or wait for it when `wait`); false
    /// when it was not ready.
    fn collect(&mut self, wait: bool) -> io::Result<bool> {
        let n = self.workers.len() as u64;
        let w = &self.workers[(self.written % n) as usize];
        let job = if wait {
            w.rx.recv().ok()
        } else {
            match w.rx.try_recv() {
                Ok(j) => Some(j),
                Err(TryRecvError::Empty) => return Ok(false),
                Err(TryRecvError::Disconnected) => None,
            }
        };
        let mut job = job.ok_or_else(|| io::Error::other("a compression thread died"))?;
        let len = std::mem::replace(&mut job.result, Ok(0))?;
        if let Some(t) = &mut self.table {
            t.push(self.offset)?;
        }
        self.inner.write_all(&job.out[..len])?;
        self.offset += len as u64;
        self.written += 1;
        self.spare.extend(job.data.take());
        self.pool.push(job);
        Ok(true)
    }

    /// Compress what is left, write every block, stop the threads.
    pub fn finish(mut self) -> io::Result<Finished<W>> {
        if self.fill > 0 || self.sent == 0 {
            self.dispatch()?;
        }
        while self.in_flight() > 0 {
            self.collect(true)?;
        }
        let ParallelWriter {
            inner,
            written,
            table,
            ..
        } = self;
        Ok(Finished {
            inner,
            blocks: written,
            table,
        })
    }
}

/// Stopping a worker: close its queue, take whatever it still sends, join it.
impl Drop for Worker {
    fn drop(&mut self) {
        self.tx = None;
        while self.rx.recv().is_ok() {}
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn spawn(codec: Codec, i: usize) -> io::Result<Worker> {
    let (tx, jobs) = sync_channel::<Job>(4);
    let (done, rx) = sync_channel::<Job>(4);
    let mut enc = codec.encoder()?;
    let handle = std::thread::Builder::new()
        .name(format!("compress-{i}"))
        .spawn(move || {
            for mut job in jobs {
                let data = job.data.as_deref().map_or(&[][..], |d| &d[..]);
                job.result = enc.encode(data, &mut job.out);
                if done.send(job).is_err() {
                    break;
                }
            }
        })?;
    Ok(Worker {
        tx: Some(tx),
        rx,
        handle: Some(handle),
    })
}

impl<W: Write> Write for ParallelWriter<W> {
    fn write(&mut self, mut b: &[u8]) -> io::Result<usize> {
        let total = b.len();
        while !b.is_empty() {
            let room = self.room();
            let n = room.len().min(b.len());
            room[..n].copy_from_slice(&b[..n]);
            b = &b[n..];
            self.filled(n)?;
        }
        Ok(total)
    }

    /// Completed blocks are written as they come; a partial block stays until it fills
    /// (flushing it would end a block early and break the fixed block size).
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
