//! The run lock: an exclusive `flock` on `catalog/lock`, freed by the kernel when the holder
//! dies. The holder writes its PID, command and start time there so a contender can name it.

use crate::error::Error;
use anyhow::{Context, Result};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::Path;

/// Held until dropped.
#[derive(Debug)]
pub struct RunLock {
    _file: File,
}

/// Take the exclusive lock for `command` (e.g. "dump"), or fail with exit code 3.
pub fn exclusive(catalog: &Path, command: &str) -> Result<RunLock> {
    crate::fsutil::create_dir_all(catalog)?;
    let path = catalog.join("lock");
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("cannot open lock file {}", path.display()))?;
    match f.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = f.read_to_string(&mut holder);
            let holder = holder.trim().replace('\n', ", ");
            let holder = if holder.is_empty() {
                "unknown holder".into()
            } else {
                holder
            };
            return Err(Error::Locked(format!(
                "another tapir run holds the lock {} ({holder}); wait for it to finish",
                path.display()
            ))
            .into());
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(e).with_context(|| format!("cannot lock {}", path.display()));
        }
    }
    let now = chrono::Local::now().format("%Y-%m-%d %H:%M:%S %z");
    let info = format!(
        "pid {}\ncommand tapir {command}\nstarted {now}\n",
        std::process::id()
    );
    f.set_len(0)?;
    f.rewind()?;
    f.write_all(info.as_bytes())?;
    Ok(RunLock { _file: f })
}
