//! How the server talks to an agent: the framed [`protocol`] over a child's pipes (the local
//! agent, or the system `ssh` running it on a client) or a libssh2 channel. All give a
//! [`Session`], so the driver has one code path.

pub mod known_hosts;
pub mod openssh;
pub mod protocol;
pub mod ssh;

use anyhow::{Context, Result, anyhow, bail};
use protocol::{Frame, Message, PROTOCOL_VERSION};
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The other end of a session.
enum Peer {
    Local {
        child: Child,
        stderr: Drain,
        stall: Duration,
    },
    Ssh {
        host: String,
        session: ssh2::Session,
        channel: ssh2::Channel,
        stall: Duration,
    },
    OpenSsh {
        host: String,
        child: Child,
        stderr: Drain,
        stall: Duration,
        why: openssh::Why,
    },
}

/// Reads what the session's buffer holds, then straight from the stream: data goes where
/// it is read to without a copy through the buffer.
struct Direct<'a>(&'a mut BufReader<Box<dyn Read + Send>>);

impl Read for Direct<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let held = self.0.buffer();
        if held.is_empty() {
            return self.0.get_mut().read(out);
        }
        let n = held.len().min(out.len());
        out[..n].copy_from_slice(&held[..n]);
        self.0.consume(n);
        Ok(n)
    }
}

/// An open conversation with one agent.
pub struct Session {
    reader: BufReader<Box<dyn Read + Send>>,
    writer: BufWriter<Box<dyn Write + Send>>,
    peer: Option<Peer>,
    /// The agent's tool version, from the handshake.
    pub agent_version: String,
    /// The client's clock at the handshake (unix seconds).
    pub client_time: i64,
    /// The read timeout of a child's stdout: the connect limit until the agent has
    /// answered, then the stall timeout.
    limit: Option<(openssh::Limit, Duration)>,
}

/// A 1 MiB pipe buffer instead of 64 KiB: the agent keeps writing while the server waits
/// for a compressed block, and both sides wake up a sixteenth as often. Best effort: the
/// kernel may refuse (fs.pipe-max-size), and 64 KiB still works.
fn big_pipe(p: &impl std::os::fd::AsFd) {
    crate::sys::big_pipe(p, 1 << 20);
}

impl Session {
    /// Spawn `tapir agent` as a child process (`auth = "local"`) and shake hands; a read
    /// that waits longer than `stall` fails as a stalled client does.
    pub fn local(stall: Duration) -> Result<Session> {
        let exe = std::env::current_exe().context("cannot find the tapir executable")?;
        let mut child = Command::new(&exe)
            .arg("agent")
            .process_group(0)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start {} agent", exe.display()))?;
        let stdout = child.stdout.take().expect("piped");
        big_pipe(&stdout);
        let stdin = child.stdin.take().expect("piped");
        let stderr = drain_stderr(child.stderr.take().expect("piped"));
        let limit = openssh::Limit::new(stall);
        let r = openssh::TimedRead {
            inner: stdout,
            limit: limit.clone(),
        };
        let peer = Peer::Local {
            child,
            stderr,
            stall,
        };
        Session::start(Box::new(r), Box::new(stdin), peer, Some((limit, stall)))
    }

    /// Connect to `target` over SSH and shake hands with its agent.
    pub fn ssh(target: &crate::config::Target, login: &ssh::Login) -> Result<Session> {
        let c = ssh::connect(target, login)?;
        let (r, w) = (c.channel.stream(0), c.channel.stream(0));
        let host = target.name.clone();
        let peer = Peer::Ssh {
            host,
            session: c.session,
            channel: c.channel,
            stall: login.stall_timeout,
        };
        Session::start(Box::new(r), Box::new(w), peer, None)
    }

