//! `tapir drill` from a mirror: every DLE of a 6-DLE setup drilled within the drill cycle
//! (big DLEs by a seeded sample), the stock tools once a cycle; a key that is not a
//! recipient, a file gone from the mirror, a forged index checksum and a killed drill each
//! FAIL or clean up as they must; the textfile and the Nagios mode.

use crate::common::{Run, Setup, day, noise};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// Six DLEs (two of them bigger than the drills' --max-bytes), dumped and mirrored.
fn setup() -> (Setup, PathBuf) {
    setup_with("")
}

fn setup_with(more: &str) -> (Setup, PathBuf) {
    let s = Setup::new(
        &format!("[drill]\ndrill_cycle = \"3d\"\nmax_bytes = \"300K\"\n{more}"),
        "",
    );
    let mut dl = String::new();
    for k in 0..6 {
        let d = s.path().join(format!("dle{k}"));
        fs::create_dir_all(d.join("sub")).unwrap();
        let files = if k < 2 { 12 } else { 3 };
        for f in 0..files {
            fs::write(
                d.join(format!("sub/f{f}")),
                noise(60 << 10, (k * 100 + f) as u64),
            )
            .unwrap();
        }
        std::os::unix::fs::symlink("sub/f0", d.join("link")).unwrap();
        fs::hard_link(d.join("sub/f1"), d.join("hard")).unwrap();
        dl.push_str(&format!("localhost {} local\n", d.display()));
    }
    s.write("disklist", &dl);
    s.run_env(&["dump"], &[("TAPIR_NOW", &day(0))])
        .assert_code(0);
    let m = s.path().join("mirror");
    s.run(&["mirror", "--to", m.to_str().unwrap()])
        .assert_code(0);
    (s, m)
}

