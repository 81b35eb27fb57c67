//! The planner: (disklist, dumptypes, history) → tonight's [`Plan`], each entry with its level
//! and the reason for it. Pure code: no I/O. This version plans level 0 for every DLE; the
//! incremental levels, balancing and bumping build on this shape.

use crate::catalog::DumpRecord;
use crate::config::disklist::Dle;
use crate::config::dumptype::{Dumptype, Strategy};
use std::collections::BTreeMap;

/// What to do with one DLE tonight.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanEntry {
    pub dle: Dle,
    /// None: not dumped tonight (skip).
    pub level: Option<u8>,
    pub reason: String,
}

#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub entries: Vec<PlanEntry>,
}

/// Plan tonight for `dles`.
pub fn plan(dles: &[Dle], dumptypes: &BTreeMap<String, Dumptype>, history: &[DumpRecord]) -> Plan {
    let entries = dles
        .iter()
        .map(|d| entry(d, &dumptypes[&d.dumptype], history))
        .collect();
    Plan { entries }
}

fn entry(dle: &Dle, dt: &Dumptype, history: &[DumpRecord]) -> PlanEntry {
    let has_full = history
        .iter()
        .any(|r| r.host == dle.host && r.disk == dle.disk && r.level == 0);
    let (level, reason) = match dt.strategy {
        Strategy::Skip => (None, "strategy skip".to_string()),
        _ if !has_full => (Some(0), "new DLE: no full on any tape".to_string()),
        _ => (
            Some(0),
            "full: this version dumps level 0 every run".to_string(),
        ),
    };
    PlanEntry {
        dle: dle.clone(),
        level,
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dle(disk: &str, dt: &str) -> Dle {
        Dle {
            host: "h".into(),
            disk: disk.into(),
            device: disk.into(),
            dumptype: dt.into(),
            spindle: None,
            origin: "disklist:1".into(),
        }
    }

    #[test]
    fn new_dle_gets_a_full_and_skip_is_skipped() {
        let mut types = BTreeMap::new();
        types.insert("std".to_string(), Dumptype::default());
        types.insert(
            "off".to_string(),
            Dumptype {
                strategy: Strategy::Skip,
                ..Dumptype::default()
            },
        );
        let p = plan(&[dle("/a", "std"), dle("/b", "off")], &types, &[]);
        assert_eq!(p.entries[0].level, Some(0));
        assert!(p.entries[0].reason.starts_with("new DLE"));
        assert_eq!(p.entries[1].level, None);
    }
}
