//! One DLE, one attempt: ask the agent for a dump, push the stream through the pipeline into
//! a `.partial` tape file, and commit file, index and history only when all of it is whole.

use super::taper::{Taper, Ticket};
use crate::catalog::{self, DumpRecord, index::IndexWriter};
use crate::codec::{
    Codec, Format,
    blocks::{self, TableWriter},
};
use crate::config::{
    Config,
    disklist::Dle,
    dumptype::{Dumptype, Encrypt},
};
use crate::failpoint;
use crate::keys::Recipient;
use crate::pipeline::{self, Pipeline, stages};
use crate::transport::{
    Session,
    protocol::{DumpRequest, DumpSummary, Head, Message},
};
use crate::vtape::{
    self,
    header::{DumpHeader, PayloadFormat, Sealed, WriteState},
    writer::TapeFile,
};
use anyhow::{Context, Result, anyhow, bail};
use std::io::Write;
use std::sync::Mutex;
use std::time::Instant;

/// Everything one dump needs that does not change between attempts.
pub struct Job<'a> {
    pub cfg: &'a Config,
    pub dle: &'a Dle,
    pub level: u8,
    /// The dump an incremental is taken against.
    pub reference: Option<&'a DumpRecord>,
    pub datestamp: &'a str,
    pub recipients: &'a [Recipient],
    pub signer: &'a crate::signing::Signer,
    /// Bytes the client may send before the dump is a runaway (max_growth × the estimate).
    pub limit: u64,
    /// Where received bytes are told (the progress file shows them to `tapir status`).
    pub events: &'a super::events::Events,
}

/// A dump that reached its tape.
pub struct Written {
    pub record: DumpRecord,
    pub warnings: Vec<String>,
    /// A program's stderr after a good run.
    pub notes: Vec<String>,
    pub index_note: Option<String>,
}

/// Why an attempt did not produce a file.
pub enum Failure {
    /// The tape's capacity would have been exceeded; nothing was kept. `too_big`: the dump
    /// alone needs more than an empty tape.
    TapeFull {
        too_big: bool,
    },
    Failed(anyhow::Error),
}

impl<T: Into<anyhow::Error>> From<T> for Failure {
    fn from(e: T) -> Self {
        Failure::Failed(e.into())
    }
}

/// Dump `job` onto the taper's tapes, moving to the next tape when one fills. The taper
/// is locked only to take a ticket and to move on: other dumps write meanwhile.
pub fn run(job: &Job, taper: &Mutex<Taper>) -> Result<Written> {
    loop {
        // Connect first: a client that cannot be reached must not cost a tape.
        let session = connect(job)?;
        let ticket = lock(taper).ticket()?;
        match attempt(job, session, &ticket) {
            Ok(w) => {
                lock(taper).recorded(w.record.clone());
                return Ok(w);
            }
            Err(Failure::Failed(e)) => {
                let mut t = lock(taper);
                if t.tape_failed(&ticket, &e) {
                    continue;
                }
                t.give_back(&ticket);
                return Err(e);
            }
            Err(Failure::TapeFull { too_big }) => {
                let mut t = lock(taper);
                t.give_back(&ticket);
                if too_big {
                    bail!(
                        "the dump is larger than a whole tape (tape_size {}); nothing was written",
                        crate::units::human(job.cfg.changer.tape_size)
                    );
                }
                t.tape_full(&ticket)?;
            }
        }
    }
}

fn lock<'m, 'a>(taper: &'m Mutex<Taper<'a>>) -> std::sync::MutexGuard<'m, Taper<'a>> {
    taper.lock().unwrap_or_else(|p| p.into_inner())
}

fn connect(job: &Job) -> Result<Session> {
    super::prepare::connect(job.cfg, job.dle)
}

/// Tell the agent which directories the reference dump had (from its index), so it can dump
/// new and renamed directories whole.
fn send_known_dirs(job: &Job, session: &mut Session) -> Result<()> {
    let Some(r) = job.reference else {
        return Ok(());
    };
    let ix = r
        .index
        .as_ref()
        .context("the reference dump has no index")?;
    let mut dirs = Vec::new();
    catalog::index::each(&job.cfg.catalog.join(ix), |l| {
        if l.t == "5" {
            dirs.push(l.p);
        }
        if dirs.len() == 20_000 {
            session.send(&Message::KnownDirs {
                dirs: std::mem::take(&mut dirs),
            })?;
        }
        Ok(())
    })?;
    if !dirs.is_empty() {
        session.send(&Message::KnownDirs { dirs })?;
    }
    Ok(())
}

/// The codec the client compresses with, if it does.
fn client_codec(dt: &Dumptype) -> Option<Codec> {
    dt.compress
        .codec(dt.compress_level)
        .filter(|_| dt.compress.on_client())
}

