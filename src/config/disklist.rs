//! The disklist in Amanda line syntax (`host diskname [device] dumptype [spindle]`), plus
//! `disklist.d/*.conf` fragments; every error names `file:line`.

use crate::error::Error;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// One disk-list entry.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Dle {
    pub host: String,
    pub disk: String,
    /// What to back up on the client; `disk` when the line gives no device.
    pub device: String,
    pub dumptype: String,
    pub spindle: Option<i64>,
    /// `file:line` the entry came from.
    pub origin: String,
}

/// Read `path` and the `*.conf` files of `path.d/` (sorted), checking names against
/// `dumptypes` and refusing duplicates.
pub fn load(path: &Path, dumptypes: &BTreeMap<String, impl Sized>) -> Result<Vec<Dle>, Error> {
    let mut dles = Vec::new();
    let mut files = Vec::new();
    if path.exists() {
        files.push(path.to_path_buf());
    } else {
        return Err(Error::config(format!(
            "disklist {}: no such file",
            path.display()
        )));
    }
    files.extend(fragments(path)?);
    for file in files {
        let text = std::fs::read_to_string(&file)
            .map_err(|e| Error::config(format!("{}: cannot read: {e}", file.display())))?;
        parse_into(&file, &text, dumptypes, &mut dles)?;
    }
    check_duplicates(&dles)?;
    Ok(dles)
}

fn fragments(path: &Path) -> Result<Vec<PathBuf>, Error> {
    let mut dir = path.as_os_str().to_owned();
    dir.push(".d");
    let dir = PathBuf::from(dir);
    let alt = path.with_file_name("disklist.d");
    let dir = if dir.is_dir() { dir } else { alt };
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let rd = std::fs::read_dir(&dir)
        .map_err(|e| Error::config(format!("{}: cannot read: {e}", dir.display())))?;
    let mut out: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "conf"))
        .collect();
    out.sort();
    Ok(out)
}

/// Parse the text of one disklist file.
pub fn parse_into(
    file: &Path,
    text: &str,
    dumptypes: &BTreeMap<String, impl Sized>,
    out: &mut Vec<Dle>,
) -> Result<(), Error> {
    for (i, line) in text.lines().enumerate() {
        let origin = format!("{}:{}", file.display(), i + 1);
        let words = split_words(line).map_err(|m| Error::config(format!("{origin}: {m}")))?;
        if words.is_empty() {
            continue;
        }
        let dle = dle_from_words(words, dumptypes, &origin)?;
        out.push(dle);
    }
    Ok(())
}

