//! The Debian package: `scripts/package` builds it, lintian finds nothing, and in a throwaway
//! root (an overlay of / in a private mount namespace) `dpkg -i` gives a working server that
//! keeps the admin's edits and the backups through upgrade, remove, purge and reinstall
//! (tests/package/install.sh has the steps).

use std::path::{Path, PathBuf};
use std::process::Command;

const STEPS: &[&str] = &[
    "step: install",
    "step: man pages and completions",
    "step: systemd-analyze verify",
    "step: before any setup, tapir check says what is missing",
    "step: tapir check, dump and recover as the tapir user",
    "step: upgrade to",
    "step: remove keeps config, user and state",
    "step: purge removes config and user, keeps tapes and catalog",
    "step: reinstall after purge",
    "ALL STEPS PASSED",
];

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Build the package of this test run's binary as `version` into `out`.
fn package(version: &str, out: &Path) -> PathBuf {
    let o = Command::new(repo().join("scripts/package"))
        .args([
            "--binary",
            env!("CARGO_BIN_EXE_tapir"),
            "--version",
            version,
        ])
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "scripts/package: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    PathBuf::from(String::from_utf8(o.stdout).unwrap().trim())
}

#[test]
fn the_package_is_lintian_clean_and_installs_upgrades_and_purges_without_losing_backups() {
    crate::common::require_root("dpkg -i in a throwaway root");
    let scratch = if Path::new("/dev/shm").is_dir() {
        tempfile::tempdir_in("/dev/shm").unwrap()
    } else {
        tempfile::tempdir().unwrap()
    };
    let pkg = scratch.path().join("pkg");
    std::fs::create_dir_all(&pkg).unwrap();
    let deb1 = package("0.1.0-1", &pkg);
    let deb2 = package("0.1.0-2", &pkg);
    assert!(
        deb1.ends_with("tapir_0.1.0-1_amd64.deb"),
        "{}",
        deb1.display()
    );

    let lint = Command::new("lintian")
        .arg(&deb1)
        .output()
        .expect("lintian (Debian package lintian; scripts/test installs it)");
    let said = String::from_utf8_lossy(&lint.stdout);
    assert!(
        lint.status.success() && said.trim().is_empty(),
        "lintian: {said}{}",
        String::from_utf8_lossy(&lint.stderr)
    );

    std::fs::copy(
        repo().join("tests/package/install.sh"),
        pkg.join("install.sh"),
    )
    .unwrap();
    let name = |p: &Path| format!("/pkg/{}", p.file_name().unwrap().to_str().unwrap());
    let root = scratch.path().display().to_string();
    let script = format!(
        r#"set -e
r={root}
mkdir -p $r/upper $r/work $r/root
mount -t overlay overlay -o lowerdir=/,upperdir=$r/upper,workdir=$r/work $r/root
mount -t proc proc $r/root/proc
mount --rbind /dev $r/root/dev
mount -t sysfs sysfs $r/root/sys
mount -t tmpfs tmpfs $r/root/run
mount -t tmpfs tmpfs $r/root/tmp
mkdir -p $r/root/pkg
mount --bind $r/pkg $r/root/pkg
exec chroot $r/root /bin/bash /pkg/install.sh {} {}"#,
        name(&deb1),
        name(&deb2)
    );
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "bash", "-c", &script])
        .env("LC_ALL", "C.UTF-8")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    for s in STEPS {
        assert!(stdout.contains(s), "no {s:?} in:\n{stdout}\n{stderr}");
    }
    // the throwaway root is gone with the namespace: the machine has no tapir user
    let user = Command::new("getent")
        .args(["passwd", "tapir"])
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&user.stdout).contains("/var/lib/tapir"),
        "the install leaked out of the throwaway root"
    );
}
