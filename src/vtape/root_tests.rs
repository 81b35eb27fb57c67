//! Unit tests of the scan, the one tape reader, the label checks, rotation and the relabel
//! policy on in-memory roots: no directory, no process-global store.

use super::header::{DumpHeader, HEADER_SIZE, LabelHeader, PayloadFormat, Sealed, WriteState};
use super::reader::{self, Expect, Problem};
use super::root::{Memory, Root};
use super::{Changer, dump_file_name, relabel, rotation, scan, scan_checked, status};
use crate::signing::{Signer, Trust};
use sha2::{Digest, Sha256};

struct Keys {
    _dir: tempfile::TempDir,
    signer: Signer,
    trust: Trust,
}

fn keys() -> Keys {
    let dir = tempfile::tempdir().unwrap();
    let signer = crate::signing::create(&dir.path().join("signing_key")).unwrap();
    let trust = Trust::new(vec![signer.public().clone()], false);
    Keys {
        _dir: dir,
        signer,
        trust,
    }
}

fn changer(root: Root, slots: u32) -> Changer {
    Changer {
        root,
        slots,
        labelstr: "^T-".into(),
        label_re: regex::Regex::new("^T-").unwrap(),
        autolabel: None,
        tape_size: 1 << 30,
    }
}

/// Label slot `slot` as `label`, written on `datestamp`.
fn put_label(mem: &Memory, slot: u32, label: &str, datestamp: &str, k: &Keys) {
    let h = LabelHeader {
        label: label.into(),
        slot,
        datestamp: datestamp.into(),
        labelled: "2026-12-01T00:00:00Z".into(),
        tool_version: "test".into(),
        signer: String::new(),
    };
    let bytes = h.encode(Some(&k.signer)).unwrap();
    mem.put(&format!("slot{slot}/00000.{label}"), bytes);
}

fn header(label: &str, slot: u32, number: u32, payload: &[u8]) -> DumpHeader {
    DumpHeader {
        label: label.into(),
        slot,
        file_number: number,
        datestamp: "20261201000000".into(),
        host: "web1".into(),
        disk: "/etc".into(),
        level: 0,
        dumptype: "plain".into(),
        compress: crate::codec::Compress::None,
        encrypt: Sealed::None,
        recipients: vec![],
        original_size: payload.len() as u64,
        payload_size: payload.len() as u64,
        payload_sha256: crate::units::hex(&Sha256::digest(payload)),
        complete: true,
        status: WriteState::Ok,
        files: 1,
        client_time_ns: 1,
        tool_version: "test".into(),
        age_header_sha256: String::new(),
        signer: String::new(),
        format: PayloadFormat::Tar,
        program: String::new(),
        stream_name: String::new(),
        stream_sha256: String::new(),
        program_restore: String::new(),
    }
}

/// A signed dump file; returns its key and its header.
fn put_dump(mem: &Memory, label: &str, slot: u32, n: u32, payload: &[u8], k: &Keys) -> String {
    let h = header(label, slot, n, payload);
    let name = dump_file_name(n, &h.host, &h.disk, h.level);
    let mut bytes = h.encode(&name, Some(&k.signer)).unwrap();
    bytes.extend_from_slice(payload);
    let key = format!("slot{slot}/{name}");
    mem.put(&key, bytes);
    key
}

fn open(root: &Root, key: &str, k: &Keys, slot: u32) -> Result<reader::Opened, Problem> {
    let (dir, name) = key.split_once('/').unwrap();
    assert_eq!(dir, format!("slot{slot}"));
    let expect = Expect {
        slot,
        label: Some("T-01"),
        record: None,
    };
    reader::open(&root.file(slot, name), &k.trust, expect).map_err(|e| e.problem)
}

fn records_of(root: &Root, k: &Keys, slots: u32) -> Vec<crate::catalog::DumpRecord> {
    let ch = changer(root.clone(), slots);
    let mut out = vec![];
    for s in scan(&ch, &k.trust).unwrap() {
        for f in &s.files {
            let h = super::header::read_dump(&s.dir.join(&f.name)).unwrap();
            out.push(h.record(&f.name, 0.0, None));
        }
    }
    out
}

