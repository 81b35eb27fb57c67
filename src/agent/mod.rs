//! The client side: `tapir agent`, run by the SSH forced command or spawned locally. It reads
//! protocol requests on stdin and answers on stdout (protocol data only; diagnostics go to
//! stderr). It never runs a shell or anything the server names: it only walks and reads.

pub mod estimate;
pub mod policy;
pub mod program;
pub mod tar_out;
pub mod walk;

use crate::codec::{Codec, ParallelWriter};
use crate::transport::protocol::{
    self, DumpRequest, DumpSummary, Frame, FrameWriter, Message, PROTOCOL_VERSION,
};
use anyhow::{Context, Result, bail};
use policy::Policy;
use std::collections::HashSet;
use std::io::{self, Read, Write};
use tar_out::TarWriter;
use walk::{Sink, Walk};

/// Serve requests until the server says Bye or closes the stream. A request that is not
/// one of the protocol's, or has fields it does not know, is refused, logged, and ends the
/// session.
pub fn serve<R: Read + std::os::fd::AsFd, W: Write>(
    mut input: R,
    output: W,
    policy: &Policy,
) -> Result<()> {
    let mut out = FrameWriter::new(output);
    let mut buf = Vec::new();
    let mut known = HashSet::new();
    loop {
        let msg = match protocol::read_frame(&mut input, &mut buf) {
            Ok(Frame::Eof | Frame::Msg(Message::Bye)) => return Ok(()),
            Ok(Frame::Data) => return refuse(&mut out, policy, "the server sent data".into()),
            Ok(Frame::Msg(m)) => m,
            Err(e) => return refuse(&mut out, policy, format!("{e:#}")),
        };
        match msg {
            Message::Hello { protocol, .. } => hello(&mut out, protocol)?,
            Message::KnownDirs { dirs } => {
                known.extend(dirs.iter().map(|d| crate::catalog::index::unescape(d)));
            }
            Message::Dump(req) => {
                dump(&mut out, &req, &known, policy, input.as_fd())?;
                known.clear();
            }
            Message::Estimate(req) => estimate::answer(&mut out, &req, policy)?,
            Message::Check { paths, programs } => {
                let mut results: Vec<_> = paths
                    .into_iter()
                    .map(|p| {
                        let r = check_readable(policy, &p).err().map(|e| format!("{e:#}"));
                        (p, r)
                    })
                    .collect();
                results.extend(programs.into_iter().map(|(name, disk)| {
                    let r = policy
                        .program(&name, &disk)
                        .and_then(|p| program::check(p, &name, &disk))
                        .err()
                        .map(|e| format!("{e:#}"));
                    (disk, r)
                }));
                out.send(&Message::CheckResult { results })?;
            }
            Message::RunHook { name, phase } => run_group_hook(&mut out, policy, &name, &phase)?,
            other => return refuse(&mut out, policy, format!("unexpected request {other:?}")),
        }
    }
}

/// Log a refused request and answer it with Error; the session goes on.
fn answer_refused<W: Write>(
    out: &mut FrameWriter<W>,
    policy: &Policy,
    what: &str,
    e: anyhow::Error,
) -> Result<()> {
    policy.refuse(&format!("{what}: {e:#}"));
    out.send(&Message::Error {
        message: format!("refused: {e:#}"),
    })?;
    Ok(())
}

/// Log a refusal, tell the server, and end the session with an error.
fn refuse<W: Write>(out: &mut FrameWriter<W>, policy: &Policy, why: String) -> Result<()> {
    policy.refuse(&why);
    let _ = out.send(&Message::Error {
        message: format!("refused: {why}"),
    });
    bail!("refused: {why}")
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
        time: chrono::Utc::now().timestamp(),
    })?;
    Ok(())
}