fn drill(s: &Setup, m: &Path, state: &str, when: &str, extra: &[&str]) -> Run {
    let id = s.identity.display().to_string();
    let scratch = s.path().join("scratch");
    let mut args = vec![
        "--json",
        "drill",
        "--from",
        m.to_str().unwrap(),
        "-i",
        &id,
        "--state",
        state,
        "--scratch",
        scratch.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    s.run_env(&args, &[("TAPIR_NOW", when)])
}

/// `tapir drill --check --max-age 14d` on the state in `state`, at `when`.
fn nagios_check(s: &Setup, m: &Path, state: &str, when: &str) -> Run {
    let from = m.to_str().unwrap();
    let args = [
        "drill",
        "--from",
        from,
        "--state",
        state,
        "--check",
        "--max-age",
        "14d",
    ];
    s.run_env(&args, &[("TAPIR_NOW", when)])
}

fn drilled(r: &Run) -> Vec<serde_json::Value> {
    let v: serde_json::Value =
        serde_json::from_str(&r.stdout).unwrap_or_else(|_| panic!("{}\n{}", r.stdout, r.stderr));
    v["drilled"].as_array().unwrap().clone()
}

fn scratch_left(s: &Setup) -> Vec<String> {
    fs::read_dir(s.path().join("scratch"))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn every_dle_is_drilled_within_the_cycle_and_the_stock_tools_once_a_cycle() {
    let (s, m) = setup();
    let state = s.path().join("state").display().to_string();
    let mut last: BTreeMap<String, u32> = BTreeMap::new();
    let mut stock_days = vec![];
    let mut sampled = 0;
    for night in 1..=8u32 {
        let r = drill(&s, &m, &state, &day(night), &[]);
        r.assert_code(0);
        let d = drilled(&r);
        assert!(
            d.len() >= 2,
            "night {night}: a cycle's share (6 DLEs / 3 days): {}",
            r.stdout
        );
        for x in &d {
            assert_eq!(x["ok"], true, "night {night}: {x}");
            assert!(x["entries"].as_u64().unwrap() > 0, "{x}");
            let disk = x["disk"].as_str().unwrap().to_string();
            if x["by"] == "stock" {
                stock_days.push(night);
            } else if let Some(seed) = x["seed"].as_u64() {
                sampled += 1;
                assert!(
                    disk.ends_with("dle0") || disk.ends_with("dle1"),
                    "only big DLEs are sampled: {x}"
                );
                // the same seed draws the same sample: a second drill of it is identical
                let again = drill(
                    &s,
                    &m,
                    &s.path()
                        .join(format!("state-again-{night}"))
                        .display()
                        .to_string(),
                    &day(night),
                    &["--host", "localhost", "--seed", &seed.to_string()],
                );
                again.assert_code(0);
                let same = drilled(&again)
                    .into_iter()
                    .find(|y| y["disk"] == x["disk"])
                    .unwrap();
                assert_eq!(same["entries"], x["entries"], "seed {seed}");
            }
            last.insert(disk, night);
        }
        assert_eq!(last.len().min(6), last.len());
        for (disk, at) in &last {
            assert!(
                night - at < 3,
                "night {night}: {disk} last drilled on night {at}, the cycle is 3 days"
            );
        }
        assert!(
            scratch_left(&s).is_empty(),
            "night {night}: scratch left: {:?}",
            scratch_left(&s)
        );
    }
    assert_eq!(last.len(), 6, "every DLE drilled: {last:?}");
    assert!(sampled > 0, "the big DLEs were drilled by samples");
    assert_eq!(
        stock_days,
        vec![1, 4, 7],
        "the stock tools once every 3 days"
    );
}

#[test]
fn a_wrong_key_a_missing_file_a_forged_checksum_and_a_kill_fail_or_clean_up() {
    let (s, m) = setup();
    let fresh = |n: &str| s.path().join(format!("state-{n}")).display().to_string();
    // a key that is not among the recipients
    let other = s.path().join("other.txt");
    s.run(&["keygen", "-o", other.to_str().unwrap()])
        .assert_code(0);
    let id = other.display().to_string();
    let scratch = s.path().join("scratch");
    let r = s.run_env(
        &[
            "drill",
            "--from",
            m.to_str().unwrap(),
            "-i",
            &id,
            "--state",
            &fresh("key"),
            "--scratch",
            scratch.to_str().unwrap(),
        ],
        &[("TAPIR_NOW", &day(1))],
    );
    r.assert_code(1);
    assert_eq!(r.stdout.matches("FAILED").count(), 6, "{}", r.stdout);
    assert!(
        r.stdout.to_lowercase().contains("identit"),
        "names the key problem: {}",
        r.stdout
    );

    // a dump file gone from the mirror
    let recs = s.find_json();
    let victim = recs
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["disk"].as_str().unwrap().ends_with("dle3"))
        .unwrap();
    let file = s.tape_file(victim);
    let rel = file.strip_prefix(s.path().join("vtape")).unwrap();
    fs::remove_file(m.join(rel)).unwrap();
    let r = drill(&s, &m, &fresh("missing"), &day(1), &[]);
    r.assert_code(1);
    let d = drilled(&r);
    let bad: Vec<&serde_json::Value> = d.iter().filter(|x| x["ok"] == false).collect();
    assert_eq!(bad.len(), 1, "{}", r.stdout);
    assert!(bad[0]["disk"].as_str().unwrap().ends_with("dle3"));
    let name = file.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        bad[0]["reason"].as_str().unwrap().contains(&name),
        "names the file: {}",
        bad[0]
    );
    fs::copy(&file, m.join(rel)).unwrap();

    // an index whose checksum of one file was forged
    let victim = recs
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["disk"].as_str().unwrap().ends_with("dle4"))
        .unwrap();
    let ix = m.join("catalog").join(victim["index"].as_str().unwrap());
    let text = {
        use std::io::Read;
        let mut t = String::new();
        flate2::read::GzDecoder::new(fs::File::open(&ix).unwrap())
            .read_to_string(&mut t)
            .unwrap();
        t
    };
    let forged: String = text
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            if v["p"] == "./sub/f2" {
                v["h"] = "0".repeat(64).into();
            }
            format!("{v}\n")
        })
        .collect();
    {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(
            fs::File::create(&ix).unwrap(),
            flate2::Compression::fast(),
        );
        gz.write_all(forged.as_bytes()).unwrap();
        gz.finish().unwrap();
    }
    let r = drill(&s, &m, &fresh("forged"), &day(1), &[]);
    r.assert_code(1);
    let d = drilled(&r);
    let bad: Vec<&serde_json::Value> = d.iter().filter(|x| x["ok"] == false).collect();
    assert_eq!(bad.len(), 1, "{}", r.stdout);
    let why = bad[0]["reason"].as_str().unwrap();
    assert!(
        why.contains("sub/f2") && why.contains("sha256"),
        "names the file: {why}"
    );

    // killed mid-drill: the next run removes what it left
    let r = s.run_env(
        &[
            "drill",
            "--from",
            m.to_str().unwrap(),
            "-i",
            &s.identity.display().to_string(),
            "--state",
            &fresh("kill"),
            "--scratch",
            scratch.to_str().unwrap(),
        ],
        &[
            ("TAPIR_NOW", &day(1)),
            ("TAPIR_FAILPOINT", "drill-restored"),
        ],
    );
    assert_ne!(r.code, 0);
    assert!(!scratch_left(&s).is_empty(), "the kill left its scratch");
    drill(&s, &m, &fresh("kill"), &day(2), &["--host", "nobody"]).assert_code(0);
    assert!(
        scratch_left(&s).is_empty(),
        "scratch left: {:?}",
        scratch_left(&s)
    );
}

