//! The shipped unit's sandbox, rebuilt by hand (no systemd runs as PID 1 here): a state
//! directory standing for /var/lib/tapir, the whole file system read-only but that directory
//! (ProtectSystem=strict, ReadWritePaths), a private /tmp, user 65534, no new privileges, no
//! capabilities, UMask=0077, a cleared environment.

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct UnitState {
    dir: tempfile::TempDir,
}

impl UnitState {
    /// A state directory with keys, a local DLE of one file and a config whose top-level
    /// keys are `top` (TOML lines), owned by 65534 as the unit's user would own it.
    pub fn new(top: &str) -> UnitState {
        super::require_root("building the sandbox needs mount namespaces");
        // under /var/tmp: the sandbox's /tmp is private
        let dir = tempfile::Builder::new()
            .prefix("tapir-unit")
            .tempdir_in("/var/tmp")
            .unwrap();
        let s = dir.path();
        let out = Command::new(super::BIN)
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
            format!(
                "{top}\n[changer]\nroot = \"vtape\"\nslots = 10\nautolabel = \"daily-%%\"\n\
                 [encryption]\nrecipients_file = \"recipients.txt\"\n[signing]\nkey = \"keys/signing_key\"\n"
            ),
        )
        .unwrap();
        // the checkout may itself be under /tmp, which the sandbox hides: bring the programs
        let bin = s.join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::copy(super::BIN, bin.join("tapir")).unwrap();
        std::fs::copy(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/tapir-cron"),
            bin.join("tapir-cron"),
        )
        .unwrap();
        super::sh(&format!("chown -R 65534:65534 {}", s.display()), s);
        UnitState { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The copied programs: `tapir` and `tapir-cron`.
    pub fn bin(&self, name: &str) -> PathBuf {
        self.path().join("bin").join(name)
    }

    /// Run `command` (a shell script; `$TAPIR` names tapir) in the sandbox: stdout and stderr
    /// together, and whether it succeeded.
    pub fn run(&self, command: &str) -> (bool, String) {
        let file = self.path().join("run.sh");
        std::fs::write(&file, command).unwrap();
        let script = format!(
            // the state directory is its own (writable) mount before the rest goes read-only
            "set -e; mount --bind {s} {s}; mount -o remount,bind,ro /; \
             mount -t tmpfs tmpfs /tmp; umask 0077; cd {s}; \
             touch /etc/tapir-sandbox-probe 2>/dev/null && {{ echo 'root file system writable'; exit 9; }}; \
             exec setpriv --reuid=65534 --regid=65534 --clear-groups --no-new-privs \
             --bounding-set=-all --inh-caps=-all \
             env -i PATH={bin}:/usr/bin:/bin:/usr/sbin TAPIR={tapir} sh {file}",
            s = self.path().display(),
            bin = self.path().join("bin").display(),
            tapir = self.bin("tapir").display(),
            file = file.display(),
        );
        let out = Command::new("unshare")
            .args(["-m", "--propagation", "private", "sh", "-c", &script])
            .output()
            .unwrap();
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), said)
    }

    /// tapir as the test's own user (root) on this state.
    pub fn tapir(&self, args: &[&str]) -> super::Run {
        super::finish(
            Command::new(super::BIN)
                .arg("--config")
                .arg(self.path().join("tapir.toml"))
                .args(args)
                .output()
                .unwrap(),
        )
    }
}