/// The codec the server compresses with, if it does.
fn server_codec(dt: &Dumptype) -> Option<Codec> {
    dt.compress
        .codec(dt.compress_level)
        .filter(|_| !dt.compress.on_client())
}

fn request(job: &Job) -> DumpRequest {
    let dt = job.cfg.dumptype(job.dle);
    DumpRequest {
        path: job.dle.device.clone(),
        level: job.level,
        exclude: dt.exclude.clone(),
        include: dt.include.clone(),
        exclude_list: dt.exclude_list.clone(),
        include_list: dt.include_list.clone(),
        optional_lists: dt.optional_lists,
        one_file_system: dt.one_file_system,
        gzip_level: match client_codec(dt) {
            Some(Codec::Gzip(l)) => Some(l),
            _ => None,
        },
        zstd_level: match client_codec(dt) {
            Some(Codec::Zstd(l)) => Some(l),
            _ => None,
        },
        since: job.reference.map(|r| r.client_time_ns),
        hooks: dt.hooks.clone(),
        program: dt.program.clone(),
    }
}

fn header(job: &Job, tape: &Ticket, file_number: u32) -> DumpHeader {
    let dt = job.cfg.dumptype(job.dle);
    DumpHeader {
        label: tape.label.clone(),
        slot: tape.slot,
        file_number,
        datestamp: job.datestamp.to_string(),
        host: job.dle.host.clone(),
        disk: job.dle.disk.clone(),
        level: job.level,
        dumptype: job.dle.dumptype.clone(),
        compress: dt.compress,
        encrypt: if dt.encrypt == Encrypt::Server {
            Sealed::Server
        } else {
            Sealed::None
        },
        recipients: match dt.encrypt {
            Encrypt::Server => job.recipients.iter().map(Recipient::fingerprint).collect(),
            Encrypt::None => vec![],
        },
        original_size: 0,
        payload_size: 0,
        payload_sha256: String::new(),
        complete: false,
        status: WriteState::Writing,
        files: 0,
        client_time_ns: 0,
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        age_header_sha256: String::new(),
        signer: String::new(),
        format: if dt.program.is_some() {
            PayloadFormat::Stream
        } else {
            PayloadFormat::Tar
        },
        program: dt.program.clone().unwrap_or_default(),
        stream_name: dt.program.as_ref().map_or(String::new(), |p| {
            vtape::header::stream_file_name(&job.dle.disk, p)
        }),
        stream_sha256: String::new(),
        program_restore: String::new(),
    }
}

fn attempt(job: &Job, mut session: Session, tape: &Ticket) -> Result<Written, Failure> {
    let started = Instant::now();
    let dt = job.cfg.dumptype(job.dle);
    let name = vtape::dump_file_name(tape.file_number, &job.dle.host, &job.dle.disk, job.level);
    let mut hdr = header(job, tape, tape.file_number);
    let (tf, file) = TapeFile::create(&tape.dir, &name, &hdr.encode(&name, None)?)?;
    let index_rel =
        catalog::index::rel_path(&job.dle.host, &job.dle.disk, job.datestamp, job.level);
    let codec = server_codec(dt);
    let (index, table) = index_writers(job, &index_rel, codec)?;
    let opts = pipeline::Options {
        codec,
        client: client_codec(dt).map_or(Format::None, Codec::format),
        threads: crate::codec::threads(),
        recipients: (dt.encrypt == Encrypt::Server).then_some(job.recipients),
        space: tape.space.clone(),
        stream: dt.program.is_some().then(|| hdr.stream_name.clone()),
        file_sums: dt.file_sha256,
    };
    let full = pipeline::FullFlag::default();
    let tape_full = |e: std::io::Error| match full.load(std::sync::atomic::Ordering::SeqCst) {
        stages::ROOM_OK => Failure::Failed(anyhow!(e)),
        state => Failure::TapeFull {
            too_big: state == stages::TOO_BIG,
        },
    };
    let mut pipe = Pipeline::new(file, index, table, &opts, &full).map_err(tape_full)?;
    send_known_dirs(job, &mut session)?;
    session.send(&Message::Dump(Box::new(request(job))))?;
    let at = job.events.place(&job.dle.host, &job.dle.disk);
    let counted = |n: usize| job.events.emit(super::events::Event::Bytes(at, n as u64));
    let streamed = stream(&mut session, &mut pipe, &tape_full, &counted, job.limit);
    let (summary, client_time_ns, warnings) = match streamed {
        Ok(s) => s,
        Err(Failure::Failed(e)) => return Err(Failure::Failed(session.with_agent_stderr(e))),
        Err(f) => return Err(f),
    };
    session.close().context("agent did not exit cleanly")?;
    let fin = pipe.finish().map_err(tape_full)?;
    let mut warnings = warnings;
    check_arrived(dt, &summary, &fin, &mut warnings)?;
    complete_header(&mut hdr, dt, &summary, &fin, &warnings, client_time_ns)?;
    let index_note = match fin.index {
        Ok(ix) => {
            commit_index(ix, fin.table)?;
            None
        }
        Err(why) => dt.index.then(|| format!("no index: {why}")),
    };
    tf.commit(fin.file, &hdr.encode(&name, Some(job.signer))?)?;
    failpoint::hit("before-catalog");
    let record = hdr.record(
        &name,
        started.elapsed().as_secs_f64(),
        index_note
            .is_none()
            .then_some(index_rel)
            .filter(|_| dt.index),
    );
    catalog::history::append(&job.cfg.catalog, &record)?;
    Ok(Written {
        record,
        warnings,
        notes: summary.notes.iter().take(50).map(|n| clip(n)).collect(),
        index_note,
    })
}

