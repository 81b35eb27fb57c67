//! Program DLEs on the client: an admin-defined command from agent.toml (`[programs.NAME]`)
//! whose stdout is the dump (pg_dump, mariadb-dump, mariadb-backup, vos dump…). The server
//! only names the program and the disk; argv, user and environment come from this file,
//! `{disk}` is checked before it is substituted, and no shell is ever involved.

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use std::collections::{BTreeMap, VecDeque};
use std::io::{self, Read, Write};
use std::os::fd::BorrowedFd;
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};

/// The PATH programs and hooks run with (the rest of the environment is cleared).
pub const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Lines of a program's stderr kept (the last ones), and bytes kept of each.
pub const TAIL_LINES: usize = 20;
pub const LINE_MAX: usize = 1024;

/// One `[programs.NAME]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Program {
    /// argv whose stdout is the dump; `{disk}` is the DLE's diskname.
    pub backup: Vec<String>,
    /// argv that reads a dump on stdin (`tapir recover --run-restore`).
    #[serde(default)]
    pub restore: Vec<String>,
    /// argv that prints the expected dump size in bytes; else the size of the last dump.
    #[serde(default)]
    pub estimate: Vec<String>,
    /// Run as this user (the agent must then run as root, or as that user).
    #[serde(default)]
    pub user: Option<String>,
    /// Environment variables set for the program (all others are cleared but PATH).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// `{disk}` may contain `/` (a dataset or path, never `..`).
    #[serde(default)]
    pub allow_paths: bool,
}

impl Program {
    /// Checks done when agent.toml is loaded: a bad entry is a config error, not a
    /// surprise at 3 a.m.
    pub fn validate(&self, name: &str) -> Result<()> {
        check_name("program", name)?;
        if self.backup.first().is_none_or(String::is_empty) {
            bail!("programs.{name}: backup must name a command");
        }
        for (key, argv) in [
            ("backup", &self.backup),
            ("restore", &self.restore),
            ("estimate", &self.estimate),
        ] {
            for a in argv {
                let rest = a.replace("{disk}", "");
                if rest.contains('{') || rest.contains('}') {
                    bail!("programs.{name}.{key}: {a:?}: the only placeholder is {{disk}}");
                }
            }
        }
        for k in self.env.keys() {
            if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                bail!("programs.{name}.env: {k:?} is not a variable name");
            }
        }
        if let Some(u) = &self.user {
            check_name("user", u)?;
        }
        Ok(())
    }

    /// `argv` with `{disk}` replaced by the (checked) diskname.
    pub fn argv(&self, argv: &[String], disk: &str) -> Result<Vec<String>> {
        check_disk(disk, self.allow_paths)?;
        Ok(argv.iter().map(|a| a.replace("{disk}", disk)).collect())
    }

    /// The command for `argv`: no shell, environment cleared, own process group, run as
    /// `user` when one is set.
    pub fn command(&self, name: &str, argv: &[String]) -> Result<Command> {
        let Some((cmd, args)) = argv.split_first() else {
            bail!("program {name}: no command");
        };
        let mut c = Command::new(cmd);
        c.args(args)
            .env_clear()
            .env("PATH", PATH)
            .current_dir("/")
            .process_group(0);
        if let Some(user) = &self.user {
            let a = account(user)?;
            let me = crate::sys::euid();
            if a.uid != me {
                if !crate::sys::is_root() {
                    bail!(
                        "program {name} runs as {user}, but this agent runs as uid {me}, not \
                         root: it cannot switch users"
                    );
                }
                // std drops the supplementary groups when root changes uid
                c.uid(a.uid).gid(a.gid);
            }
            c.env("HOME", &a.home)
                .env("USER", user)
                .env("LOGNAME", user);
        }
        c.envs(&self.env);
        Ok(c)
    }
}

pub use crate::config::names::{check_disk, check_name};

/// A local account, as the name service knows it.
struct Account {
    uid: u32,
    gid: u32,
    home: String,
}

/// Look `user` up with `getent passwd` (so LDAP and sssd accounts work too).
fn account(user: &str) -> Result<Account> {
    check_name("user", user)?;
    let out = Command::new("getent")
        .args(["passwd", "--", user])
        .env_clear()
        .env("PATH", PATH)
        .stdin(Stdio::null())
        .output()
        .context("cannot run getent to look up a user")?;
    let line = String::from_utf8_lossy(&out.stdout);
    let f: Vec<&str> = line.trim_end().split(':').collect();
    match (out.status.success(), f.as_slice()) {
        (true, [_, _, uid, gid, _, home, ..]) => Ok(Account {
            uid: uid.parse().context("bad uid from getent")?,
            gid: gid.parse().context("bad gid from getent")?,
            home: home.to_string(),
        }),
        _ => bail!("user {user:?} does not exist on this host"),
    }
}

