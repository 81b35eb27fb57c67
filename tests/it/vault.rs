//! The vault: long-term copies kept by a weekly/monthly/yearly policy, checked against the
//! policy computed here by hand over a year of weekly runs, restored from the vault alone.

use crate::common::{Run, Setup, day, finish, tree};
use chrono::{Datelike, NaiveDate};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// (host, disk, datestamp) of one full.
type Full = (String, String, String);

/// The fulls a keep_weekly/monthly/yearly policy keeps on `today`, by hand: for each of the
/// last N weeks (months, years), walked back one at a time from today's, the newest full
/// whose date falls in it.
fn by_hand(fulls: &[Full], w: u32, m: u32, y: u32, today: NaiveDate) -> BTreeSet<Full> {
    let date = |f: &Full| NaiveDate::parse_from_str(&f.2[..8], "%Y%m%d").unwrap();
    let mut out = BTreeSet::new();
    let dles: BTreeSet<(String, String)> =
        fulls.iter().map(|f| (f.0.clone(), f.1.clone())).collect();
    for (h, d) in dles {
        let mine: Vec<&Full> = fulls.iter().filter(|f| f.0 == h && f.1 == d).collect();
        let mut pick = |inside: &dyn Fn(NaiveDate) -> bool| {
            if let Some(f) = mine
                .iter()
                .filter(|f| inside(date(f)) && date(f) <= today)
                .max_by_key(|f| f.2.clone())
            {
                out.insert((*f).clone());
            }
        };
        let monday = today - chrono::Duration::days(today.weekday().num_days_from_monday() as i64);
        for k in 0..w as i64 {
            let start = monday - chrono::Duration::weeks(k);
            pick(&|d| d >= start && d < start + chrono::Duration::days(7));
        }
        for k in 0..m as i32 {
            let months = today.year() * 12 + today.month0() as i32 - k;
            let (yy, mm) = (months.div_euclid(12), months.rem_euclid(12) as u32 + 1);
            pick(&|d| d.year() == yy && d.month() == mm);
        }
        for k in 0..y as i32 {
            pick(&|d| d.year() == today.year() - k);
        }
    }
    out
}

/// The copies a vault's catalog lists: (host, disk, datestamp) and their paths.
fn vault_catalog(v: &Path) -> (BTreeSet<Full>, BTreeSet<String>) {
    let mut fulls = BTreeSet::new();
    let mut paths = BTreeSet::new();
    for e in walkdir::WalkDir::new(v.join("catalog/history")).min_depth(2) {
        let e = e.unwrap();
        for line in std::fs::read_to_string(e.path()).unwrap().lines() {
            let r: serde_json::Value = serde_json::from_str(line).unwrap();
            let s = |k: &str| r[k].as_str().unwrap().to_string();
            fulls.insert((s("host"), s("disk"), s("datestamp")));
            paths.insert(s("path"));
        }
    }
    (fulls, paths)
}

/// The dump files under the vault's `dumps/`, relative to it.
fn vault_files(v: &Path) -> BTreeSet<String> {
    crate::common::files_under(&v.join("dumps"))
        .iter()
        .map(|p| p.strip_prefix(v).unwrap().display().to_string())
        .collect()
}

fn json(r: &Run) -> serde_json::Value {
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}", r.stdout))
}

/// The paths a `vault --prune --json` removed (or would remove).
fn pruned(v: &serde_json::Value) -> Vec<String> {
    let mut out: Vec<String> = v
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|t| t["prune"]["removed"].as_array().unwrap().clone())
        .map(|r| r["path"].as_str().unwrap().to_string())
        .collect();
    out.sort();
    out
}

const POLICY: (u32, u32, u32) = (4, 6, 2);

/// A setup (`top` config, `changer`) with two DLEs of small files: `a` of fulls only
/// (local-full), `b` on the planner's schedule (local).
fn two_dles(top: &str, changer: &str) -> (Setup, PathBuf, PathBuf) {
    let s = Setup::new(top, changer);
    let (a, b) = (s.path().join("src/a"), s.path().join("src/b"));
    for d in [&a, &b] {
        std::fs::create_dir_all(d.join("sub")).unwrap();
    }
    s.write(
        "disklist",
        &format!(
            "localhost {} local-full\nlocalhost {} local\n",
            a.display(),
            b.display()
        ),
    );
    (s, a, b)
}

