//! Fixtures shared by the tests of one property each. nextest runs every test in a process
//! of its own, so a fixture cannot be shared in memory: the first test that needs it builds
//! it under a file lock and writes its result beside the test binary's build; the others
//! wait for the lock and read it. A new build of the test binary or of tapir builds it again.

use serde::{Serialize, de::DeserializeOwned};
use std::path::PathBuf;

/// When and how big a file was built: it names the build.
fn stamp(p: &std::path::Path) -> String {
    let m = std::fs::metadata(p).unwrap();
    let at = m.modified().unwrap().duration_since(std::time::UNIX_EPOCH);
    format!("{}_{}", at.unwrap().as_nanos(), m.len())
}

/// Where `name`'s result for these builds of the test binary and of tapir is kept.
fn place(name: &str) -> PathBuf {
    let test = stamp(&std::env::current_exe().unwrap());
    let tapir = stamp(std::path::Path::new(super::BIN));
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("fixtures");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(format!("{name}-{test}-{tapir}"))
}

/// Keep a copy of the setup directory `dir` as `name`'s (for [`super::Setup::copy_of`]),
/// beside the results of this build.
pub fn keep(name: &str, dir: &std::path::Path) -> PathBuf {
    let to = place(name).with_extension("d");
    if to.exists() {
        // left by a build that died while copying
        std::fs::remove_dir_all(&to).unwrap();
    }
    let ok = std::process::Command::new("cp")
        .arg("-a")
        .arg(dir)
        .arg(&to)
        .status()
        .unwrap();
    assert!(ok.success(), "cp -a {} {}", dir.display(), to.display());
    to
}

/// `build()`'s result, built once per test binary build and shared by every test that asks
/// (`name` has no dot: the stamp goes after it and the files differ by extension).
pub fn shared<T: Serialize + DeserializeOwned>(name: &str, build: impl FnOnce() -> T) -> T {
    assert!(!name.contains('.'), "{name}");
    let path = place(name);
    let lock = std::fs::File::create(path.with_extension("lock")).unwrap();
    lock.lock().unwrap();
    let json = path.with_extension("json");
    if let Ok(text) = std::fs::read_to_string(&json) {
        return serde_json::from_str(&text).unwrap();
    }
    let v = build();
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_vec(&v).unwrap()).unwrap();
    std::fs::rename(&tmp, &json).unwrap();
    v
}
