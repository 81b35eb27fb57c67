//! The few system calls std does not wrap, through rustix's safe bindings: the library has
//! no `unsafe` of its own.

use std::path::Path;

/// Whether child `pid` has exited, without reaping it: until it is waited for its pid, and
/// so its process group's id, cannot be taken by another process, so the group can still be
/// killed safely.
pub fn exited(pid: u32) -> bool {
    use rustix::process::{WaitId, WaitIdOptions, waitid};
    let Some(p) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return false;
    };
    let opts = WaitIdOptions::EXITED | WaitIdOptions::NOWAIT | WaitIdOptions::NOHANG;
    matches!(waitid(WaitId::Pid(p), opts), Ok(Some(_)))
}

/// `open(2)` flags for `OpenOptionsExt::custom_flags`.
pub fn oflags(flags: &[rustix::fs::OFlags]) -> i32 {
    flags.iter().fold(0, |acc, f| acc | f.bits() as i32)
}

/// Whether this process runs as root (restores then set owners and make device nodes).
/// CPU seconds this process (all its threads) has used so far.
pub fn cpu_seconds() -> f64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    t.tv_sec as f64 + t.tv_nsec as f64 / 1e9
}

pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

pub fn euid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// Files and directories this process creates are its user's alone (0600/0700).
pub fn private_umask() {
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
}

/// Whether a process with this pid exists (signal 0).
pub fn alive(pid: u32) -> bool {
    i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
        .is_some_and(|p| rustix::process::test_kill_process(p).is_ok())
}

/// A file read past the page cache, so that a read-back reaches the disk (or the NFS
/// server): with `O_DIRECT` where the file system allows it, else after asking the kernel to
/// drop the file's cached pages. Reads whole aligned blocks into its own buffer.
pub struct Uncached {
    file: std::fs::File,
    direct: bool,
    path: std::path::PathBuf,
    pos: u64,
    size: u64,
}

/// The block alignment `O_DIRECT` asks of buffers, offsets and lengths (4 KiB covers the
/// devices and file systems in use).
const ALIGN: usize = 4096;

impl Uncached {
    pub fn open(p: &Path) -> std::io::Result<Self> {
        use std::os::unix::fs::OpenOptionsExt;
        let flags = oflags(&[rustix::fs::OFlags::DIRECT]);
        let direct = std::fs::File::options()
            .read(true)
            .custom_flags(flags)
            .open(p);
        let (file, direct) = match direct {
            Ok(f) => (f, true),
            Err(_) => (Self::cached(p, 0)?, false),
        };
        let size = file.metadata()?.len();
        Ok(Uncached {
            file,
            direct,
            path: p.to_path_buf(),
            pos: 0,
            size,
        })
    }

    fn cached(p: &Path, at: u64) -> std::io::Result<std::fs::File> {
        use std::io::Seek;
        let mut f = std::fs::File::open(p)?;
        drop_cache(&f);
        f.seek(std::io::SeekFrom::Start(at))?;
        Ok(f)
    }

    /// A buffer of `len` bytes (a multiple of 4 KiB) for [`Uncached::fill`].
    pub fn buffer(len: usize) -> Vec<u8> {
        vec![0u8; len.next_multiple_of(ALIGN) + ALIGN]
    }

    /// Read the next bytes into the aligned part of `buf`; the bytes read, empty at the end.
    /// A read `O_DIRECT` refuses (an odd block size, a short read) goes on without it.
    pub fn fill<'b>(&mut self, buf: &'b mut [u8]) -> std::io::Result<&'b [u8]> {
        use std::io::Read;
        let at = buf.as_ptr().align_offset(ALIGN);
        let room = (buf.len() - at) / ALIGN * ALIGN;
        let part = &mut buf[at..at + room];
        let n = loop {
            match self.file.read(part) {
                Ok(n) => break n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) if self.direct && e.raw_os_error() == Some(22) => self.undirect()?,
                Err(e) => return Err(e),
            }
        };
        self.pos += n as u64;
        if self.direct && n % ALIGN != 0 && self.pos < self.size {
            self.undirect()?;
        }
        Ok(&part[..n])
    }

    fn undirect(&mut self) -> std::io::Result<()> {
        self.file = Self::cached(&self.path, self.pos)?;
        self.direct = false;
        Ok(())
    }
}

/// Ask the kernel to drop a file's cached pages, so that a read-back reaches the disk (or
/// the NFS server). Best effort.
pub fn drop_cache(f: &std::fs::File) {
    let _ = rustix::fs::fadvise(f, 0, None, rustix::fs::Advice::DontNeed);
}

/// Free bytes for an unprivileged user on the file system holding `p`.
pub fn free_bytes(p: &Path) -> Option<u64> {
    let st = rustix::fs::statvfs(p).ok()?;
    Some(st.f_bavail.saturating_mul(st.f_frsize))
}

