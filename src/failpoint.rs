//! Crash injection for the kill -9 tests: `TAPIR_FAILPOINT=NAME` aborts the process at NAME,
//! leaving the disk exactly as a `kill -9` there would.

/// Abort (no destructors, no cleanup) when `TAPIR_FAILPOINT` names this point.
pub fn hit(name: &str) {
    if std::env::var_os("TAPIR_FAILPOINT").is_some_and(|v| v == name) {
        eprintln!("tapir: failpoint {name}: aborting");
        std::process::abort();
    }
}