/// The index and, for a block codec, its block table (when the dumptype indexes).
fn index_writers(
    job: &Job,
    index_rel: &str,
    codec: Option<Codec>,
) -> Result<(Option<IndexWriter>, Option<TableWriter>)> {
    let dt = job.cfg.dumptype(job.dle);
    if !dt.index {
        return Ok((None, None));
    }
    let index = IndexWriter::create(&job.cfg.catalog, index_rel)?;
    let table = match codec {
        Some(c) => Some(TableWriter::create(
            blocks::path_for(&job.cfg.catalog.join(index_rel)),
            c.format(),
            c.block_size(),
        )?),
        None => None,
    };
    Ok((Some(index), table))
}

/// What arrived must be a whole tar (or the agent said why not: PARTIAL), and as many bytes
/// as the client says it sent (a compressing client counts the tar before compression,
/// which the server cannot see; a program's stream is always counted).
fn check_arrived(
    dt: &crate::config::dumptype::Dumptype,
    summary: &DumpSummary,
    fin: &pipeline::Finished,
    warnings: &mut Vec<String>,
) -> Result<(), Failure> {
    if let Err(why) = &fin.tar {
        // the agent's own read errors explain a cut stream: keep what came, PARTIAL
        if warnings.is_empty() {
            return Err(Failure::Failed(anyhow!(
                "the client's stream is not a complete tar archive: {why}"
            )));
        }
        warnings.push(format!("the tar stream is incomplete: {why}"));
    }
    let stream = fin.stream_sha256.is_some();
    if (stream || !dt.compress.on_client()) && summary.tar_bytes != fin.received {
        let what = if stream {
            "the client's program wrote"
        } else {
            "the client says it sent"
        };
        let unit = if stream { "bytes" } else { "bytes of tar" };
        return Err(Failure::Failed(anyhow!(
            "{what} {} {unit}, but {} arrived",
            summary.tar_bytes,
            fin.received
        )));
    }
    Ok(())
}

/// The header's final fields: sizes, payload sha256, status, and the age header's pin.
fn complete_header(
    hdr: &mut DumpHeader,
    dt: &crate::config::dumptype::Dumptype,
    summary: &DumpSummary,
    fin: &pipeline::Finished,
    warnings: &[String],
    client_time_ns: i64,
) -> Result<()> {
    if let Some(sha) = &fin.stream_sha256 {
        hdr.stream_sha256 = sha.clone();
        hdr.program_restore = clip(&summary.restore);
    }
    hdr.original_size = if dt.compress.on_client() {
        summary.tar_bytes
    } else {
        fin.received
    };
    hdr.payload_size = fin.payload_size;
    hdr.payload_sha256 = fin.payload_sha256.clone();
    hdr.complete = true;
    hdr.status = if warnings.is_empty() {
        WriteState::Ok
    } else {
        WriteState::Partial
    };
    hdr.files = summary.files;
    hdr.client_time_ns = client_time_ns;
    if dt.encrypt == Encrypt::Server {
        hdr.age_header_sha256 = age_pin(&fin.file, fin.payload_size)?;
    }
    Ok(())
}

/// Put the index (and its block table) in place, once the dump is complete.
fn commit_index(index: Option<IndexWriter>, table: Option<TableWriter>) -> Result<()> {
    if let Some(ix) = index {
        if let Some(t) = table {
            t.commit()?;
        }
        ix.commit()?;
    }
    Ok(())
}

/// The sha256 of the payload's age header, read back from the file just written.
fn age_pin(f: &std::fs::File, payload: u64) -> Result<String> {
    use std::os::unix::fs::FileExt;
    let mut first = vec![0u8; (payload as usize).min(1 << 16)];
    f.read_exact_at(&mut first, vtape::header::HEADER_SIZE as u64)
        .context("cannot read back the payload's age header")?;
    Ok(vtape::reader::age_header_sha256(&first))
}

