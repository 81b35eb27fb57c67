//! The index tee: parses tar headers as the stream passes (never buffering file data) and
//! hands one [`IndexEntry`] per member to a callback, with each regular file's sha256 hashed
//! from its data on the way. A stream it cannot parse stops the index, never the dump.

pub use crate::catalog::entry::{EntrySink, IndexEntry};
use sha2::{Digest, Sha256};
use std::io::{self, Write};

const BLOCK: usize = 512;
const MAX_LONG: usize = 1 << 20;
const MAX_DUMPDIR: usize = 64 << 20;

struct Collect {
    kind: u8,
    data: Vec<u8>,
    want: usize,
    pad: u64,
    /// For a `D` member: the directory entry, emitted with the names its dumpdir lists.
    dir: Option<IndexEntry>,
}

/// No sink: the stream is parsed (and checked) without writing an index.
impl<S: EntrySink> EntrySink for Option<S> {
    fn entry(&mut self, e: IndexEntry) -> io::Result<()> {
        match self {
            Some(s) => s.entry(e),
            None => Ok(()),
        }
    }
}

/// Bytes after the end-of-archive marker a tar may carry (GNU tar pads to its record size,
/// 10 KiB by default); more is not a tar stream but something else, e.g. endless zeros.
pub const MAX_TRAILING: u64 = 1 << 20;

impl EntrySink for Vec<IndexEntry> {
    fn entry(&mut self, e: IndexEntry) -> io::Result<()> {
        self.push(e);
        Ok(())
    }
}

/// A regular file whose data is passing: its entry waits for the data's sha256.
struct Hashing {
    entry: IndexEntry,
    hash: Sha256,
    left: u64,
}

/// A `Write` that indexes a tar stream.
pub struct TarIndexer<S: EntrySink> {
    emit: S,
    /// Whether regular files' data is hashed into their entries.
    sums: bool,
    hashing: Option<Hashing>,
    block: Box<[u8; BLOCK]>,
    fill: usize,
    skip: u64,
    collect: Option<Collect>,
    long_name: Option<Vec<u8>>,
    long_link: Option<Vec<u8>>,
    ended: bool,
    broken: Option<String>,
    /// Bytes after the end-of-archive marker.
    trailing: u64,
    count: u64,
    /// Bytes of tar consumed so far.
    pos: u64,
    /// Where the member whose headers are being read began.
    start: Option<u64>,
}

impl<S: EntrySink> TarIndexer<S> {
    /// An indexer that hashes each regular file's data.
    pub fn new(emit: S) -> Self {
        Self::with_sums(emit, true)
    }

    /// An indexer that hashes regular files' data only when `sums` (a dumptype's
    /// `file_sha256 = false` saves that CPU).
    pub fn with_sums(emit: S, sums: bool) -> Self {
        TarIndexer {
            emit,
            sums,
            hashing: None,
            block: Box::new([0; BLOCK]),
            fill: 0,
            skip: 0,
            collect: None,
            long_name: None,
            long_link: None,
            ended: false,
            broken: None,
            trailing: 0,
            count: 0,
            pos: 0,
            start: None,
        }
    }

    /// The sink, entries indexed, and why indexing stopped early if it did. A file whose
    /// data the stream cut short is indexed without a sha256.
    pub fn finish(mut self) -> (S, u64, Option<String>) {
        if let Some(h) = self.hashing.take()
            && let Err(e) = self.emit.entry(h.entry)
        {
            self.broken.get_or_insert(format!("index: {e}"));
        }
        let broken = self.problem().or_else(|| {
            (!self.ended).then(|| "tar stream ended without its end-of-archive blocks".to_string())
        });
        (self.emit, self.count, broken)
    }

    /// Why the stream is not a tar, as soon as that is known.
    pub fn problem(&self) -> Option<String> {
        self.broken.clone().or_else(|| {
            (self.trailing > MAX_TRAILING).then(|| {
                format!("more than {MAX_TRAILING} bytes after the tar's end-of-archive marker")
            })
        })
    }

    fn feed(&mut self, mut b: &[u8]) -> io::Result<()> {
        if self.ended {
            self.trailing += b.len() as u64;
            return Ok(());
        }
        while !b.is_empty() && !self.ended && self.broken.is_none() {
            if self.skip > 0 {
                let n = (self.skip.min(b.len() as u64)) as usize;
                self.hash_data(&b[..n])?;
                self.skip -= n as u64;
                self.pos += n as u64;
                b = &b[n..];
            } else if let Some(c) = &mut self.collect {
                let n = (c.want - c.data.len()).min(b.len());
                c.data.extend_from_slice(&b[..n]);
                self.pos += n as u64;
                b = &b[n..];
                if c.data.len() == c.want {
                    let c = self.collect.take().unwrap();
                    self.skip = c.pad;
                    self.collected(c)?;
                }
            } else {
                let n = (BLOCK - self.fill).min(b.len());
                self.block[self.fill..self.fill + n].copy_from_slice(&b[..n]);
                self.fill += n;
                self.pos += n as u64;
                b = &b[n..];
                if self.fill == BLOCK {
                    self.fill = 0;
                    self.header()?;
                }
            }
        }
        if self.ended {
            self.trailing += b.len() as u64;
        }
        Ok(())
    }