#[test]
fn the_stock_drill_fails_without_gnu_tar_and_the_monitoring_outputs_parse() {
    let (s, m) = setup();
    // a PATH with every tool but tar
    let bin = s.path().join("bin");
    fs::create_dir_all(&bin).unwrap();
    for tool in ["bash", "dd", "age", "gzip", "sha256sum"] {
        let p = std::process::Command::new("bash")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .unwrap();
        let at = String::from_utf8(p.stdout).unwrap();
        std::os::unix::fs::symlink(at.trim(), bin.join(tool)).unwrap();
    }
    let state = s.path().join("state").display().to_string();
    let scratch = s.path().join("scratch");
    let id = s.identity.display().to_string();
    let r = crate::common::finish(
        s.cmd(&[
            "drill",
            "--from",
            m.to_str().unwrap(),
            "-i",
            &id,
            "--state",
            &state,
            "--scratch",
            scratch.to_str().unwrap(),
        ])
        .env("PATH", &bin)
        .env("TAPIR_NOW", day(1))
        .output()
        .unwrap(),
    );
    r.assert_code(1);
    let failed: Vec<&str> = r
        .stdout
        .lines()
        .filter(|l| l.starts_with("FAILED"))
        .collect();
    assert_eq!(failed.len(), 1, "{}", r.stdout);
    assert!(
        failed[0].contains("stock tools") && failed[0].contains("`tar` is not on PATH"),
        "{}",
        failed[0]
    );
    let check = s.run_env(
        &[
            "drill",
            "--from",
            m.to_str().unwrap(),
            "--state",
            &state,
            "--check",
        ],
        &[("TAPIR_NOW", &day(1))],
    );
    check.assert_code(2);
    assert!(
        check
            .stdout
            .starts_with("TAPIR DRILL CRITICAL - last drill failed: localhost"),
        "{}",
        check.stdout
    );

    // with tar back, the stock drill passes, and the outputs parse
    let prom = s.path().join("prom");
    let r = drill(
        &s,
        &m,
        &state,
        &day(2),
        &["--textfile", prom.to_str().unwrap()],
    );
    r.assert_code(0);
    assert!(
        drilled(&r)
            .iter()
            .any(|x| x["by"] == "stock" && x["ok"] == true),
        "{}",
        r.stdout
    );
    let text = prom.join("tapir_drill.prom");
    let out = std::process::Command::new(crate::common::promtool())
        .args(["check", "metrics"])
        .stdin(fs::File::open(&text).unwrap())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let body = fs::read_to_string(&text).unwrap();
    assert_eq!(
        body.matches("tapir_drill_last_success_timestamp_seconds{")
            .count(),
        6,
        "{body}"
    );
    assert!(
        body.contains("tapir_drill_bytes_per_second{copy=")
            && body.contains("tapir_rto_estimate_seconds{host=\"localhost\""),
        "{body}"
    );
    let check = nagios_check(&s, &m, &state, &day(3));
    check.assert_code(0);
    assert!(
        check
            .stdout
            .starts_with("TAPIR DRILL OK - 6 DLE(s) drilled within"),
        "{}",
        check.stdout
    );
    for item in crate::nagios::perfdata(&check.stdout) {
        assert!(crate::nagios::valid_perf(&item), "bad perfdata {item:?}");
    }
    // the mass-restore plan estimates with the drills' rate when this machine has them
    let plan = |home: &Path| {
        let to = s.path().join("plan-to");
        s.run_env(
            &[
                "recover",
                "--from",
                m.to_str().unwrap(),
                "--host",
                "localhost",
                "--all",
                "--plan",
                "-i",
                &id,
                "--to",
                to.to_str().unwrap(),
            ],
            &[
                ("XDG_STATE_HOME", home.to_str().unwrap()),
                ("HOME", home.to_str().unwrap()),
            ],
        )
    };
    let none = plan(&s.path().join("no-drills"));
    none.assert_code(0);
    assert!(
        none.stdout
            .contains("(the fetch rate of the first tape: no drill of this copy is recorded here)"),
        "{}",
        none.stdout
    );
    let home = s.path().join("drill-home");
    let r = s.run_env(
        &[
            "drill",
            "--from",
            m.to_str().unwrap(),
            "-i",
            &id,
            "--scratch",
            scratch.to_str().unwrap(),
        ],
        &[
            ("XDG_STATE_HOME", home.to_str().unwrap()),
            ("TAPIR_NOW", &day(2)),
        ],
    );
    r.assert_code(0);
    let p = plan(&home);
    p.assert_code(0);
    assert!(
        p.stdout.contains(&format!(
            "(the rate the drills of {} measured)",
            m.display()
        )),
        "{}",
        p.stdout
    );
    assert_eq!(
        p.stdout.matches(" to read, about ").count(),
        6,
        "a time per DLE: {}",
        p.stdout
    );
    assert!(
        !s.path().join("plan-to").exists(),
        "--plan restores nothing"
    );
    let late = nagios_check(&s, &m, &state, &day(30));
    late.assert_code(1);
    assert!(
        late.stdout
            .starts_with("TAPIR DRILL WARNING - no good drill within"),
        "{}",
        late.stdout
    );
}

