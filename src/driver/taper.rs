//! The taper: which tape the run is writing, how much room is left on it, and moving on to
//! the next reusable tape when one fills (at most `runtapes` per run). Several dumps may
//! write to the current tape at once: each takes a [`Ticket`] (a file number and the
//! tape's shared [`TapeSpace`]).

use crate::catalog::{self, DumpRecord};
use crate::config::Config;
use crate::pipeline::stages::TapeSpace;
use crate::vtape::{self, Slot, header::HEADER_SIZE, rotation};
use anyhow::{Context, Result, bail};
use std::sync::Arc;

/// The tape being written.
pub struct Current {
    pub slot: Slot,
    pub label: String,
    pub next_file: u32,
    pub space: Arc<TapeSpace>,
    /// Counts tapes started by this run, so a dump that filled an old tape does not
    /// advance past a newer one.
    pub generation: u32,
}

/// One dump's place on a tape.
#[derive(Clone)]
pub struct Ticket {
    pub slot: u32,
    pub dir: std::path::PathBuf,
    pub label: String,
    pub file_number: u32,
    pub space: Arc<TapeSpace>,
    pub generation: u32,
}

pub struct Taper<'a> {
    cfg: &'a Config,
    signer: &'a crate::signing::Signer,
    trust: &'a crate::signing::Trust,
    datestamp: String,
    /// Slots written by this run, in order.
    pub used_slots: Vec<u32>,
    pub labels: Vec<String>,
    current: Option<Current>,
    /// A tape was wanted and none could be had.
    pub refused: bool,
    /// The run's history: as reconcile left it, plus each dump written, minus the tapes
    /// recycled (read from disk once per run, never again here).
    pub records: Vec<DumpRecord>,
    /// The rules of rotation for this run (read once).
    pub rules: rotation::Rules,
}

impl<'a> Taper<'a> {
    pub fn new(
        cfg: &'a Config,
        signer: &'a crate::signing::Signer,
        trust: &'a crate::signing::Trust,
        datestamp: &str,
        records: Vec<DumpRecord>,
        rules: rotation::Rules,
    ) -> Self {
        Taper {
            cfg,
            signer,
            trust,
            datestamp: datestamp.into(),
            used_slots: vec![],
            labels: vec![],
            current: None,
            refused: false,
            records,
            rules,
        }
    }

    /// A dump this run wrote and catalogued (as [`catalog::history::append`] records it).
    pub fn recorded(&mut self, rec: DumpRecord) {
        self.records
            .retain(|r| !(r.label == rec.label && r.file_number == rec.file_number));
        self.records.push(rec);
        self.records.sort_by(|a, b| {
            (&a.datestamp, &a.host, &a.disk).cmp(&(&b.datestamp, &b.host, &b.disk))
        });
    }

    /// A file number on the current tape (starting the first tape if needed).
    pub fn ticket(&mut self) -> Result<Ticket> {
        if self.current.is_none() {
            self.advance()?;
        }
        let c = self.current.as_mut().unwrap();
        let t = Ticket {
            slot: c.slot.slot,
            dir: c.slot.dir.local_only()?.to_path_buf(),
            label: c.label.clone(),
            file_number: c.next_file,
            space: c.space.clone(),
            generation: c.generation,
        };
        c.next_file += 1;
        Ok(t)
    }

    /// A dump that wrote nothing returns its file number if no later one was handed out.
    pub fn give_back(&mut self, t: &Ticket) {
        if let Some(c) = self.current.as_mut()
            && c.generation == t.generation
            && c.next_file == t.file_number + 1
        {
            c.next_file = t.file_number;
        }
    }

    /// `t`'s tape is full: go on to the next tape, unless another dump already did.
    pub fn tape_full(&mut self, t: &Ticket) -> Result<()> {
        if self
            .current
            .as_ref()
            .is_some_and(|c| c.generation != t.generation)
        {
            return Ok(());
        }
        if !self.can_advance() {
            bail!(
                "does not fit: tape {} has {} left and runtapes = {} allows no further tape; nothing was written",
                t.label,
                crate::units::human(t.space.left()),
                self.cfg.runtapes
            );
        }
        crate::say::progress(format!("tape {} full, going on to the next tape", t.label));
        self.advance()
    }

    pub fn can_advance(&self) -> bool {
        (self.used_slots.len() as u32) < self.cfg.runtapes
    }

    /// Close the current tape and start the next reusable one.
    pub fn advance(&mut self) -> Result<()> {
        if !self.can_advance() {
            bail!(
                "runtapes = {} tape(s) already written by this run",
                self.cfg.runtapes
            );
        }
        let slots = vtape::scan(&self.cfg.changer, self.trust)?;
        let (needed, next) =
            rotation::next_tape(&slots, &self.records, &self.rules, &self.used_slots);
        let Some(pick) = next else {
            self.refused = true;
            bail!(rotation::no_tape_reason(
                &slots,
                &needed,
                self.rules.autolabel
            ));
        };
        let slot = slots.into_iter().find(|s| s.slot == pick).unwrap();
        let label = self.start(&slot)?;
        let slot = vtape::scan_checked(&self.cfg.changer.root, slot.slot, self.trust)?;
        self.used_slots.push(slot.slot);
        self.labels.push(label.clone());
        let used = HEADER_SIZE as u64 + slot.bytes();
        let space = TapeSpace::new(self.cfg.changer.tape_size, used);
        let generation = self.used_slots.len() as u32;
        self.current = Some(Current {
            next_file: slot.next_file_number(),
            slot,
            label,
            space,
            generation,
        });
        Ok(())
    }

    /// Prepare `slot` for this run: forget its old dumps in the catalog first, then erase
    /// them on the tape (a crash between the two leaves files the catalog can re-learn).
    fn start(&mut self, slot: &Slot) -> Result<String> {
        let (label, new) = match slot.label_name() {
            Some(l) => (l.to_string(), false),
            None => (self.autolabel(slot)?, true),
        };
        let _readers_done = if slot.files.is_empty() {
            None
        } else {
            Some(catalog::lock::recycle(&self.cfg.catalog, &label)?)
        };
        catalog::forget_tape(&self.cfg.catalog, &label, &self.records)?;
        self.records.retain(|r| r.label != label);
        vtape::write_label(slot, &label, &self.datestamp, self.signer)
            .with_context(|| format!("cannot start tape {label} in slot {}", slot.slot))?;
        if new {
            crate::say::progress(format!("labelled empty slot {} as {label}", slot.slot));
        }
        Ok(label)
    }

    fn autolabel(&self, slot: &Slot) -> Result<String> {
        let pattern = self
            .cfg
            .changer
            .autolabel
            .as_deref()
            .context("no autolabel")?;
        let label = vtape::expand_autolabel(pattern, slot.slot);
        vtape::check_label(&self.cfg.changer, &label)?;
        let slots = vtape::scan(&self.cfg.changer, self.trust)?;
        if let Some(other) = slots.iter().find(|s| s.label_name() == Some(&label)) {
            bail!(
                "autolabel {label:?} for slot {} is already the label of slot {}",
                slot.slot,
                other.slot
            );
        }
        Ok(label)
    }
}
