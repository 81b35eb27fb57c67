//! The 32 KiB text headers at the start of every tape file: `TAPIR FILE v1` (dumps) and
//! `TAPIR TAPESTART v1` (labels), TOML fields, then the stock-tools restore recipe, NUL padded.

use super::TapePath;
use crate::codec::{Compress, Format};
use crate::signing::Signer;
use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

pub const HEADER_SIZE: usize = 32768;
const DUMP_MAGIC: &str = "TAPIR FILE v1";
const LABEL_MAGIC: &str = "TAPIR TAPESTART v1";

/// Whether the payload is age-encrypted by the server (`server`) or not (`none`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sealed {
    Server,
    None,
}

/// How far a dump file got: `WRITING` (the placeholder), `OK`, or `PARTIAL` (some files
/// could not be read whole).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum WriteState {
    Writing,
    Ok,
    Partial,
}

/// What the payload holds: a GNU tar stream, or a program DLE's output (one file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PayloadFormat {
    #[default]
    Tar,
    Stream,
}

/// The name a header value has on tape (its serde name): for the catalog and messages.
pub fn word<T: Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|j| j.as_str().map(String::from))
        .unwrap_or_default()
}

/// The header of a dump file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DumpHeader {
    pub label: String,
    pub slot: u32,
    pub file_number: u32,
    pub datestamp: String,
    pub host: String,
    pub disk: String,
    pub level: u8,
    pub dumptype: String,
    pub compress: Compress,
    pub encrypt: Sealed,
    /// Fingerprints of the age recipients (`sha256:…` of the key text).
    pub recipients: Vec<String>,
    pub original_size: u64,
    pub payload_size: u64,
    pub payload_sha256: String,
    pub complete: bool,
    /// OK or PARTIAL (some files could not be read whole); WRITING in the placeholder.
    pub status: WriteState,
    pub files: u64,
    pub client_time_ns: i64,
    pub tool_version: String,
    /// sha256 of the payload's age header and nonce: pins the file key, so that a restore
    /// reading only some age chunks (random access) reads this dump's chunks or fails.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub age_header_sha256: String,
    /// `SHA256:…` of the key that signed this header (informative; readers trust their own).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub signer: String,
    /// `tar` (a GNU tar stream), or `stream` (a program DLE's output, restored as one file).
    #[serde(default)]
    pub format: PayloadFormat,
    /// A program DLE: the client's `[programs.NAME]` that wrote the stream.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub program: String,
    /// A program DLE: the file a restore writes (`DISK.PROGRAM`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub stream_name: String,
    /// A program DLE: sha256 of the stream itself (before compression and encryption).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub stream_sha256: String,
    /// A program DLE: its restore command as the client's agent.toml had it (informative).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub program_restore: String,
}

/// The file a program DLE's stream is restored to: the disk (`/` as `_`), then the program.
pub fn stream_file_name(disk: &str, program: &str) -> String {
    let d: String = disk
        .chars()
        .map(|c| if c == '/' || c.is_control() { '_' } else { c })
        .collect();
    format!("{}.{program}", d.trim_start_matches('_'))
}

/// The header of a tape label file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LabelHeader {
    pub label: String,
    pub slot: u32,
    /// The run that last started writing this tape, or "0" if never written.
    pub datestamp: String,
    pub labelled: String,
    pub tool_version: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub signer: String,
}

/// A header as read: its fields, the text its signature covers, and the signature.
#[derive(Debug, Clone)]
pub struct Parsed<T> {
    pub header: T,
    pub signed: String,
    pub signature: Option<String>,
}

impl DumpHeader {
    /// A program DLE's stream, not a tar.
    pub fn is_stream(&self) -> bool {
        self.format == PayloadFormat::Stream
    }

    /// The stock-tools pipeline that restores this file, for the header comment.
    pub fn restore_command(&self, file_name: &str) -> String {
        let mut cmd = format!("dd if={file_name} bs=32k skip=1");
        if self.encrypt == Sealed::Server {
            cmd.push_str(" | age -d -i KEY");
        }
        if let Some(tool) = self.compress.format().stock_tool() {
            cmd.push_str(" | ");
            cmd.push_str(tool);
        }
        if self.is_stream() {
            cmd.push_str(&format!(" > {}", self.stream_name));
            return cmd;
        }
        cmd.push_str(" | tar -xpf -");
        if self.level > 0 {
            cmd.push_str(" --incremental");
        }
        cmd
    }

