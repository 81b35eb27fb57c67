//! `tapir catalog rebuild`: the catalog is a cache of the tapes, so it can be made again from
//! them: history from every complete file's header, and (given an identity) each index from
//! its payload. Works on a mirror copy of the vtape root.

use crate::catalog::{self, DumpRecord, index::IndexWriter};
use crate::config::Config;
use crate::pipeline::index::TarIndexer;
use crate::vtape;
use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::path::Path;

/// What a rebuild did.
#[derive(Debug, Default)]
pub struct Rebuilt {
    pub dumps: usize,
    pub indexes: usize,
    pub skipped: Vec<String>,
}

/// Replace the catalog's history (and, with `identity`, indexes) with what `root` holds.
pub fn rebuild(cfg: &Config, root: &Path, identity: Option<&Path>) -> Result<Rebuilt> {
    let _lock = catalog::lock::exclusive(&cfg.catalog, "catalog rebuild")?;
    let ids = identity.map(crate::keys::identities).transpose()?;
    let mut done = Rebuilt::default();
    let mut by_dle: BTreeMap<(String, String), Vec<DumpRecord>> = BTreeMap::new();
    for n in 1..=cfg.changer.slots {
        let slot = vtape::scan_slot(root, n)?;
        let Some(label) = slot.label_name().map(String::from) else {
            continue;
        };
        for f in &slot.files {
            let path = slot.dir.join(&f.name);
            let h = match vtape::header::read_dump(&path) {
                Ok(h) if h.complete && h.label == label => h,
                Ok(_) => {
                    done.skipped.push(format!(
                        "{}: incomplete or from another tape",
                        path.display()
                    ));
                    continue;
                }
                Err(e) => {
                    done.skipped.push(format!("{e:#}"));
                    continue;
                }
            };
            let mut rec = crate::driver::dumper::record_of(&h, &f.name, 0.0, None);
            if let Some(ids) = &ids {
                match index_from_payload(cfg, &path, &h, ids) {
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
    replace_history(cfg, by_dle)?;
    Ok(done)
}

/// Read the payload through the index tee into a fresh index file.
fn index_from_payload(
    cfg: &Config,
    path: &Path,
    h: &vtape::header::DumpHeader,
    ids: &[Box<dyn age::Identity + Send + Sync>],
) -> Result<String> {
    let rel = catalog::index::rel_path(&h.host, &h.disk, &h.datestamp, h.level);
    let mut tee = TarIndexer::new(IndexWriter::create(&cfg.catalog, &rel)?);
    {
        let mut w = std::io::BufWriter::with_capacity(1 << 20, &mut tee);
        crate::fetch::fetch_with(path, Some(ids), &mut w)?;
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
