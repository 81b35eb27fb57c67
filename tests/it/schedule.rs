//! A simulated 60-night schedule through the real binary with TAPIR_NOW: twenty DLEs of
//! different sizes with growth and churn, one added mid-way, one forced. Every DLE gets a
//! full at least once per dumpcycle, nights stay within ±25% of the mean after the first
//! cycle, no tape is written past its capacity, and no DLE is ever left out silently.

use crate::common::{Setup, day, noise};
use std::collections::BTreeMap;

const NIGHTS: u32 = 60;
const CYCLE: u32 = 7;
const K: usize = 1024;

fn make_dle(s: &Setup, name: &str, kib: usize, seed: u64) -> String {
    let d = s.path().join(name);
    std::fs::create_dir_all(&d).unwrap();
    for f in 0..4 {
        std::fs::write(d.join(format!("f{f}")), noise(kib * K / 4, seed * 10 + f)).unwrap();
    }
    d.display().to_string()
}

/// Sixty nights of 20 DLEs (a 21st added on night 20, one forced on night 30), as the
/// tests below see them: each night's volume, each DLE's full nights, the tapes after.
#[derive(serde::Serialize, serde::Deserialize)]
struct Nights {
    disks: Vec<String>,
    volume: Vec<u64>,
    fulls: BTreeMap<String, Vec<u32>>,
    first_night: BTreeMap<String, u32>,
    tapes: Vec<serde_json::Value>,
}

fn sixty_nights() -> Nights {
    crate::common::shared::shared("schedule-sixty-nights", run_sixty_nights)
}

fn run_sixty_nights() -> Nights {
    let s = Setup::new(
        &format!("dumpcycle = {CYCLE}\nrunspercycle = {CYCLE}\ntapecycle = 14\nruntapes = 1"),
        "slots = 16\nautolabel = \"daily-%%\"\ntape_size = \"8M\"\n",
    );
    s.write(
        "dumptypes/sim.toml",
        "auth = \"local\"\ncompress = \"none\"\nencrypt = \"none\"\n",
    );
    let mut disks: Vec<String> = (0..20)
        .map(|k| make_dle(&s, &format!("d{k:02}"), 40 + 20 * k, k as u64))
        .collect();
    let write_disklist = |disks: &[String]| {
        let lines: String = disks
            .iter()
            .map(|d| format!("localhost {d} sim\n"))
            .collect();
        s.write("disklist", &lines);
    };
    write_disklist(&disks);
    // the corpus predates the first full by more than the agent's clock margin
    std::thread::sleep(std::time::Duration::from_millis(200));
    let mut volume = Vec::new();
    let mut fulls: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    let mut first_night: BTreeMap<String, u32> = BTreeMap::new();
    for night in 0..NIGHTS {
        // churn: rewrite one file in every third DLE; growth: a new file in every fifth
        for (k, d) in disks.iter().enumerate() {
            if (k + night as usize).is_multiple_of(3) {
                std::fs::write(
                    format!("{d}/f{}", night % 4),
                    noise((40 + 20 * k) * K / 4, 1000 + night as u64),
                )
                .unwrap();
            }
            if (k + night as usize).is_multiple_of(5) {
                std::fs::write(
                    format!("{d}/g{night}"),
                    noise((40 + 20 * k) * K / 50, 2000 + night as u64),
                )
                .unwrap();
            }
        }
        if night == 20 {
            disks.push(make_dle(&s, "added", 120, 99));
            write_disklist(&disks);
        }
        // tonight's changes come after last night's dump by more than the clock margin
        std::thread::sleep(std::time::Duration::from_millis(60));
        if night == 30 {
            s.run_env(
                &["force", "localhost", &disks[3]],
                &[("TAPIR_NOW", &day(night))],
            )
            .assert_code(0);
        }
        let r = s.run_env(&["dump", "--json"], &[("TAPIR_NOW", &day(night))]);
        r.assert_code(0);
        let summary: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
        let outcomes = summary["outcomes"].as_array().unwrap();
        assert_eq!(
            outcomes.len(),
            disks.len(),
            "night {night}: a DLE was left out silently: {}",
            r.stdout
        );
        let mut v = 0u64;
        for o in outcomes {
            assert_eq!(o["status"], "OK", "night {night}: {o}");
            let disk = o["disk"].as_str().unwrap().to_string();
            first_night.entry(disk.clone()).or_insert(night);
            if o["level"] == 0 {
                fulls.entry(disk).or_default().push(night);
            }
            v += o["tape_bytes"].as_u64().unwrap();
        }
        volume.push(v);
    }

    let tapes = serde_json::from_str(&s.run(&["tapes", "--json"]).stdout).unwrap();
    Nights {
        disks,
        volume,
        fulls,
        first_night,
        tapes,
    }
}

