//! tapir — Amanda-style nightly backups to labelled, age-encrypted virtual tapes.
//!
//! Data flow of one DLE on one night:
//! ```text
//! config ─▶ planner ─▶ driver ─┬─▶ transport ─▶ agent (client: walk, tar)
//!                              │        tar stream
//!                              └─▶ pipeline: index tee ─▶ gzip ─▶ age ─▶ sha256 ─▶ vtape file
//!                                         │                                        │
//!                                         ▼                                        ▼
//!                                  catalog index                           catalog history
//! ```
//! `cli` is the only module that knows about the command line; everything else is library.
//!
//! Layers, lowest first: a module imports (`crate::…`) only from its own layer or lower
//! ones, and no two modules import each other, directly or round about (`tests/layers.rs`
//! reads `src/` and holds the tree to this list):
//! 1. `error`, `failpoint`, `sys`, `clock`, `say`, `out`, `units`, `pool`
//! 2. `fsutil`
//! 3. `codec`, `signing`, `s3`
//! 4. `catalog`
//! 5. `vtape`
//! 6. `keys`, `agehead`, `paper`
//! 7. `config`
//! 8. `transport`, `planner`, `fetch`
//! 9. `agent`, `report`
//! 10. `pipeline`
//! 11. `driver`, `recover`, `mirror`, `vault`, `rekey`
//! 12. `check`, `rebuild`, `verify`, `rpo`, `forecast`, `drill`
//! 13. `cli`

#![forbid(unsafe_code)]

/// `println!` that returns a closed stdout as an error instead of panicking.
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::out::line(format_args!($($arg)*))?
    };
}

pub mod agehead;
pub mod agent;
pub mod catalog;
pub mod check;
pub mod cli;
pub mod clock;
pub mod codec;
pub mod config;
pub mod drill;
pub mod driver;
pub mod error;
pub mod failpoint;
pub mod fetch;
pub mod forecast;
pub mod fsutil;
pub mod keys;
pub mod mirror;
pub mod out;
pub mod paper;
pub mod pipeline;
pub mod planner;
pub mod pool;
pub mod rebuild;
pub mod recover;
pub mod rekey;
pub mod report;
pub mod rpo;
pub mod s3;
pub mod say;
pub mod signing;
pub mod sys;
pub mod transport;
pub mod units;
pub mod vault;
pub mod verify;
pub mod vtape;