#[test]
fn two_memory_roots_in_one_process_see_only_their_own_tapes() {
    let k = keys();
    let (a, mem_a) = Memory::root();
    let (b, mem_b) = Memory::root();
    put_label(&mem_a, 1, "T-01", "20261201000000", &k);
    put_dump(&mem_a, "T-01", 1, 1, b"tar bytes", &k);
    put_label(&mem_b, 1, "T-09", "0", &k);
    let sa = scan_checked(&a, 1, &k.trust).unwrap();
    let sb = scan_checked(&b, 1, &k.trust).unwrap();
    assert_eq!(sa.label_name(), Some("T-01"));
    assert_eq!(sa.files.len(), 1);
    assert_eq!(sa.files[0].name, "00001.web1._etc.0");
    assert_eq!(sb.label_name(), Some("T-09"));
    assert!(sb.files.is_empty());
    // a slot nobody wrote is an empty slot, not an error
    let empty = scan_checked(&a, 2, &k.trust).unwrap();
    assert!(empty.label.is_none() && empty.files.is_empty() && empty.damaged.is_none());
    assert_eq!(a.file(1, "x").to_string(), "mem:/slot1/x");
}

#[test]
fn the_reader_gives_one_verdict_per_damage() {
    let k = keys();
    let (root, mem) = Memory::root();
    let key = put_dump(&mem, "T-01", 1, 1, b"the payload", &k);
    let good = mem.get(&key).unwrap();
    // whole and right: opened, and the payload's sha256 holds
    let opened = open(&root, &key, &k, 1).unwrap();
    assert!(opened.signed);
    let mut p = opened.payload().unwrap();
    std::io::copy(&mut p, &mut std::io::sink()).unwrap();
    p.finish().unwrap();
    // one byte short, one byte more
    mem.put(&key, good[..good.len() - 1].to_vec());
    let t = open(&root, &key, &k, 1).err().unwrap();
    let (len, want) = (HEADER_SIZE as u64 + 10, HEADER_SIZE as u64 + 11);
    assert_eq!(
        (t.verdict(), t),
        ("TRUNCATED", Problem::Truncated { len, want })
    );
    mem.put(&key, [good.as_slice(), b"x"].concat());
    let p = open(&root, &key, &k, 1).err().unwrap();
    let len = HEADER_SIZE as u64 + 12;
    assert_eq!((p.verdict(), p), ("CORRUPT", Problem::Padded { len, want }));
    // a flipped payload byte is found when the payload is read
    let mut flipped = good.clone();
    *flipped.last_mut().unwrap() ^= 1;
    mem.put(&key, flipped);
    let p = open(&root, &key, &k, 1).unwrap().payload().unwrap();
    let e = p.finish().err().unwrap();
    assert!(matches!(e.problem, Problem::Corrupt { .. }), "{e}");
    assert!(
        e.to_string()
            .starts_with("mem:/slot1/00001.web1._etc.0: CORRUPT"),
        "{e}"
    );
    // a flipped header byte breaks the signature
    let mut forged = good.clone();
    let at = forged.windows(4).position(|w| w == b"web1").unwrap();
    forged[at] = b'W';
    mem.put(&key, forged);
    let e = open(&root, &key, &k, 1).err().unwrap();
    assert_eq!(e.verdict(), "BADSIG", "{e}");
    // the same good file in another slot is misplaced
    mem.put("slot2/00001.web1._etc.0", good);
    let e = open(&root, "slot2/00001.web1._etc.0", &k, 2).err().unwrap();
    assert!(matches!(e, Problem::Misplaced { field: "slot", .. }), "{e}");
}

