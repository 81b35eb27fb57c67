//! The state of every slot as admins see it (`tapir tapes`, `tapir label`): label, last
//! written, dumps, bytes, whether it may be reused and why not, and which tape is next.

use super::rotation;
use crate::catalog::history;
use anyhow::Result;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct TapeStatus {
    pub slot: u32,
    pub label: Option<String>,
    pub last_written: Option<String>,
    pub dumps: usize,
    /// Bytes of the slot's dump files.
    #[serde(rename = "tape_bytes")]
    pub bytes: u64,
    pub reusable: bool,
    /// The label fails its signature or disagrees with its place or dumps (see `note`).
    #[serde(default)]
    pub damaged: bool,
    /// Kept out of rotation by `tapir label --no-reuse`.
    #[serde(default)]
    pub no_reuse: bool,
    /// Why it is not reusable, or a problem with the slot.
    pub note: Option<String>,
    pub next: bool,
}

/// The rules of rotation now: the admin's decisions in the catalog, today's date.
pub fn rules(
    catalog: &std::path::Path,
    changer: &super::Changer,
    tapecycle: u32,
) -> Result<rotation::Rules> {
    Ok(rotation::Rules {
        tapecycle,
        autolabel: changer.autolabel.is_some(),
        admin: crate::catalog::admin::Admin::load(catalog)?,
        today: crate::clock::date(&crate::clock::now()?),
    })
}

/// Every slot's status, with the tape the next run will write marked.
pub fn status(
    changer: &super::Changer,
    records: &[history::DumpRecord],
    rules: &rotation::Rules,
    trust: &crate::signing::Trust,
) -> Result<Vec<TapeStatus>> {
    let slots = super::scan(changer, trust)?;
    let autolabel = rules.autolabel;
    let (needed, next) = rotation::next_tape(&slots, records, rules, &[]);
    Ok(slots
        .iter()
        .map(|s| {
            let info = s.info();
            let lost = rotation::lost_label(s, records);
            let note = match (&s.label_error, s.label_name()) {
                (Some(e), _) if s.damaged.is_some() => Some(format!(
                    "{e}; not written, its dumps kept (`tapir label {} LABEL --force` gives it up)",
                    s.slot
                )),
                (Some(e), _) => Some(format!("unreadable label: {e}")),
                (None, None) if lost.is_some() => lost.clone(),
                (None, Some(l)) => needed.get(l).cloned(),
                (None, None) if autolabel => Some("empty; will be labelled automatically".into()),
                (None, None) => Some("not labelled".into()),
            };
            let reusable = s.label_error.is_none()
                && lost.is_none()
                && match s.label_name() {
                    Some(l) => !needed.contains_key(l),
                    None => autolabel,
                };
            TapeStatus {
                slot: s.slot,
                label: info.label,
                last_written: info.last_written,
                dumps: s.files.len(),
                bytes: s.bytes(),
                reusable,
                damaged: s.damaged.is_some(),
                no_reuse: s
                    .label_name()
                    .is_some_and(|l| rules.admin.no_reuse(l).is_some()),
                note,
                next: next == Some(s.slot),
            }
        })
        .collect())
}
