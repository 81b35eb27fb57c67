//! Gathering the planner's inputs: history (with missing indexes noticed), forced DLEs,
//! and client estimates where the dumptype asks for them or the DLE is new.

use crate::catalog::{DumpRecord, forced::Forced};
use crate::config::{
    Config, SshClient, disklist::Dle, dumptype::Auth, dumptype::Estimate, dumptype::Strategy,
};
use crate::planner::{Input, levels};
use crate::transport::{
    Session,
    protocol::{EstimateRequest, Frame, Message},
};
use anyhow::{Result, anyhow};
use std::collections::BTreeMap;

pub type Sizes = BTreeMap<u8, u64>;

/// The run's dump records; an index file that has gone missing is treated as absent.
pub fn history(cfg: &Config, mut all: Vec<DumpRecord>) -> Vec<DumpRecord> {
    for r in &mut all {
        if r.index
            .as_ref()
            .is_some_and(|ix| !cfg.catalog.join(ix).exists())
        {
            r.index = None;
        }
    }
    all
}

/// This DLE's records, oldest first.
pub fn of<'a>(history: &'a [DumpRecord], dle: &Dle) -> Vec<&'a DumpRecord> {
    history
        .iter()
        .filter(|r| r.host == dle.host && r.disk == dle.disk)
        .collect()
}

/// Open a session to the DLE's client.
pub fn connect(cfg: &Config, dle: &Dle) -> Result<Session> {
    let dt = cfg.dumptype(dle);
    match dt.auth {
        Auth::Local => Session::local(dt.stall_timeout()),
        Auth::Ssh => {
            let login = crate::transport::ssh::Login {
                identity: &cfg.ssh.identity,
                known_hosts: &cfg.ssh.known_hosts,
                connect_timeout: cfg.ssh.connect_timeout(),
                stall_timeout: dt.stall_timeout(),
                ssh: &cfg.ssh.command,
                ssh_config: cfg.ssh.config.as_deref(),
            };
            let target = cfg.target(&dle.host);
            match cfg.ssh.client {
                SshClient::Openssh => Session::openssh(&target, &login),
                SshClient::Libssh2 => Session::ssh(&target, &login),
            }
        }
    }
}

/// Ask the client for estimates of level 0 and the candidate incremental levels.
pub fn estimate(cfg: &Config, dle: &Dle, history: &[&DumpRecord]) -> Result<Sizes> {
    let dt = cfg.dumptype(dle);
    let since = levels::candidate_levels(history)
        .into_iter()
        .filter_map(|l| levels::reference(history, l).map(|r| (l, r.client_time_ns)))
        .collect();
    let req = EstimateRequest {
        path: dle.device.clone(),
        exclude: dt.exclude.clone(),
        include: dt.include.clone(),
        exclude_list: dt.exclude_list.clone(),
        include_list: dt.include_list.clone(),
        optional_lists: dt.optional_lists,
        one_file_system: dt.one_file_system,
        since,
        program: dt.program.clone(),
    };
    let mut s = connect(cfg, dle)?;
    s.send(&Message::Estimate(req))?;
    let answer = s.recv(&mut Vec::new());
    let sizes = match answer {
        Ok(Frame::Msg(Message::EstimateResult { sizes })) => sizes.into_iter().collect(),
        Ok(Frame::Msg(Message::Error { message })) => return Err(anyhow!("agent: {message}")),
        Ok(_) => return Err(s.with_agent_stderr(anyhow!("protocol error: no estimate"))),
        Err(e) => return Err(s.with_agent_stderr(e)),
    };
    s.close()?;
    Ok(sizes)
}

/// Does this DLE need a client estimate tonight?
pub fn wants_estimate(cfg: &Config, dle: &Dle, history: &[&DumpRecord]) -> bool {
    let dt = cfg.dumptype(dle);
    dt.strategy != Strategy::Skip && (dt.estimate == Estimate::Client || history.is_empty())
}

/// The planner inputs for `dles`.
pub fn inputs<'a>(
    cfg: &'a Config,
    dles: &'a [Dle],
    history: &'a [DumpRecord],
    forced: &Forced,
    estimates: &BTreeMap<(String, String), Sizes>,
) -> Vec<Input<'a>> {
    dles.iter()
        .map(|d| {
            let key = (d.host.clone(), d.disk.clone());
            Input {
                dle: d,
                dumptype: cfg.dumptype(d),
                history: of(history, d),
                estimates: estimates.get(&key).cloned(),
                forced: forced.contains(&key),
            }
        })
        .collect()
}
