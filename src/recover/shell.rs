//! The amrecover vocabulary: choose a host, disk and date, walk the merged index with
//! `cd`/`ls`, build an extraction list with `add`/`delete`, and `extract` it. Commands print
//! to stdout; a misuse is an error naming what was wrong and, for a near miss, what exists.

use super::browse::View;
use super::words::{
    COMMANDS, did_you_mean, help, print_chain, show_datestamp, show_item, split_words,
};
use crate::catalog::{DumpRecord, history};
use crate::config::Config;
use crate::error::Error;
use anyhow::{Context, Result, bail};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::PathBuf;

/// Asks a yes/no question; `true` to go on.
pub type Confirm<'a> = Box<dyn FnMut(&str) -> bool + 'a>;

/// What the shell knows between commands.
pub struct Shell<'a> {
    cfg: &'a Config,
    identity: Option<PathBuf>,
    overwrite: bool,
    /// The key tape headers must be signed with (set by the command line).
    pub trust: crate::signing::Trust,
    host: Option<String>,
    disk: Option<String>,
    /// Upper bound datestamp from `setdate`; `None`: the newest dump.
    date: Option<String>,
    view: Option<View>,
    cwd: Vec<String>,
    selection: BTreeSet<Vec<String>>,
    lcd: PathBuf,
    /// On a terminal `extract` asks before it writes.
    pub confirm: Option<Confirm<'a>>,
    /// Some restore refused members (the exit code says partial).
    pub refused_any: bool,
    /// Where the commands write (standard output, or a buffer in tests).
    out: Box<dyn std::io::Write + 'a>,
}

/// `writeln!` to the shell's output; a closed stdout ends the session quietly.
macro_rules! say {
    ($out:expr, $($arg:tt)*) => {
        writeln!($out, $($arg)*).map_err(crate::out::stdout_error)?
    };
}

/// What a command asks of the loop.
#[derive(Debug, PartialEq)]
pub enum Flow {
    Continue,
    Quit,
}

fn usage(msg: impl std::fmt::Display) -> anyhow::Error {
    Error::config(msg).into()
}

impl<'a> Shell<'a> {
    pub fn new(cfg: &'a Config, identity: Option<PathBuf>, overwrite: bool) -> Result<Self> {
        Self::with_output(cfg, identity, overwrite, Box::new(std::io::stdout()))
    }

    /// A shell whose commands write to `out`.
    pub fn with_output(
        cfg: &'a Config,
        identity: Option<PathBuf>,
        overwrite: bool,
        out: Box<dyn std::io::Write + 'a>,
    ) -> Result<Self> {
        Ok(Shell {
            cfg,
            identity,
            overwrite,
            trust: Default::default(),
            host: None,
            disk: None,
            date: None,
            view: None,
            cwd: vec![],
            selection: BTreeSet::new(),
            lcd: std::env::current_dir().context("cannot read the current directory")?,
            confirm: None,
            refused_any: false,
            out,
        })
    }

    /// Run one command line.
    pub fn exec(&mut self, line: &str) -> Result<Flow> {
        let words = split_words(line)?;
        let Some((cmd, args)) = words.split_first() else {
            return Ok(Flow::Continue);
        };
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        match (cmd.as_str(), args.as_slice()) {
            ("quit" | "exit", []) => return Ok(Flow::Quit),
            ("help" | "?", []) => help(&mut self.out)?,
            ("listhost", []) => self.listhost()?,
            ("sethost", [h]) => self.sethost(h)?,
            ("listdisk", []) => self.listdisk(None)?,
            ("listdisk", [g]) => self.listdisk(Some(g))?,
            ("setdisk", [d]) => self.setdisk(d)?,
            ("setdate", d) if !d.is_empty() => self.setdate(&d.join(" "))?,
            ("history", []) => self.history()?,
            ("pwd", []) => say!(self.out, "{}", self.show(&self.cwd)),
            ("ls", []) => self.ls(".")?,
            ("ls", [p]) => self.ls(p)?,
            ("cd", [p]) => self.cd(p)?,
            ("add", ps) if !ps.is_empty() => self.add(ps)?,
            ("delete", ps) if !ps.is_empty() => self.delete(ps)?,
            ("list", []) => self.list()?,
            ("clear", []) => {
                self.selection.clear();
                say!(self.out, "extraction list cleared");
            }
            ("lcd", [d]) => self.lcd(d)?,
            ("lpwd", []) => say!(self.out, "{}", self.lcd.display()),
            ("extract", []) => self.extract()?,
            (c, _) => match COMMANDS
                .iter()
                .find(|(u, _)| u.split(' ').next() == Some(c))
            {
                Some((u, _)) => bail!(usage(format!("usage: {u}"))),
                None => bail!(usage(format!(
                    "unknown command {c:?}{}; `help` lists them",
                    did_you_mean(
                        c,
                        COMMANDS.iter().map(|(u, _)| u.split(' ').next().unwrap())
                    )
                ))),
            },
        }
        Ok(Flow::Continue)
    }

