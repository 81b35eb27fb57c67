//! `tapir rekey --from s3://…` on SeaweedFS with Object Lock: each object is replaced by a
//! new version whose payload the store copies from the old one (what is sent is a small
//! fraction of the data), the locked old versions are named with their dates (and still open
//! with the old key), and a mirror whose vtape was rekeyed first gets the vtape's very bytes.

use crate::common::seaweed::Seaweed;
use crate::common::{Run, Setup, day, noise, tree};
use std::fs;

fn with(s: &Setup, w: &Seaweed, args: &[&str]) -> Run {
    let env: Vec<(&str, String)> = w.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    s.run_env(args, &env)
}

/// The number before "written" in rekey's summary, in bytes.
fn written(stdout: &str) -> f64 {
    let line = stdout.lines().find(|l| l.contains(" written)")).unwrap();
    let before = &line[..line.find(" written)").unwrap()];
    let (num, unit) = before.rsplit_once(", ").unwrap().1.split_once(' ').unwrap();
    let n: f64 = num.parse().unwrap();
    n * match unit {
        "B" => 1.0,
        "KiB" => 1024.0,
        "MiB" => 1048576.0,
        "GiB" => 1073741824.0,
        u => panic!("unit {u}"),
    }
}

#[test]
fn rekey_on_s3_copies_the_payload_server_side_and_names_the_locked_versions() {
    let wd = tempfile::tempdir().unwrap();
    let w = Seaweed::start(wd.path());
    w.store("locked").create_bucket_locked().unwrap();
    let s = Setup::new(
        "[mirror]\nto = \"s3://locked/off\"\n[s3]\npart_size = \"5M\"\nobject_lock_days = 2\n",
        "",
    );
    let src = s.path().join("src");
    fs::create_dir_all(&src).unwrap();
    fs::write(src.join("big.bin"), noise(24 << 20, 5)).unwrap();
    fs::write(src.join("small.txt"), "hello\n").unwrap();
    tree::fix_mtimes(&src);
    s.write("disklist", &format!("localhost {} local\n", src.display()));
    let (b, b_rcp) = s.new_identity("b");
    let (c, c_rcp) = s.new_identity("c");
    let (d, d_rcp) = s.new_identity("d");
    s.add_recipient(&b_rcp);
    s.run_env(&["dump"], &[("TAPIR_NOW", &day(0))])
        .assert_code(0);
    with(&s, &w, &["mirror"]).assert_code(0);
    let url = "s3://locked/off";
    let store = w.store("locked/off");
    let rec = s.find_json()[0].clone();
    let rel = format!(
        "slot{}/{}",
        rec["slot"].as_u64().unwrap(),
        rec["file_name"].as_str().unwrap()
    );
    let before = store.get_range(&rel, 0, 60 << 20).unwrap();
    let a = s.identity.to_str().unwrap();

    // 1. the store's copy alone, with headers of its own: D added
    let r = with(
        &s,
        &w,
        &["rekey", "-i", a, "--add-recipient", &d_rcp, "--from", url],
    );
    r.assert_code(0);
    assert!(r.stdout.contains("REKEYED"), "{}", r.stdout);
    let sent = written(&r.stdout);
    assert!(
        sent < before.len() as f64 / 4.0,
        "{sent} bytes sent for a {}-byte object",
        before.len()
    );
    // Object Lock keeps the old version, named with its date
    let kept = r.stdout.lines().find(|l| l.contains("KEPT:")).unwrap();
    assert!(
        kept.contains("(Object Lock)") && kept.contains("until 20"),
        "{kept}"
    );
    let now = store.get_range(&rel, 0, 60 << 20).unwrap();
    let end = |f: &[u8]| {
        let p = &f[32768..];
        let mac = p.windows(5).position(|w| w == b"\n--- ").unwrap() + 1;
        32768 + mac + p[mac..].iter().position(|&b| b == b'\n').unwrap() + 1
    };
    assert_eq!(&now[end(&now)..], &before[end(&before)..]);
    let check = |id: &std::path::Path| {
        with(
            &s,
            &w,
            &["keys", "check", "-i", id.to_str().unwrap(), "--from", url],
        )
    };
    check(&d).assert_code(0);
    check(&b).assert_code(0);
    let version = kept.split_whitespace().nth(4).unwrap();
    let old = store.get_version(&rel, version).unwrap();
    assert_eq!(old, before);
    with(&s, &w, &["verify", "--from", url]).assert_code(0);
    // killed before and after the upload completes: the store's catalog takes what is
    // there, D opens it or not, a rerun finishes
    for point in ["rekey-before-rename", "rekey-after-rename"] {
        let env: Vec<(&str, String)> = w.env();
        let mut env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        env.push(("TAPIR_FAILPOINT", point));
        let args = [
            "rekey",
            "-i",
            a,
            "--remove-recipient",
            &d_rcp,
            "--from",
            url,
        ];
        let r = s.run_env(&args, &env);
        assert_eq!(r.code, 134, "{point}: {}", r.stderr);
        with(&s, &w, &["verify", "--from", url]).assert_code(0);
        with(&s, &w, &args).assert_code(0);
        assert_eq!(check(&d).code, 1, "{point}");
        check(&b).assert_code(0);
        with(
            &s,
            &w,
            &["rekey", "-i", a, "--add-recipient", &d_rcp, "--from", url],
        )
        .assert_code(0);
    }

    // 2. the vtape rekeyed (B out, C in), then the store: it takes the vtape's bytes, and
    // the next mirror run has nothing to send
    with(&s, &w, &["mirror"]).assert_code(0); // puts the vtape's file back (A and B)
    let args = [
        "rekey",
        "-i",
        a,
        "--remove-recipient",
        &b_rcp,
        "--add-recipient",
        &c_rcp,
    ];
    with(&s, &w, &args).assert_code(0);
    let mut from = args.to_vec();
    from.extend_from_slice(&["--from", url]);
    let r = with(&s, &w, &from);
    r.assert_code(0);
    assert!(
        written(&r.stdout) < before.len() as f64 / 4.0,
        "{}",
        r.stdout
    );
    let tape = fs::read(s.tape_file(&s.find_json()[0])).unwrap();
    assert_eq!(store.get_range(&rel, 0, 60 << 20).unwrap(), tape);
    let m = with(&s, &w, &["mirror", "--json"]);
    m.assert_code(0);
    let v: serde_json::Value = serde_json::from_str(&m.stdout).unwrap();
    assert!(v["copied"].as_array().unwrap().is_empty(), "{v}");
    assert_eq!(check(&b).code, 1);
    check(&c).assert_code(0);
    let to = s.path().join("restored");
    let r = with(
        &s,
        &w,
        &[
            "recover",
            "--from",
            url,
            "--host",
            "localhost",
            "--disk",
            src.to_str().unwrap(),
            "--identity",
            c.to_str().unwrap(),
            "--to",
            to.to_str().unwrap(),
        ],
    );
    r.assert_code(0);
    tree::assert_same(&src, &to, &|_| false);
}
