//! Golden incremental scenarios: night after night the source changes (modify, add, delete,
//! rename file and directory, chmod only, file → directory → file, hard link added, empty dir
//! removed, old-mtime file moved in) and after every dump the chain restored with GNU tar
//! `--incremental` — from the stock pipeline and from `tapir fetch` — equals the source, and
//! `tapir sums` lists every file of it with the sha256 `sha256sum` gives the source's, so that
//! `sha256sum -c` checks the stock restore.

use crate::common::{Setup, day, sh, tree};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn setup() -> (Setup, std::path::PathBuf) {
    // bump after one night when a level up saves 1 KiB: the chain reaches levels 2 and 3
    let s = Setup::new(
        "bumpsize = \"1K\"\nbumpmult = 1.0\nbumpdays = 1\ndumpcycle = 20\nruntapes = 1\ntapecycle = 10\nrunspercycle = 7",
        "",
    );
    let src = s.path().join("src");
    tree::awkward(&src);
    s.write("disklist", &format!("localhost {} local\n", src.display()));
    // the level 0 starts in a later second than the corpus was made, so the corpus's
    // ctimes are before its reference time (a change in that same second is re-dumped)
    std::thread::sleep(std::time::Duration::from_millis(1100));
    (s, src)
}

fn skip_tmp(rel: &Path) -> bool {
    rel.to_string_lossy().ends_with(".tmp")
}

/// Restore `recs` (in order) with the stock pipeline from each header's recipe.
fn restore_stock(s: &Setup, recs: &[&serde_json::Value], out: &Path) {
    fs::create_dir_all(out).unwrap();
    for rec in recs {
        let file = s.tape_file(rec);
        sh(
            &format!(
                "dd if={} bs=32k skip=1 status=none | age -d -i {} | gzip -dc | tar -xpf - --incremental -C {}",
                file.display(),
                s.identity.display(),
                out.display()
            ),
            s.path(),
        );
    }
}

/// Restore `recs` (in order) through `tapir fetch --identity`.
fn restore_fetch(s: &Setup, disk: &str, recs: &[&serde_json::Value], out: &Path) {
    fs::create_dir_all(out).unwrap();
    for rec in recs {
        sh(
            &format!(
                "{} --config {} fetch --host localhost --disk {disk} --date {} -i {} -o - | tar -xpf - --incremental -C {}",
                crate::common::BIN,
                s.path().join("tapir.toml").display(),
                rec["datestamp"].as_str().unwrap(),
                s.identity.display(),
                out.display()
            ),
            s.path(),
        );
    }
}

/// The minimal chain for the newest dump: the full, then for each level the newest dump of
/// that level before the next higher one (dump(8) semantics).
fn minimal_chain(recs: &[serde_json::Value]) -> Vec<&serde_json::Value> {
    let mut chain: Vec<&serde_json::Value> = Vec::new();
    for r in recs {
        let l = r["level"].as_u64().unwrap();
        while chain
            .last()
            .is_some_and(|c| c["level"].as_u64().unwrap() >= l)
        {
            chain.pop();
        }
        chain.push(r);
    }
    chain
}

/// `tapir sums` of the newest state is what GNU sha256sum says of the source's files (hard
/// links, a backslash and a non-UTF-8 name included), and `sha256sum -c` passes in `out`.
fn check_sums(s: &Setup, src: &Path, out: &Path, night: usize) {
    let sums = s.path().join(format!("sums-{night}"));
    sh(
        &format!(
            "{} --config tapir.toml sums --host localhost --disk {} > {}",
            crate::common::BIN,
            src.display(),
            sums.display()
        ),
        s.path(),
    );
    let want = s.path().join(format!("want-{night}"));
    sh(
        &format!(
            "find . -type f ! -name '*.tmp' -print0 | xargs -0 sha256sum | LC_ALL=C sort > {}",
            want.display()
        ),
        src,
    );
    let mut got: Vec<Vec<u8>> = fs::read(&sums)
        .unwrap()
        .split_inclusive(|&b| b == b'\n')
        .map(<[u8]>::to_vec)
        .collect();
    got.sort();
    assert_eq!(
        String::from_utf8_lossy(&got.concat()),
        String::from_utf8_lossy(&fs::read(&want).unwrap()),
        "night {night}: tapir sums against sha256sum of the source"
    );
    sh(
        &format!("sha256sum -c --quiet --strict {}", sums.display()),
        out,
    );
}

/// One night's change to the source tree.
type Change = Box<dyn Fn(&Path)>;

fn old_mtime(p: &Path) {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(946_684_800);
    fs::File::open(p).unwrap().set_modified(t).unwrap();
}

