//! The one way to read a tape file: its header (signature checked against the key readers
//! trust), its place (slot, label, file name) and the catalog's record compared field by
//! field, then the payload through a hashing reader whose `finish` checks size and sha256.
//! fetch, verify, mirror, recover (whole and random access) and catalog rebuild all use it,
//! so every check exists once and every refusal is a typed [`Problem`] naming the file.

use super::TapePath;
use super::header::{DumpHeader, HEADER_SIZE, Parsed};
use super::source::TapeSource;
use crate::catalog::DumpRecord;
use sha2::{Digest, Sha256};
use std::io::{self, BufReader, Read, Seek, SeekFrom};

use crate::signing::Trust;

/// Where a file was found, and what the catalog says it holds.
#[derive(Debug, Clone, Copy, Default)]
pub struct Expect<'a> {
    pub slot: u32,
    /// The slot's label, when known.
    pub label: Option<&'a str>,
    pub record: Option<&'a DumpRecord>,
}

/// Why a tape file is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("not a readable tape file: {0}")]
    Unreadable(String),
    #[error("the header says the dump is incomplete")]
    Incomplete,
    #[error("TRUNCATED: {len} bytes, the header says {want}")]
    Truncated { len: u64, want: u64 },
    #[error("CORRUPT: {len} bytes, the header says {want}")]
    Padded { len: u64, want: u64 },
    #[error("CORRUPT: payload sha256 {sha}, the header says {want}")]
    Corrupt { sha: String, want: String },
    #[error("CORRUPT: {0}")]
    Damaged(String),
    #[error("MISMATCH: the header's {field} is {tape:?}, the catalog's is {catalog:?}")]
    Mismatch {
        field: &'static str,
        tape: String,
        catalog: String,
    },
    #[error("MISPLACED: the header's {field} is {tape:?}, but the file is at {place:?}")]
    Misplaced {
        field: &'static str,
        tape: String,
        place: String,
    },
    #[error(
        "UNSIGNED: the header carries no signature (written before tapes were signed, or \
         stripped); --insecure-skip-signature reads it anyway"
    )]
    Unsigned,
    #[error("BAD SIGNATURE: {0}")]
    BadSignature(String),
    #[error(
        "no signing public key to check the signature with: give --signing-pub FILE (the \
         .pub kept with the age identities), add its `# tapir signing key:` line to the \
         identity file, or set signing.public_key; --insecure-skip-signature reads without"
    )]
    NoSigner,
}

impl Problem {
    /// The word `tapir verify` prints for it.
    pub fn verdict(&self) -> &'static str {
        match self {
            Problem::Truncated { .. } => "TRUNCATED",
            Problem::Mismatch { .. } | Problem::Misplaced { .. } => "MISMATCH",
            Problem::Unsigned => "UNSIGNED",
            Problem::BadSignature(_) | Problem::NoSigner => "BADSIG",
            _ => "CORRUPT",
        }
    }
}

/// A refused tape file: which, and why.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{path}: {problem}")]
pub struct TapeError {
    pub path: TapePath,
    pub problem: Problem,
}

fn err(path: &TapePath, problem: Problem) -> TapeError {
    TapeError {
        path: path.clone(),
        problem,
    }
}

/// A tape file whose header held every check; the payload is read next.
pub struct Opened {
    pub path: TapePath,
    pub header: DumpHeader,
    /// False only when read with `--insecure-skip-signature` and no good signature.
    pub signed: bool,
    file: Box<dyn TapeSource>,
}

/// Open `path`, check its signature, length, place and the catalog's record.
pub fn open(path: &TapePath, trust: &Trust, expect: Expect) -> Result<Opened, TapeError> {
    let file = path
        .open()
        .map_err(|e| err(path, Problem::Unreadable(e.to_string())))?;
    let mut block = vec![0u8; HEADER_SIZE];
    file.read_exact_at(&mut block, 0).map_err(|_| {
        let m = format!("shorter than a {HEADER_SIZE}-byte header");
        err(path, Problem::Unreadable(m))
    })?;
    let parsed = super::header::parse_dump(&block)
        .map_err(|e| err(path, Problem::Unreadable(format!("{e:#}"))))?;
    let signed = check_signature(&parsed, trust).map_err(|p| err(path, p))?;
    let h = parsed.header;
    if !h.complete {
        return Err(err(path, Problem::Incomplete));
    }
    let len = file.size().unwrap_or(0);
    let want = HEADER_SIZE as u64 + h.payload_size;
    if len < want {
        return Err(err(path, Problem::Truncated { len, want }));
    }
    if len > want {
        return Err(err(path, Problem::Padded { len, want }));
    }
    check_place(&h, path, &expect).map_err(|p| err(path, p))?;
    if let Some(r) = expect.record {
        check_record(&h, r).map_err(|p| err(path, p))?;
    }
    Ok(Opened {
        path: path.clone(),
        header: h,
        signed,
        file,
    })
}