    fn header(&mut self) -> io::Result<()> {
        if self.block.iter().all(|&x| x == 0) {
            self.ended = true;
            return Ok(());
        }
        if !checksum_ok(&self.block) {
            self.broken = Some(format!(
                "bad tar header checksum after {} entries",
                self.count
            ));
            return Ok(());
        }
        let block = *self.block;
        self.start.get_or_insert(self.pos - BLOCK as u64);
        let h = tar::Header::from_byte_slice(&block[..]);
        let kind = block[156];
        let size = h.entry_size().unwrap_or(0);
        let Some(padded) = padded(size) else {
            self.broken = Some(format!("a member claims {size} bytes"));
            return Ok(());
        };
        if matches!(kind, b'L' | b'K' | b'x' | b'D') {
            let max = if kind == b'D' { MAX_DUMPDIR } else { MAX_LONG };
            if size as usize > max {
                self.broken = Some(format!("{} member of {size} bytes", kind as char));
                return Ok(());
            }
            let want = size as usize;
            let dir = (kind == b'D').then(|| self.entry(&block, b'5', 0));
            let pad = padded - size;
            let c = Collect {
                kind,
                data: Vec::with_capacity(want),
                want,
                pad,
                dir,
            };
            if want == 0 {
                self.skip = pad;
                return self.collected(c);
            }
            self.collect = Some(c);
            return Ok(());
        }
        self.skip = padded;
        if kind == b'g' {
            self.start = None;
            return Ok(());
        }
        let kind = if kind == 0 { b'0' } else { kind };
        let mut entry = self.entry(&block, kind, size);
        self.count += 1;
        if !(self.sums && matches!(kind, b'0' | b'7')) {
            return self.emit.entry(entry);
        }
        if size == 0 {
            entry.sha256 = Some(crate::units::hex(&Sha256::digest(b"")));
            return self.emit.entry(entry);
        }
        let (hash, left) = (Sha256::new(), size);
        self.hashing = Some(Hashing { entry, hash, left });
        Ok(())
    }

    /// Member data passing: the part that is a regular file's content goes into its sha256,
    /// and its entry goes out when the last byte has.
    fn hash_data(&mut self, b: &[u8]) -> io::Result<()> {
        let Some(h) = &mut self.hashing else {
            return Ok(());
        };
        let n = h.left.min(b.len() as u64) as usize;
        h.hash.update(&b[..n]);
        h.left -= n as u64;
        if h.left > 0 {
            return Ok(());
        }
        let mut h = self.hashing.take().unwrap();
        h.entry.sha256 = Some(crate::units::hex(&h.hash.finalize()));
        self.emit.entry(h.entry)
    }

    /// The index entry for the member whose header is `block`, consuming pending long names.
    fn entry(&mut self, block: &[u8; BLOCK], kind: u8, size: u64) -> IndexEntry {
        let h = tar::Header::from_byte_slice(&block[..]);
        IndexEntry {
            path: self
                .long_name
                .take()
                .unwrap_or_else(|| h.path_bytes().into_owned()),
            kind,
            size,
            mtime: mtime_of(h),
            mode: h.mode().unwrap_or(0),
            uid: h.uid().unwrap_or(0),
            gid: h.gid().unwrap_or(0),
            link: self
                .long_link
                .take()
                .or_else(|| h.link_name_bytes().map(|l| l.into_owned())),
            prev: false,
            offset: self.start.take(),
            sha256: None,
        }
    }

    /// A long name, PAX header or dumpdir has been read whole.
    fn collected(&mut self, c: Collect) -> io::Result<()> {
        let Some(dir) = c.dir else {
            self.apply_long(c.kind, c.data);
            return Ok(());
        };
        let base = dir.path.clone();
        self.count += 1;
        self.emit.entry(dir)?;
        for rec in c
            .data
            .split(|&b| b == 0)
            .filter(|r| r.len() > 1 && r[0] == b'N')
        {
            let mut path = base.clone();
            if !path.ends_with(b"/") {
                path.push(b'/');
            }
            path.extend_from_slice(&rec[1..]);
            self.emit.entry(IndexEntry {
                path,
                kind: b'-',
                size: 0,
                mtime: 0,
                mode: 0,
                uid: 0,
                gid: 0,
                link: None,
                prev: true,
                offset: None,
                sha256: None,
            })?;
        }
        Ok(())
    }

    fn apply_long(&mut self, kind: u8, mut data: Vec<u8>) {
        match kind {
            b'L' | b'K' => {
                while data.last() == Some(&0) {
                    data.pop();
                }
                if kind == b'L' {
                    self.long_name = Some(data)
                } else {
                    self.long_link = Some(data)
                }
            }
            _ => {
                for (key, value) in pax_records(&data) {
                    match key {
                        b"path" => self.long_name = Some(value.to_vec()),
                        b"linkpath" => self.long_link = Some(value.to_vec()),
                        _ => {}
                    }
                }
            }
        }
    }
}

