//! Held dumps onto tape: `tapir flush`, and the first thing every `tapir dump` does. Each
//! held file is copied into the next tape file with its header rewritten for its place
//! (label, slot, file number; signed again), its payload's sha256 checked as read and again
//! read back from the tape, the catalog's record moved to the tape, and only then the held
//! file removed. A kill at any point leaves the dump held, on tape, or briefly both: the next
//! flush keeps the tape's copy and removes the held one.

use super::taper::Taper;
use crate::catalog::{DumpRecord, history};
use crate::config::Config;
use crate::failpoint;
use crate::vtape::{
    self, TapePath,
    reader::{self, Expect},
    writer::TapeFile,
};
use anyhow::{Context, Result, bail};

/// What a flush did.
#[derive(Debug, Default)]
pub struct Flushed {
    /// One line per dump now on tape.
    pub written: Vec<String>,
    /// Held copies removed because the tape already had the dump (a flush killed late).
    pub notes: Vec<String>,
    /// Why the flush stopped with dumps still held.
    pub stopped: Option<String>,
}

/// Write every held dump to tape, oldest first; stop at the first that cannot be.
pub fn flush(
    cfg: &Config,
    taper: &mut Taper,
    signer: &crate::signing::Signer,
    trust: &crate::signing::Trust,
) -> Flushed {
    let mut out = Flushed::default();
    let mut held: Vec<DumpRecord> = taper
        .records
        .iter()
        .filter(|r| r.is_held())
        .cloned()
        .collect();
    held.sort_by(|a, b| (&a.datestamp, a.file_number).cmp(&(&b.datestamp, b.file_number)));
    for r in &held {
        let done = match on_tape(&taper.records, &key_of(r)).cloned() {
            // the held copy goes only once the tape's copy reads back whole
            Some(t) => readable(cfg, trust, &t)
                .and_then(|()| drop_held(cfg, taper, r))
                .map(|()| {
                    out.notes.push(format!(
                    "{} {} level {} of {} was already on tape {} file {}: its held copy is removed",
                    r.host, r.disk, r.level, r.datestamp, t.label, t.file_number
                ))
                }),
            None => flush_one(cfg, taper, signer, trust, r).map(|n| {
                out.written.push(format!(
                    "{} {} level {} of {} → tape {} file {}",
                    n.host, n.disk, n.level, n.datestamp, n.label, n.file_number
                ))
            }),
        };
        if let Err(e) = done {
            out.stopped = Some(format!("{e:#}"));
            break;
        }
    }
    if let Err(e) = orphans(cfg, taper, trust, &mut out.notes) {
        out.notes
            .push(format!("cannot clean the holding area: {e:#}"));
    }
    out
}

/// Held files no record points at: a flush killed after moving the record left its copy.
/// Removed when the tape holds that dump; anything else is left and named.
fn orphans(
    cfg: &Config,
    taper: &Taper,
    trust: &crate::signing::Trust,
    notes: &mut Vec<String>,
) -> Result<()> {
    let Some(h) = &cfg.holding else {
        return Ok(());
    };
    let Ok(rd) = std::fs::read_dir(&h.dir) else {
        return Ok(());
    };
    for e in rd {
        let name = e?.file_name().to_string_lossy().into_owned();
        let held = taper
            .records
            .iter()
            .any(|r| r.is_held() && r.file_name == name);
        if held || name.ends_with(".partial") {
            continue;
        }
        let path = TapePath::Local(h.dir.join(&name));
        let expect = Expect {
            slot: 0,
            label: Some(history::HOLDING),
            record: None,
        };
        let dump = reader::open(&path, trust, expect).ok().and_then(|o| {
            let x = o.header;
            let key = (
                &*x.host,
                &*x.disk,
                &*x.datestamp,
                x.level,
                &*x.payload_sha256,
            );
            on_tape(&taper.records, &key).cloned()
        });
        // removed only when the tape's copy reads back whole
        let dump = dump.filter(|t| readable(cfg, trust, t).is_ok());
        match dump {
            Some(t) => {
                remove_held(&path)?;
                notes.push(format!(
                    "removed {}: its dump is on tape {} file {}",
                    path.display(),
                    t.label,
                    t.file_number
                ));
            }
            None => notes.push(format!(
                "{} is in the holding area but not in the catalog: left alone",
                path.display()
            )),
        }
    }
    Ok(())
}

/// What makes two copies the same dump: host, disk, datestamp, level, payload sha256.
type Key<'k> = (&'k str, &'k str, &'k str, u8, &'k str);

fn key_of(r: &DumpRecord) -> Key<'_> {
    (&r.host, &r.disk, &r.datestamp, r.level, &r.payload_sha256)
}

