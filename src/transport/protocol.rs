//! The agent protocol: framed messages and data on one byte stream (a pipe or an SSH channel).
//! Frame = tag byte, u32 big-endian length, payload. `M` frames carry one JSON [`Message`],
//! `D` frames carry raw dump bytes. The first exchange checks [`PROTOCOL_VERSION`].

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use std::io::{self, Read, Write};

pub const PROTOCOL_VERSION: u32 = 1;
const TAG_MSG: u8 = b'M';
const TAG_DATA: u8 = b'D';
/// Largest frame either side accepts.
pub const MAX_FRAME: usize = 16 << 20;
/// Size of the data frames the agent sends.
pub const DATA_FRAME: usize = 256 << 10;

/// What to dump: everything the agent needs, and nothing it could execute. Unknown fields
/// are refused: there is no way to smuggle tar options or commands in.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DumpRequest {
    pub path: String,
    pub level: u8,
    pub exclude: Vec<String>,
    /// Only these top-level names (`./glob`); left out when empty, so that agents older than
    /// includes still take requests without them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include: Vec<String>,
    /// Files on the client with one pattern a line (Amanda's `exclude list`/`include list`);
    /// left out when empty, for older agents.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude_list: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include_list: Vec<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub optional_lists: bool,
    pub one_file_system: bool,
    /// gzip on the client at this level (`compress = "client-*"`).
    pub gzip_level: Option<u32>,
    /// zstd on the client at this level (`compress = "client-zstd"`). Left out of requests
    /// without it, so that agents older than zstd still take them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zstd_level: Option<i32>,
    /// Incremental: dump what changed (mtime or ctime) at or after this client time
    /// (nanoseconds since the epoch, the reference dump's start). None: level 0, everything.
    #[serde(default)]
    pub since: Option<i64>,
    /// Names of hooks the client's agent.toml defines (run before and after).
    #[serde(default)]
    pub hooks: Vec<String>,
    /// A program DLE: run the client's `[programs.NAME]` for the disk in `path`; its
    /// stdout is the dump. Left out for tar DLEs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub program: Option<String>,
}

/// What to estimate: the tar size of level 0 and of each candidate incremental level.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EstimateRequest {
    pub path: String,
    pub exclude: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include: Vec<String>,
    /// Files on the client with one pattern a line (Amanda's `exclude list`/`include list`);
    /// left out when empty, for older agents.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude_list: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include_list: Vec<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub optional_lists: bool,
    pub one_file_system: bool,
    /// (level, reference client time in nanoseconds) for each incremental candidate.
    pub since: Vec<(u8, i64)>,
    /// A program DLE: its `estimate` command, if it has one (no sizes otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub program: Option<String>,
}

/// Totals the agent reports at the end of a dump.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct DumpSummary {
    pub files: u64,
    pub tar_bytes: u64,
    pub warnings: u64,
    /// A program's stderr after a good run (bounded): reported, the dump stays OK.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// A program's restore command, as the client would run it (for the header comment).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub restore: String,
}

/// Every message of the protocol, both directions.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Message {
    /// Server → agent, first frame.
    Hello {
        protocol: u32,
        tool_version: String,
    },
    /// Agent → server answer to Hello; `time` is the client's clock (unix seconds).
    HelloOk {
        protocol: u32,
        tool_version: String,
        time: i64,
    },
    /// Server → agent before an incremental Dump: directories (as tar member names, escaped)
    /// present at the reference dump. A directory not listed is new or renamed and is
    /// dumped whole. May be sent in several parts; a Dump consumes and clears them.
    KnownDirs {
        dirs: Vec<String>,
    },
    Dump(Box<DumpRequest>),
    Estimate(EstimateRequest),
    /// Agent → server: estimated tar bytes per level (level 0 first).
    EstimateResult {
        sizes: Vec<(u8, u64)>,
    },
    /// Server → agent (`tapir check`): can these DLE paths be dumped?
    Check {
        paths: Vec<String>,
        /// (program, disk) of program DLEs.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        programs: Vec<(String, String)>,
    },
    /// Agent → server: per path, None if it can be dumped, else why not.
    CheckResult {
        results: Vec<(String, Option<String>)>,
    },
    /// Agent → server: the dump begins; `time` is the client's clock at its start.
    Started {
        time_ns: i64,
    },
    /// A file could not be read whole; the dump goes on and ends PARTIAL.
    Warning {
        path: String,
        message: String,
    },
    Done(DumpSummary),
    /// Server → agent: run one phase (`pre` or `post`) of a hook agent.toml defines, for a
    /// hook group (`[groups.NAME]`: snapshots on several hosts at one moment).
    RunHook {
        name: String,
        phase: String,
    },
    /// Agent → server: the hook ran and exited 0.
    HookDone,
    /// The request failed; the agent stays ready for the next one.
    Error {
        message: String,
    },
    Bye,
}

/// One frame as read.
pub enum Frame {
    Msg(Message),
    /// Data is in the caller's buffer.
    Data,
    /// Clean end of stream between frames.
    Eof,
}

/// Write one message frame.
pub fn write_msg(w: &mut dyn Write, m: &Message) -> io::Result<()> {
    let body = serde_json::to_vec(m).map_err(io::Error::other)?;
    write_frame(w, TAG_MSG, &body)
}

/// Write one data frame.
pub fn write_data(w: &mut dyn Write, data: &[u8]) -> io::Result<()> {
    write_frame(w, TAG_DATA, data)
}

