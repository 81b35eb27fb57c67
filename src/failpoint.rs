//! Crash injection for the kill -9 tests: `TAPIR_FAILPOINT=NAME` aborts the process at NAME,
//! leaving the disk exactly as a `kill -9` there would; `NAME:pause` stops there (for at most
//! two minutes, so a forgotten process cannot linger) until killed.

/// Abort (no destructors, no cleanup) or pause when `TAPIR_FAILPOINT` names this point.
pub fn hit(name: &str) {
    let Some(v) = std::env::var_os("TAPIR_FAILPOINT") else {
        return;
    };
    let v = v.to_string_lossy();
    if v == name {
        eprintln!("tapir: failpoint {name}: aborting");
        std::process::abort();
    }
    if v.strip_suffix(":pause") == Some(name) {
        eprintln!(
            "tapir: failpoint {name}: paused (pid {})",
            std::process::id()
        );
        std::thread::sleep(std::time::Duration::from_secs(120));
        std::process::abort();
    }
}