    /// Run `tapir agent` on `target` through the system OpenSSH client and shake hands.
    pub fn openssh(target: &crate::config::Target, login: &ssh::Login) -> Result<Session> {
        let sp = openssh::spawn(target, login)?;
        // until the agent answers: ssh's connect, the login and the agent's start, each
        // bounded by connect_timeout, whatever a ProxyCommand or a wrapper does
        let limit = openssh::Limit::new((login.connect_timeout * 2).min(login.stall_timeout));
        let r = openssh::TimedRead {
            inner: sp.stdout,
            limit: limit.clone(),
        };
        let peer = Peer::OpenSsh {
            host: target.name.clone(),
            child: sp.child,
            stderr: sp.stderr,
            stall: login.stall_timeout,
            why: openssh::Why::new(target, login),
        };
        let stall = login.stall_timeout;
        Session::start(Box::new(r), Box::new(sp.stdin), peer, Some((limit, stall)))
    }

    fn start(
        r: Box<dyn Read + Send>,
        w: Box<dyn Write + Send>,
        peer: Peer,
        limit: Option<(openssh::Limit, Duration)>,
    ) -> Result<Session> {
        let mut s = Session {
            reader: BufReader::with_capacity(1 << 20, r),
            writer: BufWriter::with_capacity(1 << 16, w),
            peer: Some(peer),
            agent_version: String::new(),
            client_time: 0,
            limit,
        };
        s.handshake().map_err(|e| s.with_agent_stderr(e))?;
        if let Some((l, stall)) = &s.limit {
            l.set(*stall);
        }
        Ok(s)
    }

