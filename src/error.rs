//! The library's error kinds, each mapped to one of DESIGN.md's exit codes.

use std::fmt;

/// Exit codes from DESIGN.md, documented in tapir(8).
pub mod exit {
    pub const OK: i32 = 0;
    pub const PARTIAL: i32 = 1;
    pub const USAGE: i32 = 2;
    pub const LOCKED: i32 = 3;
    pub const NOTHING_DONE: i32 = 4;
}

/// An error that decides the exit code. Anything else that reaches `main` exits 1.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad config, disklist, dumptype or command line: exit 2, nothing changed.
    #[error("{0}")]
    Config(String),
    /// Another run holds the catalog lock: exit 3.
    #[error("{0}")]
    Locked(String),
    /// Nothing could be done (no tape, no key...): exit 4.
    #[error("{0}")]
    NothingDone(String),
}

impl Error {
    pub fn config(msg: impl fmt::Display) -> Self {
        Error::Config(msg.to_string())
    }
    pub fn nothing_done(msg: impl fmt::Display) -> Self {
        Error::NothingDone(msg.to_string())
    }
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Config(_) => exit::USAGE,
            Error::Locked(_) => exit::LOCKED,
            Error::NothingDone(_) => exit::NOTHING_DONE,
        }
    }
}

/// The exit code for any error chain: the first typed [`Error`] in it decides, else 1.
pub fn exit_code_of(err: &anyhow::Error) -> i32 {
    err.chain()
        .find_map(|e| e.downcast_ref::<Error>())
        .map_or(exit::PARTIAL, Error::exit_code)
}
