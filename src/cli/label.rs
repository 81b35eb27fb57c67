//! `tapir label`: write a label to a slot (the policy of what may be relabelled is
//! `vtape::relabel`).

use super::Cli;
use crate::error::Error;
use crate::{catalog, catalog::forget_tape, vtape};
use anyhow::bail;

/// Label a slot, or keep its tape out of rotation.
///
/// Refuses to relabel a tape that still holds needed dumps unless --force. `--no-reuse SLOT`
/// keeps the slot's tape out of rotation (a legal hold, a known-good set before a
/// migration): never written, not relabelled without --force, not counted in the tapecycle;
/// `--reuse SLOT` puts it back.
#[derive(Debug, clap::Args)]
pub struct Args {
    pub slot: u32,
    #[arg(required_unless_present_any = ["no_reuse", "reuse"])]
    pub label: Option<String>,
    /// Relabel even though the tape holds dumps that are still needed (they are lost).
    #[arg(long)]
    pub force: bool,
    /// Keep the slot's tape out of rotation.
    #[arg(long, conflicts_with_all = ["reuse", "label", "force"])]
    pub no_reuse: bool,
    /// Put a tape kept out of rotation back.
    #[arg(long, conflicts_with_all = ["label", "force"])]
    pub reuse: bool,
}

pub fn run(cli: &Cli, a: &Args) -> anyhow::Result<i32> {
    let cfg = super::load_config(cli)?;
    if a.slot == 0 || a.slot > cfg.changer.slots {
        bail!(Error::config(format!(
            "slot {} does not exist (changer.slots = {})",
            a.slot, cfg.changer.slots
        )));
    }
    let Some(label) = a.label.as_deref() else {
        return rotation(&cfg, a.slot, a.no_reuse);
    };
    relabel(&cfg, a, label)
}

/// `--no-reuse` (`keep`) or `--reuse` the tape in `slot`.
fn rotation(cfg: &crate::config::Config, slot: u32, keep: bool) -> anyhow::Result<i32> {
    let trust = crate::keys::server_trust(&cfg.signing)?;
    let _lock = catalog::lock::exclusive(&cfg.catalog, "label")?;
    let s = vtape::scan_checked(&cfg.changer.root, slot, &trust)?;
    let Some(label) = s.label_name() else {
        bail!(
            Error::config(format!("slot {slot} holds no labelled tape"))
                .hint("only a labelled tape can be kept out of rotation (`tapir tapes`)")
        );
    };
    let mut admin = catalog::admin::Admin::load(&cfg.catalog)?;
    let since = crate::clock::datestamp(&crate::clock::now()?);
    let changed = admin.set_no_reuse(label, keep, &since);
    admin.save(&cfg.catalog)?;
    let what = match (keep, changed) {
        (true, true) => {
            "is kept out of rotation: never written or relabelled until `tapir label --reuse`"
        }
        (true, false) => "was already kept out of rotation",
        (false, true) => "is back in rotation",
        (false, false) => "was not kept out of rotation",
    };
    outln!("slot {slot}: tape {label} {what}");
    Ok(0)
}

fn relabel(cfg: &crate::config::Config, a: &Args, label: &str) -> anyhow::Result<i32> {
    vtape::check_label(&cfg.changer, label)?;
    let _lock = catalog::lock::exclusive(&cfg.catalog, "label")?;
    let trust = crate::keys::server_trust(&cfg.signing)?;
    let records = catalog::history::load_all(&cfg.catalog)?;
    let st = vtape::status::status(
        &cfg.changer,
        &records,
        &vtape::status::rules(&cfg.catalog, &cfg.changer, cfg.tapecycle)?,
        &trust,
    )?;
    let slot = vtape::scan_checked(&cfg.changer.root, a.slot, &trust)?;
    for l in vtape::relabel::check(&slot, label, a.force, &st, &records)? {
        forget_tape(&cfg.catalog, &l, &records)?;
    }
    let _readers_done = if slot.files.is_empty() {
        None
    } else {
        Some(catalog::lock::recycle(&cfg.catalog, label)?)
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
        label,
        "0",
        &crate::keys::signer(&cfg.signing, &cfg.encryption, &cfg.changer)?,
    )?;
    let mut admin = catalog::admin::Admin::load(&cfg.catalog)?;
    if let Some(old) = slot.label_name()
        && admin.set_no_reuse(old, false, "")
    {
        admin.save(&cfg.catalog)?;
    }
    outln!("slot {} labelled {label}", a.slot);
    Ok(0)
}
