//! Under cron: the example crontab's PATH finds tapir, a clean night prints nothing on stdout
//! or stderr (cron mails any output), a failed DLE reaches stderr, and a tapir that cannot be
//! run stops the wrapper before it mirrors or mails. Run with `env -i` as cron runs jobs.

use crate::common::{Setup, day, sh};
use std::path::{Path, PathBuf};
use std::process::Command;

const WRAPPER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/tapir-cron");
const CRONTAB: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/crontab.example");

/// The PATH line of the example crontab, with `bin` (where tapir is "installed") in place of
/// /usr/local/bin.
fn crontab_path(bin: &Path) -> String {
    let text = std::fs::read_to_string(CRONTAB).unwrap();
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("PATH="))
        .expect("the example crontab sets PATH");
    assert!(line.split(':').any(|d| d == "/usr/local/bin"), "{line}");
    line.replace("/usr/local/bin", bin.to_str().unwrap())
}

fn setup() -> (Setup, PathBuf, PathBuf) {
    let s = Setup::new(
        "[mirror]\nto = \"mirror\"\nmailto = [\"ops@example.org\"]",
        "",
    );
    let cfg = std::fs::read_to_string(s.path().join("tapir.toml")).unwrap();
    // mailto is a top-level key: it must come before [mirror]
    let cfg = cfg.replace(
        "[mirror]\nto = \"mirror\"\nmailto = [\"ops@example.org\"]\n",
        "mailto = [\"ops@example.org\"]\n",
    );
    s.write(
        "tapir.toml",
        &format!("{cfg}\n[mirror]\nto = \"mirror\"\n[vault.longterm]\nto = \"vault\"\nkeep_weekly = 2\ndles = [\"*\"]\n"),
    );
    let bin = s.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    std::os::unix::fs::symlink(crate::common::BIN, bin.join("tapir")).unwrap();
    let mailbox = s.path().join("mailbox");
    let fake = s.path().join("sendmail");
    std::fs::write(&fake, format!("#!/bin/sh\ncat > {}\n", mailbox.display())).unwrap();
    sh(&format!("chmod +x {}", fake.display()), s.path());
    (s, bin, mailbox)
}

/// The wrapper as cron runs it: a bare environment and the given PATH.
fn cron(s: &Setup, path: &str, now: &str) -> crate::common::Run {
    let cfg = s.path().join("tapir.toml");
    crate::common::finish(
        Command::new("/usr/bin/env")
            .args([
                "-i",
                &format!("PATH={path}"),
                "HOME=/root",
                "SHELL=/bin/sh",
                "LOGNAME=root",
            ])
            .arg(format!(
                "TAPIR_SENDMAIL={}",
                s.path().join("sendmail").display()
            ))
            .arg(format!("TAPIR_NOW={now}"))
            .args(["bash", WRAPPER, "--config", cfg.to_str().unwrap()])
            .current_dir("/")
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap(),
    )
}

#[test]
fn a_clean_night_under_cron_prints_nothing_and_a_bad_one_says_why() {
    let (s, bin, mailbox) = setup();
    let src = s.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("f"), "x").unwrap();
    s.write("disklist", &format!("localhost {} local\n", src.display()));
    let path = crontab_path(&bin);

    // the first night also generates the signing key: said once, loudly
    let r = cron(&s, &path, &day(0));
    r.assert_code(0);
    assert!(r.stdout.is_empty(), "stdout: {}", r.stdout);
    assert!(r.stderr.contains("signing key"), "{}", r.stderr);

    let r = cron(&s, &path, &day(1));
    r.assert_code(0);
    assert!(
        r.stdout.is_empty() && r.stderr.is_empty(),
        "a clean night printed:\n{}{}",
        r.stdout,
        r.stderr
    );
    assert!(
        std::fs::read_to_string(&mailbox)
            .unwrap()
            .contains("all 1 OK")
    );
    assert!(s.path().join("mirror/slot2").is_dir());
    // the vault keeps the week's last full (the first night's; the second was incremental)
    let vault: Vec<String> = crate::common::files_under(&s.path().join("vault/dumps"))
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    assert!(
        vault.len() == 1 && vault[0].contains("/20260101020000/"),
        "{vault:?}"
    );

    // a DLE that fails: stderr says which, the exit code says so, the mail still goes
    let gone = s.path().join("gone");
    s.write(
        "disklist",
        &format!(
            "localhost {} local\nlocalhost {} local\n",
            src.display(),
            gone.display()
        ),
    );
    std::fs::remove_file(&mailbox).unwrap();
    let r = cron(&s, &path, &day(2));
    r.assert_code(1);
    assert!(r.stdout.is_empty(), "stdout: {}", r.stdout);
    assert!(
        r.stderr
            .contains(&format!("localhost {} level 0: FAILED", gone.display())),
        "{}",
        r.stderr
    );
    let mail = std::fs::read_to_string(&mailbox)
        .unwrap()
        .replace("\r\n ", " ");
    assert!(mail.contains("PROBLEMS: 1 FAILED"), "{mail}\n{}", r.stderr);
}

#[test]
fn cron_default_path_without_tapir_stops_before_mirror_and_mail() {
    let (s, _, mailbox) = setup();
    let r = cron(&s, "/usr/bin:/bin", &day(0));
    r.assert_code(127);
    assert!(
        r.stderr.contains("tapir-cron: cannot run 'tapir'"),
        "{}",
        r.stderr
    );
    assert!(!mailbox.exists(), "mailed after a dump that never ran");
    assert!(
        !s.path().join("mirror").exists(),
        "mirrored after a dump that never ran"
    );
}
