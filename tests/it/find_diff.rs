//! Files across dumps from the indexes alone: `find --file GLOB` names the dumps that hold a
//! matching file (an incremental only the files it holds), `diff` the files added, removed
//! and changed between two dates (content too: each file's sha256 in the index), checked
//! against the source trees as they were walked before each night.

use crate::common::{Setup, day};
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

/// path inside the DLE → (type, size (0 for dirs), mtime, mode, owner, link target, a
/// regular file's content sha256)
type Walked = BTreeMap<
    String,
    (
        char,
        u64,
        i64,
        u32,
        (u32, u32),
        Option<String>,
        Option<String>,
    ),
>;

fn walk(root: &Path) -> Walked {
    let mut out = Walked::new();
    for e in walkdir::WalkDir::new(root).min_depth(1) {
        let e = e.unwrap();
        let m = fs::symlink_metadata(e.path()).unwrap();
        let rel = e
            .path()
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let (t, size) = if m.is_dir() {
            ('5', 0)
        } else if m.file_type().is_symlink() {
            ('2', 0)
        } else {
            ('0', m.len())
        };
        let link = m.file_type().is_symlink().then(|| {
            fs::read_link(e.path())
                .unwrap()
                .to_string_lossy()
                .into_owned()
        });
        let content = (t == '0').then(|| {
            use sha2::Digest;
            format!("{:x}", sha2::Sha256::digest(fs::read(e.path()).unwrap()))
        });
        out.insert(
            rel,
            (
                t,
                size,
                m.mtime(),
                m.mode() & 0o7777,
                (m.uid(), m.gid()),
                link,
                content,
            ),
        );
    }
    out
}

/// The diff the indexes should give, from two walks.
fn expected(old: &Walked, new: &Walked) -> serde_json::Value {
    let added: Vec<&String> = new.keys().filter(|k| !old.contains_key(*k)).collect();
    let removed: Vec<&String> = old.keys().filter(|k| !new.contains_key(*k)).collect();
    let mut changed = vec![];
    for (k, n) in new {
        let Some(o) = old.get(k) else { continue };
        let mut what = vec![];
        for (w, differs) in [
            ("type", o.0 != n.0),
            ("size", o.1 != n.1),
            ("mtime", o.2 != n.2),
            ("mode", o.3 != n.3),
            ("owner", o.4 != n.4),
            ("link", o.5 != n.5),
            ("content", o.6.is_some() && n.6.is_some() && o.6 != n.6),
        ] {
            if differs {
                what.push(w);
            }
        }
        if !what.is_empty() {
            changed.push(serde_json::json!({ "path": k, "what": what }));
        }
    }
    serde_json::json!({ "added": added, "removed": removed, "changed": changed })
}

fn dump(s: &Setup, night: u32) {
    // a change in the second of the reference time is re-dumped, not lost; keep them apart
    std::thread::sleep(std::time::Duration::from_millis(1100));
    s.run_env(&["dump"], &[("TAPIR_NOW", &day(night))])
        .assert_code(0);
}

