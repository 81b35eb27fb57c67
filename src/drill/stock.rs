//! The drill without tapir: a DLE's chain restored by the line each tape header spells out
//! (`dd | age -d | gzip -dc | tar -x`, incrementals with `--incremental`), then checked with
//! `sha256sum -c` against the sums of its index, as an admin would after losing the server.

use super::{Options, Outcome, outcome};
use crate::catalog::{DumpRecord, search, sums};
use crate::config::Config;
use anyhow::{Context, Result, bail};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

/// Which picked DLE the stock tools restore: the smallest, when the copy is a directory
/// (`dd` reads files).
pub fn choose(cfg: &Config, picked: &[&[DumpRecord]]) -> Option<usize> {
    cfg.changer.root.local()?;
    picked
        .iter()
        .enumerate()
        .min_by_key(|(_, c)| c.iter().map(|r| r.payload_size).sum::<u64>())
        .map(|(n, _)| n)
}

/// `'text'` for the shell.
fn quote(p: &Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', r"'\''"))
}

/// Whether a directory on PATH has an executable `tool`.
fn on_path(tool: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::env::var_os("PATH").is_some_and(|p| {
        std::env::split_paths(&p).any(|d| {
            std::fs::metadata(d.join(tool))
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
    })
}

pub fn drill(cfg: &Config, o: &Options, chain: &[DumpRecord], dir: &Path) -> Outcome {
    let mut out = outcome(chain, "stock");
    let started = Instant::now();
    match restore_and_check(cfg, o, chain, dir) {
        Ok(files) => {
            out.ok = true;
            out.entries = files;
        }
        Err(e) => out.reason = Some(format!("{e:#}")),
    }
    out.seconds = started.elapsed().as_secs_f64();
    out.restore_seconds = out.seconds;
    out
}

fn restore_and_check(cfg: &Config, o: &Options, chain: &[DumpRecord], dir: &Path) -> Result<u64> {
    let to = dir.join("restore");
    crate::fsutil::create_dir_all(&to)?;
    for r in chain {
        let file = cfg.dump_path(r);
        let Some(local) = file.local() else {
            bail!("the stock-tool drill reads a directory copy, not {file}");
        };
        let opened = crate::fetch::open(&file, r, &o.trust)?;
        // the line runs in the restore directory: absolute paths
        let (local, key) = (
            std::path::absolute(local)?,
            std::path::absolute(o.identity)?,
        );
        let cmd = opened
            .header
            .restore_command(&quote(&local))
            .replace("age -d -i KEY", &format!("age -d -i {}", quote(&key)));
        let tools = cmd
            .split('|')
            .filter_map(|stage| stage.split_whitespace().next())
            .chain(["sha256sum"]);
        for tool in tools {
            if !on_path(tool) {
                bail!(
                    "the stock tool `{tool}` is not on PATH: the restore without tapir cannot run here"
                );
            }
        }
        run(
            Command::new("bash")
                .args(["-o", "pipefail", "-c", &cmd])
                .current_dir(&to),
            &cmd,
        )?;
    }
    let refs: Vec<&DumpRecord> = chain.iter().collect();
    let state = search::state(&cfg.catalog, &refs)?;
    let list = dir.join("sums.sha256");
    let mut f = std::fs::File::create(&list)
        .with_context(|| format!("cannot create {}", list.display()))?;
    let written = sums::write_state(&state, &mut f)?;
    drop(f);
    if written.files == 0 {
        bail!("the index records no sha256 to check the stock restore with");
    }
    let check = format!("sha256sum -c --quiet --strict {}", quote(&list));
    run(
        Command::new("bash").args(["-c", &check]).current_dir(&to),
        &check,
    )?;
    Ok(written.files)
}

/// Run a shell line; its failure names it, with what it said.
fn run(c: &mut Command, line: &str) -> Result<()> {
    let o = c.output().with_context(|| format!("cannot run `{line}`"))?;
    if o.status.success() {
        return Ok(());
    }
    let said = String::from_utf8_lossy(&o.stderr).to_string() + &String::from_utf8_lossy(&o.stdout);
    let said: Vec<&str> = said
        .lines()
        .filter(|l| !l.trim().is_empty())
        .take(3)
        .collect();
    bail!("`{line}` failed ({}): {}", o.status, said.join("; "))
}
