//! `tapir label`: write a label to a slot (the policy of what may be relabelled is
//! `vtape::relabel`).

use super::Cli;
use crate::error::Error;
use crate::{catalog, catalog::forget_tape, vtape};
use anyhow::bail;

/// Label a slot.
///
/// Refuses to relabel a tape that still holds needed dumps unless --force.
#[derive(Debug, clap::Args)]
pub struct Args {
    pub slot: u32,
    pub label: String,
    /// Relabel even though the tape holds dumps that are still needed (they are lost).
    #[arg(long)]
    pub force: bool,
}

pub fn run(cli: &Cli, a: &Args) -> anyhow::Result<i32> {
    let cfg = super::load_config(cli)?;
    if a.slot == 0 || a.slot > cfg.changer.slots {
        bail!(Error::config(format!(
            "slot {} does not exist (changer.slots = {})",
            a.slot, cfg.changer.slots
        )));
    }
    vtape::check_label(&cfg.changer, &a.label)?;
    let _lock = catalog::lock::exclusive(&cfg.catalog, "label")?;
    let trust = crate::keys::server_trust(&cfg.signing)?;
    let records = catalog::history::load_all(&cfg.catalog)?;
    let st = vtape::status::status(&cfg.changer, &records, cfg.tapecycle, &trust)?;
    let slot = vtape::scan_checked(&cfg.changer.root, a.slot, &trust)?;
    for l in vtape::relabel::check(&slot, &a.label, a.force, &st, &records)? {
        forget_tape(&cfg.catalog, &l, &records)?;
    }
    let _readers_done = if slot.files.is_empty() {
        None
    } else {
        Some(catalog::lock::recycle(&cfg.catalog, &a.label)?)
    };
    if let Some(old) = slot.label_name() {
        forget_tape(
            &cfg.catalog,
            old,
            &catalog::history::load_all(&cfg.catalog)?,
        )?;
    }
    vtape::write_label(
        &slot,
        &a.label,
        "0",
        &crate::keys::signer(&cfg.signing, &cfg.encryption, &cfg.changer)?,
    )?;
    outln!("slot {} labelled {}", a.slot, a.label);
    Ok(0)
}
