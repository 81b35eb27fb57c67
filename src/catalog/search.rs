//! Files across dumps, from the indexes alone (restic find, restic/borg diff): which dumps
//! hold a file matching a glob, and what changed in a DLE between two dates. No tape is read.

use super::DumpRecord;
use super::line::IndexLine;
use anyhow::{Context, Result, bail};
use std::collections::BTreeMap;
use std::path::Path;

/// A glob as `find --file` takes it: without a `/` it matches a file's name, with one the
/// path inside the DLE (`etc/*.conf`, `**/id_rsa`); `*` never crosses a `/`, `**` does.
pub struct FileGlob {
    matcher: globset::GlobMatcher,
    by_name: bool,
}

impl FileGlob {
    pub fn new(pattern: &str) -> Result<FileGlob> {
        let trimmed = pattern.trim_start_matches("./").trim_start_matches('/');
        let glob = globset::GlobBuilder::new(trimmed)
            .literal_separator(true)
            .backslash_escape(true)
            .build()
            .with_context(|| format!("--file {pattern:?} is not a glob"))?;
        Ok(FileGlob {
            matcher: glob.compile_matcher(),
            by_name: !trimmed.contains('/'),
        })
    }

    /// Does the index path (`./a/b`) match?
    pub fn matches(&self, path: &str) -> bool {
        let p = relative(path);
        if p.is_empty() {
            return false;
        }
        let subject = if self.by_name {
            p.rsplit('/').next().unwrap_or(p)
        } else {
            p
        };
        self.matcher.is_match(subject)
    }
}

/// `./a/b/` → `a/b`: the path inside the DLE, as people write it.
pub fn relative(p: &str) -> &str {
    p.trim_start_matches("./")
        .trim_start_matches('/')
        .trim_end_matches('/')
}

/// One file of one dump that matched.
#[derive(Debug, Clone)]
pub struct Hit {
    pub record: usize,
    pub line: IndexLine,
}

/// `tapir find --file --json`: a matching file and the dump that holds it.
#[derive(Debug, serde::Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct FileHit {
    pub datestamp: String,
    pub host: String,
    pub disk: String,
    pub level: u8,
    pub label: String,
    /// The path inside the DLE (escaped like index paths: other bytes than UTF-8 as `\xNN`).
    pub path: String,
    /// The tar member type: `0` file, `5` directory, `2` symlink, `1` hard link…
    pub kind: String,
    pub file_bytes: u64,
    /// The file's mtime on the client, RFC 3339 UTC.
    pub mtime: String,
    pub mode: u32,
}

impl FileHit {
    pub fn of(r: &DumpRecord, l: &IndexLine) -> FileHit {
        FileHit {
            datestamp: r.datestamp.clone(),
            host: r.host.clone(),
            disk: r.disk.clone(),
            level: r.level,
            label: r.label.clone(),
            path: relative(&l.p).to_string(),
            kind: l.t.clone(),
            file_bytes: l.s,
            mtime: chrono::DateTime::from_timestamp(l.m, 0)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                .unwrap_or_default(),
            mode: l.mode,
        }
    }
}

/// What a search went through.
#[derive(Debug, Default)]
pub struct Found {
    pub hits: Vec<Hit>,
    /// Dumps searched (those with an index).
    pub searched: usize,
    /// Dumps without an index, or whose index is gone or unreadable (named).
    pub skipped: Vec<String>,
}

/// Every member of `records`' indexes whose content the dump holds (not the names an
/// incremental lists as unchanged) matching `glob`, in the records' order. Two threads share
/// the indexes (each a small gzip file to open and parse).
pub fn find_files(catalog: &Path, records: &[DumpRecord], glob: &FileGlob) -> Found {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results = std::sync::Mutex::new(Vec::new());
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get().min(4));
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(r) = records.get(k) else { break };
                    let got = search_one(catalog, r, glob);
                    results
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push((k, got));
                }
            });
        }
    });
    let mut per: Vec<(usize, Result<Option<Vec<IndexLine>>>)> =
        results.into_inner().unwrap_or_else(|p| p.into_inner());
    per.sort_by_key(|(k, _)| *k);
    let mut found = Found::default();
    for (k, got) in per {
        match got {
            Ok(Some(lines)) => {
                found.searched += 1;
                found
                    .hits
                    .extend(lines.into_iter().map(|line| Hit { record: k, line }));
            }
            Ok(None) => found
                .skipped
                .push(format!("{}: no index", name(&records[k]))),
            Err(e) => found.skipped.push(format!("{}: {e:#}", name(&records[k]))),
        }
    }
    found
}

/// `web1 /etc 20261201013000 level 1`.
pub fn name(r: &DumpRecord) -> String {
    format!("{} {} {} level {}", r.host, r.disk, r.datestamp, r.level)
}

fn search_one(catalog: &Path, r: &DumpRecord, glob: &FileGlob) -> Result<Option<Vec<IndexLine>>> {
    let Some(ix) = &r.index else {
        return Ok(None);
    };
    let path = catalog.join(ix);
    if !path.exists() {
        return Ok(None);
    }
    let mut out = Vec::new();
    super::index::each_line(&path, |text| {
        // most lines do not match: their path decides before the line is parsed
        if super::index::quick_path(text).is_some_and(|p| !glob.matches(p)) {
            return Ok(());
        }
        let l: IndexLine =
            serde_json::from_str(text).with_context(|| format!("bad index {}", path.display()))?;
        if !l.prev && glob.matches(&l.p) {
            out.push(l);
        }
        Ok(())
    })?;
    Ok(Some(out))
}

