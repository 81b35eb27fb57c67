//! `tapir config --amanda-import`: an Amanda amanda.conf (and its disklist) translated into a
//! tapir config directory: tapir.toml, dumptypes/NAME.toml for every `define dumptype`, and
//! the disklist. What has no meaning in tapir is listed, never silently dropped.

use super::amanda::{self, Opt, Tok};
use super::dumptype::Dumptype;
use crate::error::Error;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// What an import wrote and what it could not carry over.
#[derive(Debug, Default)]
pub struct Imported {
    pub written: Vec<PathBuf>,
    pub dumptypes: usize,
    pub not_carried: Vec<String>,
    /// includefiles followed, and where they were found.
    pub followed: Vec<String>,
    /// DLEs of the disklist tapir cannot take: commented out there, with the reason.
    pub left_out: Vec<String>,
}

impl Imported {
    /// Something the Amanda config had is not in the tapir config: the import exits 1.
    pub fn incomplete(&self) -> bool {
        !self.left_out.is_empty() || self.not_carried.iter().any(|n| n.contains("includefile"))
    }
}

/// A top-level statement of amanda.conf: its words, or a `define KIND NAME { … }` block.
enum Statement {
    Set(usize, Vec<String>),
    Define {
        line: usize,
        kind: String,
        name: String,
        opts: Vec<Opt>,
    },
}

/// A statement and the file it is in.
struct Located {
    file: PathBuf,
    st: Statement,
}

impl Located {
    fn at(&self, line: usize) -> String {
        format!("{}:{line}", self.file.display())
    }
}

/// Where an includefile is: as named (relative to the including file's directory), else
/// its file name beside the including file (the upstream examples name
/// `/etc/amanda/DailySet1/…` and ship the files beside amanda.conf).
fn include_path(from: &Path, name: &str) -> Option<PathBuf> {
    let dir = from.parent().unwrap_or(Path::new("."));
    let named = dir.join(name);
    if named.is_file() {
        return Some(named);
    }
    let beside = dir.join(Path::new(name).file_name()?);
    beside.is_file().then_some(beside)
}

/// amanda.conf's statements, `includefile`s followed in place (8 deep at most).
fn read_conf(path: &Path, depth: usize, done: &mut Imported) -> Result<Vec<Located>, Error> {
    if depth > 8 {
        return Err(Error::config(format!(
            "{}: includefile nested more than 8 deep (a loop?)",
            path.display()
        )));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::config(format!("{}: cannot read: {e}", path.display())))?;
    let at = |l: usize| format!("{}:{l}", path.display());
    let toks = amanda::tokens(&text).map_err(|(l, m)| Error::config(format!("{}: {m}", at(l))))?;
    let sts = statements(&toks).map_err(|(l, m)| Error::config(format!("{}: {m}", at(l))))?;
    let mut out = Vec::new();
    for st in sts {
        if let Statement::Set(line, words) = &st
            && words[0].eq_ignore_ascii_case("includefile")
        {
            let name = words.get(1).map_or("", String::as_str);
            match include_path(path, name) {
                Some(p) => {
                    done.followed.push(format!(
                        "{}: includefile {name} read from {}",
                        at(*line),
                        p.display()
                    ));
                    out.extend(read_conf(&p, depth + 1, done)?);
                }
                None => done.not_carried.push(format!(
                    "{}: includefile {name}: not found (nor beside {}); its settings and \
                     dumptypes are missing",
                    at(*line),
                    path.display()
                )),
            }
            continue;
        }
        out.push(Located {
            file: path.to_path_buf(),
            st,
        });
    }
    Ok(out)
}

fn statements(toks: &[Tok]) -> Result<Vec<Statement>, (usize, String)> {
    let mut out = Vec::new();
    let mut k = 0;
    while k < toks.len() {
        let line = toks[k].line();
        let mut words = Vec::new();
        while let Some(Tok::Word(w, _)) = toks.get(k) {
            words.push(w.clone());
            k += 1;
        }
        match toks.get(k) {
            Some(Tok::Open(_)) => {
                let (opts, next) = amanda::block(toks, k + 1)?;
                k = next;
                match &words[..] {
                    [d, kind, name] if d.eq_ignore_ascii_case("define") => {
                        out.push(Statement::Define {
                            line,
                            kind: kind.to_ascii_lowercase(),
                            name: name.clone(),
                            opts,
                        })
                    }
                    _ => out.push(Statement::Set(line, words)),
                }
            }
            _ => {
                if !words.is_empty() {
                    out.push(Statement::Set(line, words));
                }
            }
        }
        k += 1;
    }
    Ok(out)
}

