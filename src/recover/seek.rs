//! Random-access restore: read only the tar members a restore needs, by seeking.
//!
//! The index gives each member's tar offset, the dump's block table the compressed block
//! holding it; age decrypts from the STREAM chunk holding that block (its reader seeks), and
//! decompression starts at the block. The members are handed to the extractor as one small
//! tar stream, so it applies exactly the checks and choices of a whole-dump restore. Every
//! byte read is still authenticated: by age's per-chunk tag and the block's CRC or checksum.

use super::extract::Extractor;
use crate::catalog::{DumpRecord, index};
use crate::codec::{Format, blocks};
use anyhow::{Context, Result, bail};
use std::cell::Cell;
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// A member to read: its tar offset and the name the index gives it.
pub struct Wanted {
    offset: u64,
    name: Vec<u8>,
}

/// What a restore needs from one dump, when it can be read by seeking.
pub struct Plan {
    pub table: PathBuf,
    pub members: Vec<Wanted>,
}

/// The members of `r` that `x` would extract, or None when the dump cannot be read by
/// seeking (no index, no block table, an index without offsets).
pub fn plan(catalog: &Path, r: &DumpRecord, x: &Extractor) -> Result<Option<Plan>> {
    let Some(ix) = &r.index else {
        return Ok(None);
    };
    let ix = catalog.join(ix);
    let table = blocks::path_for(&ix);
    if !ix.exists() || !table.exists() {
        return Ok(None);
    }
    let mut members = Vec::new();
    let mut seekable = true;
    index::each(&ix, |l| {
        let kind = l.t.as_bytes().first().copied().unwrap_or(b'0');
        if l.prev {
            return Ok(());
        }
        let name = index::unescape(&l.p);
        if !x.wants(&name, kind) {
            return Ok(());
        }
        match l.o {
            Some(offset) if b"01234567".contains(&kind) => members.push(Wanted { offset, name }),
            _ => seekable = false,
        }
        Ok(())
    })?;
    members.sort_by_key(|m| m.offset);
    Ok(seekable.then_some(Plan { table, members }))
}

trait ReadSeek: Read + Seek {}
impl<T: Read + Seek> ReadSeek for T {}

/// The tape file, counting the bytes read from it.
struct Counted {
    file: Box<dyn crate::vtape::source::TapeSource>,
    read: Rc<Cell<u64>>,
}

impl Read for Counted {
    fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read(b)?;
        self.read.set(self.read.get() + n as u64);
        Ok(n)
    }
}

impl Seek for Counted {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.file.seek(pos)
    }
}

/// An unencrypted payload: the file with its header out of sight.
struct Payload<R> {
    inner: R,
    base: u64,
}

impl<R: Read> Read for Payload<R> {
    fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
        self.inner.read(b)
    }
}

impl<R: Seek> Seek for Payload<R> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        let at = match pos {
            SeekFrom::Start(n) => self.inner.seek(SeekFrom::Start(self.base + n))?,
            other => self.inner.seek(other)?,
        };
        Ok(at - self.base)
    }
}

type Plain = BufReader<Box<dyn ReadSeek>>;

/// A decompressor started at some block.
enum Dec {
    Gzip(Box<flate2::bufread::MultiGzDecoder<Plain>>),
    Zstd(zstd::stream::read::Decoder<'static, Plain>),
}

impl Dec {
    fn into_plain(self) -> Box<dyn ReadSeek> {
        match self {
            Dec::Gzip(d) => d.into_inner().into_inner(),
            Dec::Zstd(d) => d.finish().into_inner(),
        }
    }
}

/// The decompressed stream, positioned by tar offset.
struct Cursor {
    table: blocks::Table,
    plain: Option<Box<dyn ReadSeek>>,
    dec: Option<Dec>,
    /// The tar offset of the next byte `dec` gives.
    pos: u64,
    /// Tar bytes decompressed in all.
    decompressed: u64,
}

impl Read for Cursor {
    fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
        let n = match self.dec.as_mut() {
            Some(Dec::Gzip(d)) => d.read(b)?,
            Some(Dec::Zstd(d)) => d.read(b)?,
            None => 0,
        };
        self.pos += n as u64;
        self.decompressed += n as u64;
        Ok(n)
    }
}

impl Cursor {
    /// Position at tar offset `at`: read on if it is near, else seek to its block.
    fn goto(&mut self, at: u64) -> Result<()> {
        let near = 2 * self.table.block_size;
        if self.dec.is_some() && at >= self.pos && at - self.pos <= near {
            return self.skip(at - self.pos);
        }
        let Some((first, offset)) = self.table.locate(at)? else {
            bail!("tar offset {at} is past the block table's end");
        };
        let mut plain = match self.dec.take() {
            Some(d) => d.into_plain(),
            None => self.plain.take().expect("the payload"),
        };
        plain.seek(SeekFrom::Start(offset))?;
        let buf = BufReader::with_capacity(1 << 16, plain);
        self.dec = Some(match self.table.format {
            Format::Zstd => Dec::Zstd(zstd::stream::read::Decoder::with_buffer(buf)?),
            _ => Dec::Gzip(Box::new(flate2::bufread::MultiGzDecoder::new(buf))),
        });
        self.pos = first;
        self.skip(at - first)
    }

