//! The server side of one dump: tar bytes in, `age(compress(tar))` out to the tape file, with
//! the index tee reading tar headers on the way and a meter hashing and counting the payload.
//!
//! ```text
//! tar ─▶ index tee ─▶ block compressor (a thread per core) ─▶ age ─▶ meter (sha256, bytes,
//!                                                              tape capacity) ─▶ tape file
//! ```
//! The transport's reader, the compression threads and the agent (reading files, writing
//! tar) all run at once; the compressor bounds what is in flight. With client-side
//! compression the stream arrives compressed: the tee decompresses a copy to index it and the
//! bytes themselves go straight to age.

pub mod index;
pub mod stages;

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
    Pass(Sealed),
    Packed(ParallelWriter<Sealed>),
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
    None,
    Tar(TarIndexer<IndexWriter>),
    Gzip(MultiGzDecoder<TarIndexer<IndexWriter>>),
    Zstd(zstd::stream::write::Decoder<'static, TarIndexer<IndexWriter>>),
}

/// Everything the pipeline produced.
pub struct Finished {
    pub file: File,
    /// Bytes received from the agent (the tar, or the client-compressed tar).
    pub received: u64,
    pub payload_size: u64,
    pub payload_sha256: String,
    /// The index, ready to commit, unless the stream could not be indexed (and why).
    pub index: Result<IndexWriter, String>,
    /// Where each compressed block begins, ready to commit (server-side compression).
    pub table: Option<TableWriter>,
}

pub struct Pipeline {
    tee: Tee,
    payload: Counter<Payload>,
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
        let payload = match o.codec {
            None => Payload::Pass(sealed),
            Some(c) => Payload::Packed(ParallelWriter::new(sealed, c, o.threads, table)?),
        };
        let tee = match index {
            None => Tee::None,
            Some(ix) => match o.client {
                Format::None => Tee::Tar(TarIndexer::new(ix)),
                Format::Gzip => Tee::Gzip(MultiGzDecoder::new(TarIndexer::new(ix))),
                Format::Zstd => Tee::Zstd(zstd::stream::write::Decoder::new(TarIndexer::new(ix))?),
            },
        };
        Ok(Pipeline {
            tee,
            payload: Counter {
                inner: payload,
                bytes: 0,
            },
        })
    }

    /// Finish every stage in order; the file is flushed but not yet synced.
    pub fn finish(self) -> io::Result<Finished> {
        let received = self.payload.bytes;
        let (sealed, table) = match self.payload.inner {
            Payload::Pass(w) => (w, None),
            Payload::Packed(p) => {
                let f = p.finish()?;
                (f.inner, f.table)
            }
        };
        let meter = sealed.finish()?;
        let (buf, payload_size, payload_sha256) = meter.finish();
        let file = buf.into_inner().map_err(|e| e.into_error())?;
        let index = match self.tee {
            Tee::None => Err("index disabled".to_string()),
            Tee::Tar(t) => index_result(t),
            Tee::Gzip(g) => g.finish().map_err(|e| e.to_string()).and_then(index_result),
            Tee::Zstd(mut z) => z
                .flush()
                .map(|_| z.into_inner())
                .map_err(|e| e.to_string())
                .and_then(index_result),
        };
        Ok(Finished {
            file,
            received,
            payload_size,
            payload_sha256,
            index,
            table,
        })
    }
}

fn index_result(t: TarIndexer<IndexWriter>) -> Result<IndexWriter, String> {
    match t.finish() {
        (ix, _, None) => Ok(ix),
        (ix, _, Some(why)) => {
            ix.abort();
            Err(why)
        }
    }
}

impl Write for Pipeline {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        let n = self.payload.write(b)?;
        let seen = &b[..n];
        let r = match &mut self.tee {
            Tee::None => Ok(()),
            Tee::Tar(t) => t.write_all(seen),
            Tee::Gzip(g) => g.write_all(seen),
            Tee::Zstd(z) => z.write_all(seen),
        };
        if let Err(e) = r {
            eprintln!("tapir: index stopped: {e}");
            self.tee = Tee::None;
        }
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.payload.flush()
    }
}