    /// Hosts and their disks, from the catalog's histories.
    pub fn catalog_dles(&self) -> Result<BTreeMap<String, BTreeSet<String>>> {
        let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for r in history::load_all(&self.cfg.catalog)? {
            out.entry(r.host).or_default().insert(r.disk);
        }
        Ok(out)
    }

    fn listhost(&mut self) -> Result<()> {
        for h in self.catalog_dles()?.keys() {
            say!(self.out, "{h}");
        }
        Ok(())
    }

    fn sethost(&mut self, h: &str) -> Result<()> {
        let dles = self.catalog_dles()?;
        if !dles.contains_key(h) {
            bail!(usage(format!(
                "no dumps of host {h:?} in the catalog{}",
                did_you_mean(h, dles.keys().map(String::as_str))
            )));
        }
        self.host = Some(h.to_string());
        self.disk = None;
        self.view = None;
        self.cwd.clear();
        self.selection.clear();
        say!(
            self.out,
            "host {h}: {} disk(s); `listdisk`, `setdisk DISK`",
            dles[h].len()
        );
        Ok(())
    }

    fn need_host(&self) -> Result<&str> {
        self.host
            .as_deref()
            .ok_or_else(|| usage("no host chosen: `listhost`, then `sethost HOST`"))
    }

    fn listdisk(&mut self, glob: Option<&str>) -> Result<()> {
        let host = self.need_host()?.to_string();
        let host = host.as_str();
        let m = glob
            .map(|g| globset::Glob::new(g).map(|g| g.compile_matcher()))
            .transpose()
            .map_err(|e| usage(format!("bad pattern: {e}")))?;
        let dles = self.catalog_dles()?;
        for d in dles.get(host).into_iter().flatten() {
            if m.as_ref().is_none_or(|m| m.is_match(d)) {
                match self.program_of(host, d) {
                    Some(p) => say!(self.out, "{d}  (program {p}: one stream file)"),
                    None => say!(self.out, "{d}"),
                }
            }
        }
        Ok(())
    }

    /// The program of a program DLE, as this server's config has it.
    fn program_of(&self, host: &str, disk: &str) -> Option<String> {
        let dle = self
            .cfg
            .disklist
            .iter()
            .find(|d| d.host == host && d.disk == disk)?;
        self.cfg.dumptype(dle).program.clone()
    }

    fn setdisk(&mut self, d: &str) -> Result<()> {
        let host = self.need_host()?.to_string();
        let dles = self.catalog_dles()?;
        let disks = &dles[&host];
        if !disks.contains(d) {
            bail!(usage(format!(
                "no disk {d} on {host}{}",
                did_you_mean(d, disks.iter().map(String::as_str))
            )));
        }
        self.open_view(&host, d, self.date.clone())?;
        self.disk = Some(d.to_string());
        self.cwd.clear();
        self.selection.clear();
        Ok(())
    }

    /// Load the chain of HOST DISK as of `date` and make it the view.
    fn open_view(&mut self, host: &str, disk: &str, date: Option<String>) -> Result<()> {
        let records = history::load(&self.cfg.catalog, host, disk)?;
        let chain = super::chain(&records, date.as_deref());
        if chain.is_empty() {
            let oldest = records.iter().map(|r| r.datestamp.as_str()).min();
            bail!(usage(format!(
                "no full dump of {host} {disk} at or before {}{}",
                date.as_deref().map_or("now".into(), show_datestamp),
                oldest.map_or(String::new(), |o| format!(
                    "; the oldest dump is of {}",
                    show_datestamp(o)
                ))
            )));
        }
        self.view = Some(View::open(&self.cfg.catalog, &chain)?);
        say!(
            self.out,
            "{host} {disk} as of {}:",
            show_datestamp(&chain.last().unwrap().datestamp)
        );
        print_chain(&mut self.out, chain.into_iter())?;
        Ok(())
    }

