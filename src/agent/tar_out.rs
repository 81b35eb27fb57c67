//! A GNU-format tar writer that owns every header byte: long names and link targets as
//! `././@LongLink` entries, raw (non-UTF-8) names, devices and FIFOs, and file data copied to
//! exactly the size in the header even when the file changes underneath us.

use std::io::{self, Read, Write};
use tar::{EntryType, Header};

const BLOCK: usize = 512;

/// Metadata written into a header.
#[derive(Debug, Clone, Copy, Default)]
pub struct Meta {
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub mtime: i64,
    pub rdev_major: u32,
    pub rdev_minor: u32,
}

/// What happened while copying a file's data.
#[derive(Debug, PartialEq, Eq)]
pub enum Copied {
    Whole,
    /// The file ended early (shrank or read error); the rest was zero-filled.
    Short {
        got: u64,
        error: Option<String>,
    },
    /// There was more data than the header promised; it was left out.
    Grew,
}

pub struct TarWriter<W: Write> {
    out: W,
    bytes: u64,
    zeros: Vec<u8>,
    buf: Vec<u8>,
}

impl<W: Write> TarWriter<W> {
    pub fn new(out: W) -> Self {
        TarWriter {
            out,
            bytes: 0,
            zeros: vec![0; BLOCK],
            buf: vec![0; 1 << 20],
        }
    }

    /// Tar bytes written so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    pub fn get_mut(&mut self) -> &mut W {
        &mut self.out
    }

    /// Write a header for `name` (and `link`, for links), with long-name entries as needed.
    pub fn header(
        &mut self,
        name: &[u8],
        link: Option<&[u8]>,
        kind: EntryType,
        meta: &Meta,
        size: u64,
    ) -> io::Result<()> {
        if name.len() > 100 {
            self.long_entry(b'L', name)?;
        }
        if let Some(l) = link.filter(|l| l.len() > 100) {
            self.long_entry(b'K', l)?;
        }
        let mut h = Header::new_gnu();
        set_bytes(&mut h.as_old_mut().name, name);
        if let Some(l) = link {
            set_bytes(&mut h.as_old_mut().linkname, l);
        }
        h.set_entry_type(kind);
        h.set_mode(meta.mode & 0o7777);
        h.set_uid(meta.uid);
        h.set_gid(meta.gid);
        set_mtime(&mut h, meta.mtime);
        h.set_size(size);
        if matches!(kind, EntryType::Char | EntryType::Block) {
            h.set_device_major(meta.rdev_major)?;
            h.set_device_minor(meta.rdev_minor)?;
        }
        h.set_cksum();
        self.write(h.as_bytes())
    }

    fn long_entry(&mut self, kind: u8, data: &[u8]) -> io::Result<()> {
        let mut h = Header::new_gnu();
        set_bytes(&mut h.as_old_mut().name, b"././@LongLink");
        h.set_entry_type(EntryType::new(kind));
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        h.set_size(data.len() as u64 + 1);
        h.set_cksum();
        self.write(h.as_bytes())?;
        self.write(data)?;
        self.write(&[0])?;
        self.pad(data.len() as u64 + 1)
    }

    /// Copy exactly `size` bytes from `src`, zero-filling if it ends early, then pad.
    pub fn data(&mut self, src: &mut dyn Read, size: u64) -> io::Result<Copied> {
        let mut left = size;
        let mut error = None;
        while left > 0 {
            let want = left.min(self.buf.len() as u64) as usize;
            match src.read(&mut self.buf[..want]) {
                Ok(0) => break,
                Ok(n) => {
                    self.out.write_all(&self.buf[..n])?;
                    self.bytes += n as u64;
                    left -= n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    error = Some(e.to_string());
                    break;
                }
            }
        }
        let got = size - left;
        self.zero_fill(left)?;
        self.pad(size)?;
        if got < size {
            return Ok(Copied::Short { got, error });
        }
        let grew = matches!(src.read(&mut self.buf[..1]), Ok(n) if n > 0);
        Ok(if grew { Copied::Grew } else { Copied::Whole })
    }

    fn zero_fill(&mut self, mut n: u64) -> io::Result<()> {
        while n > 0 {
            let k = n.min(BLOCK as u64) as usize;
            self.out.write_all(&self.zeros[..k])?;
            self.bytes += k as u64;
            n -= k as u64;
        }
        Ok(())
    }

    fn pad(&mut self, size: u64) -> io::Result<()> {
        let rem = (size % BLOCK as u64) as usize;
        if rem == 0 {
            Ok(())
        } else {
            self.zero_fill((BLOCK - rem) as u64)
        }
    }

    fn write(&mut self, b: &[u8]) -> io::Result<()> {
        self.out.write_all(b)?;
        self.bytes += b.len() as u64;
        Ok(())
    }

    /// End of archive (two zero blocks); returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.zero_fill(2 * BLOCK as u64)?;
        Ok(self.out)
    }
}

fn set_bytes(field: &mut [u8], v: &[u8]) {
    let n = v.len().min(field.len());
    field[..n].copy_from_slice(&v[..n]);
    field[n..].fill(0);
}

/// The mtime field, in GNU base-256 when before 1970 (GNU tar writes and reads it so).
fn set_mtime(h: &mut Header, mtime: i64) {
    if mtime >= 0 {
        h.set_mtime(mtime as u64);
        return;
    }
    let field = &mut h.as_old_mut().mtime;
    field[..4].fill(0xff);
    field[4..].copy_from_slice(&mtime.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_back(bytes: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut a = tar::Archive::new(bytes);
        a.entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let p = e.path_bytes().into_owned();
                let mut d = Vec::new();
                e.read_to_end(&mut d).unwrap();
                (p, d)
            })
            .collect()
    }

    #[test]
    fn long_and_non_utf8_names_round_trip() {
        let long = format!("./{}", "d/".repeat(80) + "f");
        let mut t = TarWriter::new(Vec::new());
        let m = Meta {
            mode: 0o644,
            ..Meta::default()
        };
        t.header(long.as_bytes(), None, EntryType::Regular, &m, 3)
            .unwrap();
        t.data(&mut &b"abc"[..], 3).unwrap();
        t.header(b"./caf\xe9", None, EntryType::Regular, &m, 0)
            .unwrap();
        let out = t.finish().unwrap();
        let got = read_back(&out);
        assert_eq!(got[0], (long.into_bytes(), b"abc".to_vec()));
        assert_eq!(got[1].0, b"./caf\xe9");
    }

    #[test]
    fn short_source_is_zero_filled_and_reported() {
        let mut t = TarWriter::new(Vec::new());
        t.header(b"./f", None, EntryType::Regular, &Meta::default(), 10)
            .unwrap();
        assert_eq!(
            t.data(&mut &b"abcd"[..], 10).unwrap(),
            Copied::Short {
                got: 4,
                error: None
            }
        );
        t.header(b"./g", None, EntryType::Regular, &Meta::default(), 2)
            .unwrap();
        assert_eq!(t.data(&mut &b"xyz"[..], 2).unwrap(), Copied::Grew);
        let got = read_back(&t.finish().unwrap());
        assert_eq!(got[0].1, b"abcd\0\0\0\0\0\0");
        assert_eq!(got[1].1, b"xy");
    }
}