#[test]
fn a_label_that_fails_its_signature_its_place_or_its_dumps_is_damaged() {
    let k = keys();
    let (root, mem) = Memory::root();
    put_label(&mem, 1, "T-01", "20261201000000", &k);
    put_dump(&mem, "T-01", 1, 1, b"payload", &k);
    assert!(scan_checked(&root, 1, &k.trust).unwrap().damaged.is_none());
    // edited label text
    let mut bytes = mem.get("slot1/00000.T-01").unwrap();
    let at = bytes.windows(4).position(|w| w == b"T-01").unwrap();
    bytes[at + 3] = b'2';
    mem.put("slot1/00000.T-01", bytes);
    let s = scan_checked(&root, 1, &k.trust).unwrap();
    assert_eq!(s.damaged.as_ref().map(Problem::verdict), Some("BADSIG"));
    assert!(s.label.is_none(), "a damaged label is never used");
    // a validly signed label copied into another slot names the wrong place
    put_label(&mem, 1, "T-01", "20261201000000", &k);
    mem.put("slot2/00000.T-01", mem.get("slot1/00000.T-01").unwrap());
    let s = scan_checked(&root, 2, &k.trust).unwrap();
    assert!(matches!(
        s.damaged,
        Some(Problem::Misplaced { field: "slot", .. })
    ));
    // a validly signed label whose slot's dumps say another tape
    put_label(&mem, 3, "T-03", "20261201000000", &k);
    put_dump(&mem, "T-07", 3, 1, b"payload", &k);
    let s = scan_checked(&root, 3, &k.trust).unwrap();
    let why = s.label_error.unwrap();
    assert!(why.contains("00001.web1._etc.0 says tape T-07"), "{why}");
    // a key this reader does not trust
    let other = keys();
    let s = scan_checked(&root, 1, &other.trust).unwrap();
    assert_eq!(s.damaged.as_ref().map(Problem::verdict), Some("BADSIG"));
}

#[test]
fn rotation_writes_the_oldest_tape_no_dump_needs_and_relabel_keeps_needed_ones() {
    let k = keys();
    let (root, mem) = Memory::root();
    put_label(&mem, 1, "T-01", "20261201000000", &k);
    put_label(&mem, 2, "T-02", "20261202000000", &k);
    put_label(&mem, 3, "T-03", "20261203000000", &k);
    put_dump(&mem, "T-02", 2, 1, b"the only full", &k);
    let records = records_of(&root, &k, 3);
    let ch = changer(root.clone(), 3);
    let slots = scan(&ch, &k.trust).unwrap();
    // tapecycle 2: the newest written tape (T-03) is kept, T-02 holds the only full
    let rules = rotation::Rules {
        tapecycle: 2,
        ..Default::default()
    };
    let (needed, next) = rotation::next_tape(&slots, &records, &rules, &[]);
    assert_eq!(next, Some(1), "T-01 is the oldest and holds nothing needed");
    assert_eq!(needed.keys().collect::<Vec<_>>(), ["T-02", "T-03"]);
    let (_, next) = rotation::next_tape(&slots, &records, &rules, &[1]);
    assert_eq!(next, None, "no other tape may be written");
    let st = status::status(&ch, &records, &rules, &k.trust).unwrap();
    assert!(st[0].next && st[0].reusable && !st[1].reusable);
    // relabelling the tape that holds the only full is refused without --force
    let e = relabel::check(&slots[1], "T-22", false, &st, &records).unwrap_err();
    assert!(e.to_string().contains("still needed"), "{e}");
    assert!(relabel::check(&slots[1], "T-22", true, &st, &records).is_ok());
    assert!(relabel::check(&slots[0], "T-02", false, &st, &records).is_err());
    // a damaged label over catalogued dumps: refused, and --force forgets its records
    let mut bytes = mem.get("slot2/00000.T-02").unwrap();
    bytes[40] ^= 1;
    mem.put("slot2/00000.T-02", bytes);
    let slots = scan(&ch, &k.trust).unwrap();
    let st = status::status(&ch, &records, &rules, &k.trust).unwrap();
    assert!(st[1].damaged);
    let e = relabel::check(&slots[1], "T-22", false, &st, &records).unwrap_err();
    let hint = "to fix: `tapir label 2 T-22 --force` relabels it and loses them";
    assert!(e.to_string().ends_with(hint), "{e}");
    let forget = relabel::check(&slots[1], "T-22", true, &st, &records).unwrap();
    assert_eq!(forget, vec!["T-02".to_string()]);
    // nothing on a memory root is written by tapir's writers
    let e = super::write_label(&slots[0], "T-11", "0", &k.signer).unwrap_err();
    assert!(e.to_string().contains("only a local vtape root"), "{e}");
}
