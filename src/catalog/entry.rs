//! What one member of a dump is, as indexes record it, and where such entries go: the low
//! piece the tar parser (pipeline) and the index files (catalog) both build on.

use std::io;

/// One member of a dump, as the index records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    pub path: Vec<u8>,
    /// The tar type flag: `0` file, `5` dir, `2` symlink, `1` hard link, `6` FIFO, `3`/`4` devices.
    pub kind: u8,
    pub size: u64,
    pub mtime: i64,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub link: Option<Vec<u8>>,
    /// Present at dump time but unchanged: its content is in an earlier dump of the chain.
    pub prev: bool,
    /// Where the member begins in the tar stream (its first header block, long-name and PAX
    /// headers included): what a random-access restore seeks to. None for names a dumpdir
    /// lists as unchanged, which have no member here.
    pub offset: Option<u64>,
    /// A regular file's content sha256 (hex), hashed as the stream passed; a program DLE's
    /// one entry has its stream's.
    pub sha256: Option<String>,
}

/// Where index entries go.
pub trait EntrySink {
    fn entry(&mut self, e: IndexEntry) -> io::Result<()>;
}