/// A DLE's files as of one dump chain: path inside the DLE → its line, metadata of names the
/// newest dump lists as unchanged taken from the older dump that holds them; a hard link
/// carries its target's content sha256.
pub fn state(catalog: &Path, chain: &[&DumpRecord]) -> Result<BTreeMap<String, IndexLine>> {
    let mut now: BTreeMap<String, IndexLine> = BTreeMap::new();
    for r in chain {
        let Some(ix) = &r.index else {
            bail!(
                "{} has no index: diff needs the indexes of the whole chain",
                name(r)
            );
        };
        let mut next = BTreeMap::new();
        super::index::each(&catalog.join(ix), |l| {
            let key = relative(&l.p).to_string();
            let mut line = match (l.prev, now.remove(&key)) {
                (true, Some(older)) => older,
                _ => l,
            };
            // a hard link has the content of its target, an earlier member of its dump
            if line.t == "1" && line.h.is_none() {
                let target = line.l.as_deref().and_then(|t| next.get(relative(t)));
                line.h = target.and_then(|t: &IndexLine| t.h.clone());
            }
            next.insert(key, line);
            Ok(())
        })?;
        now = next;
    }
    now.remove("");
    Ok(now)
}

/// `tapir diff --json`.
#[derive(Debug, serde::Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct DiffReport {
    pub host: String,
    pub disk: String,
    /// The datestamps of the dumps each state is made of, oldest first.
    pub from_dumps: Vec<String>,
    pub to_dumps: Vec<String>,
    #[serde(flatten)]
    pub diff: Diff,
}

/// What differs between two states of a DLE.
#[derive(Debug, Default, serde::Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Diff {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<Changed>,
}

#[derive(Debug, serde::Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Changed {
    pub path: String,
    /// Of type, size, mtime, mode, owner, link, content (a program stream's sha256).
    pub what: Vec<String>,
}

/// Added, removed and changed paths from `old` to `new`, each list sorted by path.
pub fn diff(old: &BTreeMap<String, IndexLine>, new: &BTreeMap<String, IndexLine>) -> Diff {
    let mut d = Diff::default();
    for (p, n) in new {
        match old.get(p) {
            None => d.added.push(p.clone()),
            Some(o) => {
                let what = changes(o, n);
                if !what.is_empty() {
                    d.changed.push(Changed {
                        path: p.clone(),
                        what,
                    });
                }
            }
        }
    }
    d.removed = old
        .keys()
        .filter(|p| !new.contains_key(*p))
        .cloned()
        .collect();
    d
}

/// What differs between two lines of one path (directories' sizes are ignored).
fn changes(o: &IndexLine, n: &IndexLine) -> Vec<String> {
    let dir = n.t == "5";
    [
        ("type", o.t != n.t),
        ("size", !dir && o.s != n.s),
        ("mtime", o.m != n.m),
        ("mode", o.mode != n.mode),
        ("owner", (o.u, o.g) != (n.u, n.g)),
        ("link", o.l != n.l),
        ("content", o.h.is_some() && o.h != n.h),
    ]
    .into_iter()
    .filter(|(_, differs)| *differs)
    .map(|(w, _)| w.to_string())
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(p: &str, s: u64, m: i64) -> IndexLine {
        IndexLine::file(p, s, m)
    }

    #[test]
    fn a_glob_without_a_slash_matches_names_with_one_paths() {
        let g = FileGlob::new("*.conf").unwrap();
        assert!(g.matches("./etc/nginx/nginx.conf"));
        assert!(!g.matches("./etc/nginx.conf.d/x"));
        let g = FileGlob::new("/etc/*.conf").unwrap();
        assert!(g.matches("./etc/a.conf"));
        assert!(!g.matches("./etc/sub/a.conf"), "* does not cross /");
        assert!(
            FileGlob::new("etc/**/a.conf")
                .unwrap()
                .matches("./etc/x/y/a.conf")
        );
        assert!(!FileGlob::new("*").unwrap().matches("./"));
    }

    #[test]
    fn diff_names_what_changed() {
        let old: BTreeMap<_, _> = [("a", 1, 10), ("b", 2, 20), ("c", 3, 30)]
            .into_iter()
            .map(|(p, s, m)| (p.to_string(), line(p, s, m)))
            .collect();
        let mut new = old.clone();
        new.remove("a");
        new.insert("d".into(), line("d", 4, 40));
        new.get_mut("b").unwrap().s = 5;
        new.get_mut("c").unwrap().mode = 0o600;
        let d = diff(&old, &new);
        assert_eq!(d.added, ["d"]);
        assert_eq!(d.removed, ["a"]);
        let ch: Vec<(&str, Vec<String>)> = d
            .changed
            .iter()
            .map(|c| (c.path.as_str(), c.what.clone()))
            .collect();
        assert_eq!(
            ch,
            [("b", vec!["size".to_string()]), ("c", vec!["mode".into()])]
        );
    }
}
