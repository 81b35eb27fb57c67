//! The mirror on a real S3 store (SeaweedFS, one server per test): two nights mirror
//! object by object; a rerun sends nothing; kill -9 at several points and a rerun completes,
//! resuming its multipart upload; a corrupt source is never uploaded; wrong credentials, a
//! missing bucket and a server that goes away are clear errors that lose nothing.

use crate::common::seaweed::Seaweed;
use crate::common::{Run, Setup, day, noise};
use sha2::Digest;
use std::io::Read;

fn sha(b: &[u8]) -> String {
    format!("{:x}", sha2::Sha256::digest(b))
}

/// Run tapir with the store's environment (keys, endpoint) and `extra`.
fn with_store(s: &Setup, w: &Seaweed, args: &[&str], extra: &[(&str, &str)]) -> Run {
    let env = w.env();
    let mut all: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    all.extend_from_slice(extra);
    s.run_env(args, &all)
}

fn mirror(s: &Setup, w: &Seaweed, extra: &[(&str, &str)]) -> Run {
    with_store(s, w, &["mirror", "--json"], extra)
}

/// Every file of the vtape root and the catalog, as the store's relative keys, with sha256.
fn local_files(s: &Setup) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (root, prefix) in [
        (s.path().join("vtape"), ""),
        (s.path().join("catalog"), "catalog/"),
    ] {
        for e in walkdir::WalkDir::new(&root).min_depth(1) {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            let skip = ["lock", "tapes.lock", "s3-uploads.json", "mirror.json"];
            if !e.file_type().is_file() || skip.contains(&name.as_str()) || name.starts_with('.') {
                continue;
            }
            let rel = e.path().strip_prefix(&root).unwrap().display().to_string();
            out.push((
                format!("{prefix}{rel}"),
                sha(&std::fs::read(e.path()).unwrap()),
            ));
        }
    }
    // the target names the tape set it holds, as the catalog does
    if let Ok(b) = std::fs::read(s.path().join("catalog/tapir-tapeset.toml")) {
        out.push(("tapir-tapeset.toml".into(), sha(&b)));
    }
    out.sort();
    out
}

/// Every object under BUCKET/off with the sha256 of its content.
fn remote_files(w: &Seaweed, bucket: &str) -> Vec<(String, String)> {
    let store = w.store(&format!("{bucket}/off"));
    let mut out: Vec<(String, String)> = store
        .list("")
        .unwrap()
        .into_iter()
        .map(|(k, _)| {
            let mut body = Vec::new();
            store.get(&k).unwrap().read_to_end(&mut body).unwrap();
            (k, sha(&body))
        })
        .collect();
    out.sort();
    out
}

fn copied_bytes(r: &Run) -> u64 {
    let v: serde_json::Value =
        serde_json::from_str(&r.stdout).unwrap_or_else(|_| panic!("{}\n{}", r.stdout, r.stderr));
    v["copied_bytes"].as_u64().unwrap()
}

/// A store (SeaweedFS, bucket `tapes`) and a setup whose two nights (a 23 MiB file, so
/// multipart) are mirrored to `s3://tapes/off`, checked object by object against the source.
struct Mirrored {
    _wd: tempfile::TempDir,
    w: Seaweed,
    s: Setup,
    src: std::path::PathBuf,
}

