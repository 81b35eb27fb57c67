//! The vault under failure: a run killed at every step of a copy or a prune, then run again,
//! leaves no partial copy listed, loses nothing the policy keeps, and its catalog agrees with
//! its files; a clock set back or jumped forward prunes nothing; a target that is a mirror,
//! another vault or another server's is refused.

use crate::common::{Run, Setup, day, noise};
use std::collections::BTreeSet;

/// A vault keeping the last full of the last week and month: one DLE of fulls (1.5 MB, so a
/// copy is killed mid-file too).
fn setup(policy: &str) -> Setup {
    let s = Setup::new(
        &format!(
            "tapecycle = 4\nrunspercycle = 1\n[vault.arch]\nto = \"vault\"\n{policy}\ndles = [\"*\"]\n"
        ),
        "slots = 5\nautolabel = \"daily-%%\"\n",
    );
    let src = s.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("big"), noise(1_500_000, 1)).unwrap();
    s.write(
        "disklist",
        &format!("localhost {} local-full\n", src.display()),
    );
    s
}

fn night(s: &Setup, n: u32) {
    std::fs::write(s.path().join("src/night"), n.to_string()).unwrap();
    s.run_env(&["dump"], &[("TAPIR_NOW", &day(n))])
        .assert_code(0);
}

fn vault(s: &Setup, n: u32, args: &[&str], failpoint: Option<&str>) -> Run {
    let now = day(n);
    let mut env = vec![("TAPIR_NOW", now.as_str())];
    if let Some(f) = failpoint {
        env.push(("TAPIR_FAILPOINT", f));
    }
    let mut all = vec!["vault"];
    all.extend_from_slice(args);
    s.run_env(&all, &env)
}

/// The run was killed (SIGABRT) at failpoint `fp`.
fn killed(r: &Run, fp: &str) {
    assert_eq!(r.code, 134, "{fp}: {}", r.stderr);
    assert!(
        r.stderr.contains(&format!("failpoint {fp}")),
        "{}",
        r.stderr
    );
}

/// The vault's catalog: datestamps and paths it lists.
fn listed(s: &Setup) -> (BTreeSet<String>, BTreeSet<String>) {
    let (mut ds, mut paths) = (BTreeSet::new(), BTreeSet::new());
    let history = walkdir::WalkDir::new(s.path().join("vault/catalog/history")).min_depth(2);
    for e in history.into_iter().flatten() {
        for l in std::fs::read_to_string(e.path()).unwrap().lines() {
            let r: serde_json::Value = serde_json::from_str(l).unwrap();
            ds.insert(r["datestamp"].as_str().unwrap()[..8].to_string());
            paths.insert(r["path"].as_str().unwrap().to_string());
        }
    }
    (ds, paths)
}

/// Files under dumps/ whose name is not a temp name.
fn visible(s: &Setup) -> BTreeSet<String> {
    let v = s.path().join("vault");
    crate::common::files_under(&v.join("dumps"))
        .iter()
        .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .map(|p| p.strip_prefix(&v).unwrap().display().to_string())
        .collect()
}

/// Every file the vault's catalog lists is there and verifies.
fn catalog_holds(s: &Setup) {
    let (_, paths) = listed(s);
    for p in &paths {
        assert!(
            s.path().join("vault").join(p).is_file(),
            "listed but gone: {p}"
        );
    }
    let v = s.path().join("vault").display().to_string();
    let r = s.run(&["verify", "--from", &v]);
    r.assert_code(0);
}

#[test]
fn a_vault_run_killed_at_any_step_then_rerun_copies_everything_once() {
    for fp in [
        "mirror-mid-copy",
        "vault-before-rename",
        "vault-before-index",
        "vault-before-catalog",
    ] {
        let s = setup("keep_weekly = 2");
        night(&s, 0);
        killed(&vault(&s, 0, &[], Some(fp)), fp);
        // nothing listed that is not whole; no copy under its real name before it is whole
        catalog_holds(&s);
        if fp != "vault-before-index" && fp != "vault-before-catalog" {
            assert!(visible(&s).is_empty(), "{fp}: {:?}", visible(&s));
        }
        vault(&s, 0, &[], None).assert_code(0);
        let (ds, paths) = listed(&s);
        assert_eq!(ds, BTreeSet::from(["20260101".to_string()]), "{fp}");
        assert_eq!(visible(&s), paths, "{fp}");
        catalog_holds(&s);
        // a prune afterwards removes the temp file a killed copy left, and nothing else
        vault(&s, 0, &["--prune"], None).assert_code(0);
        let left: Vec<_> = walkdir::WalkDir::new(s.path().join("vault/dumps"))
            .into_iter()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(left.is_empty(), "{fp}: {left:?}");
        assert_eq!(listed(&s).1, paths);
    }
}