#[test]
fn signed_results_written_back_reach_status_report_and_check_rpo_and_forged_ones_do_not() {
    let (s, m) = setup_with("signers = [\"drill.key.pub\"]\n[mirror]\nto = \"mirror\"");
    let key = s.path().join("drill.key");
    let sign = ["--sign-with", key.to_str().unwrap()];
    let r = drill(
        &s,
        &m,
        &s.path().join("state").display().to_string(),
        &day(1),
        &sign,
    );
    r.assert_code(0);
    assert!(
        r.stderr.contains("created the drill signing key"),
        "{}",
        r.stderr
    );
    let results: Vec<PathBuf> = fs::read_dir(m.join("drills"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(results.len(), 1, "one results file: {results:?}");
    let status = s.run_env(&["status"], &[("TAPIR_NOW", &day(1))]);
    assert!(
        status
            .stdout
            .contains(&format!("drills of {} by ", m.display()))
            && status
                .stdout
                .contains("6 of 6 DLE(s) passed their last drill"),
        "{}",
        status.stdout
    );
    let prom = s.path().join("rpo.prom");
    let rpo = s.run_env(
        &["check-rpo", "--prometheus", prom.to_str().unwrap()],
        &[("TAPIR_NOW", &day(1))],
    );
    rpo.assert_code(0);
    let text = fs::read_to_string(&prom).unwrap();
    assert_eq!(
        text.matches("tapir_drill_last_success_timestamp_seconds{")
            .count(),
        6,
        "{text}"
    );
    let out = std::process::Command::new(crate::common::promtool())
        .args(["check", "metrics"])
        .stdin(fs::File::open(&prom).unwrap())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // a DLE's drill fails: the server says so, in status, check-rpo and the next run's report
    let recs = s.find_json();
    let victim = recs
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["disk"].as_str().unwrap().ends_with("dle3"))
        .unwrap();
    let rel = s
        .tape_file(victim)
        .strip_prefix(s.path().join("vtape"))
        .unwrap()
        .to_path_buf();
    fs::remove_file(m.join(&rel)).unwrap();
    let r = drill(
        &s,
        &m,
        &s.path().join("state2").display().to_string(),
        &day(1),
        &sign,
    );
    r.assert_code(1);
    let status = s.run_env(&["status"], &[("TAPIR_NOW", &day(1))]);
    assert!(
        status.stdout.contains("5 of 6 DLE(s) passed")
            && status.stdout.contains("FAILED drill localhost")
            && status.stdout.contains("dle3"),
        "{}",
        status.stdout
    );
    let rpo = s.run_env(&["check-rpo"], &[("TAPIR_NOW", &day(1))]);
    rpo.assert_code(1);
    assert!(
        rpo.stdout.contains("the last restore drill from") && rpo.stdout.contains("failed:"),
        "{}",
        rpo.stdout
    );

    // results signed by a key the server does not list are named and ignored: they cannot
    // hide the real failure
    let good = fs::read_to_string(&results[0]).unwrap();
    let body = good
        .split("-----BEGIN SSH SIGNATURE-----")
        .next()
        .unwrap()
        .replace("\"ok\": false", "\"ok\": true");
    fs::write(m.join("drills/evil.json"), &body).unwrap();
    // the same claim, signed (by ssh-keygen, in the drill namespace) with a key the server
    // does not list
    fs::write(s.path().join("body.json"), &body).unwrap();
    crate::common::sh(
        "ssh-keygen -q -t ed25519 -N '' -f other && ssh-keygen -q -Y sign -f other -n tapir-drill body.json && cat body.json body.json.sig > mirror/drills/other.json",
        s.path(),
    );
    // the real file verifies with the stock tool
    let signer = fs::read_to_string(s.path().join("drill.key.pub")).unwrap();
    fs::write(
        s.path().join("allowed"),
        format!("drill {}\n", signer.trim()),
    )
    .unwrap();
    let at = good.find("-----BEGIN SSH SIGNATURE-----").unwrap();
    fs::write(s.path().join("real.json"), &good[..at]).unwrap();
    fs::write(s.path().join("real.sig"), &good[at..]).unwrap();
    crate::common::sh(
        "ssh-keygen -Y verify -f allowed -I drill -n tapir-drill -s real.sig < real.json",
        s.path(),
    );
    let status = s.run_env(&["status"], &[("TAPIR_NOW", &day(1))]);
    assert!(
        status.stdout.contains("evil.json ignored: not signed"),
        "{}",
        status.stdout
    );
    assert!(
        status.stdout.contains("ignored: signed by SHA256:"),
        "the other key's file: {}",
        status.stdout
    );
    assert!(
        status.stdout.contains("FAILED drill localhost"),
        "{}",
        status.stdout
    );
    let rpo = s.run_env(&["check-rpo"], &[("TAPIR_NOW", &day(1))]);
    rpo.assert_code(1);
    assert!(rpo.stdout.contains("evil.json ignored"), "{}", rpo.stdout);
    s.run_env(&["dump"], &[("TAPIR_NOW", &day(2))]);
    let report = s.run(&["report"]);
    assert!(
        report.stdout.contains("restore drills:")
            && report.stdout.contains("FAILED drill localhost"),
        "{}",
        report.stdout
    );
    // a drill host that stopped leaves its last results: past the 3-day cycle and a day
    // they are out of date, not a standing OK
    let fresh = s.run_env(&["status"], &[("TAPIR_NOW", &day(4))]);
    assert!(
        !fresh.stdout.contains("older than the drill cycle"),
        "{}",
        fresh.stdout
    );
    let status = s.run_env(&["status"], &[("TAPIR_NOW", &day(6))]);
    assert!(
        status
            .stdout
            .contains("older than the drill cycle: is the drill host still drilling?"),
        "{}",
        status.stdout
    );
    let rpo = s.run_env(
        &["check-rpo", "--warn", "30d", "--crit", "60d"],
        &[("TAPIR_NOW", &day(6))],
    );
    rpo.assert_code(1);
    assert!(
        rpo.stdout.contains("older than the drill cycle"),
        "{}",
        rpo.stdout
    );
}