/// Translate `conf` (and `disklist`, when given) into `to` (which must not hold a tapir.toml).
pub fn import(conf: &Path, disklist: Option<&Path>, to: &Path) -> Result<Imported, Error> {
    let mut done = Imported::default();
    let sts = read_conf(conf, 0, &mut done)?;
    if to.join("tapir.toml").exists() {
        return Err(Error::config(format!(
            "{} already holds a tapir.toml: import into a new directory",
            to.display()
        )));
    }
    let tapetypes = tapetypes(&sts);
    let mut top = String::new();
    let mut changer = String::new();
    for l in &sts {
        if let Statement::Set(line, words) = &l.st
            && let Err(why) = setting(words, &tapetypes, &mut top, &mut changer)
        {
            done.not_carried.push(format!("{}: {why}", l.at(*line)));
        }
    }
    let types = dumptypes(&sts, &mut done.not_carried)?;
    let dir = to.join("dumptypes");
    crate::fsutil::create_dir_all(&dir).map_err(|e| Error::config(format!("{e:#}")))?;
    let mut files: Vec<(PathBuf, String)> = Vec::new();
    for (name, dt) in &types {
        let body = toml::to_string(dt).map_err(|e| Error::config(e.to_string()))?;
        files.push((
            dir.join(format!("{name}.toml")),
            format!(
                "# imported from {} (define dumptype {name})\n{body}",
                conf.display()
            ),
        ));
    }
    let mut cfg = format!("# imported from {}\n{top}", conf.display());
    let _ = write!(
        cfg,
        "\n[changer]\nroot = \"vtape\"\n{changer}\n[encryption]\nrecipients_file = \
         \"keys/recipients.txt\"\n"
    );
    files.push((to.join("tapir.toml"), cfg));
    if let Some(d) = disklist {
        let mut body = String::new();
        carry_disklist(d, &types, &mut body, &mut done.left_out, 0)?;
        files.push((to.join("disklist"), body));
    }
    for (path, body) in files {
        crate::fsutil::write_atomic(&path, body.as_bytes())
            .map_err(|e| Error::config(format!("{e:#}")))?;
        done.written.push(path);
    }
    done.dumptypes = types.len();
    Ok(done)
}

/// The disklist as tapir takes it: each entry tapir can dump as it was, each it cannot
/// commented out under a line with the reason (listed in `left_out`), included files
/// inlined where they were included.
fn carry_disklist(
    path: &Path,
    types: &BTreeMap<String, Dumptype>,
    out: &mut String,
    left_out: &mut Vec<String>,
    depth: usize,
) -> Result<(), Error> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::config(format!("{}: cannot read: {e}", path.display())))?;
    let lines: Vec<&str> = text.lines().collect();
    let vetted = super::disklist::vet(path, &text, types)?;
    let mut next = 1;
    for v in vetted {
        for l in &lines[next - 1..(v.first - 1).max(next - 1)] {
            let _ = writeln!(out, "{l}");
        }
        let entry = &lines[v.first - 1..v.last.min(lines.len())];
        next = v.last + 1;
        let at = format!("{}:{}", path.display(), v.first);
        if let Some(name) = &v.include {
            match include_path(path, name).filter(|_| depth < 8) {
                Some(p) => {
                    let _ = writeln!(
                        out,
                        "# includefile {name}: {} inlined by the import",
                        p.display()
                    );
                    carry_disklist(&p, types, out, left_out, depth + 1)?;
                    let _ = writeln!(out, "# end of {name}");
                }
                None => {
                    left_out.push(format!("{at}: includefile {name}: not found"));
                    let _ = writeln!(out, "# tapir: left out: includefile {name} not found");
                    entry.iter().for_each(|l| {
                        let _ = writeln!(out, "# {l}");
                    });
                }
            }
            continue;
        }
        match v.verdict {
            Ok(()) => entry.iter().for_each(|l| {
                let _ = writeln!(out, "{l}");
            }),
            Err(why) => {
                left_out.push(format!("{at}: `{}`: {why}", entry[0].trim()));
                let _ = writeln!(out, "# tapir: left out: {why}");
                entry.iter().for_each(|l| {
                    let _ = writeln!(out, "# {l}");
                });
            }
        }
    }
    for l in lines.iter().skip(next - 1) {
        let _ = writeln!(out, "{l}");
    }
    Ok(())
}

/// `define tapetype NAME { length N mbytes }` → bytes.
fn tapetypes(sts: &[Located]) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for l in sts {
        if let Statement::Define {
            kind, name, opts, ..
        } = &l.st
            && kind == "tapetype"
            && let Some(len) = opts
                .iter()
                .find(|o| o.words[0].eq_ignore_ascii_case("length"))
                .and_then(|o| amanda_size(&o.words[1..]))
        {
            out.insert(name.clone(), len);
        }
    }
    out
}

