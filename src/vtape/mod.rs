//! The virtual-tape changer (Amanda chg-disk layout): slots are directories under
//! `changer.root`, each with a label file `00000.LABEL` and dump files `NNNNN.HOST.DISK.LEVEL`.

pub mod decode;
pub mod header;
pub mod reader;
pub mod relabel;
pub mod root;
#[cfg(test)]
mod root_tests;
pub mod rotation;
pub mod source;
pub mod status;
pub mod writer;

use crate::fsutil;
use anyhow::{Context, Result, bail};
use header::LabelHeader;
pub use root::{Root, TapePath};
use serde::Serialize;

/// The changer: where slots live and how tapes are labelled.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Changer {
    // a local directory in tapir.toml; `--from` may make it a mirror on object storage
    #[cfg_attr(feature = "schema", schemars(with = "String"))]
    pub root: Root,
    pub slots: u32,
    pub labelstr: String,
    #[serde(skip)]
    pub label_re: regex::Regex,
    pub autolabel: Option<String>,
    pub tape_size: u64,
}

/// One dump file on a tape.
#[derive(Debug, Clone)]
pub struct TapeFile {
    pub number: u32,
    pub name: String,
    pub size: u64,
}

/// What a slot holds.
#[derive(Debug, Clone)]
pub struct Slot {
    pub slot: u32,
    pub dir: TapePath,
    pub label: Option<LabelHeader>,
    /// Why the label could not be read or trusted, if a label file exists but is bad.
    pub label_error: Option<String>,
    /// The label was read but fails its signature or disagrees with its place or its
    /// slot's dumps: the slot is DAMAGED (never written or relabelled without `--force`;
    /// its dumps stay catalogued, each checked by its own signature).
    pub damaged: Option<reader::Problem>,
    /// The label file's name as found (`00000.LABEL`), trusted or not.
    pub label_file: Option<String>,
    /// The label as read, with its signature, before it is checked.
    label_parsed: Option<header::Parsed<LabelHeader>>,
    pub files: Vec<TapeFile>,
    /// `.partial` files left by an interrupted run: never trusted.
    pub partials: Vec<TapePath>,
}

impl Slot {
    pub fn label_name(&self) -> Option<&str> {
        self.label.as_ref().map(|l| l.label.as_str())
    }
    pub fn bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }
    pub fn next_file_number(&self) -> u32 {
        self.files.iter().map(|f| f.number).max().unwrap_or(0) + 1
    }
    pub fn info(&self) -> rotation::TapeInfo {
        rotation::TapeInfo {
            slot: self.slot,
            label: self.label_name().map(String::from),
            last_written: self
                .label
                .as_ref()
                .map(|l| l.datestamp.clone())
                .filter(|d| d != "0"),
        }
    }
}

/// The directory name of slot `n` under a root.
pub fn slot_name(n: u32) -> String {
    format!("slot{n}")
}

/// Replace each run of `%` in `pattern` with the slot number zero-padded to the run's length.
pub fn expand_autolabel(pattern: &str, slot: u32) -> String {
    let mut out = String::new();
    let mut run = 0;
    for c in pattern.chars().chain(std::iter::once('\0')) {
        if c == '%' {
            run += 1;
            continue;
        }
        if run > 0 {
            out.push_str(&format!("{slot:0run$}"));
            run = 0;
        }
        if c != '\0' {
            out.push(c);
        }
    }
    out
}

/// `NNNNN.HOST.DISK.LEVEL` with `/` (and anything a shell would trip on) as `_`.
pub fn dump_file_name(number: u32, host: &str, disk: &str, level: u8) -> String {
    let disk: String = disk
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-+.,@=%".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    // the header keeps the whole disk name; the file name (and its `.partial`) stays within
    // NAME_MAX: names that fit are as they always were, longer ones end in a hash
    let name = format!("{number:05}.{host}.{disk}.{level}");
    if name.len() + ".partial".len() <= 255 {
        return name;
    }
    let host = fsutil::bounded(host.to_string(), 100);
    let disk = fsutil::bounded(disk, 240 - "NNNNN...LLL".len() - host.len());
    format!("{number:05}.{host}.{disk}.{level}")
}

/// Read every slot, each label checked against `trust` (see [`Slot::check_label`]); a
/// missing slot directory is an empty slot (created when first written).
pub fn scan(ch: &Changer, trust: &crate::signing::Trust) -> Result<Vec<Slot>> {
    (1..=ch.slots)
        .map(|n| scan_checked(&ch.root, n, trust))
        .collect()
}