fn weekly_setup() -> (Setup, PathBuf, PathBuf) {
    two_dles(
        &format!(
            "tapecycle = 5\ndumpcycle = 14\nrunspercycle = 2\n[vault.longterm]\nto = \"vault\"\n\
             keep_weekly = {}\nkeep_monthly = {}\nkeep_yearly = {}\ndles = [\"*\"]\n",
            POLICY.0, POLICY.1, POLICY.2
        ),
        "slots = 6\nautolabel = \"daily-%%\"\n",
    )
}

/// Change the sources for night `k`: a file rewritten, one added, one removed.
fn churn(a: &Path, b: &Path, k: u32) {
    for (d, name) in [(a, "a"), (b, "b")] {
        std::fs::write(d.join("night.txt"), format!("{name} night {k}\n")).unwrap();
        std::fs::write(
            d.join(format!("sub/n{k}.bin")),
            crate::common::noise(2000, k as u64),
        )
        .unwrap();
        let _ = std::fs::remove_file(d.join(format!("sub/n{}.bin", k.wrapping_sub(3))));
    }
}

#[test]
fn a_year_of_weekly_runs_keeps_exactly_what_the_policy_keeps_and_restores_each_month_end() {
    let (s, a, b) = weekly_setup();
    let v = s.path().join("vault");
    let snaps = s.path().join("snaps");
    let mut fulls: Vec<Full> = vec![];
    let mut removed = 0;
    for k in 0..60u32 {
        let now = day(7 * k);
        let env = [("TAPIR_NOW", now.as_str())];
        churn(&a, &b, k);
        s.run_env(&["dump"], &env).assert_code(0);
        let recs = s.run_env(&["find", "--json"], &env);
        for r in json(&recs).as_array().unwrap() {
            let f = |k: &str| r[k].as_str().unwrap().to_string();
            let full = (f("host"), f("disk"), f("datestamp"));
            if r["level"] == 0 && !fulls.contains(&full) {
                // the state of the night, for the restores at the end
                let src = if full.1 == a.display().to_string() {
                    &a
                } else {
                    &b
                };
                let to = snaps.join(&full.2).join(if src == &a { "a" } else { "b" });
                std::fs::create_dir_all(to.parent().unwrap()).unwrap();
                crate::common::sh(
                    &format!("cp -a {} {}", src.display(), to.display()),
                    s.path(),
                );
                fulls.push(full);
            }
        }
        s.run_env(&["vault"], &env).assert_code(0);
        let dry = s.run_env(&["--json", "vault", "--prune", "--dry-run"], &env);
        dry.assert_code(0);
        let real = s.run_env(&["--json", "vault", "--prune"], &env);
        real.assert_code(0);
        assert_eq!(
            pruned(&json(&dry)),
            pruned(&json(&real)),
            "night {k}: dry run differs"
        );
        removed += pruned(&json(&real)).len();
        let today = NaiveDate::parse_from_str(&now[..10], "%Y-%m-%d").unwrap();
        let want = by_hand(&fulls, POLICY.0, POLICY.1, POLICY.2, today);
        let (held, paths) = vault_catalog(&v);
        assert_eq!(held, want, "night {k} ({today}): the vault's copies");
        assert_eq!(
            vault_files(&v),
            paths,
            "night {k}: files and catalog differ"
        );
    }
    // copies came and went; the oldest kept is far older than the rotation's five weeks
    let (held, _) = vault_catalog(&v);
    eprintln!(
        "{} fulls taken, {removed} copies pruned, {} held: {held:?}",
        fulls.len(),
        held.len()
    );
    assert!(
        removed > 20 && held.len() >= 12,
        "{removed} pruned, {} held",
        held.len()
    );
    assert!(held.iter().any(|f| f.2.as_str() < "20261201"), "{held:?}");
    // the server's catalog knows every copy, also of dumps the rotation dropped, and a
    // restore as of such a date reads the vault by itself and says so
    let last = day(7 * 59);
    let found = json(&s.run_env(&["find", "--json"], &[("TAPIR_NOW", &last)]));
    let copies = |ds: &str, disk: &Path| -> Vec<String> {
        let r = found
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["datestamp"] == ds && r["disk"] == disk.display().to_string())
            .unwrap_or_else(|| panic!("find does not list {ds}"));
        serde_json::from_value(r["copies"].clone()).unwrap()
    };
    let oldest_a = held
        .iter()
        .filter(|f| f.1 == a.display().to_string())
        .map(|f| f.2.clone())
        .min()
        .unwrap();
    assert_eq!(copies(&oldest_a, &a), ["vault:longterm"]);
    let newest_a = held
        .iter()
        .filter(|f| f.1 == a.display().to_string())
        .map(|f| f.2.clone())
        .max()
        .unwrap();
    let c = copies(&newest_a, &a);
    assert!(
        c.len() == 2 && c[0].starts_with("slot") && c[1] == "vault:longterm",
        "{c:?}"
    );
    let back = s.path().join("from-vault");
    let r = s.recover(
        "localhost",
        &a.display().to_string(),
        &back,
        &["--date", &oldest_a],
    );
    r.assert_code(0);
    assert!(
        r.stderr
            .contains(&format!("reading the copy of {oldest_a} in vault:longterm")),
        "{}",
        r.stderr
    );
    tree::assert_same(&snaps.join(&oldest_a).join("a"), &back, &|_| false);
    // the vault alone (no config, no server catalog) restores every month-end it keeps
    let today = NaiveDate::parse_from_str(&day(7 * 59)[..10], "%Y-%m-%d").unwrap();
    let months = by_hand(&fulls, 0, POLICY.1, 0, today);
    assert!(months.len() >= 10, "{months:?}");
    let fresh = tempfile::tempdir().unwrap();
    let vs = v.display().to_string();
    let id = s.identity.display().to_string();
    let signing = s.path().join("keys/signing_key.pub").display().to_string();
    let run = |args: &[&str]| -> Run { crate::common::bare(fresh.path(), args, &[]) };
    for (host, disk, ds) in &months {
        let which = if *disk == a.display().to_string() {
            "a"
        } else {
            "b"
        };
        let to = fresh.path().join(ds).join(which);
        let t = to.display().to_string();
        run(&[
            "recover",
            "--from",
            &vs,
            "--host",
            host,
            "--disk",
            disk,
            "--date",
            ds,
            "-i",
            &id,
            "--signing-pub",
            &signing,
            "--to",
            &t,
        ])
        .assert_code(0);
        tree::assert_same(&snaps.join(ds).join(which), &to, &|_| false);
    }
    // the shell browses the vault's index; the stock tools restore a copy as its header says
    let (host, disk, ds) = months.iter().next().unwrap();
    let which = if *disk == a.display().to_string() {
        "a"
    } else {
        "b"
    };
    let mut c = crate::common::bare_cmd(
        fresh.path(),
        &[
            "recover",
            "--from",
            &vs,
            "-i",
            &id,
            "--signing-pub",
            &signing,
        ],
        &[],
    );
    c.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    let script = format!(
        "sethost {host}\nsetdisk {disk}\nsetdate {}\nls\nquit\n",
        &ds[..8]
    );
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), script.as_bytes()).unwrap();
    let out = finish(child.wait_with_output().unwrap());
    out.assert_code(0);
    assert!(
        out.stdout.contains("night.txt") && out.stdout.contains("sub"),
        "{}\n{}",
        out.stdout,
        out.stderr
    );
    let copy = vault_catalog(&v)
        .1
        .into_iter()
        .find(|p| {
            p.contains(&format!("/{ds}/")) && p.contains(&tapir::fsutil::escape_component(disk))
        })
        .unwrap();
    let file = v.join(&copy);
    let head = String::from_utf8_lossy(&std::fs::read(&file).unwrap()[..32768]).into_owned();
    let recipe = head.lines().find(|l| l.starts_with("#   dd if=")).unwrap();
    let recipe = recipe
        .trim_start_matches("#   ")
        .replace("KEY", &id)
        .replace(
            "dd if=",
            &format!("dd if={}/", file.parent().unwrap().display()),
        );
    let stock = fresh.path().join("stock");
    std::fs::create_dir(&stock).unwrap();
    crate::common::sh(&format!("cd {} && {recipe}", stock.display()), fresh.path());
    tree::assert_same(&snaps.join(ds).join(which), &stock, &|_| false);
    let ver = run(&["verify", "--from", &vs, "--signing-pub", &signing]);
    ver.assert_code(0);
    assert!(
        ver.stdout
            .contains(&format!("{} files: {} OK", held_count(&v), held_count(&v))),
        "{}",
        ver.stdout
    );
}

