//! The relabel policy: a tape that still holds needed dumps, a slot whose label is damaged
//! or gone while the catalog lists dumps in it, or a label already on another slot is never
//! relabelled without `--force`; what `--force` gives up is said before it is lost.

use super::Slot;
use super::status::TapeStatus;
use crate::catalog::DumpRecord;
use crate::error::Error;

/// May slot `slot.slot` be labelled `label`? `Ok(labels)`: yes, after the catalog forgets
/// the records of these tapes (a damaged or lost label given up with `force`).
pub fn check(
    slot: &Slot,
    label: &str,
    force: bool,
    status: &[TapeStatus],
    records: &[DumpRecord],
) -> Result<Vec<String>, Error> {
    let n = slot.slot;
    if let Some(other) = status
        .iter()
        .find(|t| t.label.as_deref() == Some(label) && t.slot != n)
    {
        return Err(
            Error::config(format!("label {label} is already on slot {}", other.slot))
                .hint("choose another label (`tapir tapes` lists them)"),
        );
    }
    let mut forget = Vec::new();
    let bad_label = slot
        .label_error
        .as_ref()
        .filter(|_| !slot.files.is_empty() || records.iter().any(|r| r.slot == n));
    if let Some(why) = bad_label
        .map(|e| {
            format!(
                "{e}; it holds {} dump file(s), still catalogued and restorable",
                slot.files.len()
            )
        })
        .or_else(|| super::rotation::lost_label(slot, records))
    {
        if !force {
            return Err(Error::config(format!("slot {n}: {why}")).hint(format!(
                "`tapir label {n} {label} --force` relabels it and loses them"
            )));
        }
        forget.extend(
            records
                .iter()
                .filter(|r| r.slot == n)
                .map(|r| r.label.clone()),
        );
    }
    let this = &status[(n - 1) as usize];
    if let (Some(old), false, false) = (&this.label, this.reusable, force)
        && this.dumps > 0
    {
        return Err(Error::config(format!(
            "slot {n} holds {old}, which is still needed ({})",
            this.note.as_deref().unwrap_or("needed"),
        ))
        .hint(format!(
            "label another slot, or `tapir label {n} {label} --force` to lose its {} dump(s)",
            this.dumps
        )));
    }
    Ok(forget)
}