    fn setdate(&mut self, d: &str) -> Result<()> {
        let bound = crate::fetch::date_bound(d).map_err(|_| {
            usage(format!(
                "bad date {d:?}: use YYYY-MM-DD, YYYY-MM-DD HH:MM[:SS] or YYYYMMDDHHMMSS"
            ))
        })?;
        if let (Some(h), Some(disk)) = (self.host.clone(), self.disk.clone()) {
            self.open_view(&h, &disk, Some(bound.clone()))?;
            if !self.selection.is_empty() {
                say!(
                    self.out,
                    "extraction list cleared (it was for another date)"
                );
                self.selection.clear();
            }
            let cwd = self.cwd.clone();
            if self.view_mut()?.list(&cwd)?.is_none() {
                say!(
                    self.out,
                    "{} does not exist then: back to the top",
                    self.show(&cwd)
                );
                self.cwd.clear();
            }
        }
        self.date = Some(bound);
        Ok(())
    }

    fn history(&mut self) -> Result<()> {
        let (host, disk) = (self.need_host()?, self.need_disk()?);
        let records = history::load(&self.cfg.catalog, host, disk)?;
        let used: Vec<&DumpRecord> = self.view.iter().flat_map(View::chain).collect();
        say!(
            self.out,
            "  date                 level  tape            file  status   size"
        );
        for r in &records {
            let mark = if used
                .iter()
                .any(|u| u.file_name == r.file_name && u.label == r.label)
            {
                '*'
            } else {
                ' '
            };
            say!(
                self.out,
                "{mark} {}  {:>5}  {:<14} {:>5}  {:<7}  {}",
                show_datestamp(&r.datestamp),
                r.level,
                r.label,
                r.file_number,
                crate::report::name(&r.status),
                crate::units::human(r.original_size)
            );
        }
        Ok(())
    }

    fn need_disk(&self) -> Result<&str> {
        self.disk
            .as_deref()
            .ok_or_else(|| usage("no disk chosen: `listdisk`, then `setdisk DISK`"))
    }

    fn view_mut(&mut self) -> Result<&mut View> {
        self.need_disk()?;
        self.view
            .as_mut()
            .ok_or_else(|| usage("no disk chosen: `setdisk DISK`"))
    }

    /// The path as the admin sees it: the disk's name joined with the components.
    fn show(&self, comps: &[String]) -> String {
        let disk = self.disk.as_deref().unwrap_or("");
        if comps.is_empty() {
            return if disk.is_empty() {
                "/".into()
            } else {
                disk.into()
            };
        }
        format!("{}/{}", disk.trim_end_matches('/'), comps.join("/"))
    }

    /// An argument as components below the disk: relative to the current directory, or
    /// absolute when it starts with the disk's own path.
    pub fn resolve(&mut self, arg: &str) -> Result<Vec<String>> {
        let disk = self.need_disk()?.trim_end_matches('/');
        let (mut out, rest) = match arg.strip_prefix('/') {
            Some(abs) if disk.starts_with('/') => {
                // compare component by component, so `//a/./b` is `/a/b`
                let mut parts = abs.split('/').filter(|p| !p.is_empty() && *p != ".");
                let on_disk = disk
                    .split('/')
                    .filter(|p| !p.is_empty())
                    .all(|d| parts.next() == Some(d));
                if !on_disk {
                    bail!(usage(format!("{arg} is not on disk {}", self.show(&[]))));
                }
                (vec![], parts.collect::<Vec<_>>().join("/"))
            }
            _ => (self.cwd.clone(), arg.to_string()),
        };
        for part in rest.split('/') {
            match part {
                "" | "." => {}
                ".." => {
                    out.pop();
                }
                p => out.push(p.to_string()),
            }
        }
        Ok(out)
    }

