//! DLEs forced to a full at the next run (`tapir force`), cleared by that full or `unforce`.

use crate::fsutil;
use anyhow::{Context, Result};
use std::collections::BTreeSet;
use std::path::Path;

pub type Forced = BTreeSet<(String, String)>;

pub fn load(catalog: &Path) -> Result<Forced> {
    let p = catalog.join("forced.json");
    match std::fs::read_to_string(&p) {
        Ok(t) => serde_json::from_str(&t).with_context(|| format!("bad {}", p.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Forced::new()),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", p.display())),
    }
}

/// Force (`on`) or unforce a DLE; returns whether anything changed.
pub fn set(catalog: &Path, host: &str, disk: &str, on: bool) -> Result<bool> {
    let mut f = load(catalog)?;
    let key = (host.to_string(), disk.to_string());
    let changed = if on { f.insert(key) } else { f.remove(&key) };
    if changed {
        fsutil::create_dir_all(catalog)?;
        fsutil::write_atomic(
            &catalog.join("forced.json"),
            serde_json::to_string_pretty(&f)?.as_bytes(),
        )?;
    }
    Ok(changed)
}
