//! Before a run: make the catalog agree with the tapes after whatever happened last time
//! (a crash, a power cut). Partial tape files are removed, complete files the catalog missed
//! are learnt from their headers, records of files that are gone are dropped.

use crate::catalog::{self, DumpRecord, history};
use crate::config::Config;
use crate::signing::Trust;
use crate::vtape::reader::{self, Expect};
use crate::vtape::{self, Slot};
use anyhow::Result;
use std::collections::{BTreeMap, HashSet};

/// What reconcile did (for the run log) and what an admin must see (the run exits 1).
#[derive(Debug, Default)]
pub struct Reconciled {
    pub notes: Vec<String>,
    pub problems: Vec<String>,
    /// The history as it now is, sorted as [`history::load_all`] sorts it.
    pub records: Vec<DumpRecord>,
}

/// Bring the catalog in line with the slots. A record is dropped from the history only
/// when its file is really gone, and then it is kept as MISSING; a slot whose label cannot
/// be trusted keeps the records of the tape the catalog knows in it.
pub fn reconcile(cfg: &Config, trust: &Trust, records: Vec<DumpRecord>) -> Result<Reconciled> {
    let mut out = Reconciled::default();
    let slots = vtape::scan(&cfg.changer, trust)?;
    for s in &slots {
        for p in &s.partials {
            std::fs::remove_file(p.local_only()?)?;
            out.notes.push(format!(
                "removed incomplete file {} left by an interrupted run",
                p.display()
            ));
        }
    }
    let mut on_tape = tape_files(&slots, &records);
    on_tape.extend(held_files(cfg, &mut out.notes)?);
    let mut before: BTreeMap<(String, String), Vec<DumpRecord>> = BTreeMap::new();
    for r in &records {
        before
            .entry((r.host.clone(), r.disk.clone()))
            .or_default()
            .push(r.clone());
    }
    let mut by_dle: BTreeMap<(String, String), Vec<DumpRecord>> = BTreeMap::new();
    let mut known = HashSet::new();
    let mut missing = history::load_missing(&cfg.catalog)?;
    for r in records {
        let key = (r.label.clone(), r.file_name.clone());
        let dle = by_dle.entry((r.host.clone(), r.disk.clone())).or_default();
        if on_tape.contains(&key) {
            known.insert(key);
            dle.push(r);
        } else {
            out.notes.push(format!(
                "MISSING: {} {} level {} of {} on {} file {} is no longer on the tape \
                 (deleted?); kept in {} as MISSING",
                r.host,
                r.disk,
                r.level,
                r.datestamp,
                r.label,
                r.file_name,
                history::missing_path(&cfg.catalog).display()
            ));
            missing.retain(|m| !(m.label == r.label && m.file_name == r.file_name));
            missing.push(r);
        }
    }
    learn_missing(cfg, &slots, &known, trust, &mut by_dle, &mut out.notes);
    for ((host, disk), mut recs) in by_dle {
        // a file that came back (copied from the mirror) is no longer missing
        missing.retain(|m| {
            !recs
                .iter()
                .any(|r| r.label == m.label && r.file_name == m.file_name)
        });
        recs.sort_by(|a, b| a.datestamp.cmp(&b.datestamp));
        let key = (host, disk);
        if before.get(&key).is_none_or(|b| sorted(b) != recs) {
            history::save(&cfg.catalog, &key.0, &key.1, &recs)?;
        }
        out.records.extend(recs);
    }
    out.records
        .sort_by(|a, b| (&a.datestamp, &a.host, &a.disk).cmp(&(&b.datestamp, &b.host, &b.disk)));
    if missing != history::load_missing(&cfg.catalog)? {
        history::save_missing(&cfg.catalog, &missing)?;
    }
    out.problems = problems(&slots, &missing);
    clean_index_dir(cfg, &out.records)?;
    Ok(out)
}

/// A DLE's records in the order its history file keeps them.
fn sorted(recs: &[DumpRecord]) -> Vec<DumpRecord> {
    let mut v = recs.to_vec();
    v.sort_by(|a, b| a.datestamp.cmp(&b.datestamp));
    v
}

/// Damaged labels and missing dumps, one line each, for the report and stderr.
fn problems(slots: &[Slot], missing: &[DumpRecord]) -> Vec<String> {
    let mut out: Vec<String> = slots
        .iter()
        .filter_map(|s| {
            let p = s.damaged.as_ref()?;
            let hint = match p {
                reader::Problem::BadSignature(_) => {
                    " (if it was signed by an older signing key of this server, trust that \
                     key's public half with [signing] previous = [\"keys/old.pub\"])"
                }
                _ => "",
            };
            Some(format!(
                "slot {} is DAMAGED: its label {} fails: {p}{hint}; the slot is not written, \
                 its {} dump file(s) stay catalogued and restorable (each is checked by its \
                 own signature); `tapir verify` shows it, `tapir label {} LABEL --force` gives \
                 the slot up",
                s.slot,
                s.label_file.as_deref().unwrap_or("file"),
                s.files.len(),
                s.slot
            ))
        })
        .collect();
    for m in missing {
        out.push(format!(
            "MISSING: {} {} level {} of {} (tape {}, file {}) is no longer on its tape; \
             `tapir catalog forget-missing` drops the record once you have looked",
            m.host, m.disk, m.level, m.datestamp, m.label, m.file_name
        ));
    }
    out
}

/// (label, file name) of every dump file. A slot whose label is gone or not trusted keeps
/// the label the catalog knows it by, so its dumps are not forgotten (and the slot not
/// reused); a trusted label names its own tape.
/// The complete files in the holding area (its partials, left by a crash, are removed).
fn held_files(cfg: &Config, notes: &mut Vec<String>) -> Result<HashSet<(String, String)>> {
    let mut out = HashSet::new();
    let Some(h) = &cfg.holding else {
        return Ok(out);
    };
    let Ok(rd) = std::fs::read_dir(&h.dir) else {
        return Ok(out);
    };
    for e in rd {
        let name = e?.file_name().to_string_lossy().into_owned();
        if name.ends_with(".partial") {
            std::fs::remove_file(h.dir.join(&name))?;
            notes.push(format!(
                "removed incomplete file {} left by an interrupted run",
                h.dir.join(&name).display()
            ));
        } else {
            out.insert((history::HOLDING.to_string(), name));
        }
    }
    Ok(out)
}

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
                        .push(h.record(&f.name, 0.0, index));
                }
                Err(e) => notes.push(format!("ignored {e}")),
            }
        }
    }
}

/// Remove temp files and indexes no record refers to.
fn clean_index_dir(cfg: &Config, records: &[DumpRecord]) -> Result<()> {
    let root = cfg.catalog.join("index");
    if !root.exists() {
        return Ok(());
    }
    let referenced: HashSet<String> = records
        .iter()
        .filter_map(|r| r.index.clone())
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