#[test]
fn every_dle_gets_its_full_when_it_appears_then_once_per_dumpcycle() {
    let Nights {
        disks,
        fulls,
        first_night,
        ..
    } = sixty_nights();
    // every DLE: a full the night it appears, then at least once per dumpcycle
    for d in &disks {
        let f = &fulls[d];
        assert_eq!(f[0], first_night[d], "{d}: first full");
        let mut last = f[0];
        for &n in f.iter().skip(1).chain(std::iter::once(&NIGHTS)) {
            assert!(
                n - last <= CYCLE,
                "{d}: {} nights without a full (fulls on {f:?})",
                n - last
            );
            last = n;
        }
    }
    assert!(
        fulls[&disks[3]].contains(&30),
        "forced DLE got its full on night 30: {:?}",
        fulls[&disks[3]]
    );
    assert_eq!(
        fulls[disks.last().unwrap()][0],
        20,
        "the DLE added mid-way gets its full at once"
    );
}

#[test]
fn sixty_nights_need_no_more_fulls_than_the_cycle_asks() {
    let Nights { fulls, .. } = sixty_nights();
    // no more fulls than needed: within 1.3 × the minimum (DLEs × nights / dumpcycle),
    // counted after the first cycle; the forced full is one extra
    let steady_fulls: usize = fulls
        .values()
        .map(|f| f.iter().filter(|&&n| n >= CYCLE).count())
        .sum();
    let minimum: f64 = (CYCLE..NIGHTS)
        .map(|n| if n >= 20 { 21.0 } else { 20.0 })
        .sum::<f64>()
        / CYCLE as f64;
    eprintln!("fulls after the first cycle: {steady_fulls}, minimum {minimum:.0}");
    assert!(
        (steady_fulls as f64) <= 1.3 * minimum + 1.0,
        "{steady_fulls} fulls where {minimum:.0} suffice"
    );
}

#[test]
fn sixty_nights_stay_balanced_within_a_quarter_of_the_mean() {
    let Nights { volume, .. } = sixty_nights();
    // balance after the first cycle
    let steady = &volume[CYCLE as usize..];
    let mean = steady.iter().sum::<u64>() as f64 / steady.len() as f64;
    let dev: Vec<f64> = steady.iter().map(|&v| (v as f64 - mean) / mean).collect();
    let (lo, hi) = dev
        .iter()
        .fold((0f64, 0f64), |(l, h), &d| (l.min(d), h.max(d)));
    eprintln!(
        "nightly volume after the first cycle: mean {:.0} KiB, spread {:+.1}% .. {:+.1}%",
        mean / 1024.0,
        lo * 100.0,
        hi * 100.0
    );
    eprintln!(
        "volumes (KiB): {:?}",
        volume.iter().map(|v| v / 1024).collect::<Vec<_>>()
    );
    assert!(
        lo >= -0.25 && hi <= 0.25,
        "nights outside ±25% of the mean: {lo:+.3} .. {hi:+.3}"
    );
}

#[test]
fn no_tape_is_written_past_its_capacity() {
    // no tape past its capacity
    let n = sixty_nights();
    assert_eq!(n.tapes.len(), 16);
    for tape in &n.tapes {
        assert!(
            tape["tape_bytes"].as_u64().unwrap() + 32768 <= 8 << 20,
            "{tape}"
        );
    }
}

/// `disks` as the disklist, each with the `sim` dumptype; their ctimes then lie before the
/// first run's reference time.
fn list_sim(s: &Setup, disks: &[String]) {
    let lines: String = disks
        .iter()
        .map(|d| format!("localhost {d} sim\n"))
        .collect();
    s.write("disklist", &lines);
    std::thread::sleep(std::time::Duration::from_millis(200));
}