#[test]
fn a_prune_killed_at_any_step_then_rerun_removes_only_what_the_policy_released() {
    // Thursday 1 January, then Monday 5 January: with one week kept, the first is released
    let s = setup("keep_weekly = 1");
    night(&s, 0);
    vault(&s, 0, &[], None).assert_code(0);
    night(&s, 4);
    vault(&s, 4, &[], None).assert_code(0);
    let dry = vault(&s, 4, &["--prune", "--dry-run"], None);
    dry.assert_code(0);
    assert!(
        dry.stdout.contains("would remove dumps/")
            && dry
                .stdout
                .contains("week 2026-W01: not among the last 1 weeks"),
        "{}",
        dry.stdout
    );
    assert_eq!(listed(&s).0.len(), 2);
    // killed once the record is gone, then again while removing the file it left
    for fp in ["vault-prune-after-catalog", "vault-prune-orphan"] {
        killed(&vault(&s, 4, &["--prune"], Some(fp)), fp);
        // the catalog never lists a file that is gone, and still lists what is kept
        catalog_holds(&s);
        assert!(listed(&s).0.contains("20260105"), "{fp}");
    }
    let r = vault(&s, 4, &["--prune"], None);
    r.assert_code(0);
    assert!(
        r.stdout.contains("no catalog record lists it"),
        "{}",
        r.stdout
    );
    let (ds, paths) = listed(&s);
    assert_eq!(ds, BTreeSet::from(["20260105".to_string()]));
    assert_eq!(visible(&s), paths);
    catalog_holds(&s);
}

#[test]
fn a_clock_set_back_or_jumped_forward_prunes_nothing_and_says_why() {
    let s = setup("keep_weekly = 1\nkeep_monthly = 1");
    for n in [0, 4, 11] {
        night(&s, n);
        vault(&s, n, &[], None).assert_code(0);
    }
    vault(&s, 11, &["--prune"], None).assert_code(0);
    let before = visible(&s);
    assert_eq!(before.len(), 1, "{before:?}");
    // years ahead: every kept period looks old, but nothing newer replaces them
    let r = vault(&s, 11 + 3 * 365, &["--prune"], None);
    r.assert_code(1);
    assert!(
        r.stderr
            .contains("the clock jumped forward or dumps stopped")
            && r.stderr.contains("nothing was removed"),
        "{}",
        r.stderr
    );
    assert_eq!(visible(&s), before);
    // set back before the newest dump
    let back = "2025-12-01T02:00:00+00:00";
    let r = s.run_env(&["vault", "--prune"], &[("TAPIR_NOW", back)]);
    r.assert_code(1);
    assert!(
        r.stderr.contains("is behind the newest dump"),
        "{}",
        r.stderr
    );
    assert_eq!(visible(&s), before);
    catalog_holds(&s);
}

#[test]
fn a_vault_target_that_is_a_mirror_or_another_vault_is_refused_before_anything_is_written() {
    let s = setup("keep_weekly = 1");
    night(&s, 0);
    let m = s.path().join("mirror");
    s.run(&["mirror", "--to", m.to_str().unwrap()])
        .assert_code(0);
    let cfg = std::fs::read_to_string(s.path().join("tapir.toml")).unwrap();
    s.write(
        "tapir.toml",
        &cfg.replace("to = \"vault\"", "to = \"mirror\""),
    );
    let r = vault(&s, 0, &[], None);
    r.assert_code(1);
    assert!(
        r.stderr
            .contains("holds slots: it is a mirror, not a vault"),
        "{}",
        r.stderr
    );
    assert!(!m.join("dumps").exists());
    // another vault's directory
    s.write("tapir.toml", &cfg);
    vault(&s, 0, &[], None).assert_code(0);
    s.write("tapir.toml", &cfg.replace("[vault.arch]", "[vault.other]"));
    let r = vault(&s, 0, &[], None);
    r.assert_code(1);
    assert!(r.stderr.contains("holds vault \"arch\""), "{}", r.stderr);
    // a config that names a vault no dumptype may use, or keeps nothing: config errors
    s.write(
        "dumptypes/kept.toml",
        "auth = \"local\"\nvault = [\"nosuch\"]\n",
    );
    let r = s.run(&["config"]);
    r.assert_code(2);
    assert!(
        r.stderr
            .contains("dumptype kept: vault = [\"nosuch\"] names no [vault.nosuch]"),
        "{}",
        r.stderr
    );
    std::fs::remove_file(s.path().join("dumptypes/kept.toml")).unwrap();
    s.write("tapir.toml", &cfg.replace("keep_weekly = 1", ""));
    let r = s.run(&["config"]);
    r.assert_code(2);
    assert!(
        r.stderr.contains("vault.arch: keeps nothing"),
        "{}",
        r.stderr
    );
}

