//! A vault on SeaweedFS with Object Lock: each copy retained (COMPLIANCE) until the day its
//! policy releases it, which the server's own credentials cannot shorten; a prune skips what
//! the store still retains, refuses on a clock jumped forward, and lists again what the store
//! refused to delete; the prefix alone restores on a machine with no config. The clock is
//! faked around the real one: the store judges retention by its own.

use crate::common::seaweed::Seaweed;
use crate::common::{Run, Setup, noise, tree};
use chrono::{Datelike, Duration, NaiveDate, Utc};

fn with(s: &Setup, w: &Seaweed, args: &[&str], now: &str) -> Run {
    with_fail(s, w, args, now, None)
}

/// `args` at `now` against the store, killed at `failpoint` when one is named.
fn with_fail(s: &Setup, w: &Seaweed, args: &[&str], now: &str, failpoint: Option<&str>) -> Run {
    let mut env: Vec<(&str, String)> = w.env();
    env.push(("TAPIR_NOW", now.to_string()));
    if let Some(f) = failpoint {
        env.push(("TAPIR_FAILPOINT", f.to_string()));
    }
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    s.run_env(args, &env)
}

/// The first day after `d`'s ISO week and after its month, whichever is later: when one
/// week and one month kept release a full taken on `d`.
fn released(d: NaiveDate) -> NaiveDate {
    let next_monday = d + Duration::days(7 - d.weekday().num_days_from_monday() as i64);
    let (y, m) = if d.month() == 12 {
        (d.year() + 1, 1)
    } else {
        (d.year(), d.month() + 1)
    };
    next_monday.max(NaiveDate::from_ymd_opt(y, m, 1).unwrap())
}