fn mirrored() -> Mirrored {
    let wd = tempfile::tempdir().unwrap();
    let w = Seaweed::start(wd.path());
    w.store("tapes").create_bucket().unwrap();
    let s = Setup::new("", "");
    let mut cfg = std::fs::read_to_string(s.path().join("tapir.toml")).unwrap();
    cfg.push_str("[mirror]\nto = \"s3://tapes/off\"\n[s3]\npart_size = \"5M\"\nparallel = 3\n");
    s.write("tapir.toml", &cfg);
    let src = s.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("big.bin"), noise(23 << 20, 1)).unwrap();
    std::fs::write(src.join("small.txt"), "hello\n").unwrap();
    s.write(
        "dumptypes/plain-local.toml",
        "auth = \"local\"\ncompress = \"server-fast\"\n",
    );
    s.write(
        "disklist",
        &format!("localhost {} plain-local\n", src.display()),
    );
    s.run_env(&["dump"], &[("TAPIR_NOW", &day(0))])
        .assert_code(0);
    std::fs::write(src.join("new.txt"), "night two\n").unwrap();
    s.run_env(&["dump"], &[("TAPIR_NOW", &day(1))])
        .assert_code(0);

    let r = mirror(&s, &w, &[]);
    r.assert_code(0);
    // SeaweedFS refuses a wrong x-amz-checksum-sha256: S3 itself confirms each upload
    assert!(!r.stdout.contains("does not check"), "{}", r.stdout);
    assert_eq!(local_files(&s), remote_files(&w, "tapes"));
    Mirrored { _wd: wd, w, s, src }
}

#[test]
fn two_nights_mirror_object_by_object_checked_and_a_rerun_sends_nothing() {
    let Mirrored { _wd, w, s, .. } = mirrored();
    // (the fixture compared the two nights object by object)
    let r = with_store(&s, &w, &["check"], &[]);
    assert!(
        r.stdout
            .contains("OK    mirror s3://tapes/off: an object was written, read back"),
        "{}",
        r.stdout
    );
    // 2. a rerun sends nothing
    let r = mirror(&s, &w, &[]);
    r.assert_code(0);
    assert_eq!(copied_bytes(&r), 0, "{}", r.stdout);
}

#[test]
fn another_configs_tapes_are_never_written_into_the_prefix() {
    let Mirrored { _wd, w, .. } = mirrored();
    // another config's tapes are never written into this prefix
    let other = Setup::new("", "");
    let osrc = other.path().join("src");
    std::fs::create_dir_all(&osrc).unwrap();
    std::fs::write(osrc.join("x"), "other\n").unwrap();
    other.write("disklist", &format!("localhost {} local\n", osrc.display()));
    other
        .run_env(&["dump"], &[("TAPIR_NOW", &day(0))])
        .assert_code(0);
    let before = remote_files(&w, "tapes");
    let r = with_store(&other, &w, &["mirror", "--to", "s3://tapes/off"], &[]);
    r.assert_code(1);
    assert!(
        r.stderr.contains("s3://tapes/off holds another tape set"),
        "{}",
        r.stderr
    );
    assert_eq!(remote_files(&w, "tapes"), before);
}

