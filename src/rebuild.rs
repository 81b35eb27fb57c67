//! `tapir catalog rebuild`: the catalog is a cache of the tapes, so it can be made again from
//! them: history from every complete file's header, and (given an identity) each index from
//! its payload. Works on a mirror copy of the vtape root.

use crate::catalog::{self, DumpRecord, index::IndexWriter};
use crate::config::Config;
use crate::pipeline::index::TarIndexer;
use crate::signing::Trust;
use crate::vtape::{
    self,
    reader::{self, Expect},
};
use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::path::Path;

/// What a rebuild did.
#[derive(Debug, Default)]
pub struct Rebuilt {
    pub dumps: usize,
    pub indexes: usize,
    pub skipped: Vec<String>,
    /// Dumps the old catalog listed that no tape under the root holds (or holds intact).
    pub lost: Vec<String>,
}

/// Replace the catalog's history (and, with `identity`, indexes) with what `root` holds:
/// only files whose label and header are signed by the trusted key and that sit where their
/// header says. What the old catalog listed and the tapes no longer hold is reported.
pub fn rebuild(
    cfg: &Config,
    root: &vtape::Root,
    identity: Option<&Path>,
    trust: &Trust,
) -> Result<Rebuilt> {
    let _lock = catalog::lock::exclusive(&cfg.catalog, "catalog rebuild")?;
    let ids = identity.map(crate::keys::identities).transpose()?;
    let mut done = Rebuilt::default();
    let by_dle = read_tapes(cfg, root, ids.as_deref(), trust, &mut done)?;
    match lost(cfg, &by_dle) {
        Ok(l) => done.lost = l,
        Err(e) => done.skipped.push(format!(
            "cannot read the old catalog to say what is no longer on the tapes: {e:#}"
        )),
    }
    replace_history(cfg, by_dle)?;
    Ok(done)
}

/// The records of the dumps under `root` as their signed headers say, oldest first, and
/// what could not be read: `find --from` a copy that carries no catalog of its own.
pub fn records_on(
    cfg: &Config,
    root: &vtape::Root,
    trust: &Trust,
) -> Result<(Vec<DumpRecord>, Vec<String>)> {
    let mut done = Rebuilt::default();
    let by_dle = read_tapes(cfg, root, None, trust, &mut done)?;
    let mut all: Vec<DumpRecord> = by_dle.into_values().flatten().collect();
    all.sort_by(|a, b| a.datestamp.cmp(&b.datestamp));
    Ok((all, done.skipped))
}

type Dles = BTreeMap<(String, String), Vec<DumpRecord>>;

/// Every complete, signed dump file under `root`, by DLE (with its index when `ids` is
/// given); what is passed over goes to `done.skipped`.
fn read_tapes(
    cfg: &Config,
    root: &vtape::Root,
    ids: Option<&crate::vtape::decode::Ids>,
    trust: &Trust,
    done: &mut Rebuilt,
) -> Result<Dles> {
    let mut by_dle = Dles::new();
    for n in 1..=cfg.changer.slots {
        let slot = vtape::scan_slot(root, n)?;
        let Some(label) = slot_label(&slot, trust, &mut done.skipped) else {
            continue;
        };
        for f in &slot.files {
            let path = slot.dir.join(&f.name);
            let expect = Expect {
                slot: n,
                label: Some(&label),
                record: None,
            };
            let h = match reader::open(&path, trust, expect) {
                Ok(o) => o.header,
                Err(e) => {
                    done.skipped.push(e.to_string());
                    continue;
                }
            };
            let mut rec = h.record(&f.name, 0.0, None);
            if let Some(ids) = ids {
                match index_from_payload(cfg, &path, &rec, trust, ids) {
                    Ok(rel) => {
                        rec.index = Some(rel);
                        done.indexes += 1;
                    }
                    Err(e) => done
                        .skipped
                        .push(format!("{}: no index: {e:#}", path.display())),
                }
            }
            by_dle
                .entry((h.host.clone(), h.disk.clone()))
                .or_default()
                .push(rec);
            done.dumps += 1;
        }
    }
    Ok(by_dle)
}

