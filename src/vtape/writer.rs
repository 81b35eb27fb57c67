//! Writing one tape file crash-safely: `NAME.partial` with a placeholder header, payload,
//! final header rewritten in place, fsync, rename to `NAME`, fsync of the slot directory.

use super::header::HEADER_SIZE;
use crate::{failpoint, fsutil};
use anyhow::{Context, Result};
use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// A tape file being written. Dropped without [`TapeFile::commit`], it removes its partial.
pub struct TapeFile {
    partial: PathBuf,
    dest: PathBuf,
    done: bool,
}

impl TapeFile {
    /// Create `dir/name.partial` (never clobbering) holding `placeholder` (a 32 KiB header).
    pub fn create(dir: &Path, name: &str, placeholder: &[u8]) -> Result<(TapeFile, File)> {
        assert_eq!(placeholder.len(), HEADER_SIZE);
        let dest = dir.join(name);
        let partial = dir.join(format!("{name}.partial"));
        let mut f = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&partial)
            .with_context(|| format!("cannot create {}", partial.display()))?;
        let tf = TapeFile {
            partial,
            dest,
            done: false,
        };
        f.write_all(placeholder)
            .with_context(|| format!("cannot write {}", tf.partial.display()))?;
        failpoint::hit("after-placeholder");
        Ok((tf, f))
    }

    pub fn dest(&self) -> &Path {
        &self.dest
    }

    /// Write the final header over the placeholder, make it durable, and rename into place.
    pub fn commit(mut self, mut f: File, header: &[u8]) -> Result<()> {
        assert_eq!(header.len(), HEADER_SIZE);
        let ctx = || format!("cannot finish {}", self.partial.display());
        f.sync_data().with_context(ctx)?;
        failpoint::hit("before-final-header");
        f.seek(SeekFrom::Start(0)).with_context(ctx)?;
        f.write_all(header).with_context(ctx)?;
        f.sync_all().with_context(ctx)?;
        drop(f);
        failpoint::hit("before-rename");
        fsutil::rename_durable(&self.partial, &self.dest)?;
        self.done = true;
        Ok(())
    }
}

impl Drop for TapeFile {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_file(&self.partial);
        }
    }
}