/// The vault did not run while a slot was recycled, but the mirror has not followed yet: the
/// full the policy keeps (December's, the year's) is copied from the mirror, and said so.
#[test]
fn a_full_whose_slot_was_recycled_is_copied_from_the_mirror_that_still_has_it() {
    let s = Setup::new(
        "tapecycle = 2\nrunspercycle = 1\n[mirror]\nto = \"mirror\"\n",
        "slots = 3\nautolabel = \"daily-%%\"\n",
    );
    let src = s.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    s.write(
        "disklist",
        &format!("localhost {} local-full\n", src.display()),
    );
    let nights = [
        "2025-12-31T02:00:00+00:00".to_string(),
        day(0),
        day(1),
        day(2),
    ];
    for (k, now) in nights.iter().enumerate() {
        std::fs::write(src.join("night"), k.to_string()).unwrap();
        s.run_env(&["dump"], &[("TAPIR_NOW", now)]).assert_code(0);
        if k < 3 {
            s.run(&["mirror"]).assert_code(0);
        }
    }
    // slot 1 now holds night 3; the mirror's slot 1 still holds December 31st
    let cfg = std::fs::read_to_string(s.path().join("tapir.toml")).unwrap();
    s.write(
        "tapir.toml",
        &format!("{cfg}\n[vault.arch]\nto = \"vault\"\nkeep_monthly = 2\ndles = [\"*\"]\n"),
    );
    let r = vault(&s, 2, &[], None);
    r.assert_code(0);
    assert!(r.stdout.contains("read from mirror:"), "{}", r.stdout);
    let (ds, _) = listed(&s);
    assert_eq!(
        ds,
        BTreeSet::from(["20251231".to_string(), "20260103".to_string()])
    );
    catalog_holds(&s);
}

/// A dumptype's `vault = ["arch"]` puts its DLEs in the vault (no `dles` glob needed); each
/// target of a `to` list holds its own copy; `tapir check` says each can be written.
#[test]
fn a_dumptype_names_its_vault_and_each_target_gets_a_copy() {
    let s = Setup::new(
        "tapecycle = 4\nrunspercycle = 1\n[vault.arch]\nto = [\"v1\", \"v2\"]\nkeep_weekly = 1\n",
        "slots = 5\nautolabel = \"daily-%%\"\n",
    );
    s.write(
        "dumptypes/kept.toml",
        "auth = \"local\"\nstrategy = \"noinc\"\nvault = [\"arch\"]\n",
    );
    let (kept, other) = (s.path().join("kept"), s.path().join("other"));
    for d in [&kept, &other] {
        std::fs::create_dir_all(d).unwrap();
        std::fs::write(d.join("f"), d.display().to_string()).unwrap();
    }
    s.write(
        "disklist",
        &format!(
            "localhost {} kept\nlocalhost {} local-full\n",
            kept.display(),
            other.display()
        ),
    );
    s.run_env(&["dump"], &[("TAPIR_NOW", &day(0))])
        .assert_code(0);
    vault(&s, 0, &[], None).assert_code(0);
    let escaped = tapir::fsutil::escape_component(&kept.display().to_string());
    for t in ["v1", "v2"] {
        let files: Vec<String> = crate::common::files_under(&s.path().join(t).join("dumps"))
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        assert!(
            files.len() == 1 && files[0].contains(&escaped),
            "{t}: {files:?}"
        );
    }
    let r = s.run(&["check"]);
    for t in ["v1", "v2"] {
        let line = format!(
            "vault arch {}: {} is writable",
            s.path().join(t).display(),
            s.path().join(t).display()
        );
        assert!(r.stdout.contains(&line), "{line}\n{}", r.stdout);
    }
}