/// Read the agent's answer into the pipeline until Done.
fn stream(
    session: &mut Session,
    pipe: &mut Pipeline,
    tape_full: &dyn Fn(std::io::Error) -> Failure,
    counted: &dyn Fn(usize),
    limit: u64,
) -> Result<(DumpSummary, i64, Vec<String>), Failure> {
    let mut received = 0u64;
    let mut buf = Vec::new();
    let mut warnings = Warnings::default();
    let mut client_time_ns = 0;
    let mut first = true;
    loop {
        match session.recv_head(&mut buf)? {
            Head::Data(len) => {
                received += len as u64;
                if received > limit {
                    return Err(Failure::Failed(anyhow!(
                        "runaway dump: the client sent more than {} (max_growth × its \
                         estimate); stopped",
                        crate::units::human(limit)
                    )));
                }
                take_data(session, pipe, &mut buf, len, tape_full)?;
                counted(len);
                if first {
                    failpoint::hit("mid-payload");
                    first = false;
                }
            }
            Head::Msg(Message::Started { time_ns }) => client_time_ns = time_ns,
            Head::Msg(Message::Warning { path, message }) => warnings.push(&path, &message),
            Head::Msg(Message::Done(s)) => return Ok((s, client_time_ns, warnings.into_vec())),
            Head::Msg(Message::Error { message }) => {
                return Err(Failure::Failed(anyhow!("agent: {}", clip(&message))));
            }
            Head::Msg(other) => {
                let shown = clip(&format!("{other:?}"));
                return Err(Failure::Failed(anyhow!(
                    "protocol error: unexpected {shown}"
                )));
            }
            Head::Eof => {
                return Err(Failure::Failed(anyhow!(
                    "agent disconnected in the middle of the dump"
                )));
            }
        }
    }
}

/// A data frame's `len` bytes into the pipeline: read straight into the compressors' block
/// when the server compresses, else through `buf`.
fn take_data(
    session: &mut Session,
    pipe: &mut Pipeline,
    buf: &mut Vec<u8>,
    mut len: usize,
    tape_full: &dyn Fn(std::io::Error) -> Failure,
) -> Result<(), Failure> {
    while len > 0 {
        let n = match pipe.room() {
            Some(room) => {
                let n = room.len().min(len);
                session.read_data(&mut room[..n])?;
                pipe.filled(n).map_err(tape_full)?;
                n
            }
            None => {
                buf.resize(len, 0);
                session.read_data(buf)?;
                pipe.write_all(buf).map_err(tape_full)?;
                len
            }
        };
        len -= n;
    }
    Ok(())
}

/// The runaway limit of one dump. A program DLE with neither an estimate command nor an
/// earlier dump has nothing to be measured against: only the tape's capacity bounds it.
pub fn limit_for(dt: &Dumptype, expected: u64) -> u64 {
    if dt.program.is_some() && expected == 0 {
        return u64::MAX;
    }
    runaway_limit(expected, dt.max_growth)
}

/// The bytes a dump may receive: `max_growth` × its expected size, at least 64 MiB's worth.
pub fn runaway_limit(expected: u64, max_growth: f64) -> u64 {
    let v = expected.max(64 << 20) as f64 * max_growth;
    if v >= u64::MAX as f64 {
        u64::MAX
    } else {
        v as u64
    }
}

/// Warnings kept per dump, and bytes per warning: a client cannot fill the server's memory,
/// the run log or the report with them; the rest is counted.
pub const MAX_WARNINGS: usize = 1000;
pub const MAX_WARNING_BYTES: usize = 1024;

/// A client's warnings, bounded in count and size.
#[derive(Default)]
struct Warnings {
    kept: Vec<String>,
    dropped: u64,
    dropped_bytes: u64,
}

impl Warnings {
    fn push(&mut self, path: &str, message: &str) {
        if self.kept.len() < MAX_WARNINGS {
            self.kept.push(clip(&format!("{path}: {message}")));
        } else {
            self.dropped += 1;
            self.dropped_bytes += (path.len() + message.len()) as u64;
        }
    }

    fn into_vec(mut self) -> Vec<String> {
        if self.dropped > 0 {
            self.kept.push(format!(
                "… and {} more warning(s) ({} bytes) not kept",
                self.dropped, self.dropped_bytes
            ));
        }
        self.kept
    }
}

/// At most [`MAX_WARNING_BYTES`] of a client's text, control characters removed.
fn clip(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_WARNING_BYTES)
        .collect();
    while out.len() > MAX_WARNING_BYTES {
        out.pop();
    }
    if out.len() < s.len() {
        out.push('…');
    }
    out
}