    fn handshake(&mut self) -> Result<()> {
        let tool_version = env!("CARGO_PKG_VERSION").to_string();
        self.send(&Message::Hello {
            protocol: PROTOCOL_VERSION,
            tool_version,
        })?;
        let text = self.leading_text()?;
        let answer = self.recv(&mut Vec::new()).and_then(|f| match f {
            Frame::Msg(Message::HelloOk { .. } | Message::Error { .. }) | Frame::Eof => Ok(f),
            _ => Err(anyhow!("protocol error: agent did not answer Hello")),
        });
        let answer = match (answer, text) {
            (Err(e), Some(t)) => return Err(e.context(self.chatter(&t))),
            (a, _) => a?,
        };
        match answer {
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

    /// The first bytes the agent's side wrote, as text, when they are not a frame. Waits for
    /// them as [`Session::recv`] would (a timeout is a stalled client).
    fn leading_text(&mut self) -> Result<Option<String>> {
        let head = loop {
            match self.reader.fill_buf() {
                Ok(head) => break head,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let e = anyhow::Error::from(e);
                    return Err(self.read_error(e));
                }
            }
        };
        if protocol::starts_a_frame(head) {
            return Ok(None);
        }
        let text = String::from_utf8_lossy(&head[..head.len().min(200)]);
        Ok(text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .map(|l| l.chars().filter(|c| !c.is_control()).collect()))
    }

    /// Explain text found where the agent's answer should be.
    fn chatter(&self, text: &str) -> String {
        match &self.peer {
            Some(Peer::Ssh { host, .. } | Peer::OpenSsh { host, .. }) => format!(
                "the client printed \"{text}\" before the agent answered: a login script on \
                 {host} (~/.bashrc, /etc/bash.bashrc, ~/.profile) writes to stdout; the forced command \
                 runs through the login shell, which must print nothing when not interactive"
            ),
            _ => format!("the agent printed \"{text}\" instead of speaking the protocol"),
        }
    }

    pub fn send(&mut self, m: &Message) -> Result<()> {
        protocol::write_msg(&mut self.writer, m)
            .and_then(|_| self.writer.flush())
            .context("cannot send to the agent (it has exited?)")
    }

    /// Next frame; data lands in `buf`. A read that times out is a stalled client.
    pub fn recv(&mut self, buf: &mut Vec<u8>) -> Result<Frame> {
        protocol::read_frame(&mut self.reader, buf).map_err(|e| self.read_error(e))
    }

    /// Next frame's head (and a message's body); a data frame's bytes are left for
    /// [`Session::read_data`]. Neither copies data through the session's buffer.
    pub fn recv_head(&mut self, buf: &mut Vec<u8>) -> Result<protocol::Head> {
        protocol::read_head(&mut Direct(&mut self.reader), buf).map_err(|e| self.read_error(e))
    }

    /// The next `out.len()` bytes of the data frame [`Session::recv_head`] announced.
    pub fn read_data(&mut self, out: &mut [u8]) -> Result<()> {
        Direct(&mut self.reader)
            .read_exact(out)
            .context("remote disconnected in the middle of a frame")
            .map_err(|e| self.read_error(e))
    }

    /// A read that timed out is a stalled client (or, before the agent answered, one that
    /// could not be reached in time).
    fn read_error(&self, e: anyhow::Error) -> anyhow::Error {
        if !is_timeout(&e) {
            return e;
        }
        let connecting = self.agent_version.is_empty();
        match (&self.peer, &self.limit) {
            (Some(Peer::OpenSsh { host, .. }), Some((l, stall)))
                if connecting && l.get() < *stall =>
            {
                anyhow!(
                    "{host} did not answer within {} s (twice ssh.connect_timeout: the connection, \
                 the login and the agent's start); ssh and everything it started were killed",
                    l.get().as_secs()
                )
            }
            (Some(Peer::Ssh { host, stall, .. } | Peer::OpenSsh { host, stall, .. }), _) => {
                anyhow!(
                    "{host} stalled: no data for {} s (dumptype stall_timeout)",
                    stall.as_secs()
                )
            }
            (Some(Peer::Local { stall, .. }), _) => anyhow!(
                "the local agent stalled: no data for {} s (dumptype stall_timeout)",
                stall.as_secs()
            ),
            _ => e,
        }
    }

    /// Add what the agent said on stderr (and how it exited) to an error.
    pub fn with_agent_stderr(&mut self, e: anyhow::Error) -> anyhow::Error {
        match self.peer.take() {
            Some(Peer::Local {
                mut child, stderr, ..
            }) => {
                kill(&mut child);
                let status = child.wait().map(|s| s.to_string()).unwrap_or_default();
                let text = stderr.text();
                match text.trim() {
                    "" => e.context(format!("agent {status}")),
                    t => e.context(format!("agent {status}; it said: {t}")),
                }
            }
            Some(Peer::Ssh { host, channel, .. }) => match channel.exit_status() {
                Ok(code) if channel.eof() && code != 0 => e.context(format!(
                    "the agent on {host} exited with status {code} (is tapir installed there, and the forced command right?)"
                )),
                _ => e.context(format!("on {host}")),
            },
            Some(Peer::OpenSsh {
                host,
                mut child,
                stderr,
                why,
                ..
            }) => {
                let code = exit_within(&mut child, Duration::from_secs(2));
                let text = stderr.text();
                // ssh's own failures (host key, login, no route) end it before the agent
                // answers; after that, a lost connection is told as what it is
                let connected = !self.agent_version.is_empty();
                if let Some(m) = why.explain(code, &text).filter(|_| !connected) {
                    return anyhow!(m);
                }
                match (code, text.trim()) {
                    (Some(c), _) if c != 0 && c != 255 => e.context(format!(
                        "the agent on {host} exited with status {c} (is tapir installed there, and the forced command right?)"
                    )),
                    (_, "") => e.context(format!("on {host}")),
                    (_, t) => e.context(format!("on {host}; ssh said: {}", tail(t))),
                }
            }
            None => e,
        }
    }

    /// Say goodbye and wait for the agent to exit cleanly.
    pub fn close(mut self) -> Result<()> {
        let _ = self.send(&Message::Bye);
        drop(std::mem::replace(
            &mut self.writer,
            BufWriter::new(Box::new(std::io::sink())),
        ));
        match self.peer.take() {
            Some(Peer::Local {
                mut child, stderr, ..
            }) => {
                let status = match exit_within(&mut child, LOCAL_EXIT) {
                    Some(0) => std::process::ExitStatus::default(),
                    _ => child.wait()?,
                };
                let text = stderr.text();
                if !status.success() {
                    return Err(anyhow!("agent {status}: {}", text.trim()));
                }
            }
            Some(Peer::Ssh {
                host,
                mut channel,
                session,
                ..
            }) => {
                let _ = channel.send_eof();
                channel
                    .wait_eof()
                    .with_context(|| format!("{host}: the agent did not finish"))?;
                channel
                    .wait_close()
                    .with_context(|| format!("{host}: channel did not close"))?;
                let code = channel.exit_status().unwrap_or(0);
                let _ = session.disconnect(None, "bye", None);
                if code != 0 {
                    return Err(anyhow!("the agent on {host} exited with status {code}"));
                }
            }
            Some(Peer::OpenSsh {
                host,
                mut child,
                stderr,
                stall,
                ..
            }) => {
                let code = exit_within(&mut child, stall);
                let text = stderr.text();
                match code {
                    Some(0) => {}
                    Some(255) => bail!(
                        "ssh to {host} ended with an error (exit 255): {}",
                        tail(&text)
                    ),
                    Some(c) => bail!(
                        "the agent on {host} exited with status {c}: {}",
                        tail(&text)
                    ),
                    None => bail!("ssh to {host} was killed: {}", tail(&text)),
                }
            }
            None => {}
        }
        Ok(())
    }
}

/// How long the local agent may take to exit after `Bye` (it has finished its work by then).
const LOCAL_EXIT: Duration = Duration::from_secs(60);

/// The exit code of `child` once it exits, waiting up to `limit`; then it and every process
/// it started (its group: a ProxyCommand, a wrapper's `sleep`) are killed (None: killed by a
/// signal). Whatever exits, its group goes too: a grandchild holding our pipes never keeps
/// the run waiting.
fn exit_within(child: &mut Child, limit: Duration) -> Option<i32> {
    let end = std::time::Instant::now() + limit;
    while std::time::Instant::now() < end && !crate::sys::exited(child.id()) {
        std::thread::sleep(Duration::from_millis(10));
    }
    // the group is killed before the leader is reaped: its id cannot have been reused
    kill(child);
    child.wait().ok().and_then(|s| s.code())
}

/// Kill a child started in a process group of its own, with everything in that group.
fn kill(child: &mut Child) {
    crate::sys::kill_group(child.id());
    let _ = child.kill();
}

/// The last lines of a child's stderr, on one line.
fn tail(text: &str) -> String {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    lines[lines.len().saturating_sub(3)..].join(" / ")
}

fn is_timeout(e: &anyhow::Error) -> bool {
    e.chain()
        .filter_map(|c| c.downcast_ref::<std::io::Error>())
        .any(|io| {
            matches!(
                io.kind(),
                std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
            )
        })
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Some(Peer::Local { mut child, .. } | Peer::OpenSsh { mut child, .. }) =
            self.peer.take()
        {
            kill(&mut child);
            let _ = child.wait();
        }
    }
}

