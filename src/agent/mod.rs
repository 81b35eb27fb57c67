//! The client side: `tapir agent`, run by the SSH forced command or spawned locally. It reads
//! protocol requests on stdin and answers on stdout (protocol data only; diagnostics go to
//! stderr). It never runs a shell or anything the server names: it only walks and reads.

pub mod estimate;
pub mod tar_out;
pub mod walk;

use crate::transport::protocol::{
    self, DumpRequest, DumpSummary, Frame, FrameWriter, Message, PROTOCOL_VERSION,
};
use anyhow::{Context, Result, bail};
use flate2::write::GzEncoder;
use std::collections::HashSet;
use std::io::{self, Read, Write};
use std::path::Path;
use tar_out::TarWriter;
use walk::{Sink, Walk};

/// Serve requests until the server says Bye or closes the stream.
pub fn serve<R: Read, W: Write>(mut input: R, output: W) -> Result<()> {
    let mut out = FrameWriter::new(output);
    let mut buf = Vec::new();
    let mut known = HashSet::new();
    loop {
        let msg = match protocol::read_frame(&mut input, &mut buf)? {
            Frame::Eof | Frame::Msg(Message::Bye) => return Ok(()),
            Frame::Data => bail!("protocol error: the server sent data"),
            Frame::Msg(m) => m,
        };
        match msg {
            Message::Hello { protocol, .. } => hello(&mut out, protocol)?,
            Message::KnownDirs { dirs } => {
                known.extend(dirs.iter().map(|d| crate::catalog::index::unescape(d)));
            }
            Message::Dump(req) => {
                dump(&mut out, &req, &known)?;
                known.clear();
            }
            Message::Estimate(req) => estimate::answer(&mut out, &req)?,
            other => {
                let message = format!("unexpected request {other:?}");
                out.send(&Message::Error { message })?
            }
        }
    }
}

fn hello<W: Write>(out: &mut FrameWriter<W>, protocol: u32) -> Result<()> {
    if protocol != PROTOCOL_VERSION {
        let message = format!("agent speaks protocol {PROTOCOL_VERSION}, server {protocol}");
        out.send(&Message::Error { message })?;
        bail!("protocol version mismatch (server {protocol})");
    }
    let tool_version = env!("CARGO_PKG_VERSION").to_string();
    out.send(&Message::HelloOk {
        protocol,
        tool_version,
        time: unix_now(),
    })?;
    Ok(())
}

fn unix_now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Run one dump request. A bad request is answered with Error; only output failures abort.
fn dump<W: Write>(
    out: &mut FrameWriter<W>,
    req: &DumpRequest,
    known: &HashSet<Vec<u8>>,
) -> Result<()> {
    let Some(exclude) = checked(out, &req.path, &req.exclude)? else {
        return Ok(());
    };
    out.send(&Message::Started {
        time_ns: chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0),
    })?;
    let root = Path::new(&req.path);
    let since = req.since.map(|time| walk::Since {
        time,
        known_dirs: known,
    });
    let walk = Walk {
        root,
        exclude: &exclude,
        one_file_system: req.one_file_system,
        since,
    };
    let sink = match req.gzip_level {
        None => Out::Plain(out),
        Some(l) => Out::Gzip(GzEncoder::new(out, flate2::Compression::new(l))),
    };
    let summary = stream(sink, &walk)?;
    out.send(&Message::Done(summary))?;
    Ok(())
}

/// [`check_request`], answering a bad request with an Error message (None) instead of
/// failing: the agent stays up for the next request.
fn checked<W: Write>(
    out: &mut FrameWriter<W>,
    path: &str,
    exclude: &[String],
) -> Result<Option<globset::GlobSet>> {
    match check_request(path, exclude) {
        Ok(g) => Ok(Some(g)),
        Err(e) => {
            out.send(&Message::Error {
                message: format!("{e:#}"),
            })?;
            Ok(None)
        }
    }
}

/// A request's path must be an existing absolute directory; its excludes must be globs.
fn check_request(path: &str, exclude: &[String]) -> Result<globset::GlobSet> {
    let p = Path::new(path);
    if !p.is_absolute() {
        bail!("{path:?} is not an absolute path");
    }
    let md = std::fs::metadata(p).with_context(|| format!("cannot dump {path}"))?;
    if !md.is_dir() {
        bail!("cannot dump {path}: not a directory");
    }
    let mut b = globset::GlobSetBuilder::new();
    for pat in exclude {
        b.add(globset::Glob::new(pat).with_context(|| format!("bad exclude {pat:?}"))?);
    }
    Ok(b.build()?)
}

fn stream<W: Write>(out: Out<W>, walk: &Walk) -> Result<DumpSummary> {
    let mut tar = TarWriter::new(out);
    let stats = walk::dump_tree(&mut tar, walk)?;
    let tar_bytes = tar.bytes() + 1024;
    tar.finish()?.finish()?;
    Ok(DumpSummary {
        files: stats.files,
        tar_bytes,
        warnings: stats.warnings,
    })
}

/// The agent's output: framed, optionally gzip-compressed on the client.
// Built once per dump and never stored in bulk: boxing the big variant would buy nothing.
#[allow(clippy::large_enum_variant)]
enum Out<'a, W: Write> {
    Plain(&'a mut FrameWriter<W>),
    Gzip(GzEncoder<&'a mut FrameWriter<W>>),
}

impl<W: Write> Out<'_, W> {
    fn frames(&mut self) -> &mut FrameWriter<W> {
        match self {
            Out::Plain(f) => f,
            Out::Gzip(g) => g.get_mut(),
        }
    }

    /// Flush everything; a gzip stream gets its trailer.
    fn finish(self) -> io::Result<()> {
        match self {
            Out::Plain(f) => f.flush(),
            Out::Gzip(g) => g.finish()?.flush(),
        }
    }
}

impl<W: Write> Write for Out<'_, W> {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        match self {
            Out::Plain(f) => f.write(b),
            Out::Gzip(g) => g.write(b),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Out::Plain(f) => f.flush(),
            Out::Gzip(g) => g.flush(),
        }
    }
}

impl<W: Write> Sink for Out<'_, W> {
    fn warning(&mut self, path: &str, message: &str) -> io::Result<()> {
        eprintln!("tapir agent: warning: {path}: {message}");
        let m = Message::Warning {
            path: path.to_string(),
            message: message.to_string(),
        };
        self.frames().send(&m)
    }
}