/// The last lines a program printed on stderr, and how many it printed in all.
#[derive(Debug, Default)]
pub struct Tail {
    pub lines: VecDeque<String>,
    pub total: u64,
}

impl Tail {
    fn push(&mut self, line: &[u8]) {
        self.total += 1;
        if self.lines.len() == TAIL_LINES {
            self.lines.pop_front();
        }
        let text: String = String::from_utf8_lossy(line)
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        self.lines.push_back(text);
    }

    /// Read a whole stream, keeping at most [`TAIL_LINES`] lines of [`LINE_MAX`] bytes:
    /// a program cannot fill the agent's (or the server's) memory through its stderr.
    pub fn read(mut r: impl Read) -> Tail {
        let mut t = Tail::default();
        let mut buf = vec![0u8; 1 << 16];
        let mut cur = Vec::new();
        loop {
            let n = match r.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            for &b in &buf[..n] {
                if b == b'\n' {
                    t.push(&cur);
                    cur.clear();
                } else if cur.len() < LINE_MAX {
                    cur.push(b);
                }
            }
        }
        if !cur.is_empty() {
            t.push(&cur);
        }
        t
    }

    /// One line for an error message: the last few lines.
    pub fn summary(&self, lines: usize) -> String {
        let skip = self.lines.len().saturating_sub(lines);
        let shown: Vec<&str> = self.lines.iter().skip(skip).map(String::as_str).collect();
        if shown.is_empty() {
            "nothing on stderr".into()
        } else {
            format!("stderr: {}", shown.join(" | "))
        }
    }

    /// What is reported after a good run: each kept line, and how many were not kept.
    pub fn notes(&self) -> Vec<String> {
        let mut out = Vec::new();
        let dropped = self.total.saturating_sub(self.lines.len() as u64);
        if dropped > 0 {
            out.push(format!("({dropped} earlier stderr line(s) not kept)"));
        }
        out.extend(self.lines.iter().map(|l| format!("stderr: {l}")));
        out
    }
}

/// What a good backup run produced.
pub struct Outcome {
    pub bytes: u64,
    pub notes: Vec<String>,
    /// The restore argv, shown (for the tape header's comment).
    pub restore: String,
}

/// Kills the program's process group unless it ended.
struct Group(u32);

impl Drop for Group {
    fn drop(&mut self) {
        crate::sys::kill_group(self.0);
    }
}

/// Run `backup` for `disk`, copying its stdout into `out`. While it runs, `watch` (the
/// server's side of the protocol, silent during a dump) is polled: when the server goes
/// away (stall timeout, kill), the program and all it started are killed.
pub fn run_backup(
    prog: &Program,
    name: &str,
    disk: &str,
    out: &mut dyn Write,
    watch: Option<BorrowedFd<'_>>,
) -> Result<Outcome> {
    let argv = prog.argv(&prog.backup, disk)?;
    let mut child = prog
        .command(name, &argv)?
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("program {name}: cannot run {}", argv[0]))?;
    let group = Group(child.id());
    let mut stdout = child.stdout.take().expect("piped");
    // no larger pipe here: measured with pg_dump, the default 64 KiB pipe is faster (the
    // program waits on a full pipe instead of competing for the CPU: scripts/bench-db)
    let stderr = child.stderr.take().expect("piped");
    let finished = AtomicBool::new(false);
    let gone = AtomicBool::new(false);
    let (copied, tail) = std::thread::scope(|s| {
        let tail = s.spawn(move || Tail::read(stderr));
        if let Some(fd) = watch {
            let (finished, gone, pgid) = (&finished, &gone, group.0);
            s.spawn(move || {
                while !finished.load(Ordering::SeqCst) {
                    if crate::sys::woke(fd, 20) {
                        gone.store(true, Ordering::SeqCst);
                        crate::sys::kill_group(pgid);
                        return;
                    }
                }
            });
        }
        let copied = copy(&mut stdout, out);
        if copied.is_err() {
            crate::sys::kill_group(group.0);
        }
        drop(stdout);
        let status = child.wait();
        finished.store(true, Ordering::SeqCst);
        let tail = tail.join().unwrap_or_default();
        (copied.and_then(|n| Ok((n, status?))), tail)
    });
    drop(group);
    if gone.load(Ordering::SeqCst) {
        bail!("the server went away; program {name} was killed");
    }
    let (bytes, status) = copied.context("cannot send the program's output")?;
    judge(name, &argv[0], status, bytes, &tail)?;
    Ok(Outcome {
        bytes,
        notes: tail.notes(),
        restore: shown(&prog.argv(&prog.restore, disk)?),
    })
}

/// A run is good when the program exited 0 and wrote something.
fn judge(name: &str, cmd: &str, status: ExitStatus, bytes: u64, tail: &Tail) -> Result<()> {
    if !status.success() {
        bail!("program {name} ({cmd}) {status}; {}", tail.summary(5));
    }
    if bytes == 0 {
        bail!(
            "program {name} ({cmd}) exited 0 but wrote nothing on stdout; {}",
            tail.summary(5)
        );
    }
    Ok(())
}

