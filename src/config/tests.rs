//! Unit tests of config building: defaults, typed durations, paths, and the refusals that
//! name file, line and what to do.

use super::*;
use std::time::Duration;

/// A config directory with `tapir.toml` (`top` at the top, `changer` in `[changer]`), a
/// disklist and one dumptype.
fn dir(top: &str, changer: &str) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(d.path().join("dumptypes")).unwrap();
    let dt = "auth = \"local\"\nstall_timeout = \"2m\"\n";
    std::fs::write(d.path().join("dumptypes/local.toml"), dt).unwrap();
    std::fs::write(d.path().join("disklist"), "localhost /etc local\n").unwrap();
    let text = format!("org = \"T\"\n{top}\n[changer]\nroot = \"vtape\"\n{changer}\n");
    std::fs::write(d.path().join("tapir.toml"), text).unwrap();
    d
}

fn load_in(d: &tempfile::TempDir) -> Result<Config, Error> {
    load(&d.path().join("tapir.toml"))
}

#[test]
fn defaults_paths_and_durations_are_built_once_at_load() {
    let d = dir("[ssh]\nconnect_timeout = \"7s\"", "slots = 12");
    let c = load_in(&d).unwrap();
    assert_eq!((c.dumpcycle, c.tapecycle, c.changer.slots), (7, 10, 12));
    assert_eq!(c.ssh.connect, Duration::from_secs(7));
    assert_eq!(c.dumptype(&c.disklist[0]).stall, Duration::from_secs(120));
    assert_eq!(
        c.changer.root.local(),
        Some(d.path().join("vtape").as_path())
    );
    assert_eq!(c.catalog, d.path().join("catalog"));
    assert_eq!(c.disklist.len(), 1);
    assert_eq!(c.dumptype(&c.disklist[0]).auth, dumptype::Auth::Local);
    assert_eq!(
        c.dumptype(&c.disklist[0]).compress,
        dumptype::Compress::ServerFast
    );
}

#[test]
fn a_typo_is_refused_with_file_line_and_column() {
    let d = dir("dumpcylce = 7", "slots = 12");
    let e = load_in(&d).unwrap_err().to_string();
    let file = d.path().join("tapir.toml").display().to_string();
    assert!(e.starts_with(&format!("{file}:2:1: ")), "{e}");
    assert!(e.contains("dumpcylce"), "{e}");
    let d = dir("[ssh]\nconnect_timeout = \"soon\"", "slots = 12");
    let e = load_in(&d).unwrap_err().to_string();
    assert!(e.contains("ssh.connect_timeout"), "{e}");
}

#[test]
fn rotation_that_cannot_turn_and_overlapping_roots_are_refused_with_a_fix() {
    let d = dir("tapecycle = 20", "slots = 12");
    let e = load_in(&d).unwrap_err();
    assert!(
        e.to_string()
            .contains("tapecycle (20) exceeds changer.slots (12)"),
        "{e}"
    );
    assert_eq!(e.exit_code(), crate::error::exit::USAGE);
    let d = dir("catalog = \"vtape/catalog\"", "slots = 12");
    let e = load_in(&d).unwrap_err().to_string();
    assert!(e.contains("overlap (one inside the other)"), "{e}");
    assert!(
        e.ends_with(
            "; to fix: give each its own directory (the defaults: \"catalog\" and \"vtape\")"
        ),
        "{e}"
    );
}

#[test]
fn a_reader_without_a_config_gets_a_root_and_as_many_slots_as_it_has() {
    let d = tempfile::tempdir().unwrap();
    for n in [1, 3, 12] {
        std::fs::create_dir_all(d.path().join(format!("slot{n}"))).unwrap();
    }
    let c = for_reading(d.path()).unwrap();
    assert_eq!(c.changer.slots, 12);
    assert_eq!(c.changer.root.local(), Some(d.path()));
    assert!(c.disklist.is_empty());
}
