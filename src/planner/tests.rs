//! Unit tests of every planner rule, on synthetic DLEs and histories.

use super::*;
use crate::catalog::{DumpRecord, DumpStatus};
use chrono::TimeZone;

const M: u64 = 1 << 20;

fn now() -> DateTime<Local> {
    Local.with_ymd_and_hms(2026, 3, 15, 2, 0, 0).unwrap()
}

fn params() -> Params {
    Params {
        now: now(),
        dumpcycle: 7,
        runspercycle: 7,
        capacity: 100_000 * M,
        bump: Bump {
            size: 10 * M,
            mult: 1.5,
            days: 2,
        },
    }
}

fn dle(disk: &str) -> Dle {
    Dle {
        host: "h".into(),
        disk: disk.into(),
        device: disk.into(),
        dumptype: "t".into(),
        spindle: None,
        interface: None,
        origin: "disklist:1".into(),
    }
}

/// A dump `nights` ago at `level` of `size` bytes (ratio 1.0).
fn rec(disk: &str, nights: i64, level: u8, size: u64) -> DumpRecord {
    let t = now() - chrono::Duration::days(nights);
    DumpRecord {
        host: "h".into(),
        disk: disk.into(),
        datestamp: crate::clock::datestamp(&t),
        level,
        label: format!("daily-{nights}"),
        slot: 1,
        file_number: 1,
        file_name: String::new(),
        status: DumpStatus::Ok,
        original_size: size,
        payload_size: size,
        payload_sha256: String::new(),
        compress: "server-fast".into(),
        encrypt: "server".into(),
        files: 1,
        seconds: 1.0,
        client_time_ns: t.timestamp_nanos_opt().unwrap(),
        client_time: String::new(),
        index: Some("index/x".into()),
        path: None,
        rekeyed_from: None,
    }
}

struct Case {
    dles: Vec<Dle>,
    types: Vec<Dumptype>,
    hist: Vec<Vec<DumpRecord>>,
    est: Vec<Option<BTreeMap<u8, u64>>>,
    forced: Vec<bool>,
}

impl Case {
    fn new() -> Self {
        Case {
            dles: vec![],
            types: vec![],
            hist: vec![],
            est: vec![],
            forced: vec![],
        }
    }
    fn add(mut self, disk: &str, dt: Dumptype, hist: Vec<DumpRecord>, est: &[(u8, u64)]) -> Self {
        self.dles.push(dle(disk));
        self.types.push(dt);
        self.hist.push(hist);
        self.est
            .push((!est.is_empty()).then(|| est.iter().copied().collect()));
        self.forced.push(false);
        self
    }
    fn plan(&self, p: &Params) -> Plan {
        let inputs: Vec<Input> = (0..self.dles.len())
            .map(|k| Input {
                dle: &self.dles[k],
                dumptype: &self.types[k],
                history: self.hist[k].iter().collect(),
                estimates: self.est[k].clone(),
                forced: self.forced[k],
            })
            .collect();
        plan(&inputs, p)
    }
}

fn std_type() -> Dumptype {
    Dumptype::default()
}

fn with(strategy: Strategy) -> Dumptype {
    Dumptype {
        strategy,
        ..Dumptype::default()
    }
}

#[test]
fn new_dle_gets_a_full_at_once() {
    let p = Case::new()
        .add("/a", std_type(), vec![], &[(0, 5 * M)])
        .plan(&params());
    assert_eq!(p.entries[0].level, Some(0));
    assert!(p.entries[0].reason.starts_with("new DLE"));
}

#[test]
fn full_is_due_after_dumpcycle_nights_and_not_before() {
    let p = Case::new()
        .add(
            "/due",
            std_type(),
            vec![rec("/due", 7, 0, 10 * M)],
            &[(0, 10 * M), (1, M)],
        )
        .add(
            "/not",
            std_type(),
            vec![rec("/not", 3, 0, 10 * M)],
            &[(0, 10 * M), (1, M)],
        )
        .plan(&Params {
            runspercycle: 1000,
            ..params()
        });
    assert_eq!(p.entries[0].level, Some(0));
    assert!(
        p.entries[0]
            .reason
            .starts_with("full due: last full 7 night(s) ago"),
        "{}",
        p.entries[0].reason
    );
    assert_eq!(p.entries[1].level, Some(1));
    assert!(
        p.entries[1].reason.contains("full due in 4 night(s)"),
        "{}",
        p.entries[1].reason
    );
}

