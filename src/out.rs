//! Standard output that never panics: a reader that closed the pipe (`tapir tapes | head -1`)
//! ends the command quietly with exit 0, and only a closed *stdout* does — a broken pipe
//! anywhere inside a restore is a failure like any other.

use std::io::Write;

/// Standard output was closed by its reader.
#[derive(Debug, thiserror::Error)]
#[error("standard output was closed by its reader")]
pub struct StdoutClosed;

/// Map a write error on stdout: a broken pipe becomes [`StdoutClosed`].
pub fn stdout_error(e: std::io::Error) -> anyhow::Error {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        StdoutClosed.into()
    } else {
        anyhow::Error::new(e).context("cannot write to standard output")
    }
}

/// Write one formatted line to stdout.
pub fn line(args: std::fmt::Arguments) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_fmt(args)
        .and_then(|_| out.write_all(b"\n"))
        .map_err(stdout_error)
}

/// Write text as it is to stdout.
pub fn text(s: &str) -> anyhow::Result<()> {
    std::io::stdout()
        .lock()
        .write_all(s.as_bytes())
        .map_err(stdout_error)
}

/// Whether an error chain is only a closed stdout (exit 0, nothing printed).
pub fn is_stdout_closed(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.is::<StdoutClosed>())
}
