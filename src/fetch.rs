//! `tapir fetch`: one dump image out of its tape file — raw (`age(gzip(tar))`) or, given an
//! identity, the tar itself — with the payload's sha256 checked against the header.

use crate::catalog::{DumpRecord, history};
use crate::config::Config;
use crate::signing::Trust;
use crate::vtape::{
    TapePath,
    header::DumpHeader,
    reader::{self, Expect, Opened},
};
use anyhow::{Context, Result, bail};
use std::io::Write;

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
pub fn select(cfg: &Config, s: &Selector) -> Result<(DumpRecord, TapePath)> {
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
    let path = cfg.dump_path(pick);
    Ok((pick.clone(), path))
}

/// Open the tape file of a catalog record: signature, place and every recorded field checked.
pub fn open(path: &TapePath, rec: &DumpRecord, trust: &Trust) -> Result<Opened> {
    let expect = Expect {
        slot: rec.slot,
        label: Some(&rec.label),
        record: Some(rec),
    };
    Ok(reader::open(path, trust, expect)?)
}

/// Stream the payload of an opened file to `out`: raw, or decrypted and decompressed with
/// `ids` (the reader's [`Opened::raw`] and [`Opened::decode`]).
pub fn fetch_with(opened: Opened, ids: Option<&Ids>, out: &mut dyn Write) -> Result<DumpHeader> {
    match ids {
        None => opened.raw(out),
        Some(ids) => opened.decode(ids, out),
    }
}

pub use crate::vtape::decode::Ids;

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
