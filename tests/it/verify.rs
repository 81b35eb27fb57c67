//! `tapir verify` names each damaged file: CORRUPT (a flipped byte), TRUNCATED, MISSING;
//! the others stay OK and restorable.

use crate::common::{Setup, noise};

fn setup() -> (Setup, Vec<String>) {
    let s = Setup::new("", "");
    let mut disks = vec![];
    for name in ["a", "b", "c", "d"] {
        let d = s.path().join(name);
        std::fs::create_dir_all(d.join("sub")).unwrap();
        std::fs::write(
            d.join("sub/data"),
            noise(200 << 10, name.as_bytes()[0] as u64),
        )
        .unwrap();
        disks.push(d.display().to_string());
    }
    let dl: String = disks
        .iter()
        .map(|d| format!("localhost {d} local\n"))
        .collect();
    s.write("disklist", &dl);
    s.run(&["dump"]).assert_code(0);
    (s, disks)
}

fn verdicts(r: &crate::common::Run) -> Vec<(String, String)> {
    let v: Vec<serde_json::Value> =
        serde_json::from_str(&r.stdout).unwrap_or_else(|_| panic!("{}", r.stdout));
    v.iter()
        .map(|c| {
            (
                c["status"].as_str().unwrap().to_string(),
                c["file"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn intact_tapes_verify_with_and_without_a_key() {
    let (s, _) = setup();
    let r = s.run(&["verify", "--json"]);
    r.assert_code(0);
    assert_eq!(verdicts(&r).len(), 4);
    assert!(verdicts(&r).iter().all(|(v, _)| v == "OK"));
    let id = s.identity.display().to_string();
    let r = s.run(&["verify", "--identity", &id]);
    r.assert_code(0);
    assert_eq!(
        r.stdout.matches("match the index").count(),
        4,
        "{}",
        r.stdout
    );
}

#[test]
fn flipped_truncated_and_missing_files_are_named() {
    let (s, disks) = setup();
    let recs = s.find_json();
    let files: Vec<_> = recs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| s.tape_file(r))
        .collect();
    let mut bytes = std::fs::read(&files[0]).unwrap();
    let mid = 32768 + (bytes.len() - 32768) / 2;
    bytes[mid] ^= 0x01;
    std::fs::write(&files[0], &bytes).unwrap();
    let b = std::fs::read(&files[1]).unwrap();
    std::fs::write(&files[1], &b[..b.len() - 1000]).unwrap();
    std::fs::remove_file(&files[2]).unwrap();
    let name = |k: usize| files[k].file_name().unwrap().to_string_lossy().into_owned();
    for args in [
        vec!["verify", "--json"],
        vec![
            "verify",
            "--json",
            "--identity",
            s.identity.to_str().unwrap(),
        ],
    ] {
        let r = s.run(&args);
        r.assert_code(1);
        let v = verdicts(&r);
        assert!(v.contains(&("CORRUPT".into(), name(0))), "{v:?}");
        assert!(v.contains(&("TRUNCATED".into(), name(1))), "{v:?}");
        assert!(v.contains(&("MISSING".into(), name(2))), "{v:?}");
        assert!(v.contains(&("OK".into(), name(3))), "{v:?}");
    }
    // the damaged one is refused by fetch, the healthy one still restores
    let r = s.run(&[
        "fetch",
        "--host",
        "localhost",
        "--disk",
        &disks[0],
        "-o",
        "-",
    ]);
    r.assert_code(1);
    assert!(r.stderr.contains("CORRUPT"), "{}", r.stderr);
    let out = s.path().join("restored-d");
    std::fs::create_dir(&out).unwrap();
    crate::common::sh(
        &format!(
            "{} --config {} fetch --host localhost --disk {} -i {} -o - | tar -xf - -C {}",
            crate::common::BIN,
            s.path().join("tapir.toml").display(),
            disks[3],
            s.identity.display(),
            out.display()
        ),
        s.path(),
    );
    assert_eq!(
        std::fs::read(out.join("sub/data")).unwrap(),
        noise(200 << 10, b'd' as u64)
    );
}
