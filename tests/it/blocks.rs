//! Block compression and random access: payloads of many gzip members / zstd frames restore
//! with the stock tools, the block table points at every member, and `recover` of chosen
//! files reads only the blocks that hold them, from a multi-GB sparse-heavy dump too.

use crate::common::{Setup, day, noise, sh};
use std::path::{Path, PathBuf};

fn nothing(_: &Path) -> bool {
    false
}

/// ~14 MiB: 6 MiB of noise, 8 MiB of text, small files between; many 1 MiB gzip blocks and
/// several 4 MiB zstd frames.
fn corpus(root: &Path) {
    std::fs::create_dir_all(root.join("sub")).unwrap();
    std::fs::write(root.join("a-first.txt"), b"first\n").unwrap();
    std::fs::write(root.join("noise.bin"), noise(6 << 20, 7)).unwrap();
    let text: String = (0..200_000)
        .map(|i| format!("line {i} of a log file {}\n", i * 7919 % 1000))
        .collect();
    std::fs::write(root.join("sub/log.txt"), text).unwrap();
    std::fs::write(root.join("sub/middle.bin"), noise(300_000, 9)).unwrap();
    std::fs::write(root.join("z-last.txt"), b"last\n").unwrap();
}

fn setup(dumptype: &str, make: fn(&Path)) -> (Setup, PathBuf) {
    let s = Setup::new("", "");
    let src = s.path().join("src");
    make(&src);
    s.write(
        "disklist",
        &format!("localhost \"{}\" {dumptype}\n", src.display()),
    );
    s.run_env(&["dump"], &[("TAPIR_NOW", &day(0))])
        .assert_code(0);
    (s, src)
}

/// Where the block table of dump `rec` lives: beside its index.
fn blk_path(s: &Setup, rec: &serde_json::Value) -> PathBuf {
    let ix = rec["index"].as_str().expect("indexed");
    s.path()
        .join("catalog")
        .join(ix.trim_end_matches(".idx.gz").to_string() + ".blk")
}

