//! Program DLEs' streams out of their tapes: as one file in the target (staged like any
//! restore), to stdout (`| pg_restore`), or into the program's own restore command from
//! this machine's agent.toml. Every way checks the payload's sha256 and the stream's own.

use crate::vtape::decode::Ids;
use crate::vtape::reader::Opened;
use anyhow::{Context, Result, bail};
use std::io::{self, Write};
use std::path::Path;

/// Where a stream goes.
pub enum Dest<'a> {
    /// `DIR/<stream_name>`.
    Dir(&'a Path),
    Stdout,
    /// The program's `restore` argv from this agent.toml.
    Restore(&'a crate::agent::policy::Policy),
}

/// What a stream restore did.
pub struct Streamed {
    pub name: String,
    pub bytes: u64,
    /// `--run-restore`: the command as run, and its exit status.
    pub command: Option<(String, std::process::ExitStatus)>,
}

/// Restore the stream of one program dump to `dest`.
pub fn restore(opened: Opened, ids: &Ids, dest: Dest) -> Result<Streamed> {
    let name = opened.header.stream_name.clone();
    if name.is_empty() || name.contains('/') || name == "." || name == ".." {
        bail!("the header names no usable stream file ({name:?})");
    }
    match dest {
        Dest::Dir(to) => to_dir(opened, ids, to, name),
        Dest::Stdout => {
            let stdout = io::stdout();
            let mut lock = stdout.lock();
            let (_, bytes) = opened.decode_stream(ids, &mut lock)?;
            Ok(Streamed {
                name,
                bytes,
                command: None,
            })
        }
        Dest::Restore(policy) => into_program(opened, ids, policy, name),
    }
}

/// Write `DIR/<name>` through a staging directory: the file appears only when every check
/// held.
fn to_dir(opened: Opened, ids: &Ids, to: &Path, name: String) -> Result<Streamed> {
    super::check_target(to, false)?;
    let stage = super::staging::Stage::new(to)?;
    let staged = stage.path().join(&name);
    let written = (|| {
        use std::os::unix::fs::OpenOptionsExt;
        let f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&staged)
            .with_context(|| format!("cannot create {}", staged.display()))?;
        let mut w = io::BufWriter::with_capacity(1 << 20, f);
        let (_, bytes) = opened.decode_stream(ids, &mut w)?;
        let f = w.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()
            .with_context(|| format!("cannot write {}", staged.display()))?;
        Ok(bytes)
    })();
    let bytes = match written {
        Ok(b) => b,
        Err(e) => return Err(stage.abandon(e)),
    };
    let refused = stage.commit_files(false)?;
    if let Some(r) = refused.first() {
        bail!("{r}");
    }
    Ok(Streamed {
        name,
        bytes,
        command: None,
    })
}

/// Pipe the stream into the program's restore command, as this host's agent.toml defines
/// it. A stream that fails a check stops the command (killed) and is an error.
fn into_program(
    opened: Opened,
    ids: &Ids,
    policy: &crate::agent::policy::Policy,
    name: String,
) -> Result<Streamed> {
    let program = opened.header.program.clone();
    let disk = opened.header.disk.clone();
    let prog = policy.program(&program, &disk).with_context(|| {
        format!("--run-restore runs [programs.{program}] of this host's agent.toml")
    })?;
    let mut bytes = 0;
    let (shown, status) =
        crate::agent::program::run_restore(prog, &program, &disk, |stdin: &mut dyn Write| {
            let mut w = io::BufWriter::with_capacity(1 << 20, stdin);
            bytes = opened.decode_stream(ids, &mut w)?.1;
            Ok(())
        })?;
    Ok(Streamed {
        name,
        bytes,
        command: Some((shown, status)),
    })
}
