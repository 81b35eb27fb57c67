//! The server side of one dump: tar bytes in, `age(compress(tar))` out to the tape file, with
//! the index tee reading tar headers on the way and a meter hashing and counting the payload.
//!
//! ```text
//! tar ─▶ block compressor (a thread per core) ─▶ age ─▶ meter (sha256, bytes, ─▶ tape file
//!          └─ each block, shared ─▶ index tee thread      tape capacity)
//!             (parse, each file's sha256, index)
//! ```
//! The transport's reader (straight into the compressors' block), the compression threads,
//! the index thread and the agent (reading files, writing tar) all run at once; the
//! compressor bounds what is in flight. Without server compression the tee gets copies of
//! the stream instead; with client-side compression the stream arrives compressed: the tee
//! decompresses a copy to index it and the bytes themselves go straight to age.

pub mod index;
pub mod stages;
mod tee;

use crate::catalog::index::IndexWriter;
use crate::codec::blocks::TableWriter;
use crate::codec::{Codec, Format, ParallelWriter};
use flate2::write::MultiGzDecoder;
use index::TarIndexer;
use stages::{Counter, Encryptor, Meter};
use std::fs::File;
use std::io::{self, BufWriter, Write};

type Sealed = Encryptor<Meter<BufWriter<File>>>;

/// Compressed on the server, or passed through.
enum Payload {
    Pass(Box<Sealed>),
    Packed(Box<ParallelWriter<Sealed>>),
}

impl Write for Payload {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        match self {
            Payload::Pass(w) => w.write(b),
            Payload::Packed(w) => w.write(b),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Payload::Pass(w) => w.flush(),
            Payload::Packed(w) => w.flush(),
        }
    }
}

/// How the index sees the stream.
// Built once per dump and never stored in bulk: boxing the big variant would buy nothing.
#[allow(clippy::large_enum_variant)]
enum Tee {
    /// Stopped: writing the index failed (the stream is then not checked either).
    Lost(String),
    Tar(TarIndexer<Index>),
    Gzip(MultiGzDecoder<TarIndexer<Index>>),
    Zstd(zstd::stream::write::Decoder<'static, TarIndexer<Index>>),
    /// A program's stream: hashed and counted, one index entry.
    Stream(StreamTee),
}

/// A program DLE's stream is no tar: it is hashed and counted, and its index is one entry
/// (the file a restore writes), with the stream's sha256. Hashed inline: a hashing thread
/// fed with copies measured slower (scripts/bench-db), the copy costs more than it frees.
pub struct StreamTee {
    name: String,
    hasher: sha2::Sha256,
    bytes: u64,
    index: Index,
}

impl StreamTee {
    fn new(name: String, index: Index) -> StreamTee {
        StreamTee {
            name,
            hasher: sha2::Digest::new(),
            bytes: 0,
            index,
        }
    }

    fn write(&mut self, b: &[u8]) {
        use sha2::Digest;
        self.hasher.update(b);
        self.bytes += b.len() as u64;
    }