#[test]
fn forced_dle_gets_a_full() {
    let mut c = Case::new().add(
        "/a",
        std_type(),
        vec![rec("/a", 1, 0, M)],
        &[(0, M), (1, 1)],
    );
    c.forced[0] = true;
    let p = c.plan(&params());
    assert_eq!(p.entries[0].level, Some(0));
    assert!(p.entries[0].reason.contains("forced"));
}

#[test]
fn strategies_noinc_nofull_incronly_skip() {
    let h = |d: &str| vec![rec(d, 30, 0, M), rec(d, 1, 1, 1000)];
    let p = Case::new()
        .add(
            "/noinc",
            with(Strategy::Noinc),
            h("/noinc"),
            &[(0, M), (1, 10)],
        )
        .add(
            "/nofull",
            with(Strategy::Nofull),
            h("/nofull"),
            &[(0, M), (1, 10), (2, 5)],
        )
        .add(
            "/incronly",
            with(Strategy::Incronly),
            h("/incronly"),
            &[(0, M), (1, 10), (2, 5)],
        )
        .add("/skip", with(Strategy::Skip), h("/skip"), &[])
        .plan(&params());
    let levels: Vec<Option<u8>> = p.entries.iter().map(|e| e.level).collect();
    assert_eq!(levels, [Some(0), Some(1), Some(1), None]);
    assert!(p.entries[1].reason.contains("nofull"));
    assert!(p.entries[2].reason.contains("incronly"));
}

#[test]
fn bumping_needs_the_saving_and_the_days() {
    let hist = |d: &str| {
        vec![
            rec(d, 5, 0, 100 * M),
            rec(d, 2, 1, 40 * M),
            rec(d, 1, 1, 50 * M),
        ]
    };
    let p = Case::new()
        .add(
            "/saves",
            std_type(),
            hist("/saves"),
            &[(0, 100 * M), (1, 50 * M), (2, 30 * M)],
        )
        .add(
            "/small",
            std_type(),
            hist("/small"),
            &[(0, 100 * M), (1, 50 * M), (2, 45 * M)],
        )
        .plan(&Params {
            runspercycle: 1000,
            ..params()
        });
    assert_eq!(p.entries[0].level, Some(2));
    assert!(
        p.entries[0]
            .reason
            .starts_with("bumped to level 2: saves 20.0 MiB"),
        "{}",
        p.entries[0].reason
    );
    assert_eq!(
        p.entries[1].level,
        Some(1),
        "saving 5 MiB < bumpsize 10 MiB"
    );
    let one_night = vec![rec("/new", 5, 0, 100 * M), rec("/new", 1, 1, 50 * M)];
    let p = Case::new()
        .add(
            "/new",
            std_type(),
            one_night,
            &[(0, 100 * M), (1, 50 * M), (2, 1)],
        )
        .plan(&Params {
            runspercycle: 1000,
            ..params()
        });
    assert_eq!(
        p.entries[0].level,
        Some(1),
        "only one night at level 1 < bumpdays 2"
    );
}

#[test]
fn bump_threshold_grows_with_bumpmult() {
    // at level 2 the threshold is 10 MiB * 1.5 = 15 MiB
    let hist = vec![
        rec("/a", 6, 0, 100 * M),
        rec("/a", 3, 1, 9 * M),
        rec("/a", 2, 2, 9 * M),
        rec("/a", 1, 2, 9 * M),
    ];
    let p = Case::new()
        .add(
            "/a",
            std_type(),
            hist.clone(),
            &[(0, 100 * M), (2, 40 * M), (3, 26 * M)],
        )
        .plan(&Params {
            runspercycle: 1000,
            ..params()
        });
    assert_eq!(p.entries[0].level, Some(2), "saves 14 MiB < 15 MiB");
    let p = Case::new()
        .add(
            "/a",
            std_type(),
            hist,
            &[(0, 100 * M), (2, 40 * M), (3, 24 * M)],
        )
        .plan(&Params {
            runspercycle: 1000,
            ..params()
        });
    assert_eq!(p.entries[0].level, Some(3));
}

#[test]
fn reference_is_the_newest_lower_level_dump_of_the_current_chain() {
    let h = [
        rec("/a", 9, 0, 1),
        rec("/a", 8, 1, 1),
        rec("/a", 5, 0, 1),
        rec("/a", 4, 1, 1),
        rec("/a", 3, 1, 1),
        rec("/a", 2, 2, 1),
    ];
    let h: Vec<&DumpRecord> = h.iter().collect();
    assert_eq!(levels::reference(&h, 1).unwrap().datestamp, h[2].datestamp);
    assert_eq!(levels::reference(&h, 2).unwrap().datestamp, h[4].datestamp);
    assert_eq!(levels::reference(&h, 3).unwrap().datestamp, h[5].datestamp);
}