/// `Ok(true)`: signed by the trusted key; `Ok(false)`: not checked (skip); else refused.
/// The key must be trusted and the header dated inside that key's window.
pub fn check_signature<T: super::header::Dated>(
    p: &Parsed<T>,
    trust: &Trust,
) -> Result<bool, Problem> {
    let checked = match &p.signature {
        None => Err(Problem::Unsigned),
        Some(_) if trust.signers.is_empty() => Err(Problem::NoSigner),
        Some(sig) => trust
            .verify_dated(p.signed.as_bytes(), sig, &p.header.signed_at())
            .map_err(Problem::BadSignature),
    };
    match checked {
        Ok(()) => Ok(true),
        Err(_) if trust.skip_signature => Ok(false),
        Err(e) => Err(e),
    }
}

/// The header must name the place the file is in: its slot, the slot's label, its name.
fn check_place(h: &DumpHeader, path: &TapePath, e: &Expect) -> Result<(), Problem> {
    let name = path.file_name();
    let want = super::dump_file_name(h.file_number, &h.host, &h.disk, h.level);
    let misplaced =
        |field, tape: String, place: String| Err(Problem::Misplaced { field, tape, place });
    if name.as_deref() != Some(want.as_str()) {
        return misplaced("file name", want, name.unwrap_or_default());
    }
    if h.slot != e.slot {
        return misplaced("slot", h.slot.to_string(), format!("slot {}", e.slot));
    }
    if let Some(l) = e.label.filter(|l| *l != h.label) {
        return misplaced("label", h.label.clone(), format!("tape {l}"));
    }
    Ok(())
}

/// Every field the catalog recorded when the file was written must be the header's (the
/// payload may also be the one a `tapir rekey` in progress is replacing).
fn check_record(h: &DumpHeader, r: &DumpRecord) -> Result<(), Problem> {
    let pairs: [(&'static str, String, String); 10] = [
        ("host", h.host.clone(), r.host.clone()),
        ("disk", h.disk.clone(), r.disk.clone()),
        ("level", h.level.to_string(), r.level.to_string()),
        ("datestamp", h.datestamp.clone(), r.datestamp.clone()),
        ("label", h.label.clone(), r.label.clone()),
        ("slot", h.slot.to_string(), r.slot.to_string()),
        (
            "file number",
            h.file_number.to_string(),
            r.file_number.to_string(),
        ),
        (
            "payload size",
            h.payload_size.to_string(),
            r.payload_size.to_string(),
        ),
        (
            "payload sha256",
            h.payload_sha256.clone(),
            r.payload_sha256.clone(),
        ),
        (
            "compress",
            h.compress.name().to_string(),
            r.compress.clone(),
        ),
    ];
    let before_rekey = r
        .rekeyed_from
        .as_ref()
        .is_some_and(|p| p.tape_bytes == h.payload_size && p.payload_sha256 == h.payload_sha256);
    for (field, tape, catalog) in pairs {
        let replaced = field.starts_with("payload") && before_rekey;
        if tape != catalog && !replaced {
            return Err(Problem::Mismatch {
                field,
                tape,
                catalog,
            });
        }
    }
    Ok(())
}

impl Opened {
    /// The payload, hashed as it is read; [`Payload::finish`] checks it.
    pub fn payload(mut self) -> Result<Payload, TapeError> {
        let at = self.file.seek(SeekFrom::Start(HEADER_SIZE as u64));
        at.map_err(|e| err(&self.path, Problem::Unreadable(e.to_string())))?;
        Ok(Payload {
            inner: BufReader::with_capacity(1 << 20, self.file).take(self.header.payload_size),
            hash: Sha256::new(),
            bytes: 0,
            path: self.path,
            want: (self.header.payload_size, self.header.payload_sha256),
        })
    }

    /// The payload's bytes, not hashed: for a copy that is hashed where it lands. The caller
    /// must check what it wrote against `header.payload_sha256` (the header is signed), and
    /// read [`Opened::payload`] afterwards to tell a bad source from a bad copy.
    pub fn unhashed(&mut self) -> Result<impl Read + '_, TapeError> {
        let at = self.file.seek(SeekFrom::Start(HEADER_SIZE as u64));
        at.map_err(|e| err(&self.path, Problem::Unreadable(e.to_string())))?;
        Ok((&mut self.file).take(self.header.payload_size))
    }

    /// The payload's first `n` bytes (fewer when it is shorter), read at their offset: for a
    /// look at the age header without reading the data (one ranged read on object storage).
    pub fn payload_head(&self, n: usize) -> Result<Vec<u8>, TapeError> {
        let mut buf = vec![0u8; (self.header.payload_size as usize).min(n)];
        let read = self.file.read_exact_at(&mut buf, HEADER_SIZE as u64);
        read.map_err(|e| err(&self.path, Problem::Unreadable(e.to_string())))?;
        Ok(buf)
    }

    /// The header block as it is in the file (32 KiB, signature and padding included), read
    /// from the same open file as the payload.
    pub fn header_block(&self) -> Result<Vec<u8>, TapeError> {
        let mut block = vec![0u8; HEADER_SIZE];
        let read = self.file.read_exact_at(&mut block, 0);
        read.map_err(|e| err(&self.path, Problem::Unreadable(e.to_string())))?;
        Ok(block)
    }

    /// For random access: the file, after checking that the payload's age header is the
    /// one the signed header pins (so every age chunk read is this dump's, or fails).
    pub fn seekable(mut self) -> Result<(DumpHeader, Box<dyn TapeSource>), TapeError> {
        let at = self.file.seek(SeekFrom::Start(HEADER_SIZE as u64));
        at.map_err(|e| err(&self.path, Problem::Unreadable(e.to_string())))?;
        let pinned = &self.header.age_header_sha256;
        let refuse = |m: &str| Err(err(&self.path, Problem::Damaged(m.to_string())));
        if self.header.encrypt != super::header::Sealed::Server || pinned.is_empty() {
            if self.signed {
                return refuse("this payload cannot be checked piecewise: read it whole");
            }
            return Ok((self.header, self.file));
        }
        let mut buf = vec![0u8; (self.header.payload_size as usize).min(1 << 16)];
        let read = self.file.read_exact_at(&mut buf, HEADER_SIZE as u64);
        read.map_err(|e| err(&self.path, Problem::Unreadable(e.to_string())))?;
        if age_header_sha256(&buf) != *pinned {
            return refuse("the payload's age header is not the one its signed header pins");
        }
        Ok((self.header, self.file))
    }
}

