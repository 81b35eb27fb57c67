//! A restore is written into a staging directory inside its target and moved into place
//! only when every tape file it read held its checks (signature, catalog, sha256): a
//! corrupt or forged dump leaves nothing behind in the target, and says so.

use super::extract::{Extractor, Report};
use anyhow::{Context, Result};
use std::fs;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};

/// The staging directory of one restore.
pub struct Stage {
    target: PathBuf,
    dir: PathBuf,
    /// The target did not exist: a failed restore removes it again.
    made_target: bool,
}

impl Stage {
    pub fn new(target: &Path) -> Result<Stage> {
        let made_target = !target.exists();
        fs::create_dir_all(target)
            .with_context(|| format!("cannot create {}", target.display()))?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir = target.join(format!(".tapir-staging-{}-{nanos}", std::process::id()));
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .with_context(|| format!("cannot create the staging directory {}", dir.display()))?;
        Ok(Stage {
            target: target.to_path_buf(),
            dir,
            made_target,
        })
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The restore failed: remove what was staged, and say so in the error.
    pub fn abandon(self, e: anyhow::Error) -> anyhow::Error {
        let removed = fs::remove_dir_all(&self.dir);
        if self.made_target {
            let _ = fs::remove_dir(&self.target);
        }
        match removed {
            Ok(()) => e.context(format!(
                "nothing was restored into {}: what had been extracted was removed",
                self.target.display()
            )),
            Err(r) => e.context(format!(
                "nothing was moved into {}; the staging directory {} could not be removed: {r}",
                self.target.display(),
                self.dir.display()
            )),
        }
    }

    /// Every check held: move what was staged into the target, then set links, directory
    /// modes and mtimes there.
    pub fn commit(self, x: Extractor) -> Result<Report> {
        let target = self.target.clone();
        let refused = self.commit_files(x.overwrite())?;
        let mut report = x.finish(Some(&target))?;
        report.refused.extend(refused);
        Ok(report)
    }

    /// Move what was staged into the target; what could not be placed is returned.
    pub fn commit_files(self, overwrite: bool) -> Result<Vec<String>> {
        let mut refused = Vec::new();
        merge(&self.dir, &self.target, overwrite, &mut refused)
            .with_context(|| format!("cannot move the restore into {}", self.target.display()))?;
        let _ = fs::remove_dir_all(&self.dir);
        Ok(refused)
    }
}

/// Move every entry of `from` into `to`: new names are renamed, directories present in
/// both are merged, anything else in the way is replaced only with `overwrite`.
fn merge(from: &Path, to: &Path, overwrite: bool, refused: &mut Vec<String>) -> Result<()> {
    for e in fs::read_dir(from)? {
        let e = e?;
        let dest = to.join(e.file_name());
        let src_dir = e.file_type()?.is_dir();
        match dest.symlink_metadata() {
            Err(_) => fs::rename(e.path(), &dest)?,
            Ok(md) if md.is_dir() && src_dir => merge(&e.path(), &dest, overwrite, refused)?,
            Ok(md) if overwrite => {
                if md.is_dir() {
                    fs::remove_dir_all(&dest)?;
                } else {
                    fs::remove_file(&dest)?;
                }
                fs::rename(e.path(), &dest)?;
            }
            Ok(md) => refused.push(format!(
                "{}: appeared in the target during the restore (inode {}); not replaced",
                dest.display(),
                md.ino()
            )),
        }
    }
    Ok(())
}