#[test]
fn every_night_the_restored_chain_equals_the_source() {
    let (s, src) = setup();
    let outsider = s.path().join("outside-old.txt");
    let changes: Vec<(&str, Change)> = vec![
        ("level 0", Box::new(|_: &Path| {})),
        (
            "modify and add",
            Box::new(|d: &Path| {
                fs::write(d.join("one-byte"), b"y").unwrap();
                fs::write(d.join("new-file"), b"brand new").unwrap();
            }),
        ),
        (
            "delete file, rename file, chmod only",
            Box::new(|d: &Path| {
                fs::remove_file(d.join("block-512")).unwrap();
                fs::rename(d.join("script.sh"), d.join("renamed.sh")).unwrap();
                fs::set_permissions(d.join("readonly"), fs::Permissions::from_mode(0o400)).unwrap();
            }),
        ),
        (
            "rename directory with old files",
            Box::new(|d: &Path| {
                fs::rename(d.join("hl"), d.join("hl-moved")).unwrap();
            }),
        ),
        (
            "file to directory, empty dir removed",
            Box::new(|d: &Path| {
                fs::remove_file(d.join("new-file")).unwrap();
                fs::create_dir(d.join("new-file")).unwrap();
                fs::write(d.join("new-file/inside"), b"now a dir").unwrap();
                fs::remove_dir(d.join("empty-dir")).unwrap();
            }),
        ),
        (
            "directory back to file, hard link added",
            Box::new(|d: &Path| {
                fs::remove_dir_all(d.join("new-file")).unwrap();
                fs::write(d.join("new-file"), b"a file again").unwrap();
                fs::hard_link(d.join("big.bin"), d.join("big-link")).unwrap();
            }),
        ),
        (
            "old-mtime file moved in, deep change",
            Box::new(|d: &Path| {
                fs::rename(
                    d.parent().unwrap().join("outside-old.txt"),
                    d.join("moved-in.txt"),
                )
                .unwrap();
                fs::write(d.join("deep/deep/deep/added"), b"deep").unwrap();
            }),
        ),
    ];
    fs::write(&outsider, b"old content").unwrap();
    old_mtime(&outsider);
    for (night, (what, change)) in changes.iter().enumerate() {
        change(&src);
        // the dump starts in a later second than these changes
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let r = s.run_env(&["dump"], &[("TAPIR_NOW", &day(night as u32))]);
        r.assert_code(0);
        let recs = s.find_json();
        let recs: Vec<serde_json::Value> = recs.as_array().unwrap().clone();
        let newest = recs.last().unwrap();
        if night > 0 {
            assert!(
                newest["level"].as_u64().unwrap() > 0,
                "night {night} ({what}) should be incremental: {}",
                r.stdout
            );
        }
        let all: Vec<&serde_json::Value> = recs.iter().collect();
        let out = s.path().join(format!("r{night}-stock"));
        restore_stock(&s, &all, &out);
        tree::assert_same(&src, &out, &skip_tmp);
        check_sums(&s, &src, &out, night);
        let out = s.path().join(format!("r{night}-min"));
        restore_stock(&s, &minimal_chain(&recs), &out);
        tree::assert_same(&src, &out, &skip_tmp);
        let out = s.path().join(format!("r{night}-fetch"));
        restore_fetch(&s, &src.display().to_string(), &all, &out);
        tree::assert_same(&src, &out, &skip_tmp);
    }
    let levels = s.levels();
    assert!(
        levels.iter().max().unwrap() >= &2,
        "bumping should reach level 2: {levels:?}"
    );
}

#[test]
fn incremental_index_lists_unchanged_files_as_previous() {
    let (s, src) = setup();
    s.run_env(&["dump"], &[("TAPIR_NOW", &day(0))])
        .assert_code(0);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    fs::write(src.join("one-byte"), b"z").unwrap();
    s.run_env(&["dump"], &[("TAPIR_NOW", &day(1))])
        .assert_code(0);
    let recs = s.find_json();
    let l1 = &recs[1];
    assert_eq!(l1["level"], 1);
    let lines = s.index_lines(l1);
    let get = |p: &str| {
        lines
            .iter()
            .find(|l| l["p"] == p)
            .unwrap_or_else(|| panic!("{p} missing from the level 1 index"))
    };
    assert_eq!(get("./one-byte")["t"], "0");
    assert!(get("./one-byte").get("prev").is_none());
    assert_eq!(
        get("./big.bin")["prev"],
        true,
        "unchanged files are listed as held by an earlier dump"
    );
    assert_eq!(get("./deep/")["t"], "5");
    assert!(l1["tar_bytes"].as_u64().unwrap() < recs[0]["tar_bytes"].as_u64().unwrap() / 4);
}
