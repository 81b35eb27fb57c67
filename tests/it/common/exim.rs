//! A real exim4 (Debian's default MTA) on 127.0.0.1 in queue-only mode: own config, own
//! spool and logs in a temp dir, a free port, no system service, nothing delivered. It
//! advertises STARTTLS with a self-signed certificate, as Debian's MTAs do out of the box,
//! and refuses the recipient `refused@…`.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Exim {
    child: Child,
    pub port: u16,
    dir: PathBuf,
}

const BIN: &str = "/usr/sbin/exim4";

impl Exim {
    pub fn start(dir: &Path) -> Exim {
        assert!(
            Path::new(BIN).exists(),
            "exim4 is needed (scripts/test installs exim4-daemon-light)"
        );
        super::require_root("exim4 reads an alternate config only as root");
        let port = super::sshd::free_port();
        // the daemon drops to Debian-exim: the directory must be reachable and its own
        for d in ["spool", "log"] {
            std::fs::create_dir_all(dir.join(d)).unwrap();
        }
        super::sh(
            &format!(
                "chmod 755 {0} && chown -R Debian-exim:Debian-exim {0}/spool {0}/log",
                dir.display()
            ),
            dir,
        );
        std::fs::write(
            dir.join("exim.conf"),
            format!(
                "spool_directory = {d}/spool\nlog_file_path = {d}/log/%slog\n\
                 daemon_smtp_ports = {port}\nlocal_interfaces = 127.0.0.1\nqueue_only = true\n\
                 primary_hostname = mx.test.example\nkeep_environment =\n\
                 acl_smtp_rcpt = rcpt\nbegin acl\nrcpt:\n  deny local_parts = refused\n    message = no such mailbox here\n  accept\n",
                d = dir.display()
            ),
        )
        .unwrap();
        let child = Command::new(BIN)
            .args([
                "-C",
                dir.join("exim.conf").to_str().unwrap(),
                "-bdf",
                "-odq",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("exim.out")).unwrap())
            .spawn()
            .expect("exim4");
        let e = Exim {
            child,
            port,
            dir: dir.to_path_buf(),
        };
        let t0 = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "exim4 did not listen: {}",
                e.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        e
    }

    fn exim(&self, args: &[&str]) -> String {
        let out = Command::new(BIN)
            .args(["-C", self.dir.join("exim.conf").to_str().unwrap()])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The ids of the queued messages (their `-H` files in the spool).
    pub fn queue(&self) -> Vec<String> {
        let mut ids: Vec<String> = std::fs::read_dir(self.dir.join("spool/input"))
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .filter_map(|e| {
                        let n = e.file_name().to_string_lossy().into_owned();
                        n.strip_suffix("-H").map(str::to_string)
                    })
                    .collect()
            })
            .unwrap_or_default();
        ids.sort();
        ids
    }

    /// A queued message as it would be delivered: headers (`-Mvh`) and body (`-Mvb`), the
    /// spool's first line (the id) and exim's own flags taken off.
    pub fn message(&self, id: &str) -> (Vec<u8>, Envelope) {
        let spool_h = self.exim(&["-Mvh", id]);
        let body = self.exim(&["-Mvb", id]);
        let envelope = Envelope::of(&spool_h);
        // -Mvh prints exim's spool header: its header lines are "NNNF Name: value" with
        // continuation lines indented; take the RFC 5322 lines back out
        let mut headers = String::new();
        let mut in_headers = false;
        for line in spool_h.lines() {
            if !in_headers {
                in_headers = line.is_empty();
                continue;
            }
            let starts = line.len() > 5
                && line[..3].chars().all(|c| c.is_ascii_digit())
                && line.as_bytes()[4] == b' ';
            if starts {
                let flag = line.as_bytes()[3];
                if flag != b'*' {
                    headers += &line[5..];
                    headers += "\r\n";
                }
            } else if line.starts_with([' ', '\t']) {
                headers += line;
                headers += "\r\n";
            }
        }
        let body = body.lines().skip(1).collect::<Vec<_>>().join("\r\n");
        (format!("{headers}\r\n{body}\r\n").into_bytes(), envelope)
    }

    /// exim's main log: who sent, with TLS or not.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("log/mainlog")).unwrap_or_default()
            + &std::fs::read_to_string(self.dir.join("exim.out")).unwrap_or_default()
    }
}

/// The SMTP envelope exim recorded.
pub struct Envelope {
    pub sender: String,
    pub recipients: Vec<String>,
}

impl Envelope {
    fn of(spool_h: &str) -> Envelope {
        let mut lines = spool_h.lines().skip_while(|l| !l.starts_with('<'));
        let sender = lines
            .next()
            .unwrap_or("")
            .trim_matches(['<', '>'])
            .to_string();
        // after the sender and the -flags, the recipient count then one per line
        let mut rest = lines.skip_while(|l| !l.chars().all(|c| c.is_ascii_digit()) || l.is_empty());
        let n: usize = rest.next().and_then(|l| l.parse().ok()).unwrap_or(0);
        let recipients = rest.take(n).map(|l| l.trim().to_string()).collect();
        Envelope { sender, recipients }
    }
}

impl Drop for Exim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
