//! Block tables: where each compressed block of a payload begins, so that a restore can
//! start reading at the block that holds a file instead of at the start of the dump.
//!
//! A table lives in the catalog beside the dump's index (`…_L.blk`). Blocks hold a fixed
//! number of tar bytes, so the block of tar offset `u` is `u / block_size` and no search is
//! needed. Layout, little-endian:
//!
//! ```text
//! "TPBLKS01"  u32 block_size  u8 format (1 gzip, 2 zstd)  3 bytes zero
//! u64 offset of block 0 in the compressed stream (the age plaintext), block 1, …
//! ```
//! The age STREAM chunk holding block k is `offset(k) / 65536`; age's reader seeks to it.

use super::Format;
use crate::fsutil;
use anyhow::{Context, Result, bail};
use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 8] = b"TPBLKS01";
const HEAD: u64 = 16;

/// The table's path beside an index `…_L.idx.gz`.
pub fn path_for(index: &Path) -> PathBuf {
    let s = index.to_string_lossy();
    PathBuf::from(format!(
        "{}.blk",
        s.strip_suffix(".idx.gz").unwrap_or(s.as_ref())
    ))
}

/// Writes a table under a temp name; [`TableWriter::commit`] moves it into place, and a
/// writer dropped uncommitted removes its temp file.
pub struct TableWriter {
    tmp: PathBuf,
    dest: PathBuf,
    out: Option<BufWriter<File>>,
}

impl TableWriter {
    pub fn create(dest: PathBuf, format: Format, block_size: usize) -> Result<Self> {
        let tmp = fsutil::temp_name(&dest);
        let f = File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
        let mut out = BufWriter::with_capacity(1 << 16, f);
        let code = match format {
            Format::Gzip => 1u8,
            Format::Zstd => 2,
            Format::None => bail!("no block table for an uncompressed payload"),
        };
        out.write_all(MAGIC)?;
        out.write_all(&(block_size as u32).to_le_bytes())?;
        out.write_all(&[code, 0, 0, 0])?;
        Ok(TableWriter {
            tmp,
            dest,
            out: Some(out),
        })
    }

    /// The next block begins at `offset` of the compressed stream.
    pub fn push(&mut self, offset: u64) -> io::Result<()> {
        self.out
            .as_mut()
            .expect("not committed")
            .write_all(&offset.to_le_bytes())
    }

    pub fn commit(mut self) -> Result<()> {
        let out = self.out.take().expect("committed once");
        let f = out.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()?;
        fsutil::rename_durable(&self.tmp, &self.dest)
    }
}

impl Drop for TableWriter {
    fn drop(&mut self) {
        if self.out.is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// An open table, read one entry at a time.
pub struct Table {
    file: File,
    pub block_size: u64,
    pub format: Format,
    pub blocks: u64,
}

impl Table {
    pub fn open(path: &Path) -> Result<Table> {
        let mut file =
            File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        let mut head = [0u8; HEAD as usize];
        file.read_exact(&mut head)
            .with_context(|| format!("{}: too short for a block table", path.display()))?;
        let block_size = u32::from_le_bytes(head[8..12].try_into().unwrap()) as u64;
        let format = match head[12] {
            1 => Format::Gzip,
            2 => Format::Zstd,
            _ => bail!("{}: unknown compression in block table", path.display()),
        };
        let len = file.metadata()?.len();
        if &head[..8] != MAGIC || block_size == 0 || !(len - HEAD).is_multiple_of(8) {
            bail!("{}: not a block table", path.display());
        }
        Ok(Table {
            file,
            block_size,
            format,
            blocks: (len - HEAD) / 8,
        })
    }

    /// The block holding tar offset `tar_offset`: (its first tar byte, its offset in the
    /// compressed stream), or None past the table's end.
    pub fn locate(&mut self, tar_offset: u64) -> Result<Option<(u64, u64)>> {
        let k = tar_offset / self.block_size;
        if k >= self.blocks {
            return Ok(None);
        }
        let mut b = [0u8; 8];
        self.file.seek(SeekFrom::Start(HEAD + 8 * k))?;
        self.file.read_exact(&mut b)?;
        Ok(Some((k * self.block_size, u64::from_le_bytes(b))))
    }
}