    fn skip(&mut self, n: u64) -> Result<()> {
        let got = io::copy(&mut self.take(n), &mut io::sink())?;
        if got != n {
            bail!("the payload ends early");
        }
        Ok(())
    }

    /// Copy the member starting here (its long-name and PAX headers too) to `out`; returns
    /// the name its headers give.
    fn copy_member(&mut self, out: &mut dyn Write) -> Result<Vec<u8>> {
        let mut long: Option<Vec<u8>> = None;
        loop {
            let mut block = [0u8; 512];
            self.read_exact(&mut block)
                .context("the payload ends inside a tar header")?;
            let h = tar::Header::from_byte_slice(&block);
            if block.iter().all(|&b| b == 0) || !crate::pipeline::index::checksum_ok(&block) {
                bail!("no tar header where the index says a member begins");
            }
            out.write_all(&block)?;
            let kind = block[156];
            let size = h.entry_size()?;
            let padded = crate::pipeline::index::padded(size)
                .with_context(|| format!("a member claims {size} bytes"))?;
            if matches!(kind, b'L' | b'x') && size <= 1 << 20 {
                let mut data = vec![0; padded as usize];
                self.read_exact(&mut data)?;
                out.write_all(&data)?;
                data.truncate(size as usize);
                long = long_name(kind, data).or(long);
                continue;
            }
            if io::copy(&mut self.take(padded), out)? != padded {
                bail!("the payload ends inside a member");
            }
            if !matches!(kind, b'K' | b'g' | b'L' | b'x') {
                return Ok(long.unwrap_or_else(|| h.path_bytes().into_owned()));
            }
        }
    }
}

/// The name a GNU long-name (`L`) or PAX (`x`) header gives, if any.
fn long_name(kind: u8, mut data: Vec<u8>) -> Option<Vec<u8>> {
    if kind == b'L' {
        while data.last() == Some(&0) {
            data.pop();
        }
        return Some(data);
    }
    crate::pipeline::index::pax_records(&data)
        .into_iter()
        .find(|(k, _)| *k == b"path")
        .map(|(_, v)| v.to_vec())
}

/// What a random-access read cost.
#[derive(Debug, Default, Clone, Copy)]
pub struct Cost {
    /// Bytes read from the tape file.
    pub read: u64,
    /// Tar bytes decompressed.
    pub decompressed: u64,
}

/// Write the planned members of `file` to `out` as a tar stream.
pub fn read_members(
    (h, f): (
        crate::vtape::header::DumpHeader,
        Box<dyn crate::vtape::source::TapeSource>,
    ),
    plan: &Plan,
    ids: &[Box<dyn age::Identity + Send + Sync>],
    out: &mut dyn Write,
) -> Result<Cost> {
    let read = Rc::new(Cell::new(0));
    let counted = Counted {
        file: f,
        read: read.clone(),
    };
    let table = blocks::Table::open(&plan.table)?;
    if table.format != h.compress.format() {
        bail!("the block table is for another compression than the tape's");
    }
    let plain: Box<dyn ReadSeek> = if h.encrypt == crate::vtape::header::Sealed::Server {
        let d = age::Decryptor::new(counted).context("not an age file")?;
        Box::new(
            d.decrypt(ids.iter().map(|i| i.as_ref() as &dyn age::Identity))
                .context("cannot decrypt (wrong identity?)")?,
        )
    } else {
        Box::new(Payload {
            inner: counted,
            base: crate::vtape::header::HEADER_SIZE as u64,
        })
    };
    let mut cur = Cursor {
        table,
        plain: Some(plain),
        dec: None,
        pos: 0,
        decompressed: 0,
    };
    for m in &plan.members {
        cur.goto(m.offset)
            .with_context(|| format!("cannot seek to tar offset {}", m.offset))?;
        let name = cur
            .copy_member(out)
            .with_context(|| format!("at tar offset {}", m.offset))?;
        if name != m.name {
            bail!(
                "the index and the tape disagree at tar offset {}: {} expected, {} found",
                m.offset,
                index::escape_bytes(&m.name),
                index::escape_bytes(&name)
            );
        }
    }
    out.write_all(&[0; 1024])?;
    Ok(Cost {
        read: read.get(),
        decompressed: cur.decompressed,
    })
}
