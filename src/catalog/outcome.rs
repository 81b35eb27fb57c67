//! How a run ended, as the catalog records it (`runs/DATESTAMP/summary.json`) and the
//! report renders it: one status per DLE, the run's problems and its exit code.

use serde::{Deserialize, Serialize};

/// The name a status has in JSON (its serde name, e.g. `OK`), for text output too.
pub fn name<T: Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|j| j.as_str().map(String::from))
        .unwrap_or_default()
}

/// How one DLE ended in a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    Ok,
    Partial,
    Failed,
    Missed,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Outcome {
    pub host: String,
    pub disk: String,
    pub level: u8,
    pub status: Status,
    /// Why it failed or was missed.
    pub reason: Option<String>,
    /// Why the planner chose this level.
    #[serde(default)]
    pub plan: String,
    /// Files that could not be read whole (PARTIAL).
    pub warnings: Vec<String>,
    /// A program DLE's stderr after a good run (the dump is OK; bounded).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    #[serde(rename = "tar_bytes", alias = "original_size")]
    pub original_size: u64,
    #[serde(rename = "tape_bytes", alias = "payload_size")]
    pub payload_size: u64,
    pub seconds: f64,
    /// `LABEL:FILE` where it was written.
    pub tape_file: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RunSummary {
    pub org: String,
    pub datestamp: String,
    pub tapes: Vec<String>,
    /// No tape could be had for this run (every slot still needed, none labelled…).
    #[serde(default)]
    pub no_tape: bool,
    pub outcomes: Vec<Outcome>,
    pub notes: Vec<String>,
    /// What an admin must look at although every DLE may be OK (a DAMAGED tape label, a
    /// dump whose file is gone, a label file missing): the run exits 1.
    #[serde(default)]
    pub problems: Vec<String>,
    /// Wall-clock seconds of the whole run.
    #[serde(default)]
    pub seconds: f64,
    /// The tape the next run will write (as `tapir tapes` marks it), or why none.
    #[serde(default)]
    pub next_tape: Option<String>,
    /// Dumps waiting in the holding area after the run (not on tape yet), one line each.
    #[serde(default)]
    pub held: Vec<String>,
    /// The restore drills drill hosts wrote back beside the copies, as of the run's end.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drills: Vec<String>,
}

impl RunSummary {
    /// Exit code per DESIGN.md: 0 all OK, 1 something not OK, 4 nothing could be done.
    pub fn exit_code(&self) -> i32 {
        use crate::error::exit;
        let written = self
            .outcomes
            .iter()
            .any(|o| matches!(o.status, Status::Ok | Status::Partial));
        let all_ok = self.outcomes.iter().all(|o| o.status == Status::Ok);
        if all_ok && !self.problems.is_empty() {
            exit::PARTIAL
        } else if all_ok {
            exit::OK
        } else if !written && self.no_tape {
            exit::NOTHING_DONE
        } else {
            exit::PARTIAL
        }
    }
}