#[test]
fn kill_9_mid_upload_resumes_without_resending_and_nothing_incomplete_is_visible() {
    let Mirrored { _wd, w, s, src, .. } = mirrored();
    // 3. kill -9 mid-upload and before completing; each rerun completes without sending
    // the parts the store has, and no incomplete object is ever visible
    std::fs::write(src.join("big.bin"), noise(23 << 20, 2)).unwrap();
    s.run_env(&["dump"], &[("TAPIR_NOW", &day(2))])
        .assert_code(0);
    let big = s
        .find_json()
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["tape_bytes"].as_u64().unwrap() > 20 << 20)
        .max_by_key(|r| r["datestamp"].as_str().unwrap().to_string())
        .unwrap()
        .clone();
    let size = std::fs::metadata(s.tape_file(&big)).unwrap().len();
    let key = format!(
        "slot{}/{}",
        big["slot"].as_u64().unwrap(),
        big["file_name"].as_str().unwrap()
    );
    // killed between creating the upload and saving its id: the next run finds it by listing
    // and aborts it (no parts linger unseen)
    let r = mirror(&s, &w, &[("TAPIR_FAILPOINT", "s3-upload-created")]);
    assert_eq!(r.code, 134, "{}", r.stderr);
    let orphans = w.store("tapes/off").open_uploads().unwrap();
    assert_eq!(orphans.len(), 1, "{orphans:?}");
    let r = mirror(&s, &w, &[("TAPIR_FAILPOINT", "s3-part-sent")]);
    assert_eq!(r.code, 134, "{}", r.stderr);
    let open = w.store("tapes/off").open_uploads().unwrap();
    assert!(
        !open.iter().any(|u| u == &orphans[0]),
        "the orphan is aborted: {open:?}"
    );
    for point in ["s3-part-sent", "s3-before-complete"] {
        let r = mirror(&s, &w, &[("TAPIR_FAILPOINT", point)]);
        assert_eq!(r.code, 134, "{point}: {}", r.stderr);
        let visible = remote_files(&w, "tapes");
        assert!(
            !visible.iter().any(|(k, _)| k == &key),
            "{point}: an incomplete object is visible"
        );
        let pending = std::fs::read_to_string(s.path().join("catalog/s3-uploads.json")).unwrap();
        assert!(pending.contains(&key), "{pending}");
    }
    let r = mirror(&s, &w, &[]);
    r.assert_code(0);
    assert!(
        copied_bytes(&r) < size / 2,
        "resumed: {} of {size} bytes sent again",
        copied_bytes(&r)
    );
    assert_eq!(local_files(&s), remote_files(&w, "tapes"));
    let pending = std::fs::read_to_string(s.path().join("catalog/s3-uploads.json")).unwrap();
    assert!(!pending.contains("upload_id"), "{pending}");
    assert_eq!(w.store("tapes/off").open_uploads().unwrap(), vec![]);
}

#[test]
fn a_corrupt_source_is_not_uploaded_and_says_why() {
    let Mirrored { _wd, w, s, src, .. } = mirrored();
    // 4. a corrupt source is not uploaded, and says why
    std::fs::write(src.join("small.txt"), "night four\n").unwrap();
    s.run_env(&["dump"], &[("TAPIR_NOW", &day(3))])
        .assert_code(0);
    let newest = s.newest_record();
    let file = s.tape_file(&newest);
    let mut bytes = std::fs::read(&file).unwrap();
    let at = bytes.len() - 10;
    bytes[at] ^= 1;
    std::fs::write(&file, &bytes).unwrap();
    let r = mirror(&s, &w, &[]);
    r.assert_code(1);
    assert!(
        r.stdout.contains("CORRUPT: payload sha256") && r.stdout.contains("not copied"),
        "{}",
        r.stdout
    );
    let key = format!(
        "slot{}/{}",
        newest["slot"].as_u64().unwrap(),
        newest["file_name"].as_str().unwrap()
    );
    assert!(!remote_files(&w, "tapes").iter().any(|(k, _)| k == &key));
    bytes[at] ^= 1;
    std::fs::write(&file, &bytes).unwrap();
}

#[test]
fn wrong_credentials_and_a_missing_bucket_are_named_and_lose_nothing() {
    let Mirrored { _wd, w, s, .. } = mirrored();
    // 5. wrong credentials, a missing bucket: exit 1, named; nothing lost
    let before = remote_files(&w, "tapes");
    let r = mirror(&s, &w, &[("AWS_SECRET_ACCESS_KEY", "wrong")]);
    r.assert_code(1);
    assert!(r.stderr.contains("check the credentials"), "{}", r.stderr);
    let r = with_store(&s, &w, &["mirror", "--to", "s3://nosuchbucket/off"], &[]);
    r.assert_code(1);
    assert!(r.stderr.contains("NoSuchBucket"), "{}", r.stderr);
    assert_eq!(remote_files(&w, "tapes"), before);
}