/// A larger pipe buffer; best effort (the kernel may refuse: fs.pipe-max-size).
pub fn big_pipe(p: &impl std::os::fd::AsFd, size: usize) {
    let _ = rustix::pipe::fcntl_setpipe_size(p, size);
}

/// What kind of special file to make.
pub enum Node {
    Fifo,
    Char(u32, u32),
    Block(u32, u32),
}

/// Make a FIFO or device node at `path` (mode 0600 until the caller sets the member's).
pub fn make_node(path: &Path, node: Node) -> std::io::Result<()> {
    use rustix::fs::{FileType, Mode, makedev, mknodat};
    let (kind, dev) = match node {
        Node::Fifo => (FileType::Fifo, 0),
        Node::Char(a, b) => (FileType::CharacterDevice, makedev(a, b)),
        Node::Block(a, b) => (FileType::BlockDevice, makedev(a, b)),
    };
    mknodat(rustix::fs::CWD, path, kind, Mode::from_raw_mode(0o600), dev)?;
    Ok(())
}

/// Set the mtime of `path` itself (never a symlink's target), leaving its atime.
pub fn set_mtime_nofollow(path: &Path, secs: i64) -> std::io::Result<()> {
    use rustix::fs::{AtFlags, Timespec, Timestamps, UTIME_OMIT, utimensat};
    let times = Timestamps {
        last_access: Timespec {
            tv_sec: 0,
            tv_nsec: UTIME_OMIT,
        },
        last_modification: Timespec {
            tv_sec: secs,
            tv_nsec: 0,
        },
    };
    utimensat(rustix::fs::CWD, path, &times, AtFlags::SYMLINK_NOFOLLOW)?;
    Ok(())
}

/// One line to the local syslog (the auth facility, warning), as RFC 3164 over /dev/log.
/// Best effort: no syslog daemon, no line.
pub fn syslog(ident: &str, line: &str) {
    let msg: String = line.chars().filter(|c| !c.is_control()).collect();
    // facility auth (4) * 8 + severity warning (4)
    let packet = format!("<36>{ident}[{}]: {msg}", std::process::id());
    if let Ok(sock) = std::os::unix::net::UnixDatagram::unbound() {
        let _ = sock.send_to(packet.as_bytes(), "/dev/log");
    }
}

/// Kill a process group (a program DLE's command and whatever it started). Best effort.
pub fn kill_group(pgid: u32) {
    if let Some(p) = i32::try_from(pgid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    {
        let _ = rustix::process::kill_process_group(p, rustix::process::Signal::KILL);
    }
}

/// Whether `fd` became readable or hung up within `ms` milliseconds (for a peer that must
/// stay silent: anything readable means it went away or broke the protocol).
pub fn woke(fd: std::os::fd::BorrowedFd<'_>, ms: u32) -> bool {
    use rustix::event::{PollFd, PollFlags, Timespec, poll};
    let mut fds = [PollFd::new(&fd, PollFlags::IN)];
    let t = Timespec {
        tv_sec: i64::from(ms / 1000),
        tv_nsec: i64::from(ms % 1000) * 1_000_000,
    };
    match poll(&mut fds, Some(&t)) {
        Ok(n) => n > 0,
        Err(_) => false,
    }
}

/// Whether `fd` has something to read (or hung up) within `timeout`; EINTR waits again
/// for the rest. Err only for a poll that cannot run at all.
pub fn readable_within(
    fd: std::os::fd::BorrowedFd<'_>,
    timeout: std::time::Duration,
) -> std::io::Result<bool> {
    use rustix::event::{PollFd, PollFlags, Timespec, poll};
    let end = std::time::Instant::now() + timeout;
    loop {
        let left = end.saturating_duration_since(std::time::Instant::now());
        let t = Timespec {
            tv_sec: left.as_secs() as i64,
            tv_nsec: i64::from(left.subsec_nanos()),
        };
        let mut fds = [PollFd::new(&fd, PollFlags::IN)];
        match poll(&mut fds, Some(&t)) {
            Ok(n) => return Ok(n > 0),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// The name of the user this process runs as (from /etc/passwd), else `uid N`.
pub fn user_name() -> String {
    let uid = euid();
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|p| {
            p.lines().find_map(|l| {
                let mut f = l.split(':');
                let name = f.next()?;
                (f.nth(1)?.parse::<u32>().ok()? == uid).then(|| name.to_string())
            })
        })
        .unwrap_or_else(|| format!("uid {uid}"))
}

#[cfg(test)]
mod exit_tests {
    #[test]
    fn an_exited_child_is_seen_and_left_for_wait() {
        let mut c = std::process::Command::new("sh")
            .args(["-c", "exit 7"])
            .spawn()
            .unwrap();
        let end = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !super::exited(c.id()) {
            assert!(std::time::Instant::now() < end, "never seen to exit");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        // not reaped: wait still has its status
        assert_eq!(c.wait().unwrap().code(), Some(7));
        let mut running = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        assert!(!super::exited(running.id()));
        running.kill().unwrap();
        running.wait().unwrap();
    }
}