/// One slot, its label checked against `trust`.
pub fn scan_checked(root: &Root, n: u32, trust: &crate::signing::Trust) -> Result<Slot> {
    let mut slot = scan_slot(root, n)?;
    slot.check_label(trust);
    Ok(slot)
}

impl Slot {
    /// Trust the label only when its signature holds (a key is known and not skipped) and
    /// it names the place it is in and the tape its slot's first dump says it is on.
    /// Otherwise the slot is DAMAGED: `label` is dropped, so that nothing takes the slot
    /// for one to write, and the reason is kept.
    pub fn check_label(&mut self, trust: &crate::signing::Trust) {
        let Some(parsed) = self.label_parsed.take() else {
            return;
        };
        if trust.signers.is_empty() || trust.skip_signature {
            return;
        }
        if let Err(p) = self.label_problem(&parsed, trust) {
            self.label_error = Some(format!("DAMAGED label: {p}"));
            self.damaged = Some(p);
            self.label = None;
        }
    }

    fn label_problem(
        &self,
        parsed: &header::Parsed<LabelHeader>,
        trust: &crate::signing::Trust,
    ) -> std::result::Result<(), reader::Problem> {
        match reader::check_signature(parsed, trust) {
            // a label written before tapes were signed is believed while nothing in its
            // slot is signed either (an upgraded installation's old tapes); one whose
            // signature was stripped from a slot of signed dumps is not
            Err(reader::Problem::Unsigned) if !self.any_signed_dump(trust) => {}
            r => {
                r?;
            }
        }
        let l = &parsed.header;
        let misplaced =
            |field, tape: String, place: String| reader::Problem::Misplaced { field, tape, place };
        let file = self.label_file.clone().unwrap_or_default();
        if file != format!("00000.{}", l.label) {
            return Err(misplaced("label", l.label.clone(), file));
        }
        if l.slot != self.slot {
            return Err(misplaced(
                "slot",
                l.slot.to_string(),
                format!("slot {}", self.slot),
            ));
        }
        // the dumps whose own signature holds name the tape they were written on: one that
        // agrees is enough (a swapped-in file is the reader's to refuse); when none agrees
        // and one disagrees, it is the label that is wrong
        let mut other = None;
        for f in &self.files {
            let on = header::read_block(&self.dir.join(&f.name))
                .ok()
                .and_then(|b| header::parse_dump(&b).ok())
                .filter(|p| reader::check_signature(p, trust).is_ok())
                .map(|p| p.header.label);
            match on {
                Some(on) if on == l.label => return Ok(()),
                Some(on) if other.is_none() => other = Some((f.name.clone(), on)),
                _ => {}
            }
        }
        if let Some((name, on)) = other {
            return Err(misplaced(
                "label",
                l.label.clone(),
                format!("{name} says tape {on}"),
            ));
        }
        Ok(())
    }
}

impl Slot {
    /// Whether a dump file of this slot carries a signature that holds.
    fn any_signed_dump(&self, trust: &crate::signing::Trust) -> bool {
        self.files.iter().any(|f| {
            header::read_block(&self.dir.join(&f.name))
                .ok()
                .and_then(|b| header::parse_dump(&b).ok())
                .is_some_and(|p| reader::check_signature(&p, trust).is_ok())
        })
    }
}

pub fn scan_slot(root: &Root, n: u32) -> Result<Slot> {
    let dir = root.slot(n);
    let mut slot = Slot {
        slot: n,
        dir: dir.clone(),
        label: None,
        label_error: None,
        damaged: None,
        label_file: None,
        label_parsed: None,
        files: vec![],
        partials: vec![],
    };
    let listed = dir.list().with_context(|| format!("cannot read {dir}"))?;
    for (name, size) in listed.unwrap_or_default() {
        add_entry(&mut slot, &dir, name, size);
    }
    slot.files.sort_by_key(|f| f.number);
    Ok(slot)
}

