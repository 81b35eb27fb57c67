//! Before a run: make the catalog agree with the tapes after whatever happened last time
//! (a crash, a power cut). Partial tape files are removed, complete files the catalog missed
//! are learnt from their headers, records of files that are gone are dropped.

use super::dumper::record_of;
use crate::catalog::{self, DumpRecord, history};
use crate::config::Config;
use crate::vtape::reader::{self, Expect, Trust};
use crate::vtape::{self, Slot};
use anyhow::Result;
use std::collections::{BTreeMap, HashSet};

/// Bring the catalog in line with the slots; returns what it did, for the run log.
pub fn reconcile(cfg: &Config, signer: &ssh_key::PublicKey) -> Result<Vec<String>> {
    let mut notes = Vec::new();
    let slots = vtape::scan(&cfg.changer)?;
    for s in &slots {
        for p in &s.partials {
            std::fs::remove_file(p)?;
            notes.push(format!(
                "removed incomplete file {} left by an interrupted run",
                p.display()
            ));
        }
    }
    let records = history::load_all(&cfg.catalog)?;
    let on_tape = tape_files(&slots, &records);
    let mut by_dle: BTreeMap<(String, String), Vec<DumpRecord>> = BTreeMap::new();
    let mut known = HashSet::new();
    for r in records {
        let key = (r.label.clone(), r.file_name.clone());
        if on_tape.contains(&key) {
            known.insert(key);
            by_dle
                .entry((r.host.clone(), r.disk.clone()))
                .or_default()
                .push(r);
        } else {
            notes.push(format!(
                "LOST: {} {} level {} of {} on {} file {} is no longer on the tape (deleted?); \
                 the catalog forgot it",
                r.host, r.disk, r.level, r.datestamp, r.label, r.file_name
            ));
            by_dle.entry((r.host.clone(), r.disk.clone())).or_default();
        }
    }
    let trust = Trust {
        signer: Some(signer.clone()),
        skip_signature: false,
    };
    learn_missing(cfg, &slots, &known, &trust, &mut by_dle, &mut notes);
    for ((host, disk), mut recs) in by_dle {
        recs.sort_by(|a, b| a.datestamp.cmp(&b.datestamp));
        if history::load(&cfg.catalog, &host, &disk)? != recs {
            history::save(&cfg.catalog, &host, &disk, &recs)?;
        }
    }
    clean_index_dir(cfg)?;
    Ok(notes)
}

/// (label, file name) of every dump file; a slot whose label file is gone keeps the label
/// the catalog knows it by, so its dumps are not forgotten (and the slot not reused).
fn tape_files(slots: &[Slot], records: &[DumpRecord]) -> HashSet<(String, String)> {
    slots
        .iter()
        .filter_map(|s| {
            let known = || {
                records
                    .iter()
                    .find(|r| r.slot == s.slot)
                    .map(|r| r.label.as_str())
            };
            s.label_name().or_else(known).map(|l| (l, s))
        })
        .flat_map(|(l, s)| s.files.iter().map(move |f| (l.to_string(), f.name.clone())))
        .collect()
}

fn learn_missing(
    cfg: &Config,
    slots: &[Slot],
    known: &HashSet<(String, String)>,
    trust: &Trust,
    by_dle: &mut BTreeMap<(String, String), Vec<DumpRecord>>,
    notes: &mut Vec<String>,
) {
    for s in slots {
        let Some(label) = s.label_name() else {
            continue;
        };
        for f in s
            .files
            .iter()
            .filter(|f| !known.contains(&(label.to_string(), f.name.clone())))
        {
            let path = s.dir.join(&f.name);
            // only what this server wrote and signed (a crash before its catalog record)
            let expect = Expect {
                slot: s.slot,
                label: Some(label),
                record: None,
            };
            match reader::open(&path, trust, expect).map(|o| o.header) {
                Ok(h) => {
                    let ix = catalog::index::rel_path(&h.host, &h.disk, &h.datestamp, h.level);
                    let index = cfg.catalog.join(&ix).exists().then_some(ix);
                    notes.push(format!(
                        "learnt {} {} level {} from {}",
                        h.host,
                        h.disk,
                        h.level,
                        path.display()
                    ));
                    by_dle
                        .entry((h.host.clone(), h.disk.clone()))
                        .or_default()
                        .push(record_of(&h, &f.name, 0.0, index));
                }
                Err(e) => notes.push(format!("ignored {e}")),
            }
        }
    }
}

/// Remove temp files and indexes no record refers to.
fn clean_index_dir(cfg: &Config) -> Result<()> {
    let root = cfg.catalog.join("index");
    if !root.exists() {
        return Ok(());
    }
    let referenced: HashSet<String> = history::load_all(&cfg.catalog)?
        .into_iter()
        .filter_map(|r| r.index)
        .flat_map(|ix| {
            let [tree, table] = catalog::index::companions(std::path::Path::new(&ix));
            [
                tree.to_string_lossy().into_owned(),
                table.to_string_lossy().into_owned(),
                ix,
            ]
        })
        .collect();
    for e in walkdir::WalkDir::new(&root)
        .into_iter()
        .filter_map(|e| e.ok())
    {
        if !e.file_type().is_file() {
            continue;
        }
        let rel = e
            .path()
            .strip_prefix(&cfg.catalog)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        if !referenced.contains(&rel) {
            std::fs::remove_file(e.path())?;
        }
    }
    Ok(())
}
