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
    crate::common::require_root("building the sandbox needs mount namespaces");
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
    // the state directory stands in for /var/lib/tapir; /tmp is private, so not under it
    let state = tempfile::Builder::new()
        .prefix("tapir-unit")
        .tempdir_in("/var/tmp")
        .unwrap();
    let s = state.path();
    let out = Command::new(crate::common::BIN)
        .args(["keygen", "-o"])
        .arg(s.join("identity.txt"))
        .output()
        .unwrap();
    assert!(out.status.success());
    std::fs::write(s.join("recipients.txt"), &out.stdout).unwrap();
    std::fs::create_dir_all(s.join("dumptypes")).unwrap();
    std::fs::write(s.join("dumptypes/local.toml"), "auth = \"local\"\n").unwrap();
    let src = s.join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("f"), "data").unwrap();
    std::fs::write(
        s.join("disklist"),
        format!("localhost {} local\n", src.display()),
    )
    .unwrap();
    std::fs::write(
        s.join("tapir.toml"),
        "[changer]\nroot = \"vtape\"\nslots = 10\nautolabel = \"daily-%%\"\n\
         [encryption]\nrecipients_file = \"recipients.txt\"\n[signing]\nkey = \"keys/signing_key\"\n",
    )
    .unwrap();
    // the checkout may itself be under /tmp, which the sandbox hides: bring the programs along
    let bin_dir = s.join("bin");
    std::fs::create_dir_all(&bin_dir).unwrap();
    std::fs::copy(crate::common::BIN, bin_dir.join("tapir")).unwrap();
    let wrapper = bin_dir.join("tapir-cron");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/tapir-cron"),
        &wrapper,
    )
    .unwrap();
    let tapir = bin_dir.join("tapir");
    let script = format!(
        // the state directory is its own (writable) mount before the rest goes read-only
        "set -e; mount --bind {s} {s}; mount -o remount,bind,ro /; \
         mount -t tmpfs tmpfs /tmp; umask 0077; cd {s}; \
         touch /etc/tapir-sandbox-probe 2>/dev/null && {{ echo 'root file system writable'; exit 9; }}; \
         exec setpriv --reuid=65534 --regid=65534 --clear-groups --no-new-privs \
         --bounding-set=-all --inh-caps=-all \
         env -i PATH={bin}:/usr/bin:/bin TAPIR={tapir} bash {wrapper} --config {s}/tapir.toml",
        s = s.display(),
        bin = bin_dir.display(),
        tapir = tapir.display(),
        wrapper = wrapper.display()
    );
    let status = Command::new("chown")
        .args(["-R", "65534:65534"])
        .arg(s)
        .status()
        .unwrap();
    assert!(status.success());
    let out = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &script])
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "the sandboxed night failed: {said}");
    // outside the sandbox: a verified dump, written by the unprivileged user, private
    let v = Command::new(crate::common::BIN)
        .arg("--config")
        .arg(s.join("tapir.toml"))
        .arg("verify")
        .output()
        .unwrap();
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stdout));
    let meta = std::fs::metadata(s.join("vtape/slot1")).unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!((meta.uid(), meta.mode() & 0o777), (65534, 0o700));
}
