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