    /// The 32 KiB header, signed when `signer` is given (the placeholder is not).
    pub fn encode(&self, file_name: &str, signer: Option<&Signer>) -> Result<Vec<u8>> {
        let mut h = self.clone();
        if let Some(s) = signer {
            h.signer = crate::signing::fingerprint(s.public());
        }
        let body = toml::to_string(&h)?;
        let mut recipe = format!(
            "\n# To restore without tapir (KEY: an age identity file for one of the recipients):\n\
             #   {}\n",
            self.restore_command(file_name),
        );
        if self.is_stream() && !self.program_restore.is_empty() {
            recipe.push_str(&format!(
                "# then feed it to the program's restore command ([programs.{}] in the \
                 client's agent.toml):\n#   {} < {}\n",
                self.program, self.program_restore, self.stream_name
            ));
        }
        if signer.is_some() {
            recipe.push_str(&verify_recipe(file_name, &self.signed_at()));
        }
        recipe.push_str(&format!(
            "# This header is {HEADER_SIZE} bytes; the payload is {}.\n",
            payload_desc(self.compress, self.encrypt, self.format)
        ));
        sign_and_pad(format!("{DUMP_MAGIC}\n{body}{recipe}"), signer)
    }
}

fn payload_desc(compress: Compress, encrypt: Sealed, format: PayloadFormat) -> String {
    let what = word(&format);
    let inner = match compress.format() {
        Format::None => what.to_string(),
        f => format!("{}({what})", f.name()),
    };
    if encrypt == Sealed::Server {
        format!("age({inner})")
    } else {
        inner
    }
}

/// A signed header's date: when its signing key must have been valid.
pub trait Dated {
    /// 14 digits, as a datestamp (`YYYYMMDDHHMMSS`, the server's local time).
    fn signed_at(&self) -> String;
}

impl Dated for DumpHeader {
    fn signed_at(&self) -> String {
        self.datestamp.clone()
    }
}

impl Dated for LabelHeader {
    /// The run that last wrote the tape (which signed the label anew), else when it was
    /// labelled.
    fn signed_at(&self) -> String {
        let from = if self.datestamp.len() >= 14 {
            &self.datestamp
        } else {
            &self.labelled
        };
        from.chars().filter(char::is_ascii_digit).take(14).collect()
    }
}

/// The comment lines that tell how to check the signature with OpenSSH alone.
fn verify_recipe(file_name: &str, dated: &str) -> String {
    format!(
        "# To check this header's signature with OpenSSH (SIGNERS: a file holding the line\n\
         #   {} namespaces=\"{}\" ssh-ed25519 AAAA…\n\
         # with the signing public key kept beside the age identities, never one from a tape):\n\
         #   {}\n",
        crate::signing::PRINCIPAL,
        crate::signing::NAMESPACE,
        crate::signing::verify_command(file_name, Some(dated))
    )
}

impl LabelHeader {
    pub fn encode(&self, signer: Option<&Signer>) -> Result<Vec<u8>> {
        let mut h = self.clone();
        if let Some(s) = signer {
            h.signer = crate::signing::fingerprint(s.public());
        }
        let body = toml::to_string(&h)?;
        let file = format!("00000.{}", self.label);
        let recipe = if signer.is_some() {
            verify_recipe(&file, &self.signed_at())
        } else {
            String::new()
        };
        sign_and_pad(
            format!(
                "{LABEL_MAGIC}\n{body}# tapir tape label; dump files follow in this slot.\n{recipe}"
            ),
            signer,
        )
    }
}

fn sign_and_pad(text: String, signer: Option<&Signer>) -> Result<Vec<u8>> {
    let text = match signer {
        Some(s) => {
            let sig = s.sign(text.as_bytes())?;
            format!("{text}{sig}")
        }
        None => text,
    };
    pad(&text)
}

fn pad(text: &str) -> Result<Vec<u8>> {
    let mut b = text.as_bytes().to_vec();
    if b.len() > HEADER_SIZE {
        bail!("header too large ({} bytes)", b.len());
    }
    b.resize(HEADER_SIZE, 0);
    Ok(b)
}

/// Parse a header block; `magic` says which kind it must be. Only the signed part of the
/// text is read for fields: nothing after the signature can change what the header says.
fn decode<T: serde::de::DeserializeOwned>(block: &[u8], magic: &str) -> Result<T> {
    decode_signed(block, magic).map(|p| p.header)
}

