//! Amanda's config syntax as tapir reads it: a tokenizer (words, Amanda's quoting and
//! escapes, `{` `}`, comments, line numbers) and the dumptype options of an inline `{ … }`
//! block (or of amanda.conf's `define dumptype`), mapped onto tapir's dumptype keys.

use super::dumptype::Dumptype;
use crate::error::Error;

/// One token and the line it is on (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tok {
    Word(String, usize),
    Open(usize),
    Close(usize),
    /// End of a line (a statement ends here unless a block is open).
    Eol(usize),
}

impl Tok {
    pub fn line(&self) -> usize {
        match self {
            Tok::Word(_, l) | Tok::Open(l) | Tok::Close(l) | Tok::Eol(l) => *l,
        }
    }
}

/// Split `text` into tokens. Words are separated by blanks; `"…"` quotes with Amanda's
/// escapes (`\"`, `\\`, `\n`, `\t`, `\ooo`); `#` starts a comment outside quotes.
pub fn tokens(text: &str) -> Result<Vec<Tok>, (usize, String)> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let mut chars = line.chars().peekable();
        loop {
            while chars.next_if(|c| c.is_whitespace()).is_some() {}
            match chars.peek() {
                None | Some('#') => break,
                Some('"') => {
                    chars.next();
                    out.push(Tok::Word(quoted(&mut chars).map_err(|m| (n, m))?, n));
                }
                Some('{') => {
                    chars.next();
                    out.push(Tok::Open(n));
                }
                Some('}') => {
                    chars.next();
                    out.push(Tok::Close(n));
                }
                Some(_) => {
                    let mut w = String::new();
                    while let Some(c) = chars.next_if(|c| !c.is_whitespace() && !"#{}".contains(*c))
                    {
                        if c == '"' {
                            return Err((n, "quote inside a word: quote the whole word".into()));
                        }
                        w.push(c);
                    }
                    out.push(Tok::Word(w, n));
                }
            }
        }
        out.push(Tok::Eol(n));
    }
    Ok(out)
}

fn quoted(chars: &mut std::iter::Peekable<std::str::Chars>) -> Result<String, String> {
    let mut w = String::new();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Ok(w),
            '\\' => match chars.next().ok_or("unterminated quote")? {
                'n' => w.push('\n'),
                't' => w.push('\t'),
                d @ '0'..='7' => {
                    let mut v = d.to_digit(8).unwrap();
                    for _ in 0..2 {
                        match chars.peek().and_then(|c| c.to_digit(8)) {
                            Some(x) => {
                                v = v * 8 + x;
                                chars.next();
                            }
                            None => break,
                        }
                    }
                    w.push(char::from_u32(v).ok_or("bad octal escape")?);
                }
                c => w.push(c),
            },
            c => w.push(c),
        }
    }
    Err("unterminated quote".into())
}

/// One line of a dumptype block: a key and its values.
#[derive(Debug, Clone)]
pub struct Opt {
    pub line: usize,
    pub words: Vec<String>,
}

/// The lines of a block from the token after `{` to its `}`; returns them and the index
/// of the token after `}`.
pub fn block(toks: &[Tok], start: usize) -> Result<(Vec<Opt>, usize), (usize, String)> {
    let mut opts = Vec::new();
    let mut cur: Vec<String> = Vec::new();
    let mut line = toks.get(start).map_or(0, Tok::line);
    let mut k = start;
    while let Some(t) = toks.get(k) {
        match t {
            Tok::Word(w, l) => {
                if cur.is_empty() {
                    line = *l;
                }
                cur.push(w.clone());
            }
            Tok::Eol(_) => {
                if !cur.is_empty() {
                    opts.push(Opt {
                        line,
                        words: std::mem::take(&mut cur),
                    });
                }
            }
            Tok::Close(_) => {
                if !cur.is_empty() {
                    opts.push(Opt { line, words: cur });
                }
                return Ok((opts, k + 1));
            }
            Tok::Open(l) => return Err((*l, "a `{` inside a dumptype block".into())),
        }
        k += 1;
    }
    Err((line, "dumptype block without its closing `}`".into()))
}