/// Length of an age file's header and payload nonce at the start of `buf`.
pub fn age_header_len(buf: &[u8]) -> Option<usize> {
    if !buf.starts_with(b"age-encryption.org/v1\n") {
        return None;
    }
    let mac = buf.windows(5).position(|w| w == b"\n--- ")? + 1;
    let end = mac + buf[mac..].iter().position(|&b| b == b'\n')? + 1;
    (buf.len() >= end + 16).then_some(end + 16)
}

/// sha256 of the age header and nonce of a payload's first bytes, for the dump header.
pub fn age_header_sha256(first: &[u8]) -> String {
    age_header_len(first).map_or(String::new(), |n| {
        crate::units::hex(&Sha256::digest(&first[..n]))
    })
}

/// A payload being read: counted and hashed.
pub struct Payload {
    inner: io::Take<BufReader<Box<dyn TapeSource>>>,
    hash: Sha256,
    bytes: u64,
    path: TapePath,
    want: (u64, String),
}

impl Read for Payload {
    fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(b)?;
        self.hash.update(&b[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

impl Payload {
    /// Read what is left and check the size and sha256 against the header.
    pub fn finish(mut self) -> Result<(), TapeError> {
        let drained = io::copy(&mut self, &mut io::sink());
        drained.map_err(|e| err(&self.path, Problem::Unreadable(e.to_string())))?;
        let sha = crate::units::hex(&self.hash.finalize());
        if self.bytes != self.want.0 {
            let (len, want) = (self.bytes, self.want.0);
            return Err(err(&self.path, Problem::Truncated { len, want }));
        }
        if sha != self.want.1 {
            let want = self.want.1.clone();
            return Err(err(&self.path, Problem::Corrupt { sha, want }));
        }
        Ok(())
    }
}

/// A label file's header, its signature checked.
pub fn open_label(path: &TapePath, trust: &Trust) -> Result<super::header::LabelHeader, TapeError> {
    let parsed = super::header::read_label_signed(path)
        .map_err(|e| err(path, Problem::Unreadable(format!("{e:#}"))))?;
    check_signature(&parsed, trust).map_err(|p| err(path, p))?;
    Ok(parsed.header)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn age_header_length_covers_the_mac_line_and_nonce() {
        let mut f = b"age-encryption.org/v1\n-> X25519 abc\nbody\n--- mac\n".to_vec();
        let n = f.len();
        f.extend_from_slice(&[9u8; 40]);
        assert_eq!(age_header_len(&f), Some(n + 16));
        assert_eq!(age_header_len(&f[..n + 3]), None);
        assert_eq!(age_header_len(b"tar"), None);
    }
}
