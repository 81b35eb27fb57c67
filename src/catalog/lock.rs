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
            return Err(Error::locked(format!(
                "another tapir run holds the lock {} ({holder})",
                path.display()
            ))
            .hint("wait for it to finish")
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

/// A shared hold on the tapes for reading (recover, verify, fetch), freed when dropped.
#[derive(Debug)]
pub struct ReadLock {
    _file: Option<File>,
}

/// The file readers share and a recycling dump takes exclusively. It is not the run lock,
/// so reading runs beside a dump; only overwriting a tape waits for readers.
fn tapes_lock(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
}

/// Take a shared lock on the tapes (waits only while a dump is erasing a tape). A catalog
/// this user cannot write (a mirror owned by someone else) has no dump to fear: no lock.
pub fn readers(catalog: &Path) -> Result<ReadLock> {
    let path = catalog.join("tapes.lock");
    let f = match tapes_lock(&path) {
        Ok(f) => f,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::PermissionDenied
                    | std::io::ErrorKind::ReadOnlyFilesystem
                    | std::io::ErrorKind::NotFound
            ) =>
        {
            return Ok(ReadLock { _file: None });
        }
        Err(e) => {
            return Err(e).with_context(|| format!("cannot open {}", path.display()));
        }
    };
    f.lock_shared()
        .with_context(|| format!("cannot lock {}", path.display()))?;
    Ok(ReadLock { _file: Some(f) })
}

/// Held while a tape's old dumps are erased: waits for readers of the tapes to finish.
#[derive(Debug)]
pub struct RecycleLock {
    _file: File,
}

pub fn recycle(catalog: &Path, label: &str) -> Result<RecycleLock> {
    crate::fsutil::create_dir_all(catalog)?;
    let path = catalog.join("tapes.lock");
    let f = tapes_lock(&path).with_context(|| format!("cannot open {}", path.display()))?;
    match f.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            crate::say::progress(format!(
                "a restore or verify is reading tapes; waiting for it to finish before \
                 overwriting tape {label} ({})",
                path.display()
            ));
            f.lock()
                .with_context(|| format!("cannot lock {}", path.display()))?;
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(e).with_context(|| format!("cannot lock {}", path.display()));
        }
    }
    Ok(RecycleLock { _file: f })
}