/// A dumptype from `base` with a block's options applied. `parent` finds a dumptype named by
/// a bare word (Amanda's inheritance); `at(line)` names the place for errors.
pub fn apply(
    base: Dumptype,
    opts: &[Opt],
    parent: &dyn Fn(&str) -> Option<Dumptype>,
    at: &dyn Fn(usize) -> String,
) -> Result<Dumptype, Error> {
    apply_each(base, opts, parent, &mut |o, m| {
        Err(Error::config(format!("{}: {m}", at(o.line))))
    })
}

/// [`apply`], with each option tapir cannot take handed to `refused` (which may stop, or
/// note it and go on, as `tapir config --amanda-import` does).
pub fn apply_each(
    base: Dumptype,
    opts: &[Opt],
    parent: &dyn Fn(&str) -> Option<Dumptype>,
    refused: &mut dyn FnMut(&Opt, String) -> Result<(), Error>,
) -> Result<Dumptype, Error> {
    let mut dt = base;
    for o in opts {
        let key = o.words[0].to_ascii_lowercase().replace('_', "-");
        let vals = &o.words[1..];
        if vals.is_empty()
            && let Some(p) = parent(&o.words[0])
        {
            dt = p;
            continue;
        }
        if let Err(m) = set(&mut dt, &key, vals) {
            refused(o, m)?;
        }
    }
    Ok(dt)
}

fn one<'a>(key: &str, vals: &'a [String]) -> Result<&'a str, String> {
    match vals {
        [v] => Ok(v),
        _ => Err(format!("{key} takes one value, found {}", vals.len())),
    }
}

fn yes(key: &str, vals: &[String]) -> Result<bool, String> {
    if vals.is_empty() {
        return Ok(true); // Amanda: a boolean named alone is yes
    }
    match one(key, vals)?.to_ascii_lowercase().as_str() {
        "yes" | "true" | "on" => Ok(true),
        "no" | "false" | "off" => Ok(false),
        v => Err(format!("{key} {v:?}: use yes or no")),
    }
}

/// A value of one of tapir's enums, by its TOML name.
fn word<T: serde::de::DeserializeOwned>(key: &str, v: &str) -> Result<T, String> {
    T::deserialize(toml::Value::String(v.to_ascii_lowercase()))
        .map_err(|_| format!("{key} {v:?} is not one of tapir's values (see tapir.toml(5))"))
}

/// Known keys: tapir's dumptype keys (`-` or `_`), and Amanda's where they mean the same.
fn set(dt: &mut Dumptype, key: &str, vals: &[String]) -> Result<(), String> {
    match key {
        "comment" | "description" => dt.description = vals.join(" "),
        "compress" => {
            let v = vals.join("-").to_ascii_lowercase();
            dt.compress = word(key, &v)?;
        }
        "compress-level" => {
            dt.compress_level = Some(one(key, vals)?.parse().map_err(|_| "not a number")?)
        }
        "encrypt" => dt.encrypt = word(key, one(key, vals)?)?,
        "auth" => dt.auth = word(key, one(key, vals)?)?,
        "strategy" => dt.strategy = word(key, one(key, vals)?)?,
        "priority" => dt.priority = word(key, one(key, vals)?)?,
        "estimate" => {
            let v = one(key, vals)?;
            let v = if v.eq_ignore_ascii_case("calcsize") {
                "client"
            } else {
                v
            };
            dt.estimate = word(key, v)?;
        }
        "index" => dt.index = yes(key, vals)?,
        "one-file-system" => dt.one_file_system = yes(key, vals)?,
        "stall-timeout" => dt.stall_timeout = one(key, vals)?.to_string(),
        "maxdumps" => dt.maxdumps = Some(one(key, vals)?.parse().map_err(|_| "not a number")?),
        "max-growth" => dt.max_growth = one(key, vals)?.parse().map_err(|_| "not a number")?,
        "hooks" => dt.hooks = vals.to_vec(),
        "exclude" => {
            let (list, optional) = patterns(key, vals)?;
            let into = if list {
                &mut dt.exclude_list
            } else {
                &mut dt.exclude
            };
            extend(into, vals, optional && list, &mut dt.optional_lists)?;
        }
        "include" => {
            let (list, optional) = patterns(key, vals)?;
            let into = if list {
                &mut dt.include_list
            } else {
                &mut dt.include
            };
            extend(into, vals, optional && list, &mut dt.optional_lists)?;
        }
        // Amanda's way of saying what tapir always does
        "program" if vals.len() == 1 && vals[0].eq_ignore_ascii_case("gnutar") => {}
        "record" | "holdingdisk" | "kencrypt" | "skip-incr" | "skip-full" | "maxpromoteday"
        | "tape-splitsize" | "fallback-splitsize" | "allow-split" => {
            return Err(format!(
                "Amanda's {key} has no meaning in tapir: remove it (tapir.toml(5) lists the keys)"
            ));
        }
        k => {
            return Err(format!(
                "unknown dumptype option {k:?} (tapir's keys: description, compress, \
                 compress_level, encrypt, auth, exclude, include, one_file_system, strategy, \
                 index, priority, estimate, stall_timeout, hooks, maxdumps, max_growth)"
            ));
        }
    }
    Ok(())
}

