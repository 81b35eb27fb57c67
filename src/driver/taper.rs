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
    /// Why no tape can be written by this run: dumps go to the holding area.
    pub unwritable: Option<String>,
    holding: Option<HoldingArea>,
}

/// The holding area as this run fills it.
struct HoldingArea {
    next_file: u32,
    space: Arc<TapeSpace>,
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
            unwritable: None,
            holding: None,
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

    /// A file number on the current tape (starting the first tape if needed), or in the
    /// holding area when no tape can be written and there is one.
    pub fn ticket(&mut self) -> Result<Ticket> {
        if self.unwritable.is_none()
            && self.current.is_none()
            && let Err(e) = self.advance()
        {
            self.hold_or(e)?;
        }
        if self.unwritable.is_some() {
            return self.holding_ticket();
        }
        self.tape_ticket()
    }

    /// A file number on the current tape, never the holding area (flush).
    pub fn tape_ticket(&mut self) -> Result<Ticket> {
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

    /// No tape can be written (`why`): with a holding area, the run's dumps go there from
    /// now on; without one, `why` is the error.
    pub fn hold_or(&mut self, why: anyhow::Error) -> Result<()> {
        let Some(h) = &self.cfg.holding else {
            return Err(why);
        };
        let why = format!("{why:#}");
        crate::say::problem(format!(
            "no tape can be written ({}): the dumps wait in the holding area {}",
            why.lines().next().unwrap_or(""),
            h.dir.display()
        ));
        self.unwritable = Some(why);
        Ok(())
    }

    /// A place in the holding area: file numbers go on from the highest there.
    fn holding_ticket(&mut self) -> Result<Ticket> {
        let h = self.cfg.holding.as_ref().context("no holding area")?;
        if self.holding.is_none() {
            crate::fsutil::create_dir_all(&h.dir)?;
            let (mut next, mut used) = (1, 0u64);
            for e in std::fs::read_dir(&h.dir)
                .with_context(|| format!("cannot read the holding area {}", h.dir.display()))?
            {
                let e = e?;
                let name = e.file_name().to_string_lossy().into_owned();
                if let Some(n) = name.get(..5).and_then(|n| n.parse::<u32>().ok()) {
                    next = next.max(n + 1);
                }
                used += e.metadata().map(|m| m.len()).unwrap_or(0);
            }
            let capacity = match h.size {
                0 => crate::sys::free_bytes(&h.dir)
                    .unwrap_or(u64::MAX)
                    .saturating_add(used),
                n => n,
            };
            self.holding = Some(HoldingArea {
                next_file: next,
                space: TapeSpace::new(capacity, used),
            });
        }
        let area = self.holding.as_mut().unwrap();
        let t = Ticket {
            slot: 0,
            dir: h.dir.clone(),
            label: catalog::history::HOLDING.into(),
            file_number: area.next_file,
            space: area.space.clone(),
            generation: u32::MAX,
        };
        area.next_file += 1;
        Ok(t)
    }

    /// `t`'s tape is full: go on to the next tape, unless another dump already did; to the
    /// holding area when no further tape may be written.
    pub fn tape_full(&mut self, t: &Ticket) -> Result<()> {
        if t.slot == 0 {
            bail!(
                "the holding area {} is full ({} left); nothing was kept",
                t.dir.display(),
                crate::units::human(t.space.left())
            );
        }
        if self
            .current
            .as_ref()
            .is_some_and(|c| c.generation != t.generation)
        {
            return Ok(());
        }
        if self.unwritable.is_some() {
            return Ok(());
        }
        if !self.can_advance() {
            return self.hold_or(anyhow::anyhow!(
                "does not fit: tape {} has {} left and runtapes = {} allows no further tape; nothing was written",
                t.label,
                crate::units::human(t.space.left()),
                self.cfg.runtapes
            ));
        }
        crate::say::progress(format!("tape {} full, going on to the next tape", t.label));
        match self.advance() {
            Ok(()) => Ok(()),
            Err(e) => self.hold_or(e),
        }
    }

    /// The tape's file system failed under a dump (full, gone): with a holding area the
    /// dump is tried again there; whether it will be.
    pub fn tape_failed(&mut self, t: &Ticket, e: &anyhow::Error) -> bool {
        if t.slot == 0 || self.cfg.holding.is_none() || !tape_fs_failed(e) {
            return false;
        }
        self.give_back(t);
        self.hold_or(anyhow::anyhow!("writing to tape {} failed: {e:#}", t.label))
            .is_ok()
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

/// An error of the tape's file system itself (full, read-only, over quota, I/O error), not
/// of the dump: only these send the rest of the run to the holding area. (Not NotFound: a
/// missing reference index is the dump's problem, and a tape root that is gone fails at
/// `advance`, before any dump.)
fn tape_fs_failed(e: &anyhow::Error) -> bool {
    use std::io::ErrorKind as K;
    e.chain()
        .filter_map(|c| c.downcast_ref::<std::io::Error>())
        .any(|io| {
            matches!(
                io.kind(),
                K::StorageFull | K::ReadOnlyFilesystem | K::QuotaExceeded
            ) || io.raw_os_error() == Some(5)
        })
}