fn decode_signed<T: serde::de::DeserializeOwned>(block: &[u8], magic: &str) -> Result<Parsed<T>> {
    let end = block.iter().position(|&b| b == 0).unwrap_or(block.len());
    if block[end..].iter().any(|&b| b != 0) {
        bail!("header has data after its NUL padding");
    }
    let text = std::str::from_utf8(&block[..end]).context("header is not UTF-8")?;
    let (signed, signature) = crate::signing::split(text);
    let (first, rest) = signed.split_once('\n').unwrap_or((signed, ""));
    if first != magic {
        bail!(
            "not a tapir header (expected {magic:?}, found {:?})",
            first.chars().take(40).collect::<String>()
        );
    }
    Ok(Parsed {
        header: toml::from_str(rest).context("unreadable header fields")?,
        signed: signed.to_string(),
        signature: signature.map(String::from),
    })
}

/// Read the first 32 KiB of `path`.
pub fn read_block(path: &TapePath) -> Result<Vec<u8>> {
    let f = path.open().with_context(|| format!("cannot open {path}"))?;
    let mut block = vec![0u8; HEADER_SIZE];
    f.read_exact_at(&mut block, 0)
        .with_context(|| format!("{path}: shorter than a {HEADER_SIZE}-byte header"))?;
    Ok(block)
}

impl DumpHeader {
    /// The catalog record for a written dump header.
    pub fn record(
        &self,
        file_name: &str,
        seconds: f64,
        index: Option<String>,
    ) -> crate::catalog::DumpRecord {
        crate::catalog::DumpRecord {
            host: self.host.clone(),
            disk: self.disk.clone(),
            datestamp: self.datestamp.clone(),
            level: self.level,
            label: self.label.clone(),
            slot: self.slot,
            file_number: self.file_number,
            file_name: file_name.to_string(),
            status: if self.status == WriteState::Partial {
                crate::catalog::history::DumpStatus::Partial
            } else {
                crate::catalog::history::DumpStatus::Ok
            },
            original_size: self.original_size,
            payload_size: self.payload_size,
            payload_sha256: self.payload_sha256.clone(),
            compress: self.compress.name().to_string(),
            encrypt: word(&self.encrypt),
            files: self.files,
            seconds,
            client_time_ns: self.client_time_ns,
            client_time: crate::clock::rfc3339_ns(self.client_time_ns),
            index,
            path: None,
            rekeyed_from: None,
        }
    }
}

pub fn read_dump(path: &TapePath) -> Result<DumpHeader> {
    decode(&read_block(path)?, DUMP_MAGIC).with_context(|| path.to_string())
}

pub fn read_label(path: &TapePath) -> Result<LabelHeader> {
    read_label_signed(path).map(|p| p.header)
}

/// A dump header with its signed text and signature.
pub fn parse_dump(block: &[u8]) -> Result<Parsed<DumpHeader>> {
    decode_signed(block, DUMP_MAGIC)
}

/// A label header with its signed text and signature, from its first block.
pub fn parse_label(block: &[u8]) -> Result<Parsed<LabelHeader>> {
    decode_signed(block, LABEL_MAGIC)
}

pub fn read_label_signed(path: &TapePath) -> Result<Parsed<LabelHeader>> {
    decode_signed(&read_block(path)?, LABEL_MAGIC).with_context(|| path.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dump_header_round_trips_and_carries_the_recipe() {
        let h = DumpHeader {
            label: "daily-01".into(),
            slot: 1,
            file_number: 1,
            datestamp: "20261121000000".into(),
            host: "web1".into(),
            disk: "/my \"docs\"".into(),
            level: 0,
            dumptype: "ssh-fast".into(),
            compress: Compress::ServerFast,
            encrypt: Sealed::Server,
            recipients: vec!["sha256:0123".into()],
            original_size: 10,
            payload_size: 20,
            payload_sha256: "ab".into(),
            complete: true,
            status: WriteState::Ok,
            files: 3,
            client_time_ns: 5,
            tool_version: "0.1.0".into(),
            age_header_sha256: String::new(),
            signer: String::new(),
            format: PayloadFormat::Tar,
            program: String::new(),
            stream_name: String::new(),
            stream_sha256: String::new(),
            program_restore: String::new(),
        };
        let b = h.encode("00001.web1._my_docs.0", None).unwrap();
        assert_eq!(b.len(), HEADER_SIZE);
        assert_eq!(decode::<DumpHeader>(&b, DUMP_MAGIC).unwrap(), h);
        let text = String::from_utf8_lossy(&b);
        assert!(text.contains(
            "dd if=00001.web1._my_docs.0 bs=32k skip=1 | age -d -i KEY | gzip -dc | tar -xpf -"
        ));
        assert!(decode::<LabelHeader>(&b, LABEL_MAGIC).is_err());
    }
}