    /// The index (its one entry written) and the stream's sha256.
    fn finish(mut self) -> (Result<Option<IndexWriter>, String>, String) {
        use sha2::Digest;
        let sha = format!("{:x}", self.hasher.finalize());
        let entry = stream_entry(&self.name, self.bytes, chrono::Utc::now().timestamp());
        let ix = match self.index.take() {
            None => Ok(None),
            Some(mut w) => match w.stream_entry(entry, &sha) {
                Ok(()) => Ok(Some(w)),
                Err(e) => {
                    w.abort();
                    Err(format!("index: {e}"))
                }
            },
        };
        (ix, sha)
    }
}

type Index = Option<IndexWriter>;

impl tee::Feed for Tee {
    /// Read one chunk of the stream; `Some(why)` once the stream is known not to be a tar.
    fn feed(&mut self, seen: &[u8]) -> Option<String> {
        let r = match self {
            Tee::Lost(_) => Ok(()),
            Tee::Tar(t) => t.write_all(seen),
            Tee::Gzip(g) => g.write_all(seen),
            Tee::Zstd(z) => z.write_all(seen),
            Tee::Stream(st) => {
                st.write(seen);
                Ok(())
            }
        };
        if let Some(why) = self.problem() {
            return Some(why);
        }
        if let Err(e) = r {
            // a client stream that does not decompress is not a tar either
            if !matches!(self, Tee::Tar(_)) && e.kind() != io::ErrorKind::StorageFull {
                return Some(format!("cannot decompress: {e}"));
            }
            *self = Tee::Lost(format!("index stopped: {e}"));
        }
        None
    }
}

impl Tee {
    /// Why the client's stream is not a tar, as soon as the parser knows.
    fn problem(&self) -> Option<String> {
        match self {
            Tee::Lost(_) => None,
            Tee::Tar(t) => t.problem(),
            Tee::Gzip(g) => g.get_ref().problem(),
            Tee::Zstd(z) => z.get_ref().problem(),
            Tee::Stream(_) => None,
        }
    }
}

/// The one index entry of a program DLE's stream: the file a restore writes.
pub fn stream_entry(name: &str, size: u64, mtime: i64) -> crate::catalog::entry::IndexEntry {
    crate::catalog::entry::IndexEntry {
        path: name.as_bytes().to_vec(),
        kind: b'0',
        size,
        mtime,
        mode: 0o600,
        uid: 0,
        gid: 0,
        link: None,
        prev: false,
        offset: Some(0),
        sha256: None,
    }
}

/// Everything the pipeline produced.
pub struct Finished {
    pub file: File,
    /// Bytes received from the agent (the tar, or the client-compressed tar).
    pub received: u64,
    pub payload_size: u64,
    pub payload_sha256: String,
    /// Whether the client's stream was one complete tar (Err: why not).
    pub tar: Result<(), String>,
    /// The index (when one was asked for), ready to commit, unless the stream could not
    /// be indexed (and why).
    pub index: Result<Option<IndexWriter>, String>,
    /// Where each compressed block begins, ready to commit (server-side compression).
    pub table: Option<TableWriter>,
    /// A program's stream: its sha256 (before compression and encryption).
    pub stream_sha256: Option<String>,
}

/// (The payload is dropped first: its compressors may hold a [`tee::Share`], and the tee's
/// thread ends only when that is gone.)
pub struct Pipeline {
    payload: Counter<Payload>,
    tee: tee::Alongside<Tee>,
    /// The compressors show their blocks to the tee: nothing is copied for it.
    shared: bool,
}

/// Raised when the tape's capacity stopped the pipeline (see [`stages::Meter`]).
pub type FullFlag = std::sync::Arc<std::sync::atomic::AtomicU8>;

/// What the pipeline needs to know.
pub struct Options<'a> {
    /// Server-side compression.
    pub codec: Option<Codec>,
    /// The stream arrives compressed by the client in this format.
    pub client: Format,
    /// Compression threads.
    pub threads: usize,
    /// age recipients; None: not encrypted.
    pub recipients: Option<&'a [crate::keys::Recipient]>,
    /// The tape's room, shared with the other dumps writing to it.
    pub space: std::sync::Arc<stages::TapeSpace>,
    /// A program DLE: the stream is not a tar; this is the file name a restore writes.
    pub stream: Option<String>,
    /// Each regular file's sha256 into its index entry (the dumptype's `file_sha256`).
    pub file_sums: bool,
}

impl Pipeline {
    pub fn new(
        file: File,
        index: Option<IndexWriter>,
        table: Option<TableWriter>,
        o: &Options,
        full: &FullFlag,
    ) -> io::Result<Self> {
        let header = crate::vtape::header::HEADER_SIZE as u64;
        let meter = Meter::new(
            BufWriter::with_capacity(1 << 20, file),
            o.space.clone(),
            header,
            full.clone(),
        )?;
        let sealed = Encryptor::new(meter, o.recipients)?;
        let mut payload = match o.codec {
            None => Payload::Pass(Box::new(sealed)),
            Some(c) => Payload::Packed(Box::new(ParallelWriter::new(sealed, c, o.threads, table)?)),
        };
        // The stream is always parsed: a client that sends something other than one
        // complete tar fails its dump, index or not.
        let tee = match (o.client, &o.stream) {
            (Format::None, Some(name)) => Tee::Stream(StreamTee::new(name.clone(), index)),
            (_, Some(_)) => {
                return Err(io::Error::other(
                    "a program stream is compressed on the server only",
                ));
            }
            (format, None) => {
                let sums = o.file_sums && index.is_some();
                let tar = TarIndexer::with_sums(index, sums);
                match format {
                    Format::None => Tee::Tar(tar),
                    Format::Gzip => Tee::Gzip(MultiGzDecoder::new(tar)),
                    Format::Zstd => Tee::Zstd(zstd::stream::write::Decoder::new(tar)?),
                }
            }
        };
        let shared = matches!(payload, Payload::Packed(_));
        let tee = tee::Alongside::spawn(tee, shared)?;
        if let Payload::Packed(p) = &mut payload {
            let share = tee.share();
            p.observe(Box::new(move |block| share.send(block)));
        }
        Ok(Pipeline {
            payload: Counter {
                inner: payload,
                bytes: 0,
            },
            tee,
            shared,
        })
    }

