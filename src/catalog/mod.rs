//! The catalog: plain files under `catalog/` that cache what the tapes say (dump history,
//! indexes, run logs) plus the run lock. Every file is written atomically.

pub mod entry;
pub mod forced;
pub mod history;
pub mod index;
pub mod lock;
pub mod runlog;
pub mod tree;

pub use history::{DumpRecord, DumpStatus};

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
