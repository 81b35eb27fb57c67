//! `tapir fetch`: one dump image out of its tape file — raw (`age(gzip(tar))`) or, given an
//! identity, the tar itself — with the payload's sha256 checked against the header.

use crate::catalog::{DumpRecord, history};
use crate::codec::Format;
use crate::config::Config;
use crate::signing::Trust;
use crate::vtape::{
    self,
    header::DumpHeader,
    reader::{self, Expect, Opened},
};
use anyhow::{Context, Result, bail};
use std::io::{self, BufReader, Read, Write};
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

/// Open the tape file of a catalog record: signature, place and every recorded field checked.
pub fn open(path: &Path, rec: &DumpRecord, trust: &Trust) -> Result<Opened> {
    let expect = Expect {
        slot: rec.slot,
        label: Some(&rec.label),
        record: Some(rec),
    };
    Ok(reader::open(path, trust, expect)?)
}

/// Stream the payload of an opened file to `out`: raw, or decrypted and decompressed with
/// `ids`. Fails (after writing) when the payload's size or sha256 is not the header's.
pub fn fetch_with(opened: Opened, ids: Option<&Ids>, out: &mut dyn Write) -> Result<DumpHeader> {
    let h = opened.header.clone();
    let path = opened.path.clone();
    let mut src = opened.payload()?;
    match ids {
        None => {
            io::copy(&mut src, out).context("cannot write the output")?;
        }
        Some(ids) => decode(&h, &mut src, ids, out)
            .with_context(|| format!("cannot decode {}", path.display()))?,
    }
    src.finish()?;
    Ok(h)
}

pub type Ids = [Box<dyn age::Identity + Send + Sync>];

fn decode(h: &DumpHeader, src: &mut dyn Read, ids: &Ids, out: &mut dyn Write) -> Result<()> {
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
