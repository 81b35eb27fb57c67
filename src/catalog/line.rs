//! One line of a dump's index (a tar member as text) and the reversible escaping of its
//! byte paths: what the index writer writes and the tree reader reads.

use super::entry::IndexEntry;
use serde::{Deserialize, Serialize};

/// An index line. Paths are text: UTF-8 as is, other bytes as `\xNN`, backslash as `\\`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IndexLine {
    pub p: String,
    pub t: String,
    pub s: u64,
    pub m: i64,
    pub mode: u32,
    pub u: u64,
    pub g: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub l: Option<String>,
    /// Present at dump time, content in an earlier dump of the chain (dumpdir `N`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub prev: bool,
    /// Where the member begins in the tar stream (indexes older than random access lack it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub o: Option<u64>,
    /// The content's sha256: a regular file's, or a program DLE's stream (its one entry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub h: Option<String>,
}

#[cfg(test)]
impl IndexLine {
    /// A regular file's line (for tests).
    pub fn file(p: &str, s: u64, m: i64) -> IndexLine {
        IndexLine {
            p: p.into(),
            t: "0".into(),
            s,
            m,
            mode: 0o644,
            u: 0,
            g: 0,
            l: None,
            prev: false,
            o: None,
            h: None,
        }
    }
}

impl From<&IndexEntry> for IndexLine {
    fn from(e: &IndexEntry) -> Self {
        IndexLine {
            p: escape_bytes(&e.path),
            t: (e.kind as char).to_string(),
            s: e.size,
            m: e.mtime,
            mode: e.mode,
            u: e.uid,
            g: e.gid,
            l: e.link.as_deref().map(escape_bytes),
            prev: e.prev,
            o: e.offset,
            h: e.sha256.clone(),
        }
    }
}

/// Bytes → text, reversibly: valid UTF-8 (but not `\` or control characters) stays.
pub fn escape_bytes(b: &[u8]) -> String {
    let mut out = String::with_capacity(b.len());
    for chunk in b.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                c if c.is_control() => {
                    let mut buf = [0u8; 4];
                    for byte in c.encode_utf8(&mut buf).bytes() {
                        out.push_str(&format!("\\x{byte:02x}"));
                    }
                }
                c => out.push(c),
            }
        }
        for byte in chunk.invalid() {
            out.push_str(&format!("\\x{byte:02x}"));
        }
    }
    out
}

/// The inverse of [`escape_bytes`].
pub fn unescape(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && b.get(i + 1) == Some(&b'\\') {
            out.push(b'\\');
            i += 2;
        } else if b[i] == b'\\' && b.get(i + 1) == Some(&b'x') && i + 4 <= b.len() {
            let hex = std::str::from_utf8(&b[i + 2..i + 4]).ok();
            match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                Some(v) => {
                    out.push(v);
                    i += 4;
                }
                None => {
                    out.push(b[i]);
                    i += 1;
                }
            }
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}
