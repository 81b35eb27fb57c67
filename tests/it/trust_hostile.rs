//! Trust, part 4: hostile or broken clients (a fake agent behind a real sshd forced command)
//! cannot hurt the server or other clients: floods of warnings, an absurd estimate, random
//! bytes, a tar cut short, endless zeros and a runaway stream each end their own DLE only,
//! with the server's memory and catalog bounded, while a real client in the same run is
//! dumped and restores.

use crate::common::Setup;
use crate::common::sshd::{Sshd, keygen};
use std::path::Path;

const MODES: [&str; 9] = [
    "warnings",
    "huge-estimate",
    "random",
    "cut",
    "zeros",
    "runaway",
    "padded",
    "cutwarn",
    "liar",
];

/// Largest resident set of any waited-for child so far, in bytes.
fn children_peak_rss() -> u64 {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) };
    ru.ru_maxrss as u64 * 1024
}

fn dir_bytes(p: &Path) -> u64 {
    walkdir::WalkDir::new(p)
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_file())
        .map(|e| e.metadata().unwrap().len())
        .sum()
}

fn outcome<'a>(v: &'a serde_json::Value, host: &str) -> &'a serde_json::Value {
    v["outcomes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["host"] == host)
        .unwrap_or_else(|| panic!("no outcome for {host}"))
}

/// Two nights of a real client and one fake agent per hostile mode (each behind its own
/// sshd), as the tests below see them: the second night's JSON, what the server used, and a
/// kept copy of the setup for the restores.
#[derive(serde::Serialize, serde::Deserialize)]
struct Nights {
    kept: std::path::PathBuf,
    real_disk: String,
    night: serde_json::Value,
    peak: u64,
    catalog: u64,
    report: usize,
}

fn nights() -> Nights {
    crate::common::shared::shared("hostile-nights", two_hostile_nights)
}