/// One phase of a named hook, for a hook group; answered with HookDone or Error.
fn run_group_hook<W: Write>(
    out: &mut FrameWriter<W>,
    policy: &Policy,
    name: &str,
    phase: &str,
) -> Result<()> {
    let hook = match (policy.hooks(&[name.to_string()]), phase) {
        (Ok(h), "pre") => h[0].1.pre.clone(),
        (Ok(h), "post") => h[0].1.post.clone(),
        (Ok(_), _) => {
            let e = anyhow::anyhow!("hook phase {phase:?} is neither pre nor post");
            return answer_refused(out, policy, &format!("hook {name:?}"), e);
        }
        (Err(e), _) => return answer_refused(out, policy, &format!("hook {name:?}"), e),
    };
    match policy::run_hook(name, &hook) {
        Ok(()) => out.send(&Message::HookDone)?,
        Err(e) => out.send(&Message::Error {
            message: format!("{e:#}"),
        })?,
    }
    Ok(())
}

/// What a dump request reads: a directory tree, or a program's output.
enum Source<'p> {
    Tree(std::path::PathBuf, Selection),
    Program(&'p str, &'p program::Program),
}

/// Check a dump request against the policy: its tree (path, patterns, lists) or its program.
fn source<'p>(policy: &'p Policy, req: &'p DumpRequest) -> Result<Source<'p>> {
    if let Some(name) = &req.program {
        return Ok(Source::Program(name, policy.program(name, &req.path)?));
    }
    let lists = Lists {
        exclude: &req.exclude_list,
        include: &req.include_list,
        optional: req.optional_lists,
    };
    let (root, select) = check_request(policy, &req.path, &req.exclude, &req.include, &lists)?;
    Ok(Source::Tree(root, select))
}

/// Run one dump request between its hooks. A bad request is answered with Error (and
/// logged); only output failures abort.
fn dump<W: Write>(
    out: &mut FrameWriter<W>,
    req: &DumpRequest,
    known: &HashSet<Vec<u8>>,
    policy: &Policy,
    watch: std::os::fd::BorrowedFd<'_>,
) -> Result<()> {
    let checked = source(policy, req).and_then(|s| Ok((s, policy.hooks(&req.hooks)?)));
    let (src, hooks) = match checked {
        Ok(c) => c,
        Err(e) => return answer_refused(out, policy, &format!("dump {:?}", req.path), e),
    };
    let pre: Result<()> = hooks
        .iter()
        .try_for_each(|(n, h)| policy::run_hook(n, &h.pre));
    let result = match (pre, src) {
        (Ok(()), Source::Tree(root, select)) => walk_and_send(out, req, &root, &select, known),
        (Ok(()), Source::Program(name, prog)) => run_and_send(out, req, name, prog, watch),
        (Err(e), _) => out
            .send(&Message::Error {
                message: format!("{e:#}"),
            })
            .map_err(Into::into),
    };
    for (n, h) in hooks.iter().rev() {
        if let Err(e) = policy::run_hook(n, &h.post) {
            eprintln!("tapir agent: {e:#}");
        }
    }
    result
}

fn walk_and_send<W: Write>(
    out: &mut FrameWriter<W>,
    req: &DumpRequest,
    root: &std::path::Path,
    select: &Selection,
    known: &HashSet<Vec<u8>>,
) -> Result<()> {
    out.send(&Message::Started {
        time_ns: chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0),
    })?;
    let since = req.since.map(|time| walk::Since {
        time,
        known_dirs: known,
    });
    let walk = Walk {
        root,
        select,
        one_file_system: req.one_file_system,
        since,
    };
    let summary = stream(sink(out, req)?, &walk)?;
    out.send(&Message::Done(summary))?;
    Ok(())
}

/// Where a dump's bytes go: the frames, compressed first when the request asks for it.
fn sink<'a, W: Write>(out: &'a mut FrameWriter<W>, req: &DumpRequest) -> Result<Out<'a, W>> {
    let codec = match (req.gzip_level, req.zstd_level) {
        (_, Some(l)) => Some(Codec::Zstd(l.clamp(1, 19))),
        (Some(l), None) => Some(Codec::Gzip(l.clamp(1, 12))),
        (None, None) => None,
    };
    Ok(match codec {
        None => Out::Plain(out),
        Some(c) => Out::Packed(ParallelWriter::new(out, c, crate::codec::threads(), None)?),
    })
}