/// A child's stderr, read on a thread that keeps the last 8 KiB for error messages.
pub struct Drain {
    kept: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    done: mpsc::Receiver<()>,
}

/// How long the text of a reaped child's stderr is waited for: a grandchild that kept the
/// pipe open (and escaped the group kill) costs this much, never the run.
const DRAIN_WAIT: Duration = Duration::from_secs(2);

impl Drain {
    /// What the child wrote, once its stderr ends or [`DRAIN_WAIT`] has passed.
    pub fn text(self) -> String {
        let _ = self.done.recv_timeout(DRAIN_WAIT);
        let kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        String::from_utf8_lossy(&kept).into_owned()
    }
}

/// Read a child's stderr on a thread, keeping the last 8 KiB for error messages.
fn drain_stderr(mut r: impl Read + Send + 'static) -> Drain {
    let kept = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let (tx, done) = mpsc::channel();
    let keep = kept.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = r.read(&mut buf) {
            if n == 0 {
                break;
            }
            let mut keep = keep.lock().unwrap_or_else(|e| e.into_inner());
            keep.extend_from_slice(&buf[..n]);
            if keep.len() > 8192 {
                let cut = keep.len() - 8192;
                keep.drain(..cut);
            }
        }
        let _ = tx.send(());
    });
    Drain { kept, done }
}
