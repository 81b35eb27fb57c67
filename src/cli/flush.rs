//! `tapir flush`: write the dumps waiting in the holding area to tape (amflush).

use super::Cli;
use crate::error::Error;

/// Write the dumps waiting in the holding area to tape, oldest first (amflush).
///
/// Each is copied into the next tape file, its header rewritten for its place and signed,
/// its sha256 checked as read and again read back from the tape; the catalog then points at
/// the tape and the held file is removed. The next `tapir dump` does this first on its own.
/// Exit 0: nothing is held any more; 1: some are still held; 4: none could be written.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(cli: &Cli, _: &Args) -> anyhow::Result<i32> {
    let cfg = super::load_config(cli)?;
    let f = crate::driver::flush_held(&cfg)?;
    for n in &f.notes {
        outln!("{n}");
    }
    for w in &f.written {
        outln!("flushed {w}");
    }
    let Some(why) = f.stopped else {
        if f.written.is_empty() && f.notes.is_empty() {
            outln!("nothing waits in the holding area");
        }
        return Ok(0);
    };
    let e = Error::nothing_done(format!("held dumps stay in the holding area: {why}"))
        .hint("`tapir tapes` says why no tape may be written; `tapir flush` again once one may");
    if f.written.is_empty() {
        anyhow::bail!(e);
    }
    eprintln!("tapir: {e}");
    Ok(crate::error::exit::PARTIAL)
}
