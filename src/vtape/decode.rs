//! The one way out of a tape file: the reader's [`Opened`] file, streamed raw (what is on
//! tape) or decoded (decrypted with the age identities, decompressed), and for a program's
//! stream also checked against the stream's own sha256 and size. Every caller (fetch,
//! recover, verify, rebuild) gets the same checks and the same typed refusals.

use super::header::DumpHeader;
use super::reader::{Opened, Problem, TapeError};
use anyhow::{Context, Result};
use sha2::Digest;
use std::io::{self, BufReader, Read, Write};

/// The age identities that open server-encrypted payloads.
pub type Ids = [Box<dyn age::Identity + Send + Sync>];

impl Opened {
    /// The payload as it is on tape, streamed to `out`; fails (after writing) when its size
    /// or sha256 is not the header's.
    pub fn raw(self, out: &mut dyn Write) -> Result<DumpHeader> {
        let h = self.header.clone();
        let mut src = self.payload()?;
        io::copy(&mut src, out).context("cannot write the output")?;
        src.finish()?;
        Ok(h)
    }

    /// The payload decrypted and decompressed (a tar, or a program's stream) into `out`;
    /// fails (after writing) when the payload's size or sha256 is not the header's.
    pub fn decode(self, ids: &Ids, out: &mut dyn Write) -> Result<DumpHeader> {
        let h = self.header.clone();
        let path = self.path.clone();
        let mut src = self.payload()?;
        decode_into(&h, &mut src, ids, out)
            .with_context(|| format!("cannot decode {}", path.display()))?;
        src.finish()?;
        Ok(h)
    }

    /// Whether `ids` open this payload: its file key unwrapped from the age header, which is
    /// all that is read (never the data). A payload not encrypted on the server opens.
    pub fn opens_with(&self, ids: &Ids) -> Result<()> {
        if self.header.encrypt != super::header::Sealed::Server {
            return Ok(());
        }
        // an age header is a few hundred bytes a recipient
        let head = self.payload_head(64 << 10)?;
        let d = age::Decryptor::new(&head[..]).context("not an age file")?;
        d.decrypt(ids.iter().map(|i| i.as_ref() as &dyn age::Identity))
            .context("cannot decrypt (wrong identity?)")?;
        Ok(())
    }

    /// A program's stream decoded into `out`, checked twice: the payload's sha256 and the
    /// stream's own sha256 and size (both in the signed header). The stream's size.
    pub fn decode_stream(self, ids: &Ids, out: &mut dyn Write) -> Result<(DumpHeader, u64)> {
        let path = self.path.clone();
        let mut h = Hashing {
            inner: out,
            hasher: sha2::Sha256::new(),
            bytes: 0,
        };
        let header = self.decode(ids, &mut h)?;
        h.flush().context("cannot write the output")?;
        let sha = format!("{:x}", h.hasher.finalize());
        let damaged = |m: String| {
            TapeError {
                path: path.clone(),
                problem: Problem::Damaged(m),
            }
            .into()
        };
        if header.stream_sha256.is_empty() || sha != header.stream_sha256 {
            return Err(damaged(format!(
                "the decoded stream's sha256 is {sha}, its header says {:?}",
                header.stream_sha256
            )));
        }
        if h.bytes != header.original_size {
            return Err(damaged(format!(
                "the decoded stream has {} bytes, its header says {}",
                h.bytes, header.original_size
            )));
        }
        Ok((header, h.bytes))
    }
}

fn decode_into(h: &DumpHeader, src: &mut dyn Read, ids: &Ids, out: &mut dyn Write) -> Result<()> {
    let plain: Box<dyn Read + '_> = if h.encrypt == super::header::Sealed::Server {
        let d = age::Decryptor::new_buffered(BufReader::new(src)).context("not an age file")?;
        Box::new(
            d.decrypt(ids.iter().map(|i| i.as_ref() as &dyn age::Identity))
                .context("cannot decrypt (wrong identity?)")?,
        )
    } else {
        Box::new(src)
    };
    let mut tar = crate::codec::decoder(
        h.compress.format(),
        BufReader::with_capacity(1 << 20, plain),
    )?;
    io::copy(&mut tar, out).context("cannot read the payload")?;
    Ok(())
}

/// Counts and hashes what passes through to `inner`.
struct Hashing<W> {
    inner: W,
    hasher: sha2::Sha256,
    bytes: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(b)?;
        self.hasher.update(&b[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
