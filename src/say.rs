//! The one place the library's messages go. What is printed is decided once, by the command
//! line: progress (per-DLE lines, tapes labelled, restore chains) only on a terminal, so that
//! a clean night under cron prints nothing; problems (a DLE that failed, a restore reading
//! unverified data) and notices that must not be missed (a key generated) always, on stderr.
//! Everything a run does is also in its run log; this is only what a person sees.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU8, Ordering};

/// Who is listening.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// A person at a terminal: progress too.
    Terminal,
    /// cron, systemd, a pipe: problems and notices only.
    Unattended,
}

const UNSET: u8 = 0;
static AUDIENCE: AtomicU8 = AtomicU8::new(UNSET);

/// Choose the audience (the cli does, once). Unset, it follows whether stderr is a terminal.
pub fn set(a: Audience) {
    AUDIENCE.store(a as u8 + 1, Ordering::Relaxed);
}

pub fn audience() -> Audience {
    match AUDIENCE.load(Ordering::Relaxed) {
        1 => Audience::Terminal,
        2 => Audience::Unattended,
        _ if std::io::stderr().is_terminal() => Audience::Terminal,
        _ => Audience::Unattended,
    }
}

/// What is happening: shown on a terminal only.
pub fn progress(msg: impl std::fmt::Display) {
    if audience() == Audience::Terminal {
        eprintln!("tapir: {msg}");
    }
}

/// Something someone must act on or know: always shown.
pub fn problem(msg: impl std::fmt::Display) {
    eprintln!("tapir: {msg}");
}

/// A one-time notice that must not be missed (a key was generated): always shown.
pub fn notice(msg: impl std::fmt::Display) {
    eprintln!("{msg}");
}
