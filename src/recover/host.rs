//! Whole-host and mass restores (a lost server room): every DLE of one or more hosts, each
//! into a directory of its own, N at a time. The plan comes first: each DLE's chain, the
//! bytes to read and a time estimated from a measured read of the tapes.

use super::{Request, extract::Report};
use crate::catalog::{DumpRecord, history};
use crate::config::Config;
use anyhow::{Result, bail};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What to restore.
pub struct Mass {
    pub hosts: Vec<String>,
    pub date: Option<String>,
    pub to: PathBuf,
    pub identity: PathBuf,
    pub trust: crate::signing::Trust,
    pub parallel: u32,
}

/// One DLE of the plan.
pub struct Item {
    pub host: String,
    pub disk: String,
    /// The dumps its restore reads (full first); empty when it has none as of the date.
    pub chain: Vec<DumpRecord>,
    pub dir: PathBuf,
}

impl Item {
    /// Tape bytes the restore reads.
    pub fn bytes(&self) -> u64 {
        self.chain.iter().map(|r| r.payload_size).sum()
    }
}

/// How one DLE's restore went.
pub struct Done {
    pub host: String,
    pub disk: String,
    pub dir: PathBuf,
    pub result: Result<Report>,
    pub seconds: f64,
}

/// Where a DLE goes: `TO/<disk>` (one host) or `TO/<host>/<disk>`, the disk escaped as in
/// tape file names (`/var/www` → `_var_www`) so that nested DLEs never overlap.
fn dir_for(m: &Mass, host: &str, disk: &str) -> PathBuf {
    let d = crate::fsutil::escape_component(disk);
    if m.hosts.len() == 1 {
        m.to.join(d)
    } else {
        m.to.join(crate::fsutil::escape_component(host)).join(d)
    }
}

/// Every DLE of the hosts the catalog knows, with its chain as of the date.
pub fn plan(cfg: &Config, m: &Mass) -> Result<Vec<Item>> {
    let all = history::load_all(&cfg.catalog)?;
    let bound = m
        .date
        .as_deref()
        .map(crate::fetch::date_bound)
        .transpose()?;
    let mut items = Vec::new();
    for host in &m.hosts {
        let mut disks: Vec<&str> = all
            .iter()
            .filter(|r| &r.host == host)
            .map(|r| r.disk.as_str())
            .collect();
        disks.sort();
        disks.dedup();
        if disks.is_empty() {
            bail!(crate::error::Error::nothing_done(format!(
                "no dumps of host {host} in the catalog ({})",
                cfg.catalog.display()
            )));
        }
        for disk in disks {
            let recs: Vec<DumpRecord> = all
                .iter()
                .filter(|r| &r.host == host && r.disk == disk)
                .cloned()
                .collect();
            let chain = super::chain(&recs, bound.as_deref())
                .into_iter()
                .cloned()
                .collect();
            items.push(Item {
                host: host.clone(),
                disk: disk.to_string(),
                chain,
                dir: dir_for(m, host, disk),
            });
        }
    }
    Ok(items)
}

/// Tape bytes a second one restore reads: measured on up to 64 MiB of the largest dump of
/// the plan, read and decrypted as a restore would (None when nothing could be read).
pub fn measure_speed(cfg: &Config, items: &[Item], m: &Mass) -> Option<f64> {
    let r = items
        .iter()
        .flat_map(|i| i.chain.iter())
        .max_by_key(|r| r.payload_size)?;
    let file = cfg.dump_path(r);
    let ids = crate::keys::identities(&m.identity).ok()?;
    let opened = crate::fetch::open(&file, r, &m.trust).ok()?;
    let started = Instant::now();
    let limit = 64u64 << 20;
    let payload = opened.payload().ok()?.take(limit);
    let mut counted = Counted {
        inner: payload,
        n: 0,
    };
    let read = if r.encrypt == "server" {
        age::Decryptor::new_buffered(std::io::BufReader::new(&mut counted))
            .ok()
            .and_then(|d| {
                d.decrypt(ids.iter().map(|i| i.as_ref() as &dyn age::Identity))
                    .ok()
            })
            .map(|mut plain| std::io::copy(&mut plain, &mut std::io::sink()))
    } else {
        Some(std::io::copy(&mut counted, &mut std::io::sink()))
    };
    // the read stops at the limit, mid-stream: its error says nothing about the tape
    let _ = read;
    let secs = started.elapsed().as_secs_f64();
    (counted.n > 0 && secs > 0.0).then(|| counted.n as f64 / secs)
}

struct Counted<R> {
    inner: R,
    n: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, b: &mut [u8]) -> std::io::Result<usize> {
        let k = self.inner.read(b)?;
        self.n += k as u64;
        Ok(k)
    }
}

/// Restore every item that has a chain, `m.parallel` at a time; `each` hears of each one as
/// it ends. Items without a chain are reported as failures.
pub fn run(cfg: &Config, m: &Mass, items: &[Item], each: &(dyn Fn(&Done) + Sync)) -> Vec<Done> {
    crate::pool::par_map(items, m.parallel.max(1), |it| {
        let started = Instant::now();
        let result = if it.chain.is_empty() {
            Err(anyhow::anyhow!(
                "no full dump at or before {}",
                m.date.as_deref().unwrap_or("now")
            ))
        } else {
            let req = Request {
                host: it.host.clone(),
                disk: it.disk.clone(),
                date: m.date.clone(),
                to: it.dir.clone(),
                paths: vec![],
                identity: m.identity.clone(),
                overwrite: false,
                trust: m.trust.clone(),
            };
            super::run(cfg, &req)
        };
        let done = Done {
            host: it.host.clone(),
            disk: it.disk.clone(),
            dir: it.dir.clone(),
            result,
            seconds: started.elapsed().as_secs_f64(),
        };
        each(&done);
        done
    })
}

/// Hosts named in a file: one a line, blank lines and `#` comments skipped.
pub fn hosts_file(path: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        crate::error::Error::config(format!("--hosts-file {}: {e}", path.display()))
    })?;
    Ok(text
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect())
}