    /// Where the next bytes of the stream can be read straight into (the compressors'
    /// block), when the server compresses; then [`Pipeline::filled`]. `None`: write them.
    pub fn room(&mut self) -> Option<&mut [u8]> {
        match &mut self.payload.inner {
            Payload::Packed(p) => Some(p.room()),
            Payload::Pass(_) => None,
        }
    }

    /// `n` bytes of [`Pipeline::room`] now hold the stream.
    pub fn filled(&mut self, n: usize) -> io::Result<()> {
        let Payload::Packed(p) = &mut self.payload.inner else {
            return Err(io::Error::other("filled without room"));
        };
        p.filled(n)?;
        self.payload.bytes += n as u64;
        match self.tee.not_tar() {
            Some(why) => Err(io::Error::other(NotTar(why))),
            None => Ok(()),
        }
    }

    /// Finish every stage in order; the file is flushed but not yet synced.
    pub fn finish(self) -> io::Result<Finished> {
        let received = self.payload.bytes;
        let (sealed, table) = match self.payload.inner {
            Payload::Pass(w) => (*w, None),
            Payload::Packed(p) => {
                let f = p.finish()?;
                (f.inner, f.table)
            }
        };
        let meter = sealed.finish()?;
        let (buf, payload_size, payload_sha256) = meter.finish();
        let file = buf.into_inner().map_err(|e| e.into_error())?;
        let (tee, not_tar) = self.tee.finish()?;
        let parsed = match tee {
            Tee::Stream(st) => {
                let (index, sha) = st.finish();
                return Ok(Finished {
                    file,
                    received,
                    payload_size,
                    payload_sha256,
                    tar: Ok(()),
                    index,
                    table,
                    stream_sha256: Some(sha),
                });
            }
            Tee::Lost(why) => Err(Ok(why)),
            Tee::Tar(t) => Ok(t),
            Tee::Gzip(g) => g.finish().map_err(|e| Err(e.to_string())),
            Tee::Zstd(mut z) => z
                .flush()
                .map(|_| z.into_inner())
                .map_err(|e| Err(e.to_string())),
        };
        let (tar, index) = match parsed {
            // found by the tee thread after the stream's last write: not a tar, no index
            _ if not_tar.is_some() => {
                if let Ok(t) = parsed
                    && let (Some(ix), _, _) = t.finish()
                {
                    ix.abort();
                }
                let why = not_tar.unwrap_or_default();
                (Err(why.clone()), Err(why))
            }
            // the index could not be written: the dump stands, unchecked and unindexed
            Err(Ok(why)) => (Ok(()), Err(why)),
            Err(Err(why)) => (Err(why.clone()), Err(why)),
            Ok(t) => match t.finish() {
                (ix, _, None) => (Ok(()), Ok(ix)),
                (ix, _, Some(why)) => {
                    if let Some(ix) = ix {
                        ix.abort();
                    }
                    (Err(why.clone()), Err(why))
                }
            },
        };
        Ok(Finished {
            file,
            received,
            payload_size,
            payload_sha256,
            tar,
            index,
            table,
            stream_sha256: None,
        })
    }
}

impl Write for Pipeline {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        let n = self.payload.write(b)?;
        let not_tar = if self.shared {
            self.tee.not_tar()
        } else {
            self.tee.feed(&b[..n])?
        };
        if let Some(why) = not_tar {
            return Err(io::Error::other(NotTar(why)));
        }
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.payload.flush()
    }
}

/// The client's stream is not one complete tar (hostile or broken client).
#[derive(Debug, thiserror::Error)]
#[error("the client's stream is not a tar archive: {0}")]
pub struct NotTar(pub String);