/// The block table of a dump: (block size, magic byte code, offsets).
fn table(s: &Setup, rec: &serde_json::Value) -> (u64, u8, Vec<u64>) {
    let blk = blk_path(s, rec);
    let b = std::fs::read(&blk).unwrap_or_else(|e| panic!("{}: {e}", blk.display()));
    assert_eq!(&b[..8], b"TPBLKS01");
    let size = u32::from_le_bytes(b[8..12].try_into().unwrap()) as u64;
    let offsets = b[16..]
        .chunks(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
        .collect();
    (size, b[12], offsets)
}

fn recover(s: &Setup, src: &Path, to: &str, paths: &[&str]) -> crate::common::Run {
    let mut args = vec!["--verbose"];
    args.extend_from_slice(paths);
    s.recover("localhost", src.to_str().unwrap(), Path::new(to), &args)
}

/// "N of M tar bytes decompressed" from recover's report.
fn decompressed(stderr: &str) -> (u64, u64) {
    let line = stderr
        .lines()
        .find(|l| l.contains("by random access"))
        .unwrap_or_else(|| panic!("no random access in:\n{stderr}"));
    let words: Vec<&str> = line.split_whitespace().collect();
    let at = words.iter().position(|w| *w == "tar").unwrap();
    (
        words[at - 3].parse().unwrap(),
        words[at - 1].parse().unwrap(),
    )
}

#[test]
fn many_members_and_frames_restore_with_stock_tools_and_by_random_access() {
    for (dumptype, magic, code) in [
        ("local", &[0x1f, 0x8b, 8][..], 1u8),
        ("local-zstd", &[0x28, 0xb5, 0x2f, 0xfd][..], 2),
    ] {
        let (s, src) = setup(dumptype, corpus);
        let rec = &s.find_json()[0];
        let (size, c, offsets) = table(&s, rec);
        assert_eq!(c, code, "{dumptype}");
        let tar_bytes = rec["tar_bytes"].as_u64().unwrap();
        assert_eq!(offsets.len() as u64, tar_bytes.div_ceil(size), "{dumptype}");
        assert!(offsets.len() >= 3, "{dumptype}: {} blocks", offsets.len());

        // every table entry is where a member/frame begins in the stock-decrypted stream
        let plain = s.path().join("plain");
        sh(
            &format!(
                "dd if={} bs=32k skip=1 status=none | age -d -i {} > {}",
                s.tape_file(rec).display(),
                s.identity.display(),
                plain.display()
            ),
            s.path(),
        );
        let bytes = std::fs::read(&plain).unwrap();
        assert_eq!(offsets[0], 0);
        for w in offsets.windows(2) {
            assert!(w[0] < w[1], "{dumptype}: offsets increase");
        }
        for &o in &offsets {
            assert_eq!(&bytes[o as usize..o as usize + magic.len()], magic, "{o}");
        }

        // the stock pipeline in the header (gzip -dc / zstd -dc) reads all members/frames
        crate::common::restore_both_ways(&s, rec, &src, &nothing);

        // a second night: the level 0's block table survives the run's catalog cleanup,
        // and both dumps of the chain are read by random access
        std::fs::write(src.join("new.txt"), b"new\n").unwrap();
        s.run_env(&["dump"], &[("TAPIR_NOW", &day(1))])
            .assert_code(0);
        assert_eq!(s.levels(), [0, 1], "{dumptype}");

        // random access: one file from the middle, one at the end
        let to = s.path().join("ra").display().to_string();
        let r = recover(&s, &src, &to, &["sub/middle.bin", "z-last.txt"]);
        r.assert_code(0);
        assert_eq!(
            r.stderr.matches("by random access").count(),
            2,
            "{}",
            r.stderr
        );
        let (got, total) = decompressed(&r.stderr);
        assert_eq!(total, tar_bytes);
        assert!(
            got < 3 * size,
            "{dumptype}: {got} of {total} tar bytes read"
        );
        for f in ["sub/middle.bin", "z-last.txt"] {
            assert_eq!(
                std::fs::read(Path::new(&to).join(f)).unwrap(),
                std::fs::read(src.join(f)).unwrap(),
                "{dumptype} {f}"
            );
        }
        assert!(!Path::new(&to).join("noise.bin").exists());

        // without block tables the dumps are read whole, with the same result
        for r in s.find_json().as_array().unwrap() {
            std::fs::remove_file(blk_path(&s, r)).unwrap();
        }
        let to2 = s.path().join("whole").display().to_string();
        let r = recover(&s, &src, &to2, &["sub/middle.bin"]);
        r.assert_code(0);
        assert!(!r.stderr.contains("random access"), "{}", r.stderr);
        assert_eq!(
            std::fs::read(Path::new(&to2).join("sub/middle.bin")).unwrap(),
            std::fs::read(src.join("sub/middle.bin")).unwrap()
        );
    }
}

/// 3 GiB of tar, almost all holes: two sparse files with data islands, small files between.
fn sparse_corpus(root: &Path) {
    use std::io::{Seek, SeekFrom, Write};
    std::fs::create_dir_all(root).unwrap();
    std::fs::write(root.join("a-first.txt"), b"first\n").unwrap();
    for (name, len, islands) in [
        (
            "b-big.img",
            2u64 << 30,
            &[1u64 << 30, (2 << 30) - (1 << 20)][..],
        ),
        ("d-big.img", 1 << 30, &[512 << 20][..]),
    ] {
        let mut f = std::fs::File::create(root.join(name)).unwrap();
        f.set_len(len).unwrap();
        for (i, &at) in islands.iter().enumerate() {
            f.seek(SeekFrom::Start(at)).unwrap();
            f.write_all(&noise(1 << 20, i as u64 + 1)).unwrap();
        }
    }
    std::fs::write(root.join("c-middle.bin"), noise(200_000, 5)).unwrap();
    std::fs::write(root.join("e-last.txt"), b"last\n").unwrap();
}

#[test]
fn single_files_come_back_by_random_access_from_a_multi_gb_sparse_dump() {
    let (s, src) = setup("local", sparse_corpus);
    let rec = &s.find_json()[0];
    let tar_bytes = rec["tar_bytes"].as_u64().unwrap();
    assert!(tar_bytes > 3 << 30, "{tar_bytes}");
    let to = s.path().join("ra").display().to_string();
    let r = recover(&s, &src, &to, &["c-middle.bin", "e-last.txt"]);
    r.assert_code(0);
    let (got, total) = decompressed(&r.stderr);
    assert_eq!(total, tar_bytes);
    assert!(got < 4 << 20, "{got} of {total} tar bytes decompressed");
    for f in ["c-middle.bin", "e-last.txt"] {
        assert_eq!(
            std::fs::read(Path::new(&to).join(f)).unwrap(),
            std::fs::read(src.join(f)).unwrap(),
            "{f}"
        );
    }
    let names: Vec<_> = std::fs::read_dir(&to)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
}
