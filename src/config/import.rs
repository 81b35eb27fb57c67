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
    let text = std::fs::read_to_string(conf)
        .map_err(|e| Error::config(format!("{}: cannot read: {e}", conf.display())))?;
    let at = |l: usize| format!("{}:{l}", conf.display());
    let toks = amanda::tokens(&text).map_err(|(l, m)| Error::config(format!("{}: {m}", at(l))))?;
    let sts = statements(&toks).map_err(|(l, m)| Error::config(format!("{}: {m}", at(l))))?;
    if to.join("tapir.toml").exists() {
        return Err(Error::config(format!(
            "{} already holds a tapir.toml: import into a new directory",
            to.display()
        )));
    }
    let mut done = Imported::default();
    let tapetypes = tapetypes(&sts);
    let mut top = String::new();
    let mut changer = String::new();
    for st in &sts {
        if let Statement::Set(line, words) = st
            && let Err(why) = setting(words, &tapetypes, &mut top, &mut changer)
        {
            done.not_carried.push(format!("{}: {why}", at(*line)));
        }
    }
    let types = dumptypes(&sts, &at, &mut done.not_carried)?;
    let dir = to.join("dumptypes");
    crate::fsutil::create_dir_all(&dir).map_err(|e| Error::config(format!("{e:#}")))?;
    let mut write = |path: PathBuf, body: String| -> Result<(), Error> {
        crate::fsutil::write_atomic(&path, body.as_bytes())
            .map_err(|e| Error::config(format!("{e:#}")))?;
        done.written.push(path);
        Ok(())
    };
    for (name, dt) in &types {
        let body = toml::to_string(dt).map_err(|e| Error::config(e.to_string()))?;
        write(
            dir.join(format!("{name}.toml")),
            format!(
                "# imported from {} (define dumptype {name})\n{body}",
                conf.display()
            ),
        )?;
    }
    let mut cfg = format!("# imported from {}\n{top}", conf.display());
    let _ = write!(
        cfg,
        "\n[changer]\nroot = \"vtape\"\n{changer}\n[encryption]\nrecipients_file = \
         \"keys/recipients.txt\"\n"
    );
    write(to.join("tapir.toml"), cfg)?;
    if let Some(d) = disklist {
        let body = std::fs::read_to_string(d)
            .map_err(|e| Error::config(format!("{}: cannot read: {e}", d.display())))?;
        write(to.join("disklist"), body)?;
    }
    done.dumptypes = types.len();
    Ok(done)
}

/// `define tapetype NAME { length N mbytes }` → bytes.
fn tapetypes(sts: &[Statement]) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for st in sts {
        if let Statement::Define {
            kind, name, opts, ..
        } = st
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
    sts: &[Statement],
    at: &dyn Fn(usize) -> String,
    not_carried: &mut Vec<String>,
) -> Result<BTreeMap<String, Dumptype>, Error> {
    let mut out: BTreeMap<String, Dumptype> = BTreeMap::new();
    for st in sts {
        let Statement::Define {
            line,
            kind,
            name,
            opts,
        } = st
        else {
            continue;
        };
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