fn write_frame(w: &mut dyn Write, tag: u8, body: &[u8]) -> io::Result<()> {
    let mut head = [0u8; 5];
    head[0] = tag;
    head[1..].copy_from_slice(&(body.len() as u32).to_be_bytes());
    w.write_all(&head)?;
    w.write_all(body)
}

/// Could `head` (the first bytes read) start a frame? Text printed by a client's login
/// script cannot: its first bytes give an unknown tag or an absurd length.
pub fn starts_a_frame(head: &[u8]) -> bool {
    match head {
        [tag, l0, l1, l2, l3, ..] => {
            matches!(*tag, TAG_MSG | TAG_DATA)
                && u32::from_be_bytes([*l0, *l1, *l2, *l3]) as usize <= MAX_FRAME
        }
        _ => head
            .first()
            .is_none_or(|t| matches!(*t, TAG_MSG | TAG_DATA)),
    }
}

/// A frame's head: a message (read whole), or the length of data the caller reads itself
/// (straight to where it goes).
pub enum Head {
    Msg(Message),
    Data(usize),
    Eof,
}

/// Read one frame; data frames land in `buf` (replaced).
pub fn read_frame(r: &mut dyn Read, buf: &mut Vec<u8>) -> Result<Frame> {
    match read_head(r, buf)? {
        Head::Msg(m) => Ok(Frame::Msg(m)),
        Head::Eof => Ok(Frame::Eof),
        Head::Data(len) => {
            buf.resize(len, 0);
            r.read_exact(buf).context(MID_FRAME)?;
            Ok(Frame::Data)
        }
    }
}

const MID_FRAME: &str = "remote disconnected in the middle of a frame";

/// Read one frame's head, and a message's body (into `buf`); a data frame's body is left
/// in `r`.
pub fn read_head(r: &mut dyn Read, buf: &mut Vec<u8>) -> Result<Head> {
    let mut head = [0u8; 5];
    match read_full(r, &mut head)? {
        0 => return Ok(Head::Eof),
        5 => {}
        _ => bail!(MID_FRAME),
    }
    let len = u32::from_be_bytes(head[1..].try_into().unwrap()) as usize;
    if len > MAX_FRAME {
        bail!("protocol error: frame of {len} bytes (is the remote a tapir agent?)");
    }
    match head[0] {
        TAG_MSG => {
            buf.resize(len, 0);
            r.read_exact(buf).context(MID_FRAME)?;
            Ok(Head::Msg(serde_json::from_slice(buf).map_err(|e| {
                anyhow::anyhow!("protocol error: unknown or malformed request: {e}")
            })?))
        }
        TAG_DATA => Ok(Head::Data(len)),
        t => bail!("protocol error: unknown frame tag {t:#04x} (is the remote a tapir agent?)"),
    }
}

fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// A `Write` that cuts the byte stream into data frames of [`DATA_FRAME`] bytes, and can
/// slip a message in between them. A frame's head is kept in front of its data, so that
/// each frame goes out in one write (the reader is woken once a frame, not twice).
pub struct FrameWriter<W: Write> {
    inner: W,
    /// The frame being filled: its 5-byte head, then its data.
    buf: Vec<u8>,
}

const HEAD: usize = 5;

impl<W: Write> FrameWriter<W> {
    pub fn new(inner: W) -> Self {
        let mut buf = Vec::with_capacity(HEAD + DATA_FRAME);
        buf.extend_from_slice(&[TAG_DATA, 0, 0, 0, 0]);
        FrameWriter { inner, buf }
    }

    /// Flush pending data, then send `m`.
    pub fn send(&mut self, m: &Message) -> io::Result<()> {
        self.flush_data()?;
        write_msg(&mut self.inner, m)?;
        self.inner.flush()
    }

    fn flush_data(&mut self) -> io::Result<()> {
        let len = self.buf.len() - HEAD;
        if len > 0 {
            self.buf[1..HEAD].copy_from_slice(&(len as u32).to_be_bytes());
            self.inner.write_all(&self.buf)?;
            self.buf.truncate(HEAD);
        }
        Ok(())
    }
}

impl<W: Write> Write for FrameWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = data.len().min(HEAD + DATA_FRAME - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == HEAD + DATA_FRAME {
            self.flush_data()?;
        }
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.flush_data()?;
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_messages_and_data() {
        let mut out = Vec::new();
        {
            let mut fw = FrameWriter::new(&mut out);
            fw.write_all(&vec![7u8; DATA_FRAME + 10]).unwrap();
            fw.send(&Message::Bye).unwrap();
        }
        let mut r = &out[..];
        let mut buf = Vec::new();
        let mut data = 0;
        loop {
            match read_frame(&mut r, &mut buf).unwrap() {
                Frame::Data => data += buf.len(),
                Frame::Msg(m) => assert_eq!(m, Message::Bye),
                Frame::Eof => break,
            }
        }
        assert_eq!(data, DATA_FRAME + 10);
    }

    #[test]
    fn truncated_frame_is_a_disconnect_error() {
        let mut out = Vec::new();
        write_data(&mut out, b"hello").unwrap();
        out.truncate(7);
        let e = read_frame(&mut &out[..], &mut Vec::new()).err().unwrap();
        assert!(format!("{e:#}").contains("disconnected"), "{e:#}");
    }

    #[test]
    fn garbage_is_a_protocol_error() {
        let e = read_frame(&mut &b"SSH-2.0-OpenSSH\r\n"[..], &mut Vec::new())
            .err()
            .unwrap();
        assert!(format!("{e:#}").contains("protocol error"), "{e:#}");
    }
}