#[test]
fn a_store_that_goes_away_mid_upload_fails_the_run_and_the_rerun_completes() {
    let Mirrored {
        _wd, mut w, s, src, ..
    } = mirrored();
    // 6. the server goes away in the middle of an upload: exit 1; back, the rerun completes
    std::fs::write(src.join("big.bin"), noise(23 << 20, 3)).unwrap();
    s.run_env(&["dump"], &[("TAPIR_NOW", &day(4))])
        .assert_code(0);
    let mut child = s.cmd(&["mirror"]);
    for (k, v) in w.env() {
        child.env(k, v);
    }
    child.env("TAPIR_FAILPOINT", "s3-before-complete:pause");
    let mut child = child.stderr(std::process::Stdio::piped()).spawn().unwrap();
    let t0 = std::time::Instant::now();
    while !std::fs::read_to_string(s.path().join("catalog/s3-uploads.json"))
        .unwrap_or_default()
        .contains("upload_id")
    {
        assert!(t0.elapsed().as_secs() < 60, "no upload began");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    w.stop();
    let _ = child.kill();
    let _ = child.wait();
    let r = mirror(&s, &w, &[]);
    r.assert_code(1);
    assert!(r.stderr.contains("s3://tapes/off"), "{}", r.stderr);
    w.restart();
    let r = mirror(&s, &w, &[]);
    r.assert_code(0);
    assert_eq!(local_files(&s), remote_files(&w, "tapes"));
}

#[test]
fn the_store_alone_restores_with_tapir_and_with_stock_tools() {
    let Mirrored { _wd, w, s, .. } = mirrored();
    restore_from_the_store_alone(&s, &w);
}

/// A store with no setup of its own: the tests that make theirs.
fn store() -> (tempfile::TempDir, Seaweed) {
    let wd = tempfile::tempdir().unwrap();
    let w = Seaweed::start(wd.path());
    (wd, w)
}

#[test]
fn a_recycled_slot_is_replaced_on_the_store_only_when_complete() {
    let (_wd, w) = store();
    a_recycled_slot_is_replaced_only_when_complete(&w);
}

#[test]
fn object_lock_keeps_what_the_servers_own_credentials_delete() {
    let (_wd, w) = store();
    object_lock_keeps_what_the_servers_credentials_delete(&w);
}

/// `object_lock_days`: every object is retained in COMPLIANCE mode; with the server's own
/// credentials a plain DELETE only hides it and deleting its version is refused, so the
/// tape reads back whole. A bucket without Object Lock is an error, not a silent success.
fn object_lock_keeps_what_the_servers_credentials_delete(w: &Seaweed) {
    w.store("locked").create_bucket_locked().unwrap();
    w.store("unlocked").create_bucket().unwrap();
    let s = Setup::new(
        "[mirror]\nto = \"s3://locked/off\"\n[s3]\nobject_lock_days = 2",
        "",
    );
    let src = s.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("f.txt"), "keep me\n").unwrap();
    s.write("disklist", &format!("localhost {} local\n", src.display()));
    s.run_env(&["dump"], &[("TAPIR_NOW", &day(0))])
        .assert_code(0);
    mirror(&s, w, &[]).assert_code(0);
    let rec = s.newest_record();
    let rel = format!(
        "slot{}/{}",
        rec["slot"].as_u64().unwrap(),
        rec["file_name"].as_str().unwrap()
    );
    let store = w.store("locked/off");
    let head = store.head(&rel).unwrap().expect("mirrored");
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
    let tomorrow = (chrono::Utc::now() + chrono::Duration::days(1)).format("%Y-%m-%dT%H:%M:%S");
    assert!(until > tomorrow.to_string(), "retained until {until}");
    let version = head
        .amz("version-id")
        .expect("a versioned object")
        .to_string();
    // the thief, holding the same credentials
    let _ = store.delete(&rel);
    let refused = store.delete_version(&rel, &version).unwrap_err();
    assert!(format!("{refused:#}").contains("HTTP 403"), "{refused:#}");
    assert_eq!(
        sha(&store.get_version(&rel, &version).unwrap()),
        sha(&std::fs::read(s.tape_file(&rec)).unwrap()),
        "the retained version reads back whole"
    );
    // a bucket that cannot retain: the mirror says so and fails
    let r = with_store(&s, w, &["mirror", "--to", "s3://unlocked/off"], &[]);
    r.assert_code(1);
    assert!(
        r.stderr.contains("s3://unlocked/off")
            && r.stderr
                .contains("needs a bucket created with Object Lock enabled"),
        "{}",
        r.stderr
    );
    assert!(w.store("unlocked/off").list("").unwrap().is_empty());
    let r = with_store(&s, w, &["check"], &[]);
    let said = "OK    mirror s3://locked/off: an object was written and read back, retained by \
                Object Lock (COMPLIANCE, 2 days)";
    assert!(r.stdout.contains(said), "{}", r.stdout);
}