/// The same dump on a tape (what a flush killed after its copy left).
fn on_tape<'r>(records: &'r [DumpRecord], key: &Key) -> Option<&'r DumpRecord> {
    records.iter().find(|t| !t.is_held() && key_of(t) == *key)
}

fn flush_one(
    cfg: &Config,
    taper: &mut Taper,
    signer: &crate::signing::Signer,
    trust: &crate::signing::Trust,
    r: &DumpRecord,
) -> Result<DumpRecord> {
    let src = cfg.dump_path(r);
    let held = Expect {
        slot: 0,
        label: Some(history::HOLDING),
        record: Some(r),
    };
    loop {
        let t = taper.tape_ticket()?;
        if !t.space.take(r.payload_size) {
            taper.give_back(&t);
            if !taper.can_advance() {
                bail!(
                    "{} {} level {} of {} does not fit on tape {} and runtapes = {} allows no further tape",
                    r.host,
                    r.disk,
                    r.level,
                    r.datestamp,
                    t.label,
                    cfg.runtapes
                );
            }
            taper.advance()?;
            continue;
        }
        let opened = reader::open(&src, trust, held).map_err(anyhow::Error::from)?;
        let mut hdr = opened.header.clone();
        let name = vtape::dump_file_name(t.file_number, &r.host, &r.disk, r.level);
        (hdr.label, hdr.slot, hdr.file_number) = (t.label.clone(), t.slot, t.file_number);
        let (tf, mut file) = TapeFile::create(&t.dir, &name, &hdr.encode(&name, None)?)?;
        let mut payload = opened.payload().map_err(anyhow::Error::from)?;
        std::io::copy(&mut payload, &mut file)
            .with_context(|| format!("cannot copy {} to {}", src.display(), tf.dest().display()))?;
        payload.finish().map_err(anyhow::Error::from)?;
        failpoint::hit("flush-before-commit");
        tf.commit(file, &hdr.encode(&name, Some(signer))?)?;
        let new = DumpRecord {
            label: t.label.clone(),
            slot: t.slot,
            file_number: t.file_number,
            file_name: name,
            ..r.clone()
        };
        read_back(cfg, trust, &new)?;
        failpoint::hit("flush-before-catalog");
        move_record(cfg, taper, r, Some(new.clone()))?;
        failpoint::hit("flush-before-remove");
        remove_held(&src)?;
        return Ok(new);
    }
}

/// The tape file as written: signature, place, record, length and sha256. A copy that
/// does not read back is removed (the held one stays).
fn read_back(cfg: &Config, trust: &crate::signing::Trust, new: &DumpRecord) -> Result<()> {
    if let Err(e) = readable(cfg, trust, new) {
        let path = cfg.dump_path(new);
        let removed = match std::fs::remove_file(path.local_only()?) {
            Ok(()) => "removed".to_string(),
            Err(r) => format!("could not be removed ({r}): remove {path} by hand"),
        };
        bail!("{e:#}; the bad copy {removed}; the dump stays held");
    }
    Ok(())
}

/// A dump's file reads back whole: signature, place, record, length and sha256.
fn readable(cfg: &Config, trust: &crate::signing::Trust, r: &DumpRecord) -> Result<()> {
    let path = cfg.dump_path(r);
    let expect = Expect {
        slot: r.slot,
        label: Some(&r.label),
        record: Some(r),
    };
    reader::open(&path, trust, expect)
        .and_then(|o| o.payload()?.finish())
        .with_context(|| format!("the copy on tape {} does not read back", r.label))
}

/// Replace `held` in its DLE's history by `to` (or drop it), on disk and in the taper.
fn move_record(
    cfg: &Config,
    taper: &mut Taper,
    held: &DumpRecord,
    to: Option<DumpRecord>,
) -> Result<()> {
    let mut recs = history::load(&cfg.catalog, &held.host, &held.disk)?;
    recs.retain(|x| x != held);
    taper.records.retain(|x| x != held);
    if let Some(n) = to {
        recs.push(n.clone());
        recs.sort_by(|a, b| a.datestamp.cmp(&b.datestamp));
        taper.recorded(n);
    }
    history::save(&cfg.catalog, &held.host, &held.disk, &recs)
}

fn drop_held(cfg: &Config, taper: &mut Taper, r: &DumpRecord) -> Result<()> {
    move_record(cfg, taper, r, None)?;
    remove_held(&cfg.dump_path(r))
}

fn remove_held(p: &TapePath) -> Result<()> {
    let p = p.local_only()?;
    match std::fs::remove_file(p) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("cannot remove {}", p.display()))
        }
        _ => crate::fsutil::sync_dir(p.parent().unwrap_or(std::path::Path::new("."))),
    }
}
