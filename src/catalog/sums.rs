//! Per-file sha256s recorded in dump indexes: a DLE's state as of a date in `sha256sum -c`
//! format (a restore made with the stock tools is then checked with a stock tool), and the
//! cursor a restore looks them up with, in tar order, as it writes each file.

use super::index::{IndexLine, escape_bytes, quick_path, unescape};
use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

/// Whether an index line is content a restore writes as a file: a regular file (`0`, `7`)
/// held by this dump, not listed as unchanged.
pub fn is_content(l: &IndexLine) -> bool {
    matches!(l.t.as_str(), "0" | "7") && !l.prev
}

/// One line as `sha256sum` writes it for the raw name `path`: GNU's escaped form (a
/// leading `\`, then `\\` and `\n` inside the name) when the name holds either.
pub fn sum_line(sha: &str, path: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(path.len() + sha.len() + 4);
    let escape = path.iter().any(|&b| b == b'\\' || b == b'\n');
    if escape {
        out.push(b'\\');
    }
    out.extend_from_slice(sha.as_bytes());
    out.extend_from_slice(b"  ");
    for &b in path {
        match b {
            b'\\' if escape => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b => out.push(b),
        }
    }
    out.push(b'\n');
    out
}

/// What [`write_state`] wrote.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Written {
    /// Files with a recorded sha256.
    pub files: u64,
    /// Regular files without one (dumped before tapir recorded them, or with a dumptype's
    /// `file_sha256 = false`): `sha256sum -c` cannot check these.
    pub without: Vec<String>,
}

/// The regular files and hard links of a DLE's state (from `search::state`, which gives a
/// hard link its target's sha256), sorted, as
/// `sha256sum` lines whose names are relative to the directory the dump is restored into
/// (`./a/b`).
pub fn write_state(
    state: &BTreeMap<String, IndexLine>,
    out: &mut impl Write,
) -> io::Result<Written> {
    let mut w = Written::default();
    for (rel, l) in state {
        if !matches!(l.t.as_str(), "0" | "7" | "1") {
            continue;
        }
        let Some(sha) = &l.h else {
            w.without.push(rel.clone());
            continue;
        };
        let mut name = b"./".to_vec();
        name.extend_from_slice(&unescape(rel));
        out.write_all(&sum_line(sha, &name))?;
        w.files += 1;
    }
    Ok(w)
}

/// The recorded sha256s of one dump's index, looked up in the order a restore meets the
/// tar's members (the index is written in that order): one line held at a time.
pub struct Cursor {
    lines: BufReader<flate2::read::MultiGzDecoder<std::fs::File>>,
    path: PathBuf,
    line: String,
}

impl Cursor {
    pub fn open(index: &Path) -> Result<Cursor> {
        let f = std::fs::File::open(index)
            .with_context(|| format!("cannot open index {}", index.display()))?;
        Ok(Cursor {
            lines: BufReader::with_capacity(1 << 16, flate2::read::MultiGzDecoder::new(f)),
            path: index.to_path_buf(),
            line: String::new(),
        })
    }

    /// The sha256 the index records for the member named `name` (its raw tar name), from
    /// the lines after the last one found; `None` when the index records none for it.
    pub fn find(&mut self, name: &[u8]) -> Result<Option<String>> {
        let want = escape_bytes(name);
        let bad = || format!("bad index {}", self.path.display());
        loop {
            self.line.clear();
            if self.lines.read_line(&mut self.line).with_context(bad)? == 0 {
                return Ok(None);
            }
            let text = self.line.trim_end_matches('\n');
            if quick_path(text).is_some_and(|p| p != want) {
                continue;
            }
            let l: IndexLine = serde_json::from_str(text).with_context(bad)?;
            if l.p == want && is_content(&l) {
                return Ok(l.h);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_escaped_as_gnu_sha256sum_escapes_them() {
        assert_eq!(sum_line("ab", b"./a b"), b"ab  ./a b\n");
        assert_eq!(sum_line("ab", b"./a\\b"), b"\\ab  ./a\\\\b\n");
        assert_eq!(sum_line("ab", b"./a\nb"), b"\\ab  ./a\\nb\n");
        assert_eq!(sum_line("ab", b"./caf\xe9"), b"ab  ./caf\xe9\n");
    }

    #[test]
    fn the_state_lists_regular_files_with_sums_and_names_those_without() {
        let mut state = BTreeMap::new();
        let mut a = IndexLine::file("./a", 1, 0);
        a.h = Some("aa".into());
        state.insert("a".to_string(), a);
        state.insert("old".to_string(), IndexLine::file("./old", 1, 0));
        let mut dir = IndexLine::file("./d", 0, 0);
        dir.t = "5".into();
        state.insert("d".to_string(), dir);
        let mut out = Vec::new();
        let w = write_state(&state, &mut out).unwrap();
        assert_eq!(out, b"aa  ./a\n");
        assert_eq!((w.files, w.without), (1, vec!["old".to_string()]));
    }
}
