//! The disklist in Amanda line syntax (`host diskname [device] dumptype [spindle]`), plus
//! `disklist.d/*.conf` fragments; every error names `file:line`.

use super::amanda;
use super::dumptype::Dumptype;
use crate::error::Error;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// One disk-list entry.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Dle {
    pub host: String,
    pub disk: String,
    /// What to back up on the client; `disk` when the line gives no device.
    pub device: String,
    pub dumptype: String,
    pub spindle: Option<i64>,
    /// Amanda's network interface column: accepted, not used (tapir has no per-interface
    /// bandwidth limits).
    pub interface: Option<String>,
    /// `file:line` the entry came from.
    pub origin: String,
}

/// Read `path` and the `*.conf` files of `path.d/` (sorted), checking names against
/// `dumptypes` (inline `{ … }` dumptypes are added to it) and refusing duplicates.
pub fn load(path: &Path, dumptypes: &mut BTreeMap<String, Dumptype>) -> Result<Vec<Dle>, Error> {
    let mut dles = Vec::new();
    if !path.exists() {
        return Err(Error::config(format!(
            "disklist {}: no such file",
            path.display()
        )));
    }
    let mut files = vec![path.to_path_buf()];
    files.extend(fragments(path)?);
    for file in files {
        read_file(&file, dumptypes, &mut dles, 0)?;
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

fn read_file(
    file: &Path,
    dumptypes: &mut BTreeMap<String, Dumptype>,
    out: &mut Vec<Dle>,
    depth: usize,
) -> Result<(), Error> {
    if depth > 8 {
        return Err(Error::config(format!(
            "{}: includefile nested more than 8 deep (a loop?)",
            file.display()
        )));
    }
    let text = std::fs::read_to_string(file)
        .map_err(|e| Error::config(format!("{}: cannot read: {e}", file.display())))?;
    parse_into(file, &text, dumptypes, out, depth)
}

/// One statement of a disklist: its words up to the end of the line, and the inline
/// dumptype block when the words end in `{`.
struct Statement {
    line: usize,
    /// The line its last token is on (a block spans lines).
    last: usize,
    words: Vec<String>,
    block: Option<Vec<amanda::Opt>>,
    /// Words after the block's `}` (spindle, interface).
    after: Vec<String>,
}

fn statements(toks: &[amanda::Tok]) -> Result<Vec<Statement>, (usize, String)> {
    use amanda::Tok;
    let mut out = Vec::new();
    let mut k = 0;
    while k < toks.len() {
        let mut st = Statement {
            line: toks[k].line(),
            last: toks[k].line(),
            words: vec![],
            block: None,
            after: vec![],
        };
        while let Some(Tok::Word(w, _)) = toks.get(k) {
            st.words.push(w.clone());
            k += 1;
        }
        match toks.get(k) {
            Some(Tok::Open(l)) => {
                if !matches!(toks.get(k + 1), Some(Tok::Eol(_))) {
                    return Err((
                        *l,
                        "`{` must end its line; options go on the lines after it".into(),
                    ));
                }
                let (opts, next) = amanda::block(toks, k + 2)?;
                st.block = Some(opts);
                k = next;
                while let Some(Tok::Word(w, _)) = toks.get(k) {
                    st.after.push(w.clone());
                    k += 1;
                }
                if let Some(t @ (Tok::Open(_) | Tok::Close(_))) = toks.get(k) {
                    return Err((t.line(), "unexpected brace after a dumptype block".into()));
                }
            }
            Some(Tok::Close(l)) => return Err((*l, "`}` without its `{`".into())),
            _ => {}
        }
        st.last = toks.get(k).map_or(st.line, |t| t.line());
        k += 1; // the end of the line
        if !st.words.is_empty() || st.block.is_some() {
            out.push(st);
        }
    }
    Ok(out)
}

/// Parse the text of one disklist file.
pub fn parse_into(
    file: &Path,
    text: &str,
    dumptypes: &mut BTreeMap<String, Dumptype>,
    out: &mut Vec<Dle>,
    depth: usize,
) -> Result<(), Error> {
    let at = |l: usize| format!("{}:{l}", file.display());
    let toks = amanda::tokens(text).map_err(|(l, m)| Error::config(format!("{}: {m}", at(l))))?;
    let sts = statements(&toks).map_err(|(l, m)| Error::config(format!("{}: {m}", at(l))))?;
    for st in sts {
        let origin = at(st.line);
        if st
            .words
            .first()
            .is_some_and(|w| w.eq_ignore_ascii_case("includefile"))
        {
            let [_, name] = &st.words[..] else {
                return Err(Error::config(format!(
                    "{origin}: includefile takes one file name"
                )));
            };
            let inc = file.parent().unwrap_or(Path::new(".")).join(name);
            read_file(&inc, dumptypes, out, depth + 1)
                .map_err(|e| Error::config(format!("{e} (included at {origin})")))?;
            continue;
        }
        out.push(dle_of(st, dumptypes, &origin, &at)?);
    }
    Ok(())
}

/// One statement of a disklist as `config --amanda-import` vets it: its lines, and whether
/// tapir can take it (or the file it includes).
#[derive(Debug)]
pub struct Vetted {
    pub first: usize,
    pub last: usize,
    pub verdict: Result<(), String>,
    pub include: Option<String>,
}

/// Every statement of `text` with its verdict, against `dumptypes`.
pub fn vet(
    file: &Path,
    text: &str,
    dumptypes: &BTreeMap<String, Dumptype>,
) -> Result<Vec<Vetted>, Error> {
    let at = |l: usize| format!("{}:{l}", file.display());
    let toks = amanda::tokens(text).map_err(|(l, m)| Error::config(format!("{}: {m}", at(l))))?;
    let sts = statements(&toks).map_err(|(l, m)| Error::config(format!("{}: {m}", at(l))))?;
    let mut types = dumptypes.clone();
    let mut out = Vec::new();
    for st in sts {
        let (first, last) = (st.line, st.last);
        let origin = at(first);
        let include = st
            .words
            .first()
            .filter(|w| w.eq_ignore_ascii_case("includefile"))
            .and_then(|_| st.words.get(1).cloned());
        let verdict =
            if include.is_some() {
                Ok(())
            } else {
                dle_of(st, &mut types, &origin, &at).map(|_| ()).map_err(|e| {
                let m = e.to_string();
                let m = m.strip_prefix(&format!("{origin}: ")).unwrap_or(&m).to_string();
                if m.contains("is not an absolute path") {
                    format!(
                        "{m}: a raw device for dump(8)? tapir backs up directories with tar; \
                         name the filesystem's mount point instead"
                    )
                } else {
                    m
                }
            })
            };
        out.push(Vetted {
            first,
            last,
            verdict,
            include,
        });
    }
    Ok(out)
}

/// The name a dumptype is known by: exact, else the one that matches ignoring case (Amanda
/// compares dumptype names case-insensitively).
fn dumptype_name(dumptypes: &BTreeMap<String, Dumptype>, name: &str) -> Option<String> {
    if dumptypes.contains_key(name) {
        return Some(name.to_string());
    }
    let mut same = dumptypes.keys().filter(|k| k.eq_ignore_ascii_case(name));
    match (same.next(), same.next()) {
        (Some(k), None) => Some(k.clone()),
        _ => None,
    }
}

fn dle_of(
    st: Statement,
    dumptypes: &mut BTreeMap<String, Dumptype>,
    origin: &str,
    at: &dyn Fn(usize) -> String,
) -> Result<Dle, Error> {
    let err = |m: String| Error::config(format!("{origin}: {m}"));
    let mut w = st.words;
    let tail = match &st.block {
        // host disk [device] { … } [spindle [interface]]
        Some(opts) => {
            if !(2..=3).contains(&w.len()) {
                return Err(err(format!(
                    "expected `host diskname [device] {{`, found {} words before the block",
                    w.len()
                )));
            }
            let parent = |n: &str| dumptype_name(dumptypes, n).map(|k| dumptypes[&k].clone());
            let mut dt = amanda::apply(Dumptype::default(), opts, &parent, at)?;
            super::dumptype::validate(Path::new(origin), "", &mut dt)?;
            let name = format!("inline@{origin}");
            dumptypes.insert(name.clone(), dt);
            w.push(name);
            st.after
        }
        // host disk [device] dumptype [spindle [interface]]: the dumptype is the first word
        // from the third on that names one
        None => {
            if w.len() < 3 {
                return Err(err(format!(
                    "expected `host diskname [device] dumptype [spindle [interface]]`, found {} words",
                    w.len()
                )));
            }
            let names = |k: usize| {
                w.get(k)
                    .is_some_and(|x| dumptype_name(dumptypes, x).is_some())
            };
            let number = |k: usize| w.get(k).is_some_and(|x| x.parse::<i64>().is_ok());
            let k = if names(2) && !names(3) {
                2
            } else if names(3) || (w.len() >= 4 && !number(3)) {
                3
            } else {
                2
            };
            w.split_off(k + 1)
        }
    };
    if tail.len() > 2 || w.len() < 3 {
        return Err(err(format!(
            "expected `host diskname [device] dumptype [spindle [interface]]`, found {} words",
            w.len() + tail.len()
        )));
    }
    let spindle = tail
        .first()
        .map(|s| {
            s.parse::<i64>()
                .map_err(|_| err(format!("spindle {s:?} is not a number")))
        })
        .transpose()?
        .filter(|s| *s >= 0);
    let interface = tail.get(1).cloned();
    let given = w.pop().unwrap();
    let Some(dumptype) = dumptype_name(dumptypes, &given) else {
        let known: Vec<&str> = dumptypes
            .keys()
            .filter(|k| !k.starts_with("inline@"))
            .map(String::as_str)
            .collect();
        return Err(err(format!(
            "unknown dumptype {given:?} (known: {}; names are compared ignoring case)",
            known.join(", ")
        )));
    };
    let device = if w.len() == 3 { w.pop() } else { None };
    let (host, disk) = (w[0].clone(), w[1].clone());
    check_host(&host).map_err(err)?;
    if disk.starts_with("//") || device.as_deref().is_some_and(|d| d.starts_with("//")) {
        return Err(err(format!(
            "{disk:?} is a Samba share (Amanda's smbclient DLE): tapir backs up directories \
             of a client running `tapir agent`; dump the share's directory on its server"
        )));
    }
    let device = device.unwrap_or_else(|| disk.clone());
    if let Some(p) = dumptypes.get(&dumptype).and_then(|d| d.program.as_ref()) {
        // a program DLE names a database, volume or dataset, checked again on the client
        crate::config::names::check_disk(&device, true)
            .map_err(|e| err(format!("{e:#} (dumptype {dumptype:?} runs program {p:?})")))?;
    } else if !device.starts_with('/') {
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
        interface,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn types() -> BTreeMap<String, Dumptype> {
        ["local-fast", "ssh-fast", "comp-user-tar"]
            .iter()
            .map(|s| (s.to_string(), Dumptype::default()))
            .collect()
    }

    fn parse(text: &str) -> Result<Vec<Dle>, Error> {
        let mut v = Vec::new();
        parse_into(Path::new("disklist"), text, &mut types(), &mut v, 0)?;
        check_duplicates(&v)?;
        Ok(v)
    }

    #[test]
    fn forms_with_device_spindle_and_interface() {
        let v = parse(
            "web1 /etc ssh-fast\nweb1 home /export/home ssh-fast 2\nweb1 /var ssh-fast 1\n\
             web1\t/srv\tSSH-FAST\t-1\tlocal\nweb1 \"/my docs\" /data/x ssh-fast 3 eth0\n",
        )
        .unwrap();
        assert_eq!(v[0].device, "/etc");
        assert_eq!(
            (v[1].device.as_str(), v[1].spindle),
            ("/export/home", Some(2))
        );
        assert_eq!((v[2].device.as_str(), v[2].spindle), ("/var", Some(1)));
        assert_eq!(v[2].origin, "disklist:3");
        assert_eq!((v[3].dumptype.as_str(), v[3].spindle), ("ssh-fast", None));
        assert_eq!(v[3].interface.as_deref(), Some("local"));
        assert_eq!(
            (v[4].disk.as_str(), v[4].device.as_str()),
            ("/my docs", "/data/x")
        );
    }

    #[test]
    fn inline_dumptype_blocks_span_lines() {
        let mut types = types();
        let mut v = Vec::new();
        let text = "# Amanda style\nweb1 /home {\n  comp-user-tar\n  include \"./a*\"\n  \
                    include append \"./b\"\n  exclude \"*.o\"\n  strategy noinc\n} 1 local\n\
                    web1 /etc ssh-fast\n";
        parse_into(Path::new("disklist"), text, &mut types, &mut v, 0).unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(
            (v[0].spindle, v[0].origin.as_str()),
            (Some(1), "disklist:2")
        );
        let dt = &types[&v[0].dumptype];
        assert_eq!(dt.include, ["./a*", "./b"]);
        assert_eq!(dt.exclude, ["*.o"]);
        assert_eq!(dt.strategy, super::super::dumptype::Strategy::Noinc);
        assert_eq!(v[1].origin, "disklist:9");
    }

    #[test]
    fn errors_name_file_and_line() {
        let e = parse("\nweb1 /etc ssh-fsat\n").unwrap_err().to_string();
        assert!(
            e.starts_with("disklist:2: unknown dumptype \"ssh-fsat\""),
            "{e}"
        );
        let e = parse("web1 /x {\n ssh-fast\n frobnicate 3\n}\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("disklist:3: unknown dumptype option \"frobnicate\""),
            "{e}"
        );
        let e = parse("web1 /x {\n ssh-fast\n").unwrap_err().to_string();
        assert!(e.contains("without its closing"), "{e}");
        let e = parse("pc1 //pc1/share ssh-fast\n").unwrap_err().to_string();
        assert!(e.contains("Samba share"), "{e}");
        let e = parse("web1 /x {\n include \"a/b\"\n}\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("disklist:1: include"), "{e}");
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
        assert!(parse("a /etc ssh-fast 1 eth0 extra").is_err());
        assert!(parse("a /etc { ssh-fast }").is_err());
    }
}