/// A program DLE: the program's stdout is the stream. A program that fails, hangs until the
/// server gives up, or writes nothing is answered with Error (its stderr's last lines).
fn run_and_send<W: Write>(
    out: &mut FrameWriter<W>,
    req: &DumpRequest,
    name: &str,
    prog: &program::Program,
    watch: std::os::fd::BorrowedFd<'_>,
) -> Result<()> {
    out.send(&Message::Started {
        time_ns: chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0),
    })?;
    let mut data = sink(out, req)?;
    let ran = program::run_backup(prog, name, &req.path, &mut data, Some(watch));
    let ran = ran.and_then(|o| {
        data.finish()?;
        Ok(o)
    });
    match ran {
        Ok(o) => out.send(&Message::Done(DumpSummary {
            files: 1,
            tar_bytes: o.bytes,
            warnings: 0,
            notes: o.notes,
            restore: o.restore,
        }))?,
        Err(e) => {
            eprintln!("tapir agent: {e:#}");
            out.send(&Message::Error {
                message: format!("{e:#}"),
            })?
        }
    }
    Ok(())
}

/// How long `tapir check` looks for unreadable files in one DLE.
const CHECK_BUDGET: std::time::Duration = std::time::Duration::from_secs(10);

/// What `tapir check` marks as a warning, not a failure: the DLE dumps, PARTIAL.
pub const PARTIAL_PREFIX: &str = "PARTIAL: ";

/// For `tapir check`: the path passes the policy, its directory can be listed, and every
/// file and directory below it can be read by this account (else the nightly dump would be
/// PARTIAL: say which, before the night does).
fn check_readable(policy: &Policy, path: &str) -> Result<()> {
    let root = policy.check_path(path)?;
    std::fs::read_dir(&root).with_context(|| format!("cannot read {path}"))?;
    let (unreadable, total) = unreadable_below(&root);
    if !unreadable.is_empty() {
        let more = unreadable.len().saturating_sub(3);
        let shown: Vec<String> = unreadable
            .iter()
            .take(3)
            .map(|p| p.display().to_string())
            .collect();
        bail!(
            "{PARTIAL_PREFIX}this account ({}) cannot read {} of {total} entries checked ({}{}): \
             tonight's dump would be PARTIAL; run the agent as root, or give it \
             cap_dac_read_search (README: reading everything without root)",
            account(),
            unreadable.len(),
            shown.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            },
        );
    }
    Ok(())
}

/// Entries below `root` this process cannot read (files: opened as the dump would open
/// them, so capabilities count) or list (directories), and how many there are in all.
/// The walk stops after [`CHECK_BUDGET`] (a check must stay quick on a DLE of millions of
/// files); the count then says how far it got.
fn unreadable_below(root: &std::path::Path) -> (Vec<std::path::PathBuf>, u64) {
    use std::os::unix::fs::OpenOptionsExt;
    let mut bad = Vec::new();
    let mut total = 0;
    let started = std::time::Instant::now();
    for e in walkdir::WalkDir::new(root).same_file_system(true) {
        if started.elapsed() > CHECK_BUDGET {
            break;
        }
        total += 1;
        match e {
            Err(err) => bad.extend(err.path().map(|p| p.to_path_buf())),
            Ok(e) if e.file_type().is_file() => {
                let opened = std::fs::OpenOptions::new()
                    .read(true)
                    .custom_flags(crate::sys::oflags(&[
                        rustix::fs::OFlags::NONBLOCK,
                        rustix::fs::OFlags::NOFOLLOW,
                        rustix::fs::OFlags::NOCTTY,
                    ]))
                    .open(e.path());
                if opened.is_err() {
                    bad.push(e.path().to_path_buf());
                }
            }
            Ok(_) => {}
        }
    }
    bad.sort();
    bad.dedup();
    (bad, total)
}

fn account() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| format!("uid {}", crate::sys::euid()))
}

/// What of a DLE is dumped: everything but what `exclude` matches and, when there are
/// includes (Amanda's `include "./x"`), only the top-level names they match.
pub struct Selection {
    exclude: globset::GlobSet,
    include: Option<globset::GlobSet>,
}

impl Selection {
    /// Everything.
    pub fn all() -> Selection {
        Selection {
            exclude: globset::GlobSet::empty(),
            include: None,
        }
    }