#[test]
fn find_file_and_diff_from_the_indexes_match_the_source_trees() {
    let s = Setup::new(
        "dumpcycle = 20\nruntapes = 1\ntapecycle = 10\nrunspercycle = 7",
        "",
    );
    let src = s.path().join("src");
    fs::create_dir_all(src.join("etc/nginx")).unwrap();
    fs::create_dir_all(src.join("var")).unwrap();
    fs::write(src.join("etc/nginx/nginx.conf"), "worker_processes 1;\n").unwrap();
    fs::write(src.join("etc/app.conf"), "a=1\n").unwrap();
    fs::write(src.join("etc/gone.conf"), "bye\n").unwrap();
    fs::write(src.join("var/naïve ünïcode.log"), "x".repeat(5000)).unwrap();
    fs::write(src.join("var/mode"), "m").unwrap();
    std::os::unix::fs::symlink("nginx/nginx.conf", src.join("etc/current")).unwrap();
    s.write("disklist", &format!("localhost {} local\n", src.display()));
    let disk = src.display().to_string();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let w1 = walk(&src);
    dump(&s, 1);

    // night 2: add, remove, grow, chmod, a new directory, a symlink re-pointed
    fs::write(
        src.join("etc/nginx/nginx.conf"),
        "worker_processes 4;\nevents {}\n",
    )
    .unwrap();
    fs::remove_file(src.join("etc/gone.conf")).unwrap();
    fs::write(src.join("etc/new.conf"), "new\n").unwrap();
    fs::set_permissions(src.join("var/mode"), fs::Permissions::from_mode(0o600)).unwrap();
    fs::create_dir_all(src.join("srv/site")).unwrap();
    fs::write(src.join("srv/site/index.html"), "<p>hi</p>").unwrap();
    fs::remove_file(src.join("etc/current")).unwrap();
    std::os::unix::fs::symlink("app.conf", src.join("etc/current")).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let w2 = walk(&src);
    dump(&s, 2);

    // night 3: one more change (a level 1 again: it holds night 2's changes too)
    fs::write(src.join("var/naïve ünïcode.log"), "y".repeat(7000)).unwrap();
    fs::remove_dir_all(src.join("srv")).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let w3 = walk(&src);
    dump(&s, 3);
    let levels = s.levels();
    assert_eq!(levels[0], 0);
    assert!(levels[1] > 0 && levels[2] > 0, "incrementals: {levels:?}");

    let diff = |a: u32, b: u32| {
        let (d1, d2) = (&day(a)[..10], &day(b)[..10]);
        let r = s.run(&["diff", "localhost", &disk, d1, d2, "--json"]);
        r.assert_code(0);
        let mut j: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
        let o = j.as_object_mut().unwrap();
        for k in ["host", "disk", "from_dumps", "to_dumps"] {
            o.remove(k);
        }
        j
    };
    assert_eq!(diff(1, 2), expected(&w1, &w2));
    assert_eq!(diff(2, 3), expected(&w2, &w3));
    // unchanged names take their metadata from the older dump of the chain
    assert_eq!(diff(1, 3), expected(&w1, &w3));
    assert_eq!(diff(3, 3), expected(&w3, &w3));
    let d = diff(1, 2);
    assert!(
        d["added"]
            .as_array()
            .unwrap()
            .contains(&"etc/new.conf".into()),
        "{d}"
    );
    assert_eq!(d["removed"], serde_json::json!(["etc/gone.conf"]));

    let text = s.run(&["diff", "localhost", &disk, &day(1)[..10], &day(2)[..10]]);
    text.assert_code(0);
    assert!(text.stdout.contains("+ etc/new.conf\n"), "{}", text.stdout);
    assert!(text.stdout.contains("- etc/gone.conf\n"), "{}", text.stdout);
    assert!(
        text.stdout.contains("M var/mode (mode)\n"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout.contains("M etc/current (mtime, link)\n"),
        "{}",
        text.stdout
    );
    let before = s.run(&["diff", "localhost", &disk, "2025-01-01", &day(2)[..10]]);
    before.assert_code(4);
    assert!(
        before.stderr.contains("no full of localhost"),
        "{}",
        before.stderr
    );

    // find --file: by name, every dump that holds the content
    let find = |args: &[&str]| {
        let mut a = vec!["find", "--json", "--file"];
        a.extend(args);
        let r = s.run(&a);
        let j: serde_json::Value = serde_json::from_str(&r.stdout).unwrap_or_default();
        let rows: Vec<(String, u64, String, u64)> = j
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|h| {
                        (
                            h["datestamp"].as_str().unwrap()[..8].to_string(),
                            h["level"].as_u64().unwrap(),
                            h["path"].as_str().unwrap().to_string(),
                            h["file_bytes"].as_u64().unwrap(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        (r, rows)
    };
    let (r, rows) = find(&["*.conf"]);
    r.assert_code(0);
    let n1 = "20260102".to_string();
    let n2 = "20260103".to_string();
    let n3 = "20260104".to_string();
    let want = vec![
        (n1.clone(), 0, "etc/app.conf".into(), 4),
        (n1.clone(), 0, "etc/gone.conf".into(), 4),
        (n1.clone(), 0, "etc/nginx/nginx.conf".into(), 20),
        (n2.clone(), levels[1], "etc/new.conf".into(), 4),
        (n2.clone(), levels[1], "etc/nginx/nginx.conf".into(), 30),
        (n3.clone(), levels[2], "etc/new.conf".into(), 4),
        (n3.clone(), levels[2], "etc/nginx/nginx.conf".into(), 30),
    ];
    let mut got = rows.clone();
    got.sort();
    assert_eq!(got, want, "{}", r.stdout);
    // a path glob, a unicode name, the filters, nothing found
    let (r, rows) = find(&["var/*.log", "--host", "localhost", "--disk", &disk]);
    r.assert_code(0);
    let paths: Vec<(&str, u64)> = rows.iter().map(|r| (r.2.as_str(), r.3)).collect();
    assert_eq!(
        paths,
        [
            ("var/naïve ünïcode.log", 5000),
            ("var/naïve ünïcode.log", 7000)
        ]
    );
    let (r, rows) = find(&["*.conf", "--host", "nohost"]);
    r.assert_code(1);
    assert!(rows.is_empty());
    let (r, _) = find(&["*.nothing"]);
    r.assert_code(1);
    assert!(
        r.stderr.contains("0 file(s) in 0 of 3 dump(s)"),
        "{}",
        r.stderr
    );
    let r = s.run(&["find", "--file", "[bad"]);
    r.assert_code(2);
    assert!(r.stderr.contains("\"[bad\" is not a glob"), "{}", r.stderr);
    let r = s.run(&["find", "--file", "nginx.conf"]);
    assert_eq!(
        r.stdout.lines().count(),
        4,
        "a heading and 3 dumps: {}",
        r.stdout
    );
    assert!(r.stdout.contains("etc/nginx/nginx.conf"), "{}", r.stdout);
}