fn dle_from_words(
    mut w: Vec<String>,
    dumptypes: &BTreeMap<String, impl Sized>,
    origin: &str,
) -> Result<Dle, Error> {
    let err = |m: String| Error::config(format!("{origin}: {m}"));
    if w.iter().any(|t| t == "{") {
        return Err(err(
            "inline dumptype definitions ({ … }) are not supported; \
                        put the dumptype in the dumptypes directory"
                .into(),
        ));
    }
    // host disk dumptype | host disk device dumptype | host disk [device] dumptype spindle
    let spindle = match w.len() {
        5 => Some(w.pop().unwrap()),
        4 if dumptypes.contains_key(&w[2]) && w[3].parse::<i64>().is_ok() => Some(w.pop().unwrap()),
        3 | 4 => None,
        n => {
            return Err(err(format!(
                "expected `host diskname [device] dumptype [spindle]`, found {n} words"
            )));
        }
    };
    let spindle = spindle
        .map(|s| {
            s.parse::<i64>()
                .map_err(|_| err(format!("spindle {s:?} is not a number")))
        })
        .transpose()?;
    let dumptype = w.pop().unwrap();
    let device = if w.len() == 3 { w.pop() } else { None };
    let (host, disk) = (w[0].clone(), w[1].clone());
    if !dumptypes.contains_key(&dumptype) {
        let known: Vec<&String> = dumptypes.keys().collect();
        return Err(err(format!(
            "unknown dumptype {dumptype:?} (known: {})",
            known
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    check_host(&host).map_err(err)?;
    let device = device.unwrap_or_else(|| disk.clone());
    if !device.starts_with('/') {
        return Err(err(format!(
            "{device:?} is not an absolute path on the client"
        )));
    }
    Ok(Dle {
        host,
        disk,
        device,
        dumptype,
        spindle,
        origin: origin.to_string(),
    })
}

fn check_host(host: &str) -> Result<(), String> {
    let ok = !host.is_empty()
        && !host.starts_with('-')
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-_:[]".contains(c));
    if ok {
        Ok(())
    } else {
        Err(format!("{host:?} is not a valid host name"))
    }
}

fn check_duplicates(dles: &[Dle]) -> Result<(), Error> {
    let mut seen: HashMap<(&str, &str), (&str, &str)> = HashMap::new();
    for d in dles {
        // `/x` and `/x/` (or `/x//`) are one directory: dumped twice, restored confusingly
        let same = d.disk.trim_end_matches('/');
        let same = if same.is_empty() { "/" } else { same };
        if let Some((first, name)) = seen.insert((&d.host, same), (&d.origin, &d.disk)) {
            let also = if name == d.disk {
                String::new()
            } else {
                format!(", as {name}")
            };
            return Err(Error::config(format!(
                "{}: duplicate DLE {} {} (first defined at {first}{also})",
                d.origin, d.host, d.disk
            )));
        }
    }
    Ok(())
}

/// Split a line into words: whitespace separated, `"…"` quoting with `\"` and `\\`
/// escapes, `#` starts a comment outside quotes.
pub fn split_words(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        match chars.peek() {
            None | Some('#') => return Ok(words),
            Some('"') => {
                chars.next();
                words.push(quoted(&mut chars)?);
            }
            Some(_) => {
                let mut w = String::new();
                while let Some(c) = chars.next_if(|c| !c.is_whitespace() && *c != '#') {
                    if c == '"' {
                        return Err("quote inside a word: quote the whole word".into());
                    }
                    w.push(c);
                }
                words.push(w);
            }
        }
    }
}

fn quoted(chars: &mut std::iter::Peekable<std::str::Chars>) -> Result<String, String> {
    let mut w = String::new();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Ok(w),
            '\\' => w.push(chars.next().ok_or("unterminated quote")?),
            c => w.push(c),
        }
    }
    Err("unterminated quote".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn types() -> BTreeMap<String, ()> {
        ["local-fast", "ssh-fast"]
            .iter()
            .map(|s| (s.to_string(), ()))
            .collect()
    }

    fn parse(text: &str) -> Result<Vec<Dle>, Error> {
        let mut v = Vec::new();
        parse_into(Path::new("disklist"), text, &types(), &mut v)?;
        check_duplicates(&v)?;
        Ok(v)
    }

    #[test]
    fn words_handle_quotes_and_comments() {
        assert_eq!(
            split_words(r#"h "/my docs" t # x"#).unwrap(),
            ["h", "/my docs", "t"]
        );
        assert_eq!(split_words("  # only").unwrap(), Vec::<String>::new());
        assert!(split_words(r#"h "/x"#).is_err());
    }

    #[test]
    fn forms_with_device_and_spindle() {
        let v =
            parse("web1 /etc ssh-fast\nweb1 home /export/home ssh-fast 2\nweb1 /var ssh-fast 1\n")
                .unwrap();
        assert_eq!(v[0].device, "/etc");
        assert_eq!(
            (v[1].device.as_str(), v[1].spindle),
            ("/export/home", Some(2))
        );
        assert_eq!((v[2].device.as_str(), v[2].spindle), ("/var", Some(1)));
        assert_eq!(v[2].origin, "disklist:3");
    }

    #[test]
    fn unknown_dumptype_names_file_line() {
        let e = parse("\nweb1 /etc ssh-fsat\n").unwrap_err().to_string();
        assert!(
            e.starts_with("disklist:2: unknown dumptype \"ssh-fsat\""),
            "{e}"
        );
    }

    #[test]
    fn duplicates_name_both_places() {
        let e = parse("a /etc ssh-fast\na /etc local-fast\n")
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "disklist:2: duplicate DLE a /etc (first defined at disklist:1)"
        );
    }

    #[test]
    fn bad_shapes_are_errors() {
        assert!(parse("a /etc").is_err());
        assert!(parse("a etc ssh-fast").is_err());
        assert!(parse("-oProxy /etc ssh-fast").is_err());
        assert!(parse("a /etc { ssh-fast }").is_err());
    }
}
