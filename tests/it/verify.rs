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

/// `verify --max-time` reads the least recently verified dump files first, stops at the
/// limit and goes on the next run where it stopped; `status`, `check-rpo` and the textfile
/// say how much of the rotation was verified within `verify_max_age`.
#[test]
fn verify_with_a_time_limit_goes_on_where_it_stopped_and_coverage_is_reported() {
    use crate::common::day;
    let s = Setup::new(
        "tapecycle = 8\nrunspercycle = 1\nverify_max_age = \"3d\"",
        "slots = 9\nautolabel = \"daily-%%\"\n",
    );
    let src = s.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    s.write(
        "disklist",
        &format!("localhost {} local-full\n", src.display()),
    );
    for n in 0..8 {
        std::fs::write(src.join("f"), noise(64 << 10, n as u64)).unwrap();
        s.run_env(&["dump"], &[("TAPIR_NOW", &day(n))])
            .assert_code(0);
    }
    // a run with --max-time reads what was read longest ago (never, first), at least a file
    let limited = |n: u32| -> (Vec<String>, bool) {
        let r = s.run_env(
            &["--json", "verify", "--max-time", "0s"],
            &[("TAPIR_NOW", &day(n))],
        );
        r.assert_code(0);
        let read: Vec<String> = serde_json::from_str::<serde_json::Value>(&r.stdout)
            .unwrap()
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                format!(
                    "{}/{}",
                    c["label"].as_str().unwrap(),
                    c["file"].as_str().unwrap()
                )
            })
            .collect();
        assert!(!read.is_empty(), "a run reads at least one file");
        (read, r.stderr.contains("stopped at --max-time"))
    };
    let mut seen: Vec<String> = vec![];
    let mut runs = 0;
    while seen.len() < 8 {
        let (read, _) = limited(8);
        for f in &read {
            assert!(
                !seen.contains(f),
                "{f} read again before every file was read once"
            );
        }
        seen.extend(read);
        runs += 1;
        assert!(runs <= 8, "{seen:?}");
    }
    // the next night starts with the file read longest ago, then goes on from there
    let (first, stopped) = limited(9);
    if stopped {
        let (second, _) = limited(10);
        assert!(
            second.iter().all(|f| !first.contains(f)),
            "{first:?} then {second:?}"
        );
    }
    // 4 nights later nothing is within 3 days: check-rpo warns, the textfile says so
    let prom = s.path().join("tapir.prom");
    let rpo = |n: u32| {
        s.run_env(
            &[
                "check-rpo",
                "--warn",
                "30d",
                "--crit",
                "60d",
                "--prometheus",
                prom.to_str().unwrap(),
            ],
            &[("TAPIR_NOW", &day(n))],
        )
    };
    let r = rpo(14);
    r.assert_code(1);
    assert!(
        r.stdout.contains("rotation 0% verified within 3d"),
        "{}",
        r.stdout
    );
    let text = std::fs::read_to_string(&prom).unwrap();
    assert!(
        text.contains("tapir_verify_coverage_ratio{copy=\"rotation\"} 0\n"),
        "{text}"
    );
    // a read that skipped the signatures proves nothing: not recorded
    s.run_env(
        &["verify", "--insecure-skip-signature"],
        &[("TAPIR_NOW", &day(14))],
    )
    .assert_code(0);
    rpo(14).assert_code(1);
    // a whole verify covers it again
    s.run_env(&["verify"], &[("TAPIR_NOW", &day(14))])
        .assert_code(0);
    rpo(14).assert_code(0);
    let text = std::fs::read_to_string(&prom).unwrap();
    assert!(
        text.contains("tapir_verify_coverage_ratio{copy=\"rotation\"} 1\n"),
        "{text}"
    );
    let st = s.run_env(&["status"], &[("TAPIR_NOW", &day(14))]);
    assert!(
        st.stdout
            .contains("verified within 3 day(s) 0 h: rotation: 100% of 8 tape file(s)"),
        "{}",
        st.stdout
    );
    // a mirror is a copy of its own: not verified until `verify --from` reads it
    let m = s.path().join("mirror");
    s.run(&["mirror", "--to", m.to_str().unwrap()])
        .assert_code(0);
    let copy = format!(
        "tapir_verify_coverage_ratio{{copy=\"mirror:{}\"}}",
        m.display()
    );
    rpo(14).assert_code(1);
    let text = std::fs::read_to_string(&prom).unwrap();
    assert!(text.contains(&format!("{copy} 0\n")), "{text}");
    s.run_env(
        &["verify", "--from", m.to_str().unwrap()],
        &[("TAPIR_NOW", &day(14))],
    )
    .assert_code(0);
    rpo(14).assert_code(0);
    let text = std::fs::read_to_string(&prom).unwrap();
    assert!(text.contains(&format!("{copy} 1\n")), "{text}");
}