/// Night 4 recycles slot 1: while one of its new files cannot go up, the store keeps the
/// old tape's slot 1 whole; once all can, the slot is replaced and no staging is left.
fn a_recycled_slot_is_replaced_only_when_complete(w: &Seaweed) {
    w.store("cycle").create_bucket().unwrap();
    let s = Setup::new(
        "tapecycle = 2\nrunspercycle = 1\n[mirror]\nto = \"s3://cycle/off\"",
        "slots = 3\nautolabel = \"daily-%%\"\n",
    );
    let src = s.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("f.bin"), noise(1 << 20, 9)).unwrap();
    s.write(
        "disklist",
        &format!("localhost {} local-full\n", src.display()),
    );
    for n in 1..=3 {
        s.run_env(&["dump"], &[("TAPIR_NOW", &day(n))])
            .assert_code(0);
    }
    mirror(&s, w, &[]).assert_code(0);
    let slot1 = |all: Vec<(String, String)>| -> Vec<(String, String)> {
        all.into_iter()
            .filter(|(k, _)| k.starts_with("slot1/"))
            .collect()
    };
    let old = slot1(remote_files(w, "cycle"));
    assert!(!old.is_empty());
    s.run_env(&["dump"], &[("TAPIR_NOW", &day(4))])
        .assert_code(0);
    let newest = s.newest_record();
    assert_eq!(newest["slot"], 1, "night 4 recycles slot 1");
    let file = s.tape_file(&newest);
    let mut bytes = std::fs::read(&file).unwrap();
    let at = bytes.len() - 10;
    bytes[at] ^= 1;
    std::fs::write(&file, &bytes).unwrap();
    let r = mirror(&s, w, &[]);
    r.assert_code(1);
    assert!(
        r.stdout.contains("not complete on s3://cycle/off yet"),
        "{}",
        r.stdout
    );
    assert_eq!(
        slot1(remote_files(w, "cycle")),
        old,
        "the old slot 1 is kept whole"
    );
    bytes[at] ^= 1;
    std::fs::write(&file, &bytes).unwrap();
    mirror(&s, w, &[]).assert_code(0);
    let remote = remote_files(w, "cycle");
    assert_eq!(local_files(&s), remote, "replaced, no staging left");
    assert_ne!(slot1(remote), old);
}

