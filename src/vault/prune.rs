//! `tapir vault --prune`: remove the copies the policy no longer keeps, and only them. A copy
//! stays while any period it belongs to is among the last N and the newer full that period
//! keeps is not in the vault yet; no prune runs on a clock behind the newest dump or far
//! ahead of it. The catalog record goes before the file, so a killed prune leaves at most a
//! file nothing lists, removed by the next one.

use super::{Target, key, rel_path};
use crate::catalog::retention::{self, plural};
use crate::catalog::{DumpRecord, history, index};
use crate::config::Config;
use crate::config::vault::Vault;
use anyhow::{Result, bail};
use serde::Serialize;
use std::collections::BTreeSet;

/// One copy a prune removes, and why.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Removal {
    pub host: String,
    pub disk: String,
    pub datestamp: String,
    /// Under the target: `dumps/HOST/DISK/DATESTAMP/NAME`.
    pub path: String,
    pub reasons: Vec<String>,
}

/// What a prune of one target does (or, with `--dry-run`, would do).
#[derive(Debug, Default, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Plan {
    pub vault: String,
    pub to: String,
    pub dry_run: bool,
    pub removed: Vec<Removal>,
    /// Copies the policy releases once a newer full is in the vault: kept for now, and why.
    pub kept_back: Vec<String>,
    /// Files under `dumps/` that no catalog record lists (a killed copy or prune): removed.
    pub orphans: Vec<String>,
    pub problems: Vec<String>,
    pub notes: Vec<String>,
}

/// Work out the prune of `target`: refused (an error naming why) when the clock cannot be
/// trusted against the catalogs.
pub fn plan(cfg: &Config, vault: &Vault, target: &Target) -> Result<Plan> {
    let mut plan = Plan {
        vault: vault.name.clone(),
        to: target.name.clone(),
        ..Plan::default()
    };
    let held = target.records()?;
    let sources = super::sources(cfg, &mut plan.notes)?;
    let offered = super::candidates(cfg, vault, &sources);
    let all = super::union(&held, &offered);
    let today = super::today()?;
    let now = crate::clock::now()?.with_timezone(&chrono::Utc);
    let policy = vault.policy();
    if let Err(why) = retention::prune_allowed(&all, &policy, today) {
        bail!(crate::error::Error::failed(format!(
            "vault {} prune of {}: {why}; nothing was removed",
            vault.name, plan.to
        )));
    }
    let kept = retention::kept(&all, &policy, today);
    let keep: BTreeSet<_> = kept.iter().map(|k| key(k.record)).collect();
    let have: BTreeSet<_> = held.iter().map(key).collect();
    for r in held.iter().filter(|r| !keep.contains(&key(r))) {
        let mut reasons = vec![];
        let mut stay = None;
        for (period, n, instead) in retention::released(r, &kept, &policy, today) {
            match instead {
                None => reasons.push(format!(
                    "{}: not among the last {n} {}",
                    period.label(),
                    plural(period)
                )),
                Some(i) if have.contains(&key(i)) => reasons.push(format!(
                    "{}: the newer full of {} is kept",
                    period.label(),
                    i.datestamp
                )),
                Some(i) => {
                    stay = Some(format!(
                        "{}:{} {}: kept until the newer full of {} ({}) is in the vault",
                        r.host,
                        r.disk,
                        r.datestamp,
                        period.label(),
                        i.datestamp
                    ))
                }
            }
        }
        if reasons.is_empty() && stay.is_none() {
            // no period could be told (an unreadable datestamp): never a reason to remove
            stay = Some(format!(
                "{}:{} {}: no period of the policy can be told from its datestamp: kept",
                r.host, r.disk, r.datestamp
            ));
        }
        let path = r.path.clone().unwrap_or_else(|| rel_path(r));
        let locked = match stay {
            Some(_) => None,
            None => target.locked_until(&path)?.filter(|t| *t > now),
        };
        if let Some(t) = locked {
            stay = Some(format!(
                "{}:{} {}: released by the policy, but the store retains it until {} (Object \
                 Lock): removed by a later prune",
                r.host,
                r.disk,
                r.datestamp,
                t.format("%Y-%m-%d %H:%M UTC")
            ));
        }
        match stay {
            Some(s) => plan.kept_back.push(s),
            None => plan.removed.push(Removal {
                host: r.host.clone(),
                disk: r.disk.clone(),
                datestamp: r.datestamp.clone(),
                path,
                reasons,
            }),
        }
    }
    let listed: BTreeSet<String> = held.iter().filter_map(|r| r.path.clone()).collect();
    for f in target.dump_files()? {
        if listed.contains(&f) {
            continue;
        }
        // a whole copy a killed run did not list, still retained: removed once it may be
        match target.locked_until(&f)?.filter(|t| *t > now) {
            Some(t) => plan.kept_back.push(format!(
                "{f}: no catalog record lists it, but the store retains it until {}",
                t.format("%Y-%m-%d %H:%M UTC")
            )),
            None => plan.orphans.push(f),
        }
    }
    Ok(plan)
}

/// Carry out `plan` on `target`: each record out of the vault's catalog, then its index,
/// then its file; a file the store refuses to delete is listed again.
pub fn apply(plan: &mut Plan, target: &Target) -> Result<()> {
    for rm in &plan.removed {
        if let Err(e) = remove(target, rm) {
            plan.problems.push(format!("{}: {e:#}", rm.path));
        }
    }
    for o in &plan.orphans {
        crate::failpoint::hit("vault-prune-orphan");
        if let Err(e) = target.remove_dump(o) {
            plan.problems.push(format!("{o}: {e:#}"));
        }
    }
    target.tidy();
    Ok(())
}

fn remove(target: &Target, rm: &Removal) -> Result<()> {
    let mut mine = history::load(&target.catalog, &rm.host, &rm.disk)?;
    let before = mine.clone();
    let gone: Vec<DumpRecord> = mine
        .iter()
        .filter(|r| r.datestamp == rm.datestamp && r.path.as_deref() == Some(&rm.path))
        .cloned()
        .collect();
    mine.retain(|r| !gone.contains(r));
    target.save_history(&rm.host, &rm.disk, &mine)?;
    crate::failpoint::hit("vault-prune-after-catalog");
    if let Err(e) = target.remove_dump(&rm.path) {
        // still there: listed again, so that the catalog says what the vault holds
        target.save_history(&rm.host, &rm.disk, &before)?;
        return Err(e);
    }
    for ix in gone.iter().filter_map(|r| r.index.as_ref()) {
        let p = target.catalog.join(ix);
        for f in index::companions(&p).iter().chain([&p]) {
            if let Ok(rel) = f.strip_prefix(&target.catalog) {
                let _ = target.remove_catalog(&rel.display().to_string());
            }
        }
    }
    Ok(())
}