/// Copy with a large buffer (a database dump is big: fewer, larger reads and frames).
fn copy(r: &mut dyn Read, w: &mut dyn Write) -> io::Result<u64> {
    let mut buf = vec![0u8; 1 << 18];
    let mut n = 0u64;
    loop {
        match r.read(&mut buf) {
            Ok(0) => return Ok(n),
            Ok(k) => {
                w.write_all(&buf[..k])?;
                n += k as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// argv as a person would type it (single-quoted where needed), for comments and messages.
pub fn shown(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            let plain = !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-./=:,@+%".contains(c));
            if plain {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .filter(|c| !c.is_control())
        .collect()
}

/// The program's own estimate (bytes), if it has an `estimate` command.
pub fn run_estimate(prog: &Program, name: &str, disk: &str) -> Result<Option<u64>> {
    if prog.estimate.is_empty() {
        return Ok(None);
    }
    let argv = prog.argv(&prog.estimate, disk)?;
    let out = prog
        .command(name, &argv)?
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("program {name}: cannot run {}", argv[0]))?;
    let tail = Tail::read(&out.stderr[..]);
    if !out.status.success() {
        bail!(
            "program {name} estimate ({}) {}; {}",
            argv[0],
            out.status,
            tail.summary(3)
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let first = text.split_whitespace().next().unwrap_or("");
    let n = first.parse().with_context(|| {
        format!("program {name} estimate printed {first:?}, not a number of bytes")
    })?;
    Ok(Some(n))
}

/// For `tapir check`: the program is defined, the disk passes, the command and the user
/// exist, and the agent can become that user.
pub fn check(prog: &Program, name: &str, disk: &str) -> Result<()> {
    let argv = prog.argv(&prog.backup, disk)?;
    prog.command(name, &argv)?;
    let cmd = &argv[0];
    let path = prog.env.get("PATH").map_or(PATH, String::as_str);
    if find_executable(cmd, path).is_none() {
        bail!("program {name}: {cmd} is not an executable on this host's PATH ({path})");
    }
    Ok(())
}

fn find_executable(cmd: &str, path: &str) -> Option<std::path::PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let is_exe = |p: &std::path::Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if cmd.contains('/') {
        let p = std::path::PathBuf::from(cmd);
        return is_exe(&p).then_some(p);
    }
    path.split(':')
        .map(|d| std::path::Path::new(d).join(cmd))
        .find(|p| is_exe(p))
}

/// Run the program's `restore` command with `input` on its stdin (`tapir recover
/// --run-restore`). Its stdout and stderr are the caller's; returns its exit status.
pub fn run_restore(
    prog: &Program,
    name: &str,
    disk: &str,
    feed: impl FnOnce(&mut dyn Write) -> Result<()>,
) -> Result<(String, ExitStatus)> {
    if prog.restore.is_empty() {
        bail!("program {name} has no restore command in this host's agent.toml");
    }
    let argv = prog.argv(&prog.restore, disk)?;
    let mut child = prog
        .command(name, &argv)?
        .stdin(Stdio::piped())
        .spawn()
        .with_context(|| format!("program {name}: cannot run {}", argv[0]))?;
    let mut stdin = child.stdin.take().expect("piped");
    let fed = feed(&mut stdin);
    drop(stdin);
    if let Err(e) = fed {
        let hung_up = e.chain().any(|c| {
            c.downcast_ref::<io::Error>()
                .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
        });
        if hung_up {
            let status = child.wait()?;
            bail!("{} {status} before it read the whole stream", shown(&argv));
        }
        // the stream failed its checks: the restore must not finish on part of it
        crate::sys::kill_group(child.id());
        let _ = child.wait();
        return Err(e.context(format!("{} was stopped (killed)", shown(&argv))));
    }
    let status = child.wait()?;
    Ok((shown(&argv), status))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stderr_is_bounded() {
        let mut big = Vec::new();
        for i in 0..10_000 {
            big.extend(format!("line {i} {}\n", "x".repeat(3000)).as_bytes());
        }
        big.extend(vec![b'y'; 5 << 20]);
        let t = Tail::read(&big[..]);
        assert_eq!(t.total, 10_001);
        assert_eq!(t.lines.len(), TAIL_LINES);
        assert!(t.lines.iter().all(|l| l.len() <= LINE_MAX));
        assert!(t.notes()[0].contains("9981 earlier"), "{:?}", t.notes()[0]);
    }

    #[test]
    fn argv_is_shown_quoted() {
        let a = vec!["pg_restore".into(), "--dbname=app db".into(), "it's".into()];
        assert_eq!(shown(&a), r"pg_restore '--dbname=app db' 'it'\''s'");
    }
}
