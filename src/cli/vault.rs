//! `tapir vault`: copy what the retention policies keep, and prune what they release.

use super::Cli;
use crate::config::vault::Vault;
use crate::error::Error;
use crate::vault::{self, Target, prune};
use anyhow::bail;

/// Copy the fulls a vault's policy keeps; prune what it releases.
///
/// For each [vault.NAME] (or only NAME): copy to each of its targets every full the policy
/// keeps (the last full of each of the last keep_weekly weeks, keep_monthly months,
/// keep_yearly years) that the target lacks, from the vtape root or a mirror, verified by the
/// tape reader before and after. With --prune, then remove the copies the policy no longer
/// keeps (--dry-run: list them with their reasons). Exit 0, 1 when something was not
/// copied or a prune was refused, 3 when another run (a rekey --from it) holds a target.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only this vault.
    pub name: Option<String>,
    /// After copying, remove the copies the policy no longer keeps.
    #[arg(long)]
    pub prune: bool,
    /// With --prune: copy nothing, remove nothing, list what a prune would remove and why.
    #[arg(long, requires = "prune")]
    pub dry_run: bool,
}

pub fn run(cli: &Cli, a: &Args) -> anyhow::Result<i32> {
    let cfg = super::load_config(cli)?;
    let vaults: Vec<&Vault> = match &a.name {
        Some(n) => match cfg.vaults.get(n) {
            Some(v) => vec![v],
            None => bail!(Error::config(format!(
                "no [vault.{n}] in {} (vaults: {})",
                cfg.file.display(),
                names(&cfg)
            ))),
        },
        None => cfg.vaults.values().collect(),
    };
    if vaults.is_empty() {
        bail!(Error::config(format!(
            "no vault: add a [vault.NAME] with to = \"DIR\" and keep_weekly/keep_monthly/\
             keep_yearly to {}",
            cfg.file.display()
        )));
    }
    let (mut failed, mut locked) = (false, false);
    let mut out = vec![];
    for v in vaults {
        for to in &v.to {
            let r = one(cli, &cfg, v, to, a);
            match r {
                Ok((ok, json)) => {
                    failed |= !ok;
                    out.push(json);
                }
                Err(e) => {
                    eprintln!("tapir: vault {} {to}: {e:#}", v.name);
                    let lock = crate::error::exit_code_of(&e) == crate::error::exit::LOCKED;
                    locked |= lock;
                    failed |= !lock;
                }
            }
        }
    }
    if cli.json {
        super::print_json(&out)?;
    }
    // a target another run holds is "try again later" (3), unless something failed
    Ok(match (failed, locked) {
        (true, _) => 1,
        (false, true) => crate::error::exit::LOCKED,
        _ => 0,
    })
}

fn names(cfg: &crate::config::Config) -> String {
    let n: Vec<&str> = cfg.vaults.keys().map(String::as_str).collect();
    if n.is_empty() {
        "none".into()
    } else {
        n.join(", ")
    }
}

/// One target: copy, then prune when asked; whether all went well, and the JSON of it.
fn one(
    cli: &Cli,
    cfg: &crate::config::Config,
    v: &Vault,
    to: &str,
    a: &Args,
) -> anyhow::Result<(bool, vault::Outcome)> {
    let mut json = vault::Outcome {
        vault: v.name.clone(),
        to: to.to_string(),
        copy: None,
        prune: None,
    };
    let mut ok = true;
    if !a.dry_run {
        let rep = vault::run(cfg, v, to)?;
        ok &= rep.problems.is_empty();
        if !cli.json {
            say_copy(&rep)?;
        }
        json.copy = Some(rep);
    }
    if a.prune {
        let _lock = crate::catalog::lock::exclusive(&cfg.catalog, "vault --prune")?;
        let (trust, set) = crate::mirror::server_set(cfg)?;
        let target = Target::open(cfg, v, to, &set, &trust)?;
        let mut plan = prune::plan(cfg, v, &target)?;
        plan.dry_run = a.dry_run;
        if !a.dry_run {
            prune::apply(&mut plan, &target)?;
            vault::state::save(cfg, v, &target, plan.problems.len())?;
        }
        ok &= plan.problems.is_empty();
        if !cli.json {
            say_prune(&plan)?;
        }
        json.prune = Some(plan);
    }
    Ok((ok, json))
}

fn say_copy(rep: &vault::Report) -> anyhow::Result<()> {
    for c in &rep.copied {
        outln!("copied {c}");
    }
    for n in &rep.notes {
        outln!("note: {n}");
    }
    for p in &rep.problems {
        eprintln!("tapir: vault {}: {p}", rep.vault);
    }
    outln!(
        "vault {} {}: {} copied ({}), {} already held, {} problem(s)",
        rep.vault,
        rep.to,
        rep.copied.len(),
        crate::units::human(rep.copied_bytes),
        rep.held,
        rep.problems.len()
    );
    Ok(())
}

fn say_prune(plan: &prune::Plan) -> anyhow::Result<()> {
    let verb = if plan.dry_run {
        "would remove"
    } else {
        "removed"
    };
    for r in &plan.removed {
        outln!("{verb} {}: {}", r.path, r.reasons.join("; "));
    }
    for k in &plan.kept_back {
        outln!("kept {k}");
    }
    for o in &plan.orphans {
        outln!("{verb} {o}: no catalog record lists it (a copy or prune that was killed)");
    }
    for n in &plan.notes {
        outln!("note: {n}");
    }
    for p in &plan.problems {
        eprintln!("tapir: vault {}: {p}", plan.vault);
    }
    outln!(
        "vault {} {}: prune {verb} {} copies, kept back {}",
        plan.vault,
        plan.to,
        plan.removed.len(),
        plan.kept_back.len()
    );
    Ok(())
}
