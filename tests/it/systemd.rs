//! The shipped systemd units: `systemd-analyze verify` accepts them and `systemd-analyze
//! security --offline` rates the nightly service OK (it was 9.2 UNSAFE).

use std::path::Path;
use std::process::Command;

fn analyze() -> Option<&'static str> {
    ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"]
        .into_iter()
        .find(|p| Path::new(p).exists())
}

/// The units as installed: ExecStart pointing at this checkout's wrapper, and the man pages
/// they name in a MANPATH.
fn installed(dir: &Path) -> std::path::PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let units = dir.join("units");
    std::fs::create_dir_all(&units).unwrap();
    for e in std::fs::read_dir(root.join("scripts/systemd")).unwrap() {
        let e = e.unwrap();
        let text = std::fs::read_to_string(e.path()).unwrap().replace(
            "/usr/lib/tapir/tapir-cron",
            root.join("scripts/tapir-cron").to_str().unwrap(),
        );
        std::fs::write(units.join(e.file_name()), text).unwrap();
    }
    for (sec, page) in [("8", "tapir.8"), ("5", "tapir.toml.5")] {
        let d = dir.join(format!("man/man{sec}"));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::copy(root.join("man").join(page), d.join(page)).unwrap();
    }
    units
}

#[test]
fn the_units_verify_and_the_service_is_rated_ok() {
    let tool = analyze().expect("systemd-analyze (Debian package systemd) is needed");
    let dir = tempfile::tempdir().unwrap();
    let units = installed(dir.path());
    let out = Command::new(tool)
        .arg("verify")
        .args(["tapir.service", "tapir.timer", "tapir-failure@.service"].map(|u| units.join(u)))
        .env("MANPATH", dir.path().join("man"))
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && said.trim().is_empty(),
        "verify: {said}"
    );

    let out = Command::new(tool)
        .args(["security", "--offline=true", "--no-pager"])
        .arg(units.join("tapir.service"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or_else(|| panic!("{text}{}", String::from_utf8_lossy(&out.stderr)));
    let score: f64 = line
        .split_whitespace()
        .find_map(|w| w.parse().ok())
        .unwrap();
    assert!(score <= 2.0 && line.contains("OK"), "{line}");
}

/// What the unit sets, as `Key=value` lines of its [Service] section.
fn service_settings() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/systemd/tapir.service"),
    )
    .unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// No systemd runs as PID 1 here, so the unit's sandbox is rebuilt by hand from its own
/// settings: the whole file system read-only but the state directory (ProtectSystem=strict,
/// ReadWritePaths), a private /tmp, an unprivileged user, no new privileges, no
/// capabilities, UMask=0077. tapir-cron must still run a dump in it.
#[test]
fn the_hardened_units_sandbox_still_runs_a_dump() {
    let set = service_settings();
    let has = |k: &str, v: &str| set.iter().any(|(a, b)| a == k && b == v);
    for (k, v) in [
        ("ProtectSystem", "strict"),
        ("ReadWritePaths", "/var/lib/tapir"),
        ("PrivateTmp", "yes"),
        ("NoNewPrivileges", "yes"),
        ("CapabilityBoundingSet", ""),
        ("UMask", "0077"),
        ("User", "tapir"),
    ] {
        assert!(
            has(k, v),
            "the unit no longer sets {k}={v}: update this test's sandbox"
        );
    }
    let state = crate::common::unit::UnitState::new("");
    let s = state.path();
    let (ok, said) = state.run(&format!(
        "bash {} --config {}/tapir.toml",
        state.bin("tapir-cron").display(),
        s.display()
    ));
    assert!(ok, "the sandboxed night failed: {said}");
    // outside the sandbox: a verified dump, written by the unprivileged user, private
    state.tapir(&["verify"]).assert_code(0);
    let meta = std::fs::metadata(s.join("vtape/slot1")).unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!((meta.uid(), meta.mode() & 0o777), (65534, 0o700));
}