/// The header block's checksum field matches its bytes.
pub(crate) fn checksum_ok(block: &[u8; BLOCK]) -> bool {
    let sum: u32 = block
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                b' ' as u32
            } else {
                b as u32
            }
        })
        .sum();
    tar::Header::from_byte_slice(&block[..])
        .cksum()
        .is_ok_and(|c| c == sum)
}

/// `LEN key=value\n` records of a PAX extended header.
pub(crate) fn pax_records(data: &[u8]) -> Vec<(&[u8], &[u8])> {
    let mut out = Vec::new();
    let mut rest = data;
    while let Some(sp) = rest.iter().position(|&b| b == b' ') {
        let Some(len) = std::str::from_utf8(&rest[..sp])
            .ok()
            .and_then(|s| s.parse::<usize>().ok())
        else {
            break;
        };
        if len <= sp + 1 || len > rest.len() {
            break;
        }
        let rec = &rest[sp + 1..len - 1];
        if let Some(eq) = rec.iter().position(|&b| b == b'=') {
            out.push((&rec[..eq], &rec[eq + 1..]));
        }
        rest = &rest[len..];
    }
    out
}

impl<S: EntrySink> Write for TarIndexer<S> {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.feed(b)?;
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A member's size rounded up to whole tar blocks; None when a (hostile) size overflows.
pub fn padded(size: u64) -> Option<u64> {
    size.checked_next_multiple_of(BLOCK as u64)
}

/// The member's mtime, also before 1970 (GNU base-256, negative).
pub fn mtime_of(h: &tar::Header) -> i64 {
    let raw = &h.as_old().mtime;
    if raw[0] & 0x80 == 0 {
        return h.mtime().map_or(0, |t| t.min(i64::MAX as u64) as i64);
    }
    // two's complement, big-endian; the top bit of the first byte is the marker
    let mut v: i128 = if raw[0] & 0x40 != 0 { -1 } else { 0 };
    v = (v << 6) | i128::from(raw[0] & 0x3f);
    for &b in &raw[1..] {
        v = (v << 8) | i128::from(b);
    }
    v.clamp(i64::MIN as i128, i64::MAX as i128) as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::tar_out::{Meta, TarWriter};

    fn sample() -> Vec<u8> {
        let mut t = TarWriter::new(Vec::new());
        let m = Meta {
            mode: 0o755,
            mtime: 1_700_000_000,
            ..Meta::default()
        };
        t.header(b"./", None, tar::EntryType::Directory, &m, 0)
            .unwrap();
        let long = format!("./{}", "x".repeat(150));
        t.header(long.as_bytes(), None, tar::EntryType::Regular, &m, 700)
            .unwrap();
        t.data(&mut &vec![1u8; 700][..], 700).unwrap();
        t.header(b"./l", Some(long.as_bytes()), tar::EntryType::Link, &m, 0)
            .unwrap();
        t.finish().unwrap()
    }

    fn index(data: &[u8], chunk: usize) -> (Vec<IndexEntry>, Option<String>) {
        let mut ix = TarIndexer::new(Vec::new());
        for c in data.chunks(chunk) {
            ix.write_all(c).unwrap();
        }
        let (got, _, broken) = ix.finish();
        (got, broken)
    }

    #[test]
    fn indexes_any_chunking_the_same() {
        let data = sample();
        let (whole, broken) = index(&data, data.len());
        assert_eq!(broken, None);
        assert_eq!(whole.len(), 3);
        assert_eq!(whole[1].path.len(), 152);
        assert_eq!((whole[1].size, whole[1].kind), (700, b'0'));
        assert_eq!(whole[2].link.as_deref(), Some(&whole[1].path[..]));
        for chunk in [1, 7, 511, 512, 513] {
            assert_eq!(index(&data, chunk).0, whole, "chunk {chunk}");
        }
    }

    #[test]
    fn corrupt_or_truncated_stream_stops_the_index_only() {
        let mut data = sample();
        data[600] ^= 0xff; // inside the second header block chain
        let (_, broken) = index(&data, 4096);
        assert!(broken.is_some());
        let data = sample();
        let (_, broken) = index(&data[..1536], 4096);
        assert!(broken.unwrap().contains("ended"));
    }

    #[test]
    fn a_hostile_size_near_u64_max_breaks_the_index_without_overflow() {
        let mut h = tar::Header::new_gnu();
        h.set_path("x").unwrap();
        h.set_size(u64::MAX - 3);
        h.set_cksum();
        let mut data = h.as_bytes().to_vec();
        data.extend_from_slice(&[0u8; 1024]);
        let (_, broken) = index(&data, 4096);
        assert!(broken.unwrap().contains("claims"));
    }

    #[test]
    fn mtimes_before_1970_read_back() {
        let mut h = tar::Header::new_gnu();
        let field = &mut h.as_old_mut().mtime;
        field[..4].fill(0xff);
        field[4..].copy_from_slice(&(-86_400i64 * 365).to_be_bytes());
        assert_eq!(mtime_of(&h), -86_400 * 365);
        h.set_mtime(1_700_000_000);
        assert_eq!(mtime_of(&h), 1_700_000_000);
    }
}