/// The slot's label, from its signed label file; a slot with dump files but no usable label
/// is reported, not silently passed over.
fn slot_label(slot: &vtape::Slot, trust: &Trust, skipped: &mut Vec<String>) -> Option<String> {
    let label = slot.label_name().map(String::from);
    match &label {
        Some(l) => {
            let path = slot.dir.join(&format!("00000.{l}"));
            if let Err(e) = reader::open_label(&path, trust) {
                skipped.push(format!(
                    "{e}: its {} dump file(s) were not read",
                    slot.files.len()
                ));
                return None;
            }
        }
        None if !slot.files.is_empty() => skipped.push(format!(
            "{}: {} dump file(s) but {}: not read",
            slot.dir.display(),
            slot.files.len(),
            slot.label_error.as_deref().unwrap_or("no label file")
        )),
        None => {}
    }
    label
}

/// Dumps of the old catalog that the rebuilt one does not have.
fn lost(cfg: &Config, found: &BTreeMap<(String, String), Vec<DumpRecord>>) -> Result<Vec<String>> {
    let old = catalog::history::load_all(&cfg.catalog)?;
    Ok(old
        .iter()
        .filter(|r| {
            !found
                .get(&(r.host.clone(), r.disk.clone()))
                .is_some_and(|v| {
                    v.iter().any(|n| {
                        n.label == r.label
                            && n.file_number == r.file_number
                            && n.payload_sha256 == r.payload_sha256
                    })
                })
        })
        .map(|r| {
            format!(
                "{} {} level {} of {} (tape {} file {}) is no longer on the tapes",
                r.host, r.disk, r.level, r.datestamp, r.label, r.file_number
            )
        })
        .collect())
}

/// Read the payload through the index tee into a fresh index file.
fn index_from_payload(
    cfg: &Config,
    path: &crate::vtape::TapePath,
    rec: &DumpRecord,
    trust: &Trust,
    ids: &crate::vtape::decode::Ids,
) -> Result<String> {
    let rel = catalog::index::rel_path(&rec.host, &rec.disk, &rec.datestamp, rec.level);
    let opened = crate::fetch::open(path, rec, trust)?;
    if opened.header.is_stream() {
        // a program's stream: its one entry, once its sha256 held
        let (h, n) = opened.decode_stream(ids, &mut std::io::sink())?;
        let mut ix = IndexWriter::create(&cfg.catalog, &rel)?;
        let mtime = h.client_time_ns / 1_000_000_000;
        ix.stream_entry(
            crate::pipeline::stream_entry(&h.stream_name, n, mtime),
            &h.stream_sha256,
        )?;
        ix.commit()?;
        return Ok(rel);
    }
    let mut tee = TarIndexer::new(IndexWriter::create(&cfg.catalog, &rel)?);
    {
        let mut w = std::io::BufWriter::with_capacity(1 << 20, &mut tee);
        opened.decode(ids, &mut w)?;
    }
    match tee.finish() {
        (ix, _, None) => ix.commit()?,
        (ix, _, Some(why)) => {
            ix.abort();
            anyhow::bail!("the tar inside is damaged: {why}");
        }
    }
    Ok(rel)
}

/// Write every DLE's history and remove history files of DLEs no tape holds.
fn replace_history(
    cfg: &Config,
    by_dle: BTreeMap<(String, String), Vec<DumpRecord>>,
) -> Result<()> {
    let old = catalog::history::load_all(&cfg.catalog).unwrap_or_default();
    for r in &old {
        if !by_dle.contains_key(&(r.host.clone(), r.disk.clone())) {
            let p = catalog::history::path(&cfg.catalog, &r.host, &r.disk);
            let _ = std::fs::remove_file(&p);
        }
    }
    for ((host, disk), mut recs) in by_dle {
        recs.sort_by(|a, b| a.datestamp.cmp(&b.datestamp));
        catalog::history::save(&cfg.catalog, &host, &disk, &recs)
            .with_context(|| format!("cannot write the history of {host} {disk}"))?;
    }
    Ok(())
}