    fn ls(&mut self, arg: &str) -> Result<()> {
        let dir = self.resolve(arg)?;
        let Some(items) = self.view_mut()?.list(&dir)? else {
            bail!(self.not_found(&dir, "directory")?);
        };
        for i in &items {
            say!(self.out, "{}", show_item(i));
        }
        Ok(())
    }

    /// "no directory X; did you mean Y?" for a path not in the view.
    fn not_found(&mut self, path: &[String], what: &str) -> Result<anyhow::Error> {
        let shown = self.show(path);
        let hint = match path.split_last() {
            Some((name, parent)) => match self.view_mut()?.list(parent)? {
                Some(items) => did_you_mean(name, items.iter().map(|i| i.node.n.as_str())),
                None => String::new(),
            },
            None => String::new(),
        };
        Ok(usage(format!("no {what} {shown} as of this date{hint}")))
    }

    fn cd(&mut self, arg: &str) -> Result<()> {
        let dir = self.resolve(arg)?;
        if self.view_mut()?.list(&dir)?.is_none() {
            bail!(self.not_found(&dir, "directory")?);
        }
        self.cwd = dir;
        Ok(())
    }

    /// The paths an argument names: a glob in its last part matches that directory's names.
    fn expand(&mut self, arg: &str) -> Result<Vec<Vec<String>>> {
        let path = self.resolve(arg)?;
        let Some((last, parent)) = path.split_last() else {
            return Ok(vec![path]); // the disk's top
        };
        if !last.contains(['*', '?', '[']) {
            if self.view_mut()?.stat(&path)?.is_none() {
                bail!(self.not_found(&path, "file or directory")?);
            }
            return Ok(vec![path]);
        }
        let glob = globset::GlobBuilder::new(last)
            .literal_separator(true)
            .build()
            .map_err(|e| usage(format!("bad pattern {arg:?}: {e}")))?
            .compile_matcher();
        let Some(items) = self.view_mut()?.list(parent)? else {
            bail!(self.not_found(parent, "directory")?);
        };
        let hits: Vec<Vec<String>> = items
            .iter()
            .filter(|i| glob.is_match(&i.node.n))
            .map(|i| [parent, std::slice::from_ref(&i.node.n)].concat())
            .collect();
        if hits.is_empty() {
            bail!(usage(format!(
                "nothing in {} matches {last}",
                self.show(parent)
            )));
        }
        Ok(hits)
    }

    fn add(&mut self, args: &[&str]) -> Result<()> {
        for arg in args {
            for path in self.expand(arg)? {
                if let Some(a) = self.selection.iter().find(|s| path.starts_with(s)) {
                    say!(
                        self.out,
                        "{} is already in the list (as part of {})",
                        self.show(&path),
                        self.show(a)
                    );
                    continue;
                }
                self.selection.retain(|s| !s.starts_with(&path));
                say!(self.out, "added {}", self.show(&path));
                self.selection.insert(path);
            }
        }
        Ok(())
    }

    fn delete(&mut self, args: &[&str]) -> Result<()> {
        for arg in args {
            let mut any = false;
            for path in self.expand(arg)? {
                let Some(a) = self.selection.iter().find(|s| path.starts_with(s)).cloned() else {
                    continue;
                };
                self.selection.remove(&a);
                // A directory in the list loses one descendant: list its other parts instead.
                for depth in a.len()..path.len() {
                    let dir = &path[..depth];
                    let items = self.view_mut()?.list(dir)?.unwrap_or_default();
                    for i in items.into_iter().filter(|i| i.node.n != path[depth]) {
                        self.selection.insert([dir, &[i.node.n]].concat());
                    }
                }
                say!(self.out, "deleted {}", self.show(&path));
                any = true;
            }
            if !any {
                bail!(usage(format!("{arg} is not in the extraction list")));
            }
        }
        Ok(())
    }

    fn list(&mut self) -> Result<()> {
        if self.selection.is_empty() {
            say!(self.out, "the extraction list is empty: `add PATH`");
            return Ok(());
        }
        for s in &self.selection {
            say!(self.out, "{}", self.show(s));
        }
        say!(self.out, "tapes needed:");
        print_chain(&mut self.out, self.view.iter().flat_map(View::chain))?;
        Ok(())
    }

