//! The config of a command that reads another vtape root (`--from`): a local copy or
//! mirror directory, or a mirror on object storage, with or without a tapir.toml. The root
//! becomes a [`Root`] value held by the changer; a remote root's catalog is copied into a
//! local cache first, so that every reader works on local catalog files.

use super::{Config, RawConfig, build, toml_err};
use crate::error::Error;
use crate::vtape::Root;
use std::path::{Path, PathBuf};

/// What `--from ROOT` names.
pub fn from_root(from: &Path, base: Option<Config>) -> anyhow::Result<Config> {
    if let Some(url) = from.to_str().filter(|r| crate::s3::is_url(r)) {
        return remote(url, base);
    }
    let mut cfg = match base {
        Some(c) => c,
        None => for_reading(from)?,
    };
    cfg.changer.root = Root::Local(from.to_path_buf());
    // a vault's catalog is its own, also before its first copy is listed
    if from.join("catalog").is_dir() || from.join(super::vault::MARKER).exists() {
        cfg.catalog = from.join("catalog");
    }
    Ok(cfg)
}

/// `s3://BUCKET/PREFIX`: tapes read from the store by ranged GETs, its catalog synced into a
/// local cache (`$XDG_CACHE_HOME/tapir/s3/…`), `[s3]` from the config when there is one,
/// else the AWS environment alone.
fn remote(url: &str, base: Option<Config>) -> anyhow::Result<Config> {
    let settings = base.as_ref().map(|c| c.s3.clone()).unwrap_or_default();
    let store = crate::s3::Store::open(url, &settings)?;
    let slots = crate::s3::slots(&store)?;
    let vault = store.head(super::vault::MARKER)?.is_some();
    if slots == 0 && !vault {
        anyhow::bail!(Error::nothing_done(format!(
            "{url} holds no tapes (no slotN/ objects) and is no vault (no {})",
            super::vault::MARKER
        )));
    }
    let cache = cache_dir(url);
    crate::s3::sync_catalog(&store, &cache)
        .map_err(|e| e.context(format!("cannot copy the catalog of {url}")))?;
    let root = Root::s3(url, store);
    let mut cfg = match base {
        Some(mut c) => {
            c.changer.root = root;
            c.changer.slots = slots;
            c
        }
        None => for_reading_slots(root, slots)?,
    };
    cfg.catalog = cache;
    Ok(cfg)
}

/// Where the catalog of a remote root is kept between runs.
pub fn cache_dir(url: &str) -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    let name = url.trim_start_matches("s3://").replace('/', "_");
    base.join("tapir/s3")
        .join(crate::fsutil::escape_component(&name))
}

/// The config of a reader with no tapir.toml at all (`recover --from MIRROR` on a fresh
/// machine): defaults, paths under `root`, as many slots as `root` has, no disklist.
pub fn for_reading(root: &Path) -> Result<Config, Error> {
    let root =
        std::path::absolute(root).map_err(|e| Error::config(format!("{}: {e}", root.display())))?;
    let slots = std::fs::read_dir(&root)
        .map_err(|e| Error::config(format!("{}: cannot read: {e}", root.display())))?
        .filter_map(|e| {
            e.ok()?
                .file_name()
                .to_str()?
                .strip_prefix("slot")?
                .parse()
                .ok()
        })
        .max()
        .unwrap_or(1u32);
    for_reading_slots(Root::Local(root.to_path_buf()), slots)
}

/// The config of a reader with no tapir.toml, for a root of `slots` slots (local or remote).
pub fn for_reading_slots(root: Root, slots: u32) -> Result<Config, Error> {
    let text = format!(
        "tapecycle = {0}\nrunspercycle = 1\n[changer]\nroot = \".\"\nslots = {0}\n",
        slots.max(2)
    );
    let here = PathBuf::from(root.to_string());
    let raw: RawConfig = toml_err::parse(&here.join("tapir.toml"), &text)?;
    let mut cfg = build(here.join("(no tapir.toml)"), raw, text, false)?;
    cfg.changer.slots = slots.max(1);
    cfg.changer.root = root;
    Ok(cfg)
}
