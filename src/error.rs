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

/// An error that decides the exit code and says what to do next. Anything else that
/// reaches `main` exits 1.
///
/// Every refusal has the same form: what is wrong (naming what and where), then, when there
/// is something the admin can do, `; to fix: …` with the command or setting to change (on a
/// line of its own after a message of several lines).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub kind: Kind,
    msg: String,
    hint: Option<String>,
}

/// What kind of failure, and so which exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Bad config, disklist, dumptype or command line, or a refusal to act: exit 2,
    /// nothing changed.
    Config,
    /// Another run holds the catalog lock: exit 3.
    Locked,
    /// Nothing could be done (no tape, no key...): exit 4.
    NothingDone,
    /// Something failed on the way (a host, a store, a file): exit 1.
    Failed,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.hint {
            // a message of several lines (a list) gets the hint on a line of its own
            Some(h) if self.msg.contains('\n') => write!(f, "{}\nto fix: {h}", self.msg),
            Some(h) => write!(f, "{}; to fix: {h}", self.msg),
            None => write!(f, "{}", self.msg),
        }
    }
}

impl std::error::Error for Error {}

impl Error {
    fn new(kind: Kind, msg: impl fmt::Display) -> Self {
        Error {
            kind,
            msg: msg.to_string(),
            hint: None,
        }
    }
    pub fn config(msg: impl fmt::Display) -> Self {
        Error::new(Kind::Config, msg)
    }
    pub fn locked(msg: impl fmt::Display) -> Self {
        Error::new(Kind::Locked, msg)
    }
    pub fn nothing_done(msg: impl fmt::Display) -> Self {
        Error::new(Kind::NothingDone, msg)
    }
    pub fn failed(msg: impl fmt::Display) -> Self {
        Error::new(Kind::Failed, msg)
    }
    /// What to do about it: a command, a setting, a file to restore.
    pub fn hint(mut self, hint: impl fmt::Display) -> Self {
        self.hint = Some(hint.to_string());
        self
    }
    /// The same error, its message after `prefix` (which host, which step).
    pub fn prefixed(mut self, prefix: &str) -> Self {
        self.msg.insert_str(0, prefix);
        self
    }
    /// What is wrong, without the hint.
    pub fn message(&self) -> &str {
        &self.msg
    }
    /// What to do about it, when there is something.
    pub fn hint_text(&self) -> Option<&str> {
        self.hint.as_deref()
    }
    pub fn exit_code(&self) -> i32 {
        match self.kind {
            Kind::Config => exit::USAGE,
            Kind::Locked => exit::LOCKED,
            Kind::NothingDone => exit::NOTHING_DONE,
            Kind::Failed => exit::PARTIAL,
        }
    }
}

/// The exit code for any error chain: the first typed [`Error`] in it decides, else 1.
pub fn exit_code_of(err: &anyhow::Error) -> i32 {
    err.chain()
        .find_map(|e| e.downcast_ref::<Error>())
        .map_or(exit::PARTIAL, Error::exit_code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_says_what_then_what_to_do_and_keeps_its_exit_code() {
        let e =
            Error::config("slot 3 holds T-03, still needed").hint("`tapir label 3 T-09 --force`");
        assert_eq!(
            e.to_string(),
            "slot 3 holds T-03, still needed; to fix: `tapir label 3 T-09 --force`"
        );
        assert_eq!(e.message(), "slot 3 holds T-03, still needed");
        let chain = anyhow::Error::from(e).context("label");
        assert_eq!(exit_code_of(&chain), exit::USAGE);
        assert_eq!(exit_code_of(&Error::failed("x").into()), exit::PARTIAL);
        assert_eq!(exit_code_of(&Error::locked("x").into()), exit::LOCKED);
        assert_eq!(
            exit_code_of(&Error::nothing_done("x").into()),
            exit::NOTHING_DONE
        );
        assert_eq!(Error::failed("plain").to_string(), "plain");
    }
}
