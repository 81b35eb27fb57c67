//! The catalog: plain files under `catalog/` that cache what the tapes say (dump history,
//! indexes, run logs) plus the run lock. Every file is written atomically.

pub mod admin;
pub mod drills;
pub mod entry;
pub mod forced;
pub mod history;
pub mod index;
pub mod line;
pub mod lock;
pub mod outcome;
pub mod retention;
pub mod runlog;
pub mod search;
pub mod sums;
pub mod tree;
pub mod verified;

pub use history::{DumpRecord, DumpStatus};

/// The newest datestamp the catalog knows: of any dump (`records`, or missing) or any run.
pub fn newest_datestamp(
    catalog: &std::path::Path,
    records: &[DumpRecord],
) -> anyhow::Result<Option<String>> {
    let mut newest = records
        .iter()
        .map(|r| r.datestamp.clone())
        .chain(
            history::load_missing(catalog)?
                .into_iter()
                .map(|r| r.datestamp),
        )
        .max();
    newest = newest.into_iter().chain(runlog::runs(catalog)).max();
    Ok(newest)
}

/// An i64 written as a JSON string (exact in every JSON reader), read from a string or a
/// number (catalogs written before).
pub mod ns_string {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &i64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            N(i64),
            S(String),
        }
        match Either::deserialize(d)? {
            Either::N(n) => Ok(n),
            Either::S(s) => s.parse().map_err(serde::de::Error::custom),
        }
    }
}

/// Drop the catalog's records of dumps on `label` (the tape is about to be overwritten).
pub fn forget_tape(
    catalog: &std::path::Path,
    label: &str,
    records: &[DumpRecord],
) -> anyhow::Result<()> {
    let mut dles: Vec<(&str, &str)> = records
        .iter()
        .filter(|r| r.label == label)
        .map(|r| (r.host.as_str(), r.disk.as_str()))
        .collect();
    dles.dedup();
    for (host, disk) in dles {
        let mut h = history::load(catalog, host, disk)?;
        for r in h.iter().filter(|r| r.label == label) {
            if let Some(ix) = &r.index {
                for f in index::companions(&catalog.join(ix)) {
                    let _ = std::fs::remove_file(f);
                }
                let _ = std::fs::remove_file(catalog.join(ix));
            }
        }
        h.retain(|r| r.label != label);
        history::save(catalog, host, disk, &h)?;
    }
    Ok(())
}