#[test]
fn a_vault_on_s3_with_object_lock_holds_each_copy_until_its_policy_releases_it() {
    let wd = tempfile::tempdir().unwrap();
    let w = Seaweed::start(wd.path());
    w.store("vlocked").create_bucket_locked().unwrap();
    w.store("vplain").create_bucket().unwrap();
    let s = Setup::new(
        "tapecycle = 4\nrunspercycle = 1\n[vault.arch]\nto = \"s3://vlocked/arch\"\n\
         keep_weekly = 1\nkeep_monthly = 1\ndles = [\"*\"]\nobject_lock = true\n\
         [s3]\npart_size = \"5M\"\n",
        "slots = 5\nautolabel = \"daily-%%\"\n",
    );
    let src = s.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("big"), noise(6 << 20, 3)).unwrap(); // a multipart upload
    std::fs::write(src.join("small.txt"), "keep me\n").unwrap();
    s.write(
        "disklist",
        &format!("localhost {} local-full\n", src.display()),
    );
    // today just after midnight (UTC, as the tests run), and an hour later: one week, one month
    let base = Utc::now()
        .date_naive()
        .and_hms_opt(0, 10, 0)
        .unwrap()
        .and_utc();
    let t = |h: i64| (base + Duration::hours(h)).to_rfc3339();
    with(&s, &w, &["dump"], &t(0)).assert_code(0);
    let store = w.store("vlocked/arch");
    // killed with an upload open, then before it completes: nothing partial is ever an
    // object, and the rerun finishes the copy
    for fp in ["s3-upload-created", "s3-before-complete"] {
        let r = with_fail(&s, &w, &["vault"], &t(0), Some(fp));
        assert_eq!(r.code, 134, "{fp}: {}", r.stderr);
        assert!(store.list("dumps/").unwrap().is_empty(), "{fp}");
    }
    with(&s, &w, &["vault"], &t(0)).assert_code(0);
    assert!(
        store.open_uploads().unwrap().is_empty(),
        "an upload left open"
    );
    let c = with(&s, &w, &["check"], &t(0));
    assert!(
        c.stdout.contains("vault arch s3://vlocked/arch: an object was written and read back, and a probe is retained by Object Lock"),
        "{}",
        c.stdout
    );
    let first: Vec<String> = store
        .list("dumps/")
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(first.len(), 1, "{first:?}");
    let head = store.head(&first[0]).unwrap().unwrap();
    assert_eq!(
        head.amz("object-lock-mode"),
        Some("COMPLIANCE"),
        "{:?}",
        head.amz
    );
    let until = head
        .amz("object-lock-retain-until-date")
        .unwrap()
        .to_string();
    let want = released(base.date_naive())
        .format("%Y-%m-%dT00:00:00")
        .to_string();
    assert!(
        until.starts_with(&want),
        "retained until {until}, the policy says {want}"
    );
    // the thief with the server's credentials
    let version = head.amz("version-id").unwrap().to_string();
    let refused = store.delete_version(&first[0], &version).unwrap_err();
    assert!(format!("{refused:#}").contains("HTTP 403"), "{refused:#}");

    // a newer full of the same week and month: the first is released but still retained
    std::fs::write(src.join("small.txt"), "second\n").unwrap();
    with(&s, &w, &["dump"], &t(1)).assert_code(0);
    with(&s, &w, &["vault"], &t(1)).assert_code(0);
    let r = with(&s, &w, &["vault", "--prune"], &t(1));
    r.assert_code(0);
    assert!(
        r.stdout.contains("the store retains it until") && r.stdout.contains("removed 0 copies"),
        "{}",
        r.stdout
    );
    assert_eq!(store.list("dumps/").unwrap().len(), 2);
    // a clock three years ahead prunes nothing
    let ahead = (base + Duration::days(3 * 365)).to_rfc3339();
    let r = with(&s, &w, &["vault", "--prune"], &ahead);
    r.assert_code(1);
    assert!(
        r.stderr.contains("the clock jumped forward"),
        "{}",
        r.stderr
    );
    assert_eq!(store.list("dumps/").unwrap().len(), 2);

    // a server clock that runs ahead of the store's (40 days): the policy releases both, the
    // store refuses, the prune says so and its catalog still lists them
    let later = (base + Duration::days(40)).to_rfc3339();
    with(&s, &w, &["dump"], &later).assert_code(0);
    with(&s, &w, &["vault"], &later).assert_code(0);
    let r = with(&s, &w, &["vault", "--prune"], &later);
    r.assert_code(1);
    assert!(r.stderr.contains("HTTP 403"), "{}", r.stderr);
    assert_eq!(store.list("dumps/").unwrap().len(), 3);

    // the prefix alone, no config: find, verify, a whole restore, one file by ranged reads
    let fresh = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| -> Run { crate::common::bare(fresh.path(), args, &w.env()) };
    let signing = s.path().join("keys/signing_key.pub").display().to_string();
    let id = s.identity.display().to_string();
    let disk = src.display().to_string();
    let v = run(&[
        "verify",
        "--from",
        "s3://vlocked/arch",
        "--signing-pub",
        &signing,
    ]);
    v.assert_code(0);
    assert!(v.stdout.contains("3 files: 3 OK"), "{}", v.stdout);
    let day1 = t(1)[..10].to_string();
    let out = fresh.path().join("out");
    let o = out.display().to_string();
    let base_args = [
        "recover",
        "--from",
        "s3://vlocked/arch",
        "--host",
        "localhost",
        "--disk",
        &disk,
        "-i",
        &id,
        "--signing-pub",
        &signing,
    ];
    let mut args = base_args.to_vec();
    args.extend(["--to", &o, "--date", &day1]);
    run(&args).assert_code(0);
    tree::assert_same(&src, &out, &|_| false);
    let one = fresh.path().join("one");
    let o1 = one.display().to_string();
    let mut args = base_args.to_vec();
    args.extend(["--to", &o1, "--date", &day1, "small.txt"]);
    let r = run(&args);
    r.assert_code(0);
    assert_eq!(
        std::fs::read_to_string(one.join("small.txt")).unwrap(),
        "second\n"
    );
    assert!(r.stderr.contains("read "), "{}", r.stderr);

    // a bucket that cannot retain: an error before any copy goes up
    let cfg = std::fs::read_to_string(s.path().join("tapir.toml")).unwrap();
    s.write(
        "tapir.toml",
        &cfg.replace("s3://vlocked/arch", "s3://vplain/arch"),
    );
    let r = with(&s, &w, &["vault"], &t(1));
    r.assert_code(1);
    assert!(
        r.stderr
            .contains("needs a bucket created with Object Lock enabled"),
        "{}",
        r.stderr
    );
    assert!(w.store("vplain/arch").list("dumps/").unwrap().is_empty());
    let c = with(&s, &w, &["check"], &t(1));
    assert!(
        c.stdout.contains("vault arch s3://vplain/arch:")
            && c.stdout
                .contains("needs a bucket created with Object Lock enabled"),
        "{}",
        c.stdout
    );
    // without object_lock the same bucket takes the copies, unretained
    let plain = cfg.replace("s3://vlocked/arch", "s3://vplain/arch");
    s.write("tapir.toml", &plain.replace("object_lock = true\n", ""));
    with(&s, &w, &["vault"], &later).assert_code(0);
    let copies = w.store("vplain/arch").list("dumps/").unwrap();
    assert_eq!(copies.len(), 1, "{copies:?}");
    let head = w.store("vplain/arch").head(&copies[0].0).unwrap().unwrap();
    assert_eq!(head.amz("object-lock-mode"), None);
    // a week later the older copy is released and, unretained, pruned
    let week = (base + Duration::days(48)).to_rfc3339();
    with(&s, &w, &["dump"], &week).assert_code(0);
    let r = with(&s, &w, &["vault", "--prune"], &week);
    r.assert_code(0);
    assert!(r.stdout.contains("removed 1 copies"), "{}", r.stdout);
    let now: Vec<String> = w
        .store("vplain/arch")
        .list("dumps/")
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert!(now.len() == 1 && now[0] != copies[0].0, "{now:?}");
}
