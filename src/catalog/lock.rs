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

/// The lock of a copy (a mirror's or a vault's directory, whose `catalog/lock` a `rekey
/// --from` it takes) for `command`: as [`exclusive`], but where the file system has no locks
/// at all (ENOLCK: an NFS mount whose lock daemon does not answer) `Ok(None)`: the copy
/// runs unguarded, and the caller says so, instead of failing every night. Held by another
/// run: exit 3, as [`exclusive`].
pub fn copy(catalog: &Path, command: &str) -> Result<Option<RunLock>> {
    match exclusive(catalog, command) {
        Ok(l) => Ok(Some(l)),
        Err(e) if no_locks(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Whether `e` says the file system does not lock (rather than that someone holds it).
fn no_locks(e: &anyhow::Error) -> bool {
    use rustix::io::Errno;
    e.chain()
        .filter_map(|c| c.downcast_ref::<std::io::Error>())
        .any(|io| {
            io.kind() == std::io::ErrorKind::Unsupported
                || [Errno::NOLCK, Errno::OPNOTSUPP]
                    .iter()
                    .any(|n| io.raw_os_error() == Some(n.raw_os_error()))
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_system_without_locks_is_told_from_a_held_lock() {
        let io = |n: rustix::io::Errno| std::io::Error::from_raw_os_error(n.raw_os_error());
        let wrapped = |e: std::io::Error| anyhow::Error::new(e).context("cannot lock x");
        assert!(no_locks(&wrapped(io(rustix::io::Errno::NOLCK))));
        assert!(no_locks(&wrapped(io(rustix::io::Errno::OPNOTSUPP))));
        assert!(!no_locks(&wrapped(io(rustix::io::Errno::ACCESS))));
        assert!(!no_locks(
            &Error::locked("another tapir run holds the lock").into()
        ));
        // a held lock is still refused, and a free one taken
        let d = tempfile::tempdir().unwrap();
        let held = copy(d.path(), "mirror").unwrap();
        assert!(held.is_some());
        let again = copy(d.path(), "rekey").unwrap_err();
        assert_eq!(
            crate::error::exit_code_of(&again),
            crate::error::exit::LOCKED
        );
    }
}