/// Amanda's `N [b|k|kb|kbytes|m|mb|mbytes|g|gb|gbytes|t|…]` (default kbytes) → bytes.
fn amanda_size(words: &[String]) -> Option<u64> {
    let n: f64 = words.first()?.parse().ok()?;
    let unit = words
        .get(1)
        .map(|u| u.to_ascii_lowercase())
        .unwrap_or_default();
    let mult: f64 = match unit.chars().next() {
        None | Some('k') => 1024.0,
        Some('b') => 1.0,
        Some('m') => 1024.0 * 1024.0,
        Some('g') => 1024.0 * 1024.0 * 1024.0,
        Some('t') => 1024f64.powi(4),
        _ => return None,
    };
    Some((n * mult) as u64)
}

/// One top-level amanda.conf setting into tapir.toml (`top`) or its [changer] (`changer`).
fn setting(
    words: &[String],
    tapetypes: &BTreeMap<String, u64>,
    top: &mut String,
    changer: &mut String,
) -> Result<(), String> {
    let key = words[0].to_ascii_lowercase().replace('_', "-");
    let vals = &words[1..];
    let num = || -> Result<i64, String> {
        vals.first()
            .and_then(|v| v.parse().ok())
            .ok_or(format!("{key}: not a number"))
    };
    let quote = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
    match key.as_str() {
        "org" => *top += &format!("org = {}\n", quote(&vals.join(" "))),
        "mailto" => {
            let list: Vec<String> = vals
                .iter()
                .flat_map(|v| v.split_whitespace())
                .map(quote)
                .collect();
            *top += &format!("mailto = [{}]\n", list.join(", "));
        }
        "dumpcycle" => {
            let weeks = vals
                .get(1)
                .is_some_and(|u| u.to_ascii_lowercase().starts_with("week"));
            *top += &format!("dumpcycle = {}\n", num()? * if weeks { 7 } else { 1 });
        }
        "tapecycle" if num()? > 0 => {
            // one slot per tape of the cycle (chg-disk's slots)
            *top += &format!("tapecycle = {}\n", num()?);
            *changer += &format!("slots = {}\n", num()?.max(2));
        }
        "runspercycle" | "runtapes" | "inparallel" | "maxdumps" | "bumpdays" if num()? > 0 => {
            *top += &format!("{key} = {}\n", num()?);
        }
        "bumpmult" => {
            *top += &format!("bumpmult = {}\n", vals.first().ok_or("bumpmult: no value")?)
        }
        "bumpsize" => {
            let b = amanda_size(vals).ok_or("bumpsize: not a size")?;
            *top += &format!("bumpsize = \"{b}\"\n");
        }
        "labelstr" => {
            *changer += &format!(
                "labelstr = {}\n",
                quote(vals.first().ok_or("labelstr: no value")?)
            )
        }
        "tapetype" => {
            let name = vals.first().ok_or("tapetype: no name")?;
            let len = tapetypes.get(name).ok_or(format!(
                "tapetype {name}: no `define tapetype {name}` with a length"
            ))?;
            *changer += &format!("tape_size = \"{len}\"\n");
        }
        _ => {
            return Err(format!(
                "{} has no tapir equivalent (tapir.toml(5) lists what tapir has)",
                words.join(" ")
            ));
        }
    }
    Ok(())
}

/// Every `define dumptype`, its parents resolved in file order; options tapir cannot take
/// are listed in `not_carried`.
fn dumptypes(
    sts: &[Located],
    not_carried: &mut Vec<String>,
) -> Result<BTreeMap<String, Dumptype>, Error> {
    let mut out: BTreeMap<String, Dumptype> = BTreeMap::new();
    for l in sts {
        let Statement::Define {
            line,
            kind,
            name,
            opts,
        } = &l.st
        else {
            continue;
        };
        let at = |n: usize| l.at(n);
        if kind != "dumptype" {
            if kind != "tapetype" {
                not_carried.push(format!(
                    "{}: define {kind} {name}: no tapir equivalent",
                    at(*line)
                ));
            }
            continue;
        }
        let parent = |n: &str| {
            out.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(n))
                .map(|(_, v)| v.clone())
        };
        let mut skipped = Vec::new();
        let dt = amanda::apply_each(Dumptype::default(), opts, &parent, &mut |o, m| {
            skipped.push(format!("{}: dumptype {name}: {m}", at(o.line)));
            Ok(())
        })?;
        not_carried.extend(skipped);
        out.insert(name.clone(), dt);
    }
    Ok(out)
}
