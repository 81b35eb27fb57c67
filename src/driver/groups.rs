//! Hook groups around a night's dumps: the `pre` hooks of a group run on all its member
//! hosts at once before the group's first dump, the `post` hooks after its last. A pre hook
//! that fails on any member fails the group's DLEs (not the run); post hooks run on every
//! member whose pre hooks ran, whatever the dumps did.

use crate::config::Config;
use crate::planner::PlanEntry;
use crate::transport::protocol::{Frame, Message};
use anyhow::{Context, Result, anyhow, bail};
use std::collections::BTreeMap;

/// What the pre hooks left: hosts whose DLEs must not be dumped, and post hooks due.
#[derive(Default)]
pub struct Held {
    /// host → why its group's DLEs are FAILED tonight.
    pub failed: BTreeMap<String, String>,
    /// (group, host): pre hooks ran there, its post hooks are due.
    pub due: Vec<(String, String)>,
}

/// Run the pre hooks of every group with a DLE to dump tonight.
pub fn before(cfg: &Config, entries: &[&PlanEntry]) -> Held {
    let mut held = Held::default();
    for (name, g) in &cfg.groups {
        if !entries.iter().any(|e| g.hosts.contains(&e.dle.host)) {
            continue;
        }
        crate::say::progress(format!("group {name}: pre hooks on {}", g.hosts.join(", ")));
        let ran = crate::pool::par_map(&g.hosts, g.hosts.len() as u32, |h| {
            run_phase(cfg, h, &g.pre, "pre")
        });
        let mut why = Vec::new();
        for (host, r) in g.hosts.iter().zip(ran) {
            match r {
                Ok(()) => held.due.push((name.clone(), host.clone())),
                Err(e) => why.push(format!("pre hook on {host} failed: {e:#}")),
            }
        }
        if !why.is_empty() {
            let reason = format!("group {name}: {}; none of its DLEs dumped", why.join("; "));
            for h in &g.hosts {
                held.failed.insert(h.clone(), reason.clone());
            }
        }
    }
    held
}

/// Run the post hooks that are due; returns one note per failure.
pub fn after(cfg: &Config, held: &Held) -> Vec<String> {
    let ran = crate::pool::par_map(&held.due, held.due.len().max(1) as u32, |(g, h)| {
        run_phase(cfg, h, &cfg.groups[g].post, "post")
    });
    held.due
        .iter()
        .zip(ran)
        .filter_map(|((g, h), r)| {
            r.err()
                .map(|e| format!("group {g}: post hook on {h} failed: {e:#}"))
        })
        .collect()
}

/// Run one phase of `hooks`, in order, on `host`'s agent.
fn run_phase(cfg: &Config, host: &str, hooks: &[String], phase: &str) -> Result<()> {
    if hooks.is_empty() {
        return Ok(());
    }
    let dle = cfg
        .disklist
        .iter()
        .find(|d| d.host == host)
        .with_context(|| format!("{host} has no DLE to reach it by"))?;
    let mut s = super::prepare::connect(cfg, dle)?;
    for h in hooks {
        s.send(&Message::RunHook {
            name: h.clone(),
            phase: phase.into(),
        })?;
        match s.recv(&mut Vec::new()) {
            Ok(Frame::Msg(Message::HookDone)) => {}
            Ok(Frame::Msg(Message::Error { message })) => bail!("{message}"),
            Ok(_) => {
                return Err(s.with_agent_stderr(anyhow!(
                    "protocol error: the agent did not answer hook {h} (too old?)"
                )));
            }
            Err(e) => return Err(s.with_agent_stderr(e)),
        }
    }
    s.close()
}