/// One directory entry of a slot: the label, a dump, a partial, or something else.
fn add_entry(slot: &mut Slot, dir: &TapePath, name: String, size: u64) {
    let path = dir.join(&name);
    let Some(num) = name.get(..5).and_then(|s| s.parse::<u32>().ok()) else {
        return;
    };
    if name.ends_with(".partial") {
        slot.partials.push(path);
    } else if num == 0 {
        slot.label_file = Some(name);
        match header::read_label_signed(&path) {
            Ok(p) => {
                slot.label = Some(p.header.clone());
                slot.label_parsed = Some(p);
            }
            Err(err) => {
                // a label that cannot even be parsed is damaged too: never written over
                let p = reader::Problem::Unreadable(format!("{err:#}"));
                slot.label_error = Some(format!("DAMAGED label: {p}"));
                slot.damaged = Some(p);
            }
        }
    } else {
        slot.files.push(TapeFile {
            number: num,
            name,
            size,
        });
    }
}

/// The fingerprints of the keys that signed the tapes under the changer's root: every
/// label, and the newest dump file of each slot (read without checking: only who claims).
pub fn signers_on_tapes(ch: &Changer) -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    for n in 1..=ch.slots {
        let Ok(slot) = scan_slot(&ch.root, n) else {
            continue;
        };
        if let Some(l) = slot.label.as_ref().filter(|l| !l.signer.is_empty()) {
            out.insert(l.signer.clone());
        }
        if let Some(f) = slot.files.last()
            && let Ok(h) = header::read_dump(&slot.dir.join(&f.name))
            && !h.signer.is_empty()
        {
            out.insert(h.signer);
        }
    }
    out
}

/// Check a label against `labelstr` and against the file-name rules.
pub fn check_label(ch: &Changer, label: &str) -> Result<()> {
    if !ch.label_re.is_match(label) {
        bail!(crate::error::Error::config(format!(
            "label {label:?} does not match changer.labelstr {:?}",
            ch.labelstr
        )));
    }
    if label == crate::catalog::history::HOLDING {
        bail!(crate::error::Error::config(format!(
            "label {label:?} is reserved for dumps in the holding area"
        )));
    }
    if label.is_empty() || label.starts_with('.') || label.contains(['/', '\0']) {
        bail!(crate::error::Error::config(format!(
            "label {label:?} cannot be a file name"
        )));
    }
    Ok(())
}

/// Erase a slot's dump files, then write its label header (datestamp "0": never written).
pub fn write_label(
    slot: &Slot,
    label: &str,
    datestamp: &str,
    signer: &crate::signing::Signer,
) -> Result<()> {
    let dir = slot.dir.local_only()?;
    fsutil::create_dir_all(dir)?;
    erase_dumps(slot, dir)?;
    let hdr = LabelHeader {
        label: label.to_string(),
        slot: slot.slot,
        datestamp: datestamp.to_string(),
        labelled: chrono::Local::now().to_rfc3339(),
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        signer: String::new(),
    };
    let name = format!("00000.{label}");
    fsutil::write_atomic(&dir.join(&name), &hdr.encode(Some(signer))?)?;
    if let Some(old) = slot.label_file.as_ref().filter(|l| **l != name) {
        // two label files would leave the slot's name in doubt (DAMAGED on the next scan)
        let old = dir.join(old);
        match std::fs::remove_file(&old) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).with_context(|| {
                    format!("cannot remove the old label file {}", old.display())
                });
            }
            _ => {}
        }
    }
    fsutil::sync_dir(dir)
}

fn erase_dumps(slot: &Slot, dir: &std::path::Path) -> Result<()> {
    for f in &slot.files {
        let p = dir.join(&f.name);
        std::fs::remove_file(&p).with_context(|| format!("cannot erase {}", p.display()))?;
    }
    for p in slot.partials.iter().filter_map(|p| p.local()) {
        let _ = std::fs::remove_file(p);
    }
    fsutil::sync_dir(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn autolabel_pads_to_the_run_of_percent_signs() {
        assert_eq!(expand_autolabel("daily-%%", 3), "daily-03");
        assert_eq!(expand_autolabel("t%%%x", 12), "t012x");
        assert_eq!(expand_autolabel("daily-%%", 123), "daily-123");
    }

    #[test]
    fn dump_file_names_are_shell_safe() {
        assert_eq!(dump_file_name(1, "web1", "/etc", 0), "00001.web1._etc.0");
        assert_eq!(
            dump_file_name(12, "h", "/my docs/$x", 1),
            "00012.h._my_docs__x.1"
        );
        let long = dump_file_name(1, "web1", &"/very long name".repeat(80), 0);
        assert!(long.len() + ".partial".len() <= 255, "{}", long.len());
    }
}
