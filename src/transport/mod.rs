//! How the server talks to an agent: the framed [`protocol`] over a child's pipes (local) or,
//! later, an SSH channel. Both give a [`Session`], so the driver has one code path.

pub mod protocol;

use anyhow::{Context, Result, anyhow, bail};
use protocol::{Frame, Message, PROTOCOL_VERSION};
use std::io::{BufReader, BufWriter, Read, Write};
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;

/// An open conversation with one agent.
pub struct Session {
    reader: BufReader<Box<dyn Read + Send>>,
    writer: BufWriter<Box<dyn Write + Send>>,
    child: Option<Child>,
    stderr: Option<JoinHandle<String>>,
    /// The agent's tool version, from the handshake.
    pub agent_version: String,
    /// The client's clock at the handshake (unix seconds).
    pub client_time: i64,
}

impl Session {
    /// Spawn `tapir agent` as a child process (`auth = "local"`) and shake hands.
    pub fn local() -> Result<Session> {
        let exe = std::env::current_exe().context("cannot find the tapir executable")?;
        let mut child = Command::new(&exe)
            .arg("agent")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start {} agent", exe.display()))?;
        let stdout = child.stdout.take().expect("piped");
        let stdin = child.stdin.take().expect("piped");
        let stderr = child.stderr.take().expect("piped");
        let mut s = Session {
            reader: BufReader::with_capacity(1 << 20, Box::new(stdout)),
            writer: BufWriter::new(Box::new(stdin)),
            child: Some(child),
            stderr: Some(drain_stderr(stderr)),
            agent_version: String::new(),
            client_time: 0,
        };
        s.handshake().map_err(|e| s.with_agent_stderr(e))?;
        Ok(s)
    }

    fn handshake(&mut self) -> Result<()> {
        let tool_version = env!("CARGO_PKG_VERSION").to_string();
        self.send(&Message::Hello {
            protocol: PROTOCOL_VERSION,
            tool_version,
        })?;
        match self.recv(&mut Vec::new())? {
            Frame::Msg(Message::HelloOk {
                protocol,
                tool_version,
                time,
            }) => {
                if protocol != PROTOCOL_VERSION {
                    bail!(
                        "agent speaks protocol {protocol}, server {PROTOCOL_VERSION}: upgrade the older side"
                    );
                }
                self.agent_version = tool_version;
                self.client_time = time;
                Ok(())
            }
            Frame::Msg(Message::Error { message }) => bail!("agent refused: {message}"),
            Frame::Eof => bail!("agent disconnected during the handshake"),
            _ => bail!("protocol error: agent did not answer Hello"),
        }
    }

    pub fn send(&mut self, m: &Message) -> Result<()> {
        protocol::write_msg(&mut self.writer, m)
            .and_then(|_| self.writer.flush())
            .context("cannot send to the agent (it has exited?)")
    }

    /// Next frame; data lands in `buf`.
    pub fn recv(&mut self, buf: &mut Vec<u8>) -> Result<Frame> {
        protocol::read_frame(&mut self.reader, buf)
    }

    /// Add what the agent printed on stderr (and how it exited) to an error.
    pub fn with_agent_stderr(&mut self, e: anyhow::Error) -> anyhow::Error {
        let Some(mut child) = self.child.take() else {
            return e;
        };
        let _ = child.kill();
        let status = child.wait().map(|s| s.to_string()).unwrap_or_default();
        let text = self
            .stderr
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        let text = text.trim();
        if text.is_empty() {
            e.context(format!("agent {status}"))
        } else {
            e.context(format!("agent {status}; it said: {text}"))
        }
    }

    /// Say goodbye and wait for the agent to exit cleanly.
    pub fn close(mut self) -> Result<()> {
        let _ = self.send(&Message::Bye);
        drop(std::mem::replace(
            &mut self.writer,
            BufWriter::new(Box::new(std::io::sink())),
        ));
        if let Some(mut child) = self.child.take() {
            let status = child.wait()?;
            let text = self
                .stderr
                .take()
                .and_then(|h| h.join().ok())
                .unwrap_or_default();
            if !status.success() {
                return Err(anyhow!("agent {status}: {}", text.trim()));
            }
        }
        Ok(())
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Read a child's stderr on a thread, keeping the last 8 KiB for error messages.
fn drain_stderr(mut r: impl Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut keep: Vec<u8> = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = r.read(&mut buf) {
            if n == 0 {
                break;
            }
            keep.extend_from_slice(&buf[..n]);
            if keep.len() > 8192 {
                keep.drain(..keep.len() - 8192);
            }
        }
        String::from_utf8_lossy(&keep).into_owned()
    })
}
