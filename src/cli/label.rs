//! `tapir label`: write a label to a slot.

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
    if let Some(other) = st
        .iter()
        .find(|t| t.label.as_deref() == Some(&a.label) && t.slot != a.slot)
    {
        bail!(Error::config(format!(
            "label {} is already on slot {}",
            a.label, other.slot
        )));
    }
    let this = &st[(a.slot - 1) as usize];
    let slot = vtape::scan_checked(&cfg.changer.root, a.slot, &trust)?;
    let bad_label = slot
        .label_error
        .as_ref()
        .filter(|_| !slot.files.is_empty() || records.iter().any(|r| r.slot == a.slot));
    if let Some(why) = bad_label
        .map(|e| {
            format!(
                "{e}; it holds {} dump file(s), still catalogued and restorable: use --force to \
             relabel it and lose them",
                slot.files.len()
            )
        })
        .or_else(|| vtape::rotation::lost_label(&slot, &records))
    {
        if !a.force {
            bail!(Error::config(format!("slot {}: {why}", a.slot)));
        }
        let lost: Vec<String> = records
            .iter()
            .filter(|r| r.slot == a.slot)
            .map(|r| r.label.clone())
            .collect();
        for l in lost {
            forget_tape(&cfg.catalog, &l, &records)?;
        }
    }
    if let (Some(old), false, false) = (&this.label, this.reusable, a.force)
        && this.dumps > 0
    {
        bail!(Error::config(format!(
            "slot {} holds {old}, which is still needed ({}); use --force to relabel it and lose its {} dump(s)",
            a.slot,
            this.note.as_deref().unwrap_or("needed"),
            this.dumps
        )));
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