fn held_count(v: &Path) -> usize {
    vault_catalog(v).0.len()
}

/// After a run, `forecast --days 7` names the slots the next seven runs overwrite and, per
/// DLE and copy, the oldest full that is restorable after them: checked by running them.
#[test]
fn the_forecast_of_seven_nights_is_what_seven_more_runs_leave() {
    let (s, a, b) = two_dles(
        "dumpcycle = 3\nrunspercycle = 3\ntapecycle = 4\nmin_history = \"10d\"\n[vault.longterm]\n\
         to = \"vault\"\nkeep_weekly = 1\nkeep_monthly = 1\ndles = [\"*\"]\n",
        "slots = 5\nautolabel = \"daily-%%\"\n",
    );
    let night = |k: u32| {
        let now = day(k);
        churn(&a, &b, k);
        s.run_env(&["dump"], &[("TAPIR_NOW", &now)]).assert_code(0);
        s.run_env(&["vault", "--prune"], &[("TAPIR_NOW", &now)])
            .assert_code(0);
    };
    for k in 0..=5 {
        night(k);
    }
    let r = s.run_env(
        &["--json", "forecast", "--days", "7"],
        &[("TAPIR_NOW", &day(5))],
    );
    let f = json(&r);
    assert_eq!(f["nights"].as_array().unwrap().len(), 7, "{f}");
    // the text form says the same, and warns: four tapes hold less than 10 days
    let t = s.run_env(&["forecast"], &[("TAPIR_NOW", &day(5))]);
    t.assert_code(1);
    assert!(
        t.stdout.contains("run 2026-01-07 02:00: overwrites slot"),
        "{}",
        t.stdout
    );
    assert!(
        t.stdout.contains(&format!(
            "WARN localhost {}: in 7 days its oldest restorable full is younger than min_history",
            a.display()
        )),
        "{}",
        t.stdout
    );
    let mut slots = vec![];
    for k in 6..=12 {
        night(k);
        let found = json(&s.run_env(&["find", "--json"], &[("TAPIR_NOW", &day(k))]));
        let ds = day(k)[..10].replace('-', "");
        let slot = found
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["datestamp"].as_str().unwrap().starts_with(&ds))
            .map(|r| r["slot"].as_u64().unwrap())
            .unwrap();
        slots.push(slot);
    }
    let said: Vec<u64> = f["nights"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["slot"].as_u64().unwrap())
        .collect();
    assert_eq!(said, slots, "the slots the runs wrote");
    let found = json(&s.run_env(&["find", "--json"], &[("TAPIR_NOW", &day(12))]));
    let (vault, _) = vault_catalog(&s.path().join("vault"));
    for d in f["dles"].as_array().unwrap() {
        let disk = d["disk"].as_str().unwrap();
        let rotation = found
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["disk"] == disk && r["level"] == 0)
            .filter(|r| r["copies"][0].as_str().unwrap().starts_with("slot"))
            .map(|r| r["datestamp"].as_str().unwrap().to_string())
            .min();
        let vaulted = vault
            .iter()
            .filter(|v| v.1 == disk)
            .map(|v| v.2.clone())
            .min();
        let copy = |name: &str| -> Option<String> {
            let c = d["copies"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["copy"] == name)
                .unwrap();
            c["oldest_then"].as_str().map(String::from)
        };
        assert_eq!(copy("rotation"), rotation, "{disk}: rotation\n{f}");
        assert_eq!(copy("vault:longterm"), vaulted, "{disk}: vault\n{f}");
    }
    // `tapir status` carries the forecast's first night and its warnings
    let st = s.run_env(&["status"], &[("TAPIR_NOW", &day(12))]);
    let next = json(&s.run_env(
        &["--json", "forecast", "--days", "1"],
        &[("TAPIR_NOW", &day(12))],
    ));
    let slot = next["nights"][0]["slot"].as_u64().unwrap();
    assert!(
        st.stdout
            .contains(&format!("next run: overwrites slot {slot} ("))
            && st
                .stdout
                .contains("in 7 days its oldest restorable full is younger than min_history"),
        "{}",
        st.stdout
    );
}