    fn lcd(&mut self, d: &str) -> Result<()> {
        let p = self.lcd.join(d);
        if !p.is_dir() {
            bail!(usage(format!("{} is not a directory", p.display())));
        }
        self.lcd = p.canonicalize()?;
        Ok(())
    }

    fn extract(&mut self) -> Result<()> {
        let (host, disk) = (self.need_host()?.to_string(), self.need_disk()?.to_string());
        if self.selection.is_empty() {
            bail!(usage("the extraction list is empty: `add PATH` first"));
        }
        let identity = self
            .identity
            .clone()
            .or_else(|| self.cfg.encryption.generate_identity.clone());
        let Some(identity) = identity else {
            bail!(usage(
                "extract needs the age identity: start `tapir recover -i KEY`"
            ));
        };
        let chain: Vec<DumpRecord> = self.view.iter().flat_map(View::chain).cloned().collect();
        let newest = chain.last().map(|r| r.datestamp.clone());
        let now = history::load(&self.cfg.catalog, &host, &disk)?;
        let again: Vec<&DumpRecord> = super::chain(&now, newest.as_deref());
        if again.len() != chain.len() || again.iter().zip(&chain).any(|(a, b)| *a != b) {
            bail!(
                "the catalog changed since this disk was chosen (a tape was recycled?): `setdisk {disk}` again"
            );
        }
        say!(
            self.out,
            "extracting {} path(s) into {} from:",
            self.selection.len(),
            self.lcd.display()
        );
        print_chain(&mut self.out, chain.iter())?;
        if let Some(ask) = self.confirm.as_mut()
            && !ask("continue? [y/N] ")
        {
            say!(self.out, "not extracted");
            return Ok(());
        }
        let paths = if self.selection.contains(&vec![]) {
            vec![]
        } else {
            self.selection
                .iter()
                .map(|s| crate::catalog::index::unescape(&s.join("/")))
                .collect()
        };
        let req = super::Request {
            host,
            disk,
            date: newest,
            to: self.lcd.clone(),
            paths,
            identity,
            overwrite: self.overwrite,
            trust: self.trust.clone(),
        };
        let report = super::run(self.cfg, &req)?;
        for r in &report.refused {
            crate::say::problem(format!("REFUSED {r}"));
        }
        self.refused_any |= !report.refused.is_empty();
        say!(
            self.out,
            "restored {} members into {}; {} refused",
            report.restored,
            self.lcd.display(),
            report.refused.len()
        );
        Ok(())
    }

    /// Names for completion: commands, hosts, disks, or entries of a directory.
    pub fn complete_names(&mut self, cmd: Option<&str>, word: &str) -> Vec<String> {
        let names: Vec<String> = match cmd {
            None => COMMANDS
                .iter()
                .map(|(u, _)| u.split(' ').next().unwrap().to_string())
                .collect(),
            Some("sethost") => self
                .catalog_dles()
                .map(|d| d.into_keys().collect())
                .unwrap_or_default(),
            Some("setdisk") => {
                let host = self.host.clone().unwrap_or_default();
                self.catalog_dles()
                    .ok()
                    .and_then(|mut d| d.remove(&host))
                    .map(|s| s.into_iter().collect())
                    .unwrap_or_default()
            }
            Some("cd" | "ls" | "add" | "delete") => {
                return self.complete_path(cmd == Some("cd"), word);
            }
            _ => vec![],
        };
        names.into_iter().filter(|n| n.starts_with(word)).collect()
    }

    fn complete_path(&mut self, dirs_only: bool, word: &str) -> Vec<String> {
        let (dir, prefix) = match word.rfind('/') {
            Some(i) => (&word[..=i], &word[i + 1..]),
            None => ("", word),
        };
        let Ok(comps) = self.resolve(if dir.is_empty() { "." } else { dir }) else {
            return vec![];
        };
        let Ok(Some(items)) = self.view.as_mut().map_or(Ok(None), |v| v.list(&comps)) else {
            return vec![];
        };
        items
            .iter()
            .filter(|i| i.node.n.starts_with(prefix) && (!dirs_only || i.node.is_dir()))
            .map(|i| {
                format!(
                    "{dir}{}{}",
                    i.node.n,
                    if i.node.is_dir() { "/" } else { "" }
                )
            })
            .collect()
    }
}