    /// Whether `rel` (relative to the DLE root) is left out, with all below it.
    pub fn skips(&self, rel: &std::path::Path) -> bool {
        if rel.as_os_str().is_empty() {
            return false;
        }
        if let Some(inc) = &self.include {
            let top = rel.components().next().map(|c| c.as_os_str());
            if !top.is_some_and(|t| inc.is_match(t)) {
                return true;
            }
        }
        self.exclude.is_match(rel)
    }
}

/// A request's path must pass the policy and be a directory; its excludes and includes must
/// be plain globs. Returns the resolved root and what to dump of it.
/// List files of a request (Amanda's `exclude list` / `include list`).
pub struct Lists<'a> {
    pub exclude: &'a [String],
    pub include: &'a [String],
    pub optional: bool,
}

/// The patterns of list files on this client: one a line, blank lines and `#` comments
/// skipped; a relative name is relative to the DLE's root. A list file must be inside the
/// allowed roots like any dumped path (the server cannot make the agent read elsewhere).
fn read_lists(
    policy: &Policy,
    root: &std::path::Path,
    files: &[String],
    optional: bool,
) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for f in files {
        policy::check_text("list file", f)?;
        let path = root.join(f.strip_prefix("./").unwrap_or(f));
        if optional && !path.exists() {
            continue;
        }
        let path = policy
            .check_path(&path.to_string_lossy())
            .with_context(|| format!("list file {f}"))?;
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read the list file {}", path.display()))?;
        out.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(String::from),
        );
    }
    Ok(out)
}

fn check_request(
    policy: &Policy,
    path: &str,
    exclude: &[String],
    include: &[String],
    lists: &Lists,
) -> Result<(std::path::PathBuf, Selection)> {
    let root = policy.check_path(path)?;
    if !root.is_dir() {
        bail!("cannot dump {path}: not a directory");
    }
    let mut exclude = exclude.to_vec();
    exclude.extend(read_lists(policy, &root, lists.exclude, lists.optional)?);
    let mut include = include.to_vec();
    include.extend(read_lists(policy, &root, lists.include, lists.optional)?);
    let (exclude, include) = (&exclude, &include);
    let mut b = globset::GlobSetBuilder::new();
    for pat in exclude {
        policy::check_text("exclude", pat)?;
        b.add(globset::Glob::new(pat).with_context(|| format!("bad exclude {pat:?}"))?);
    }
    let include = if include.is_empty() {
        None
    } else {
        let mut i = globset::GlobSetBuilder::new();
        for pat in include {
            policy::check_text("include", pat)?;
            crate::config::dumptype::check_include(std::slice::from_ref(pat))
                .map_err(anyhow::Error::msg)?;
            let name = &pat[2..];
            i.add(globset::Glob::new(name).with_context(|| format!("bad include {pat:?}"))?);
        }
        Some(i.build()?)
    };
    Ok((
        root,
        Selection {
            exclude: b.build()?,
            include,
        },
    ))
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
        ..DumpSummary::default()
    })
}

/// The agent's output: framed, optionally compressed on the client (in independent blocks
/// on every core, as the server does).
// Built once per dump and never stored in bulk: boxing the big variant would buy nothing.
#[allow(clippy::large_enum_variant)]
enum Out<'a, W: Write> {
    Plain(&'a mut FrameWriter<W>),
    Packed(ParallelWriter<&'a mut FrameWriter<W>>),
}

impl<W: Write> Out<'_, W> {
    fn frames(&mut self) -> &mut FrameWriter<W> {
        match self {
            Out::Plain(f) => f,
            Out::Packed(p) => p.get_mut(),
        }
    }

    /// Flush everything; the compressor writes its last block.
    fn finish(self) -> io::Result<()> {
        match self {
            Out::Plain(f) => f.flush(),
            Out::Packed(p) => p.finish()?.inner.flush(),
        }
    }
}

impl<W: Write> Write for Out<'_, W> {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        match self {
            Out::Plain(f) => f.write(b),
            Out::Packed(p) => p.write(b),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Out::Plain(f) => f.flush(),
            Out::Packed(p) => p.flush(),
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