/// With tapir gone too: rclone (a stock S3 client) fetches the newest full's slot, and the
/// header's own `dd | age -d | gzip -dc | tar -x` line restores it: the tree tapir restores
/// from the store as of that full. `recover`: its arguments naming the DLE, key and store.
fn stock_tools_restore_from_the_store(
    s: &Setup,
    w: &Seaweed,
    dir: &std::path::Path,
    run: &dyn Fn(&[&str]) -> Run,
    recover: &[&str],
) {
    let src = s.path().join("src");
    let full = s
        .find_json()
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["level"] == 0 && r["disk"] == src.display().to_string().as_str())
        .max_by_key(|r| r["datestamp"].as_str().unwrap().to_string())
        .unwrap()
        .clone();
    let slot = format!("slot{}", full["slot"].as_u64().unwrap());
    let fetched = dir.join("rclone").join(&slot);
    let out = std::process::Command::new("rclone")
        .args(["copy", &format!("sw:tapes/off/{slot}")])
        .arg(&fetched)
        .env("RCLONE_CONFIG_SW_TYPE", "s3")
        .env("RCLONE_CONFIG_SW_PROVIDER", "SeaweedFS")
        .env(
            "RCLONE_CONFIG_SW_ACCESS_KEY_ID",
            crate::common::seaweed::KEY,
        )
        .env(
            "RCLONE_CONFIG_SW_SECRET_ACCESS_KEY",
            crate::common::seaweed::SECRET,
        )
        .env("RCLONE_CONFIG_SW_ENDPOINT", w.endpoint())
        .env_remove("AWS_CA_BUNDLE")
        .output()
        .expect("rclone (scripts/test installs it)");
    assert!(
        out.status.success(),
        "rclone: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let local_slot = s.tape_file(&full).parent().unwrap().display().to_string();
    let line =
        crate::common::stock_recipe(s, &full).replace(&local_slot, &fetched.display().to_string());
    let into = dir.join("stock");
    std::fs::create_dir_all(&into).unwrap();
    let out = std::process::Command::new("bash")
        .args(["-o", "pipefail", "-c", &line])
        .current_dir(&into)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{line}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let at_full = dir.join("at-full");
    let mut args = vec!["recover"];
    args.extend_from_slice(recover);
    let at = at_full.display().to_string();
    let datestamp = full["datestamp"].as_str().unwrap();
    args.extend_from_slice(&["--to", &at, "--date", datestamp]);
    run(&args).assert_code(0);
    crate::common::tree::assert_same(&into, &at_full, &|_| false);
}

/// On a machine with no config, the key and the signing key's public half alone restore the
/// tree from the store; one file reads only a little of its dump.
fn restore_from_the_store_alone(s: &Setup, w: &Seaweed) {
    let fresh = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| -> Run { crate::common::bare(fresh.path(), args, &w.env()) };
    let src = s.path().join("src");
    let disk = src.display().to_string();
    let id = s.identity.display().to_string();
    let signing = s.path().join("keys/signing_key.pub").display().to_string();
    let out = fresh.path().join("out");
    let o = out.display().to_string();
    // recover's arguments naming the DLE, the key and the store; then --to DIR [PATH]
    let base = [
        "--host",
        "localhost",
        "--disk",
        &disk,
        "-i",
        &id,
        "--from",
        "s3://tapes/off",
        "--signing-pub",
        &signing,
    ];
    let recover = |to: &str, path: Option<&str>| -> Run {
        let mut args = vec!["recover"];
        args.extend_from_slice(&base);
        args.extend(["--to", to]);
        args.extend(path);
        run(&args)
    };
    recover(&o, None).assert_code(0);
    crate::common::tree::assert_same(&src, &out, &|_| false);
    stock_tools_restore_from_the_store(s, w, fresh.path(), &run, &base);
    // one file: the block table and ranged GETs
    let one = fresh.path().join("one");
    let o1 = one.display().to_string();
    let r = recover(&o1, Some("small.txt"));
    r.assert_code(0);
    assert_eq!(
        std::fs::read(one.join("small.txt")).unwrap(),
        std::fs::read(src.join("small.txt")).unwrap()
    );
    let read: u64 = r
        .stderr
        .split("read ")
        .nth(1)
        .and_then(|t| t.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no byte count: {}", r.stderr));
    // the dumps the restore reads: the newest full and what follows it
    let recs: Vec<serde_json::Value> = s
        .find_json()
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["disk"] == disk.as_str())
        .cloned()
        .collect();
    let full = recs
        .iter()
        .filter(|r| r["level"] == 0)
        .map(|r| r["datestamp"].as_str().unwrap().to_string())
        .max()
        .unwrap();
    let chain: u64 = recs
        .iter()
        .filter(|r| r["datestamp"].as_str().unwrap() >= full.as_str())
        .map(|r| r["tape_bytes"].as_u64().unwrap())
        .sum();
    assert!(
        read * 20 < chain,
        "one file read {read} bytes of a {chain}-byte chain (more than 5%)"
    );
}