#[test]
fn incremental_needs_an_indexed_reference() {
    let mut r = rec("/a", 2, 0, M);
    r.index = None;
    let p = Case::new()
        .add("/a", std_type(), vec![r], &[(0, M), (1, 10)])
        .plan(&params());
    assert_eq!(p.entries[0].level, Some(0));
    assert!(p.entries[0].reason.contains("no index"));
}

#[test]
fn light_night_promotes_fulls_toward_the_balanced_share() {
    // 7 DLEs of 70 MiB, all fulled last night: tonight should take about one full
    let mut c = Case::new();
    for k in 0..7 {
        let d = format!("/d{k}");
        c = c.add(
            &d,
            std_type(),
            vec![rec(&d, 1, 0, 70 * M)],
            &[(0, 70 * M), (1, M)],
        );
    }
    let p = c.plan(&params());
    let fulls = p.entries.iter().filter(|e| e.level == Some(0)).count();
    assert_eq!(
        fulls,
        1,
        "{:#?}",
        p.entries.iter().map(|e| &e.reason).collect::<Vec<_>>()
    );
    assert!(
        p.entries
            .iter()
            .any(|e| e.reason.starts_with("promoted to balance"))
    );
    let spread = (p.volume as f64 - p.target as f64).abs() / p.target as f64;
    assert!(spread < 0.5, "volume {} target {}", p.volume, p.target);
}

#[test]
fn no_promotion_of_a_dle_fulled_today() {
    let mut r = rec("/a", 0, 0, 70 * M);
    r.datestamp = crate::clock::datestamp(&(now() - chrono::Duration::hours(1)));
    let p = Case::new()
        .add("/a", std_type(), vec![r], &[(0, 70 * M), (1, M)])
        .add(
            "/b",
            std_type(),
            vec![rec("/b", 3, 0, 10 * M)],
            &[(0, 10 * M), (1, M)],
        )
        .plan(&params());
    assert_eq!(p.entries[0].level, Some(1));
}

#[test]
fn when_tonight_does_not_fit_the_lowest_priority_full_is_delayed_and_said() {
    let low = Dumptype {
        priority: Priority::Low,
        ..Dumptype::default()
    };
    let high = Dumptype {
        priority: Priority::High,
        ..Dumptype::default()
    };
    let p = Case::new()
        .add(
            "/low",
            low,
            vec![rec("/low", 8, 0, 60 * M)],
            &[(0, 60 * M), (1, M)],
        )
        .add(
            "/high",
            high,
            vec![rec("/high", 8, 0, 60 * M)],
            &[(0, 60 * M), (1, M)],
        )
        .plan(&Params {
            capacity: 100 * M,
            ..params()
        });
    assert_eq!(p.entries[0].level, Some(1));
    assert!(
        p.entries[0]
            .reason
            .starts_with("delayed: full does not fit tonight")
    );
    assert_eq!(p.entries[1].level, Some(0));
    assert!(
        p.notes
            .iter()
            .any(|n| n.contains("/low") && n.contains("delayed"))
    );
    assert!(p.volume <= 100 * M);
}

#[test]
fn a_new_dle_that_cannot_fit_is_left_out_and_marked_delayed() {
    let p = Case::new()
        .add("/big", std_type(), vec![], &[(0, 300 * M)])
        .plan(&Params {
            capacity: 100 * M,
            ..params()
        });
    assert_eq!(p.entries[0].level, None);
    assert!(p.entries[0].delayed);
    assert!(
        p.entries[0]
            .reason
            .starts_with("delayed: does not fit tonight")
    );
}

#[test]
fn sanity_warnings_for_full_sized_incrementals_and_shrunken_fulls() {
    let p = Case::new()
        .add(
            "/dev",
            std_type(),
            vec![rec("/dev", 2, 0, 100 * M)],
            &[(0, 100 * M), (1, 95 * M)],
        )
        .add(
            "/empty",
            std_type(),
            vec![rec("/empty", 8, 0, 100 * M)],
            &[(0, 2 * M), (1, M)],
        )
        .plan(&Params {
            runspercycle: 1000,
            ..params()
        });
    assert!(
        p.notes
            .iter()
            .any(|n| n.contains("/dev") && n.contains("looks like a full")),
        "{:?}",
        p.notes
    );
    assert!(
        p.notes
            .iter()
            .any(|n| n.contains("/empty") && n.contains("empty mount point")),
        "{:?}",
        p.notes
    );
}
