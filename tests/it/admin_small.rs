//! Small things Amanda admins trip over: a very long DLE path dumps and restores (tape and
//! catalog file names stay within NAME_MAX; the header keeps the whole name), and `status`
//! of a finished run shows no absurd rate.

use crate::common::{Setup, tree};

#[test]
fn a_1122_character_dle_path_dumps_restores_and_verifies() {
    let s = Setup::new("", "");
    let mut src = s.path().to_path_buf();
    while src.as_os_str().len() < 1122 {
        src.push("x".repeat(110));
    }
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("f"), "deep").unwrap();
    let disk = src.display().to_string();
    assert!(disk.len() >= 1122);
    s.write("disklist", &format!("localhost {disk} local\n"));
    s.run(&["dump"]).assert_code(0);
    let rec = &s.find_json()[0];
    let name = rec["file_name"].as_str().unwrap();
    assert!(name.len() <= 240, "{name}");
    let header =
        String::from_utf8_lossy(&std::fs::read(s.tape_file(rec)).unwrap()[..32768]).into_owned();
    assert!(header.contains(&format!("disk = \"{disk}\"")));
    let to = s.path().join("r");
    s.recover("localhost", &disk, &to, &[]).assert_code(0);
    tree::assert_same(&src, &to, &|_| false);
    s.run(&["verify"]).assert_code(0);
    // the next night is an incremental against it: the catalog found it again
    s.run(&["dump"]).assert_code(0);
    assert_eq!(s.levels(), vec![0, 1]);
}

#[test]
fn status_of_a_finished_tiny_run_shows_no_absurd_rate() {
    let s = Setup::new("", "");
    let src = s.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("f"), "x").unwrap();
    s.write("disklist", &format!("localhost {} local\n", src.display()));
    s.run(&["dump"]).assert_code(0);
    let r = s.run(&["status"]);
    r.assert_code(0);
    let line = r
        .stdout
        .lines()
        .find(|l| l.starts_with("localhost"))
        .unwrap();
    let rate: Vec<&str> = line.split_whitespace().filter(|w| *w == "MB/s").collect();
    assert!(rate.is_empty() || !line.contains("000.0 MB/s"), "{line}");
    assert!(
        line.contains(" - "),
        "a blink of a dump has no rate: {line}"
    );
}

#[test]
fn json_is_refused_where_the_output_is_not_data_and_nothing_changes() {
    let s = Setup::new("", "");
    let src = s.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    s.write("disklist", &format!("localhost {} local\n", src.display()));
    let disk = src.display().to_string();
    let key = s.path().join("new-key.txt");
    for args in [
        vec!["--json", "force", "localhost", &disk],
        vec!["--json", "unforce", "localhost", &disk],
        vec!["--json", "label", "1", "daily-01"],
        vec!["--json", "keygen", "-o", key.to_str().unwrap()],
    ] {
        let r = s.run(&args);
        r.assert_code(2);
        assert!(
            r.stderr.contains("--json is not supported"),
            "{args:?}: {}",
            r.stderr
        );
    }
    assert!(!key.exists());
    assert!(!s.path().join("vtape").exists());
    assert!(!s.path().join("catalog").exists());
    let r = s.run(&["--json", "check-rpo"]);
    r.assert_code(3);
    assert!(
        r.stdout
            .starts_with("TAPIR RPO UNKNOWN - bad arguments: --json"),
        "{}",
        r.stdout
    );
}

#[test]
fn a_dle_that_fails_before_its_dump_is_reported_at_the_level_it_was_due() {
    let s = Setup::new("", "");
    let src = s.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("f"), "x").unwrap();
    s.write("disklist", &format!("localhost {} local\n", src.display()));
    s.run_env(&["dump"], &[("TAPIR_NOW", &crate::common::day(0))])
        .assert_code(0);
    // the client cannot be reached the next night (here: its path is gone at estimate time)
    std::fs::rename(&src, s.path().join("moved")).unwrap();
    let r = s.run_env(
        &["dump", "--json"],
        &[("TAPIR_NOW", &crate::common::day(1))],
    );
    r.assert_code(1);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let o = &v["outcomes"][0];
    assert_eq!(o["status"], "FAILED", "{o}");
    assert_eq!(o["level"], 1, "{o}");
}

#[test]
fn json_speaks_one_vocabulary_and_times_survive_any_json_reader() {
    let s = Setup::new("", "");
    let src = s.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("f"), "x").unwrap();
    s.write("disklist", &format!("localhost {} local\n", src.display()));
    let r = s.run(&["--json", "dump"]);
    r.assert_code(0);
    let run: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let o = &run["outcomes"][0];
    assert_eq!(o["status"], "OK");
    assert!(o["tar_bytes"].as_u64().unwrap() > 0 && o["tape_bytes"].as_u64().unwrap() > 0);
    let rec = &s.find_json()[0];
    let ns: i64 = rec["client_time_ns"]
        .as_str()
        .expect("a string")
        .parse()
        .unwrap();
    let t = chrono::DateTime::parse_from_rfc3339(rec["client_time"].as_str().unwrap()).unwrap();
    assert_eq!(t.timestamp_nanos_opt().unwrap(), ns);
    // jq (doubles) reads the nanoseconds exactly, as a string
    let out = std::process::Command::new("bash")
        .args([
            "-c",
            &format!(
                "{} --json find | jq -r '.[0].client_time_ns, .[0].client_time'",
                crate::common::BIN
            ),
        ])
        .current_dir(s.path())
        .output()
        .expect("jq (Debian package jq)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut lines = text.lines();
    assert_eq!(lines.next().unwrap().parse::<i64>().unwrap(), ns, "{text}");
    assert_eq!(lines.next().unwrap(), rec["client_time"].as_str().unwrap());
    let st: serde_json::Value = serde_json::from_str(&s.run(&["--json", "status"]).stdout).unwrap();
    assert_eq!(st["dles"][0]["status"], "OK");
    let v: serde_json::Value = serde_json::from_str(&s.run(&["--json", "verify"]).stdout).unwrap();
    assert_eq!(v[0]["status"], "OK");
}
