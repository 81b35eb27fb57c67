//! `tapir fetch`: a whole dump image to a file or stdout.

use super::Cli;
use crate::fetch::{self, Selector};
use anyhow::Context;
use std::io::Write;
use std::path::PathBuf;

/// Write one dump image to a file or to stdout.
///
/// Write a dump image: the raw payload (age(gzip(tar))), or with --identity the tar itself.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(long)]
    pub host: String,
    #[arg(long)]
    pub disk: String,
    /// Newest dump at or before this date (YYYY-MM-DD or YYYYMMDDHHMMSS).
    #[arg(long)]
    pub date: Option<String>,
    #[arg(long)]
    pub level: Option<u8>,
    /// Output file (must not exist), or - for stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    /// age identity file: decrypt and decompress, writing the tar stream.
    #[arg(short, long, value_name = "FILE")]
    pub identity: Option<PathBuf>,
    #[command(flatten)]
    pub root: super::FromRoot,
    #[command(flatten)]
    pub trust: super::TrustArgs,
}

pub fn run(cli: &Cli, a: &Args) -> anyhow::Result<i32> {
    let cfg = a.root.config(cli)?;
    let _reading = crate::catalog::lock::readers(&cfg.catalog)?;
    let sel = Selector {
        host: a.host.clone(),
        disk: a.disk.clone(),
        date: a.date.clone(),
        level: a.level,
    };
    let (rec, path) = fetch::select(&cfg, &sel)?;
    let trust = a.trust.trust(&cfg, a.identity.as_deref())?;
    let opened = fetch::open(&path, &rec, &trust)?;
    let ids = a
        .identity
        .as_deref()
        .map(crate::keys::identities)
        .transpose()?;
    crate::say::progress(format!(
        "{} {} level {} of {} from {} file {}",
        rec.host, rec.disk, rec.level, rec.datestamp, rec.label, rec.file_number
    ));
    if a.output.as_os_str() == "-" {
        let mut out = std::io::stdout().lock();
        fetch::fetch_with(opened, ids.as_deref(), &mut out)?;
        out.flush().context("cannot write the output")?;
        return Ok(0);
    }
    to_file(opened, ids.as_deref(), a)
}

/// Write next to the target and rename only when the checksum held.
fn to_file(
    opened: crate::vtape::reader::Opened,
    ids: Option<&fetch::Ids>,
    a: &Args,
) -> anyhow::Result<i32> {
    if a.output.exists() {
        anyhow::bail!("{} exists; not overwriting it", a.output.display());
    }
    let tmp = crate::fsutil::temp_name(&a.output);
    let f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .with_context(|| format!("cannot create {}", tmp.display()))?;
    let mut w = std::io::BufWriter::new(f);
    let r = fetch::fetch_with(opened, ids, &mut w).and_then(|_| Ok(w.into_inner()?.sync_all()?));
    if let Err(e) = r {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, &a.output)?;
    Ok(0)
}
