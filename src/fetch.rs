//! `tapir fetch`: one dump image out of its tape file — raw (`age(gzip(tar))`) or, given an
//! identity, the tar itself — with the payload's sha256 checked against the header.

use crate::catalog::{DumpRecord, history};
use crate::codec::Format;
use crate::config::Config;
use crate::vtape::{
    self,
    header::{DumpHeader, HEADER_SIZE},
};
use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Which dump.
#[derive(Debug, Default)]
pub struct Selector {
    pub host: String,
    pub disk: String,
    /// Newest dump at or before this date (`YYYY-MM-DD`, `YYYYMMDD[HHMMSS]`).
    pub date: Option<String>,
    pub level: Option<u8>,
}

/// The upper bound datestamp for a `--date` argument.
pub fn date_bound(date: &str) -> Result<String> {
    let digits: String = date.chars().filter(char::is_ascii_digit).collect();
    if digits.len() < 4 || digits.len() > 14 {
        bail!(crate::error::Error::config(format!(
            "--date {date:?}: use YYYY-MM-DD or YYYYMMDDHHMMSS"
        )));
    }
    Ok(format!("{digits:9<14}"))
}

/// The newest matching dump and its tape file.
pub fn select(cfg: &Config, s: &Selector) -> Result<(DumpRecord, PathBuf)> {
    let all = history::load(&cfg.catalog, &s.host, &s.disk)?;
    if all.is_empty() {
        bail!(crate::error::Error::nothing_done(format!(
            "no dumps of {} {} in the catalog",
            s.host, s.disk
        )));
    }
    let bound = s.date.as_deref().map(date_bound).transpose()?;
    let pick = all
        .iter()
        .filter(|r| bound.as_ref().is_none_or(|b| &r.datestamp <= b))
        .filter(|r| s.level.is_none_or(|l| r.level == l))
        .max_by(|a, b| a.datestamp.cmp(&b.datestamp))
        .with_context(|| {
            format!(
                "no dump of {} {} matches the date/level given",
                s.host, s.disk
            )
        })?;
    let path = vtape::slot_dir(&cfg.changer.root, pick.slot).join(&pick.file_name);
    Ok((pick.clone(), path))
}

/// A reader that hashes and counts what passes.
struct Hashing<R> {
    inner: R,
    hash: Sha256,
    bytes: u64,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(b)?;
        self.hash.update(&b[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

/// Open a complete tape file: its header and a reader positioned at the payload.
pub fn open(path: &Path) -> Result<(DumpHeader, File)> {
    let h = vtape::header::read_dump(path)?;
    if !h.complete {
        bail!("{}: header says the dump is incomplete", path.display());
    }
    let mut f = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let len = f.metadata()?.len();
    let want = HEADER_SIZE as u64 + h.payload_size;
    if len != want {
        bail!(
            "{}: TRUNCATED or padded: {len} bytes, header says {want}",
            path.display()
        );
    }
    f.seek(SeekFrom::Start(HEADER_SIZE as u64))?;
    Ok((h, f))
}

/// Stream the payload of `path` to `out`: raw, or decrypted and decompressed with `identity`.
/// Fails (after writing) when the payload's sha256 does not match the header.
pub fn fetch(path: &Path, identity: Option<&Path>, out: &mut dyn Write) -> Result<DumpHeader> {
    let ids = identity.map(crate::keys::identities).transpose()?;
    fetch_with(path, ids.as_deref(), out)
}

/// [`fetch`] with identities already loaded.
pub fn fetch_with(
    path: &Path,
    ids: Option<&[Box<dyn age::Identity + Send + Sync>]>,
    out: &mut dyn Write,
) -> Result<DumpHeader> {
    let (h, f) = open(path)?;
    let mut src = Hashing {
        inner: BufReader::with_capacity(1 << 20, f).take(h.payload_size),
        hash: Sha256::new(),
        bytes: 0,
    };
    match ids {
        None => {
            io::copy(&mut src, out).context("cannot write the output")?;
        }
        Some(ids) => decode(&h, &mut src, ids, out)
            .with_context(|| format!("cannot decode {}", path.display()))?,
    }
    io::copy(&mut src, &mut io::sink())?;
    let sha = crate::keys::hex(&src.hash.finalize());
    if sha != h.payload_sha256 || src.bytes != h.payload_size {
        bail!(
            "{}: CORRUPT: payload sha256 {sha} does not match the header's {}",
            path.display(),
            h.payload_sha256
        );
    }
    Ok(h)
}

fn decode(
    h: &DumpHeader,
    src: &mut dyn Read,
    ids: &[Box<dyn age::Identity + Send + Sync>],
    out: &mut dyn Write,
) -> Result<()> {
    let plain: Box<dyn Read + '_> = if h.encrypt == "server" {
        let d = age::Decryptor::new_buffered(BufReader::new(src)).context("not an age file")?;
        Box::new(
            d.decrypt(ids.iter().map(|i| i.as_ref() as &dyn age::Identity))
                .context("cannot decrypt (wrong identity?)")?,
        )
    } else {
        Box::new(src)
    };
    let mut tar = crate::codec::decoder(
        Format::of(&h.compress),
        BufReader::with_capacity(1 << 20, plain),
    )?;
    io::copy(&mut tar, out).context("cannot read the payload")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_bounds_cover_the_whole_day() {
        assert_eq!(date_bound("2026-11-21").unwrap(), "20261121999999");
        assert_eq!(date_bound("20261121103000").unwrap(), "20261121103000");
        assert!(date_bound("yesterday").is_err());
    }
}