/// `exclude [file|list] [append] [optional] "pat" …` (Amanda's form): whether it names
/// list files (on the client, one pattern a line) and whether they are optional.
fn patterns(key: &str, vals: &[String]) -> Result<(bool, bool), String> {
    let (mut list, mut optional) = (false, false);
    for w in vals {
        match w.to_ascii_lowercase().as_str() {
            "file" | "append" => {}
            "optional" => optional = true,
            "list" => list = true,
            _ => break,
        }
    }
    if vals
        .iter()
        .all(|w| ["file", "list", "append", "optional"].contains(&w.to_ascii_lowercase().as_str()))
    {
        return Err(format!("{key} without a pattern"));
    }
    Ok((list, optional))
}

/// Add the patterns (or list files) of one `exclude`/`include` line; without `append` they
/// replace what the parent had.
fn extend(
    into: &mut Vec<String>,
    vals: &[String],
    optional: bool,
    any_optional: &mut bool,
) -> Result<(), String> {
    let words = ["file", "list", "append", "optional"];
    let append = vals
        .iter()
        .take_while(|w| words.contains(&w.to_ascii_lowercase().as_str()))
        .any(|w| w.eq_ignore_ascii_case("append"));
    let rest: Vec<String> = vals
        .iter()
        .skip_while(|w| words.contains(&w.to_ascii_lowercase().as_str()))
        .cloned()
        .collect();
    if !append {
        into.clear();
    }
    into.extend(rest);
    *any_optional |= optional;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        tokens(text)
            .unwrap()
            .into_iter()
            .filter_map(|t| match t {
                Tok::Word(w, _) => Some(w),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn amanda_quoting_and_escapes() {
        assert_eq!(
            words("h \"/my \\\"docs\\\"\"\t\"a\\tb\\101\" # c"),
            ["h", "/my \"docs\"", "a\tbA"]
        );
        assert!(tokens("h \"/x").is_err());
        let t = tokens("a {\n b\n} 1").unwrap();
        assert_eq!(t[1], Tok::Open(1));
        assert_eq!(t[5], Tok::Close(3));
    }

    #[test]
    fn block_options_map_to_dumptype_keys() {
        let t = tokens("{\n  comp-user-tar\n  include \"./a\"\n  include append \"./b*\"\n  exclude list \"/x\"\n}\n").unwrap();
        let (opts, next) = block(&t, 2).unwrap();
        assert_eq!(next, t.len() - 1);
        let parent = |n: &str| (n == "comp-user-tar").then(Dumptype::default);
        let at = |l: usize| format!("disklist:{l}");
        let dt = apply(Dumptype::default(), &opts, &parent, &at).unwrap();
        assert_eq!(dt.include, ["./a", "./b*"]);
        assert_eq!(dt.exclude_list, ["/x"]);
        assert!(!dt.optional_lists);
        let o = |w: &[&str]| Opt {
            line: 1,
            words: w.iter().map(|s| s.to_string()).collect(),
        };
        let dt = apply(
            Dumptype::default(),
            &[o(&["compress", "client", "best"]), o(&["index", "no"])],
            &parent,
            &at,
        )
        .unwrap();
        assert_eq!(dt.compress, super::super::dumptype::Compress::ClientBest);
        assert!(!dt.index);
        assert!(
            apply(
                Dumptype::default(),
                &[o(&["frobnicate", "x"])],
                &parent,
                &at
            )
            .is_err()
        );
    }
}