fn two_hostile_nights() -> Nights {
    let s = Setup::new(
        "inparallel = 3",
        "slots = 10\nautolabel = \"daily-%%\"\ntape_size = \"4G\"\n",
    );
    keygen(&s.path().join("keys/id_ed25519"));
    let pubkey = std::fs::read_to_string(s.path().join("keys/id_ed25519.pub")).unwrap();
    let fake = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fake_agent.py");
    let src = s.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("real"), crate::common::noise(300 << 10, 9)).unwrap();
    let real_line = format!(
        "restrict,command=\"{} agent\" {}",
        crate::common::BIN,
        pubkey.trim()
    );
    let mut hosts = vec![Sshd::start(s.path(), "real", &real_line)];
    for m in MODES {
        let line = format!(
            "restrict,command=\"/usr/bin/python3 {} {m}\" {}",
            fake.display(),
            pubkey.trim()
        );
        hosts.push(Sshd::start(s.path(), m, &line));
    }
    let mut cfg = std::fs::read_to_string(s.path().join("tapir.toml")).unwrap();
    cfg.push_str("\n[ssh]\nidentity = \"keys/id_ed25519\"\nknown_hosts = \"keys/known_hosts\"\nconnect_timeout = \"5s\"\n");
    for h in &hosts {
        cfg.push_str(&h.host_block());
    }
    s.write("tapir.toml", &cfg);
    for h in &hosts {
        s.run(&["enroll", &h.name]).assert_code(0);
    }
    s.write(
        "dumptypes/ssh.toml",
        "auth = \"ssh\"\nestimate = \"client\"\nstall_timeout = \"20s\"\nmax_growth = 1.0\n",
    );
    let mut dl = format!("real {} ssh\n", src.display());
    for m in MODES {
        dl.push_str(&format!("{m} /data ssh\n"));
    }
    s.write("disklist", &dl);

    // night 0: the real client's first full
    let r = s.run_env(
        &["--json", "dump"],
        &[("TAPIR_NOW", &crate::common::day(0))],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    let night0: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(outcome(&night0, "padded")["status"], "OK");
    // night 1: its full is forced, while the others misbehave again
    s.run(&["force", "real", src.to_str().unwrap()])
        .assert_code(0);
    let r = s.run_env(
        &["--json", "dump"],
        &[("TAPIR_NOW", &crate::common::day(1))],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    let peak = children_peak_rss();
    let night: serde_json::Value =
        serde_json::from_str(&r.stdout).unwrap_or_else(|_| panic!("{}", r.stdout));
    Nights {
        kept: crate::common::shared::keep("hostile-nights", s.path()),
        real_disk: src.display().to_string(),
        night,
        peak,
        catalog: dir_bytes(&s.path().join("catalog")),
        report: s.run(&["report"]).stdout.len(),
    }
}

#[test]
fn hostile_clients_each_fail_alone_with_their_reason() {
    let v = nights().night;
    let real = outcome(&v, "real");
    assert_eq!(real["status"], "OK", "{real}");
    assert_eq!(real["level"], 0, "the forced full was moved: {real}");
    let expect = [
        ("random", "FAILED", "not a tar"),
        ("cut", "FAILED", "end-of-archive"),
        ("zeros", "FAILED", "after the tar's end-of-archive marker"),
        ("runaway", "FAILED", "runaway"),
        ("liar", "FAILED", "but 10240 arrived"),
        ("huge-estimate", "MISSED", "does not fit tonight"),
    ];
    for (host, status, why) in expect {
        let o = outcome(&v, host);
        assert_eq!(o["status"], status, "{o}");
        assert!(
            o["reason"].as_str().unwrap_or("").contains(why),
            "{host}: {o}"
        );
    }
    let cw = outcome(&v, "cutwarn");
    assert_eq!(cw["status"], "PARTIAL", "{}", cw["reason"]);
    let said = cw["warnings"].to_string();
    assert!(
        said.contains("read error") && said.contains("incomplete"),
        "{said}"
    );
    let w = outcome(&v, "warnings");
    assert_eq!(w["status"], "PARTIAL", "{}", w["reason"]);
    let kept = w["warnings"].as_array().unwrap();
    assert!(kept.len() <= 1001, "{} warnings kept", kept.len());
    assert!(
        kept.last()
            .unwrap()
            .as_str()
            .unwrap()
            .contains("more warning(s)")
    );
    assert!(kept.iter().all(|k| k.as_str().unwrap().len() <= 1100));
}

#[test]
fn the_server_stays_bounded_in_memory_catalog_and_report() {
    let n = nights();
    let peak = n.peak;
    eprintln!("server peak RSS {} MB", peak >> 20);
    assert!(peak < 300 << 20, "server peak RSS {} MB", peak >> 20);
    assert!(n.catalog < 20 << 20, "catalog is {} MB", n.catalog >> 20);
    assert!(n.report < 5 << 20, "report is {} bytes", n.report);
}

#[test]
fn the_real_clients_dump_restores_and_nothing_hostile_reached_a_tape() {
    let n = nights();
    let s = Setup::copy_of(&n.kept);
    let src = s.path().join("src");
    // the real client's dump restores, and nothing hostile reached a tape
    let to = s.path().join("restored");
    s.recover("real", &n.real_disk, &to, &[]).assert_code(0);
    crate::common::tree::assert_same(&src, &to, &|_| false);
    let found = s.find_json();
    let hosts: Vec<&str> = found
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["host"].as_str().unwrap())
        .collect();
    assert!(
        hosts
            .iter()
            .all(|h| ["real", "warnings", "padded", "cutwarn"].contains(h)),
        "{hosts:?}"
    );
    assert!(s.partials().is_empty());
}

#[test]
fn a_tar_padded_past_its_end_restores_whole_every_time_on_a_busy_machine() {
    let s = Setup::copy_of(&nights().kept);
    // a tar padded far past its end marker restores whole, every time, on a busy machine
    let _load = crate::common::Load::start(s.path());
    for k in 0..10 {
        let to = s.path().join(format!("padded-{k}"));
        let r = s.recover("padded", "/data", &to, &[]);
        r.assert_code(0);
        assert!(
            r.stdout.contains("restored 2 members"),
            "{}{}",
            r.stdout,
            r.stderr
        );
        assert_eq!(std::fs::read(to.join("x")).unwrap(), b"hostile client\n");
    }
}
