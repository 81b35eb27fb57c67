//! Per-dump file indexes: gzip'd JSON lines, one per tar member, written beside the dump and
//! renamed into place only when the dump is complete.

use super::entry::IndexEntry;
use crate::fsutil;
use anyhow::{Context, Result};
use flate2::write::GzEncoder;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

pub use super::line::{IndexLine, escape_bytes, unescape};

/// Where the index of one dump lives, relative to the catalog.
pub fn rel_path(host: &str, disk: &str, datestamp: &str, level: u8) -> String {
    format!(
        "index/{}/{}/{datestamp}_{level}.idx.gz",
        fsutil::escape_component(host),
        fsutil::escape_component(disk)
    )
}

/// The files that live and die with an index: its browse tree and its block table.
pub fn companions(index: &Path) -> [PathBuf; 2] {
    [
        super::tree::path_for(index),
        crate::codec::blocks::path_for(index),
    ]
}

/// Writes an index to a temp name; `commit` moves it into place.
pub struct IndexWriter {
    tmp: PathBuf,
    dest: PathBuf,
    /// Buffered before the encoder: serde writes a line in many small pieces, and the
    /// encoder runs deflate on each write it gets.
    gz: BufWriter<GzEncoder<BufWriter<File>>>,
    /// The browse tree, written alongside.
    tree: super::tree::TreeWriter,
    tree_tmp: PathBuf,
}

impl IndexWriter {
    pub fn create(catalog: &Path, rel: &str) -> Result<Self> {
        let dest = catalog.join(rel);
        fsutil::create_dir_all(dest.parent().unwrap())?;
        let tmp = fsutil::temp_name(&dest);
        let f = File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
        let gz = BufWriter::with_capacity(
            1 << 16,
            GzEncoder::new(
                BufWriter::with_capacity(1 << 16, f),
                flate2::Compression::fast(),
            ),
        );
        let tree_tmp = fsutil::temp_name(&super::tree::path_for(&dest));
        let tree = super::tree::TreeWriter::create(&tree_tmp)?;
        Ok(IndexWriter {
            tmp,
            dest,
            gz,
            tree,
            tree_tmp,
        })
    }

    /// Move the tree, then the index into place (an index without its tree is rebuilt on use).
    pub fn commit(self) -> Result<()> {
        let gz = self.gz.into_inner().map_err(|e| e.into_error())?;
        let f = gz.finish()?.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()?;
        self.tree.finish()?;
        fsutil::rename_durable(&self.tree_tmp, &super::tree::path_for(&self.dest))?;
        fsutil::rename_durable(&self.tmp, &self.dest)
    }

    /// The one entry of a program DLE's index: the stream, with its sha256.
    pub fn stream_entry(&mut self, mut e: IndexEntry, sha256: &str) -> std::io::Result<()> {
        e.sha256 = Some(sha256.to_string());
        let line = IndexLine::from(&e);
        serde_json::to_writer(&mut self.gz, &line)?;
        self.gz.write_all(b"\n")?;
        self.tree.entry(&e.path, line)
    }

    pub fn abort(self) {
        let _ = std::fs::remove_file(&self.tmp);
        let _ = std::fs::remove_file(&self.tree_tmp);
    }
}

/// Read an index back.
pub fn read(path: &Path) -> Result<Vec<IndexLine>> {
    let mut out = Vec::new();
    each(path, |l| {
        out.push(l);
        Ok(())
    })?;
    Ok(out)
}

/// Hand each line of an index to `f`, in tar order, holding one line at a time.
pub fn each(path: &Path, mut f: impl FnMut(IndexLine) -> Result<()>) -> Result<()> {
    let file = File::open(path).with_context(|| format!("cannot open index {}", path.display()))?;
    let r = BufReader::with_capacity(1 << 16, flate2::read::MultiGzDecoder::new(file));
    for line in r.lines() {
        let line = line.with_context(|| format!("bad index {}", path.display()))?;
        f(serde_json::from_str(&line).with_context(|| format!("bad index {}", path.display()))?)?;
    }
    Ok(())
}

/// Hand each raw line of an index (its JSON text) to `f`, in tar order: for a search that
/// decides from the path alone which lines are worth parsing.
pub fn each_line(path: &Path, mut f: impl FnMut(&str) -> Result<()>) -> Result<()> {
    let file = File::open(path).with_context(|| format!("cannot open index {}", path.display()))?;
    let mut r = BufReader::with_capacity(1 << 16, flate2::read::MultiGzDecoder::new(file));
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line)
            .with_context(|| format!("bad index {}", path.display()))?
            == 0
        {
            return Ok(());
        }
        f(line.trim_end_matches('\n'))?;
    }
}

/// The path of an index line as written (`{"p":"…",` first), when it has no escapes; `None`:
/// parse the line to know.
pub fn quick_path(line: &str) -> Option<&str> {
    let rest = line.strip_prefix("{\"p\":\"")?;
    let end = rest.find('"')?;
    let p = &rest[..end];
    (!p.contains('\\')).then_some(p)
}

impl super::entry::EntrySink for IndexWriter {
    fn entry(&mut self, e: IndexEntry) -> std::io::Result<()> {
        let line = IndexLine::from(&e);
        serde_json::to_writer(&mut self.gz, &line)?;
        self.gz.write_all(b"\n")?;
        self.tree.entry(&e.path, line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_quick_path_is_the_parsed_path_or_none() {
        for p in ["./a/b", "./caf\\xe9", "./with \"quote", "./ü"] {
            let line = IndexLine::file(p, 1, 2);
            let text = serde_json::to_string(&line).unwrap();
            match quick_path(&text) {
                Some(q) => assert_eq!(q, p),
                None => assert!(p.contains('\\') || p.contains('"'), "{text}"),
            }
        }
        assert_eq!(quick_path("{\"t\":\"0\"}"), None);
    }

    #[test]
    fn escape_round_trips_any_bytes() {
        for b in [
            &b"./caf\xe9"[..],
            b"./a\\b",
            b"./tab\there",
            "./ünï".as_bytes(),
            b"\\x41",
        ] {
            assert_eq!(unescape(&escape_bytes(b)), b, "{:?}", escape_bytes(b));
        }
        assert_eq!(escape_bytes(b"./caf\xe9"), "./caf\\xe9");
    }
}