/// A small site: dumpcycle 3, a `sim` dumptype that neither compresses nor encrypts.
fn small_site() -> Setup {
    let s = Setup::new(
        "dumpcycle = 3\nrunspercycle = 3\ntapecycle = 8\nruntapes = 1",
        "slots = 10\nautolabel = \"daily-%%\"\n",
    );
    s.write(
        "dumptypes/sim.toml",
        "auth = \"local\"\ncompress = \"none\"\nencrypt = \"none\"\n",
    );
    s
}

/// The admin's report: 4 small DLEs, dumpcycle 3, runspercycle 3, 9 nights held 18–19
/// fulls where about 11 suffice, and two runs on the same input planned differently.
#[test]
fn small_dles_get_about_one_full_per_cycle_and_the_same_input_gives_the_same_plan() {
    let s = small_site();
    let disks: Vec<String> = (0..4)
        .map(|k| make_dle(&s, &format!("s{k}"), 8, k))
        .collect();
    list_sim(&s, &disks);
    let mut fulls_per_dle: BTreeMap<String, usize> = BTreeMap::new();
    let mut late_fulls = 0;
    for night in 0..9 {
        let plan = |_: u32| {
            let r = s.run_env(
                &["dump", "--dry-run", "--json"],
                &[("TAPIR_NOW", &day(night))],
            );
            r.assert_code(0);
            let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
            v["entries"].clone()
        };
        assert_eq!(
            plan(0),
            plan(1),
            "night {night}: two plans of the same input differ"
        );
        let r = s.run_env(&["dump", "--json"], &[("TAPIR_NOW", &day(night))]);
        r.assert_code(0);
        let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
        for o in v["outcomes"].as_array().unwrap() {
            if o["level"] == 0 {
                *fulls_per_dle
                    .entry(o["disk"].as_str().unwrap().into())
                    .or_default() += 1;
                if night >= 1 {
                    late_fulls += 1;
                }
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(60));
    }
    // nights 1..8: 4 DLEs × 8 nights / 3 ≈ 10.7 fulls at least; 1.3 × that at most
    assert!(
        late_fulls as f64 <= 1.3 * 4.0 * 8.0 / 3.0,
        "{late_fulls} fulls: {fulls_per_dle:?}"
    );
    for (d, n) in &fulls_per_dle {
        assert!(*n >= 3 && *n <= 4, "{d}: {n} fulls in 9 nights");
    }
}

/// The small site of #26: four DLEs of 200–800 KB (incompressible), dumpcycle 3, nine nights
/// with churn (one file of each DLE rewritten every night, so incrementals are not empty).
/// Fulls on nights 1..8 stay within 1.3 × the minimum and every DLE gets its full in time.
#[test]
fn a_small_site_with_churn_gets_no_more_fulls_than_it_needs() {
    let s = small_site();
    let disks: Vec<String> = [200, 400, 600, 800]
        .iter()
        .enumerate()
        .map(|(k, kib)| make_dle(&s, &format!("s{k}"), *kib, 40 + k as u64))
        .collect();
    list_sim(&s, &disks);
    let mut fulls: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    for night in 0..9u32 {
        if night > 0 {
            for (k, d) in disks.iter().enumerate() {
                let f = std::path::Path::new(d).join("f0");
                let len = std::fs::metadata(&f).unwrap().len() as usize;
                std::fs::write(&f, noise(len, 1000 + night as u64 * 10 + k as u64)).unwrap();
            }
            std::thread::sleep(std::time::Duration::from_millis(1100));
        }
        let r = s.run_env(&["dump", "--json"], &[("TAPIR_NOW", &day(night))]);
        r.assert_code(0);
        let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
        for o in v["outcomes"].as_array().unwrap() {
            if o["level"] == 0 {
                fulls
                    .entry(o["disk"].as_str().unwrap().into())
                    .or_default()
                    .push(night);
            }
        }
    }
    let late: usize = fulls
        .values()
        .map(|n| n.iter().filter(|&&x| x >= 1).count())
        .sum();
    assert!(
        late as f64 <= 1.3 * 4.0 * 8.0 / 3.0,
        "{late} fulls on nights 1-8 (minimum about 10.7): {fulls:?}"
    );
    for (d, nights) in &fulls {
        // in time: never more than dumpcycle nights between fulls, and one on the last cycle
        for w in nights.windows(2) {
            assert!(w[1] - w[0] <= 3, "{d}: fulls on nights {nights:?}");
        }
        assert!(
            *nights.last().unwrap() >= 9 - 3,
            "{d}: fulls on nights {nights:?}"
        );
    }
}
