//! Real `sshd` processes on 127.0.0.1 standing for client hosts: own host key, own config,
//! a free high port, authorized_keys with the tapir forced command. No system service is
//! started or changed; each is killed when dropped.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Sshd {
    child: Child,
    pub port: u16,
    pub dir: PathBuf,
    pub name: String,
}

pub fn sshd_binary() -> PathBuf {
    for p in ["/usr/sbin/sshd", "/usr/bin/sshd"] {
        if Path::new(p).exists() {
            return p.into();
        }
    }
    panic!("sshd not found: scripts/test installs openssh-server")
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `ssh-keygen -t ed25519` into `path` (and `path.pub`).
pub fn keygen(path: &Path) {
    let st = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "test", "-f"])
        .arg(path)
        .status()
        .expect("ssh-keygen (openssh-client) is needed");
    assert!(st.success());
}

pub fn current_user() -> String {
    let out = Command::new("id").arg("-un").output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

impl Sshd {
    /// Start an sshd for host `name` whose authorized_keys holds `authorized` (full lines).
    pub fn start(root: &Path, name: &str, authorized: &str) -> Sshd {
        Sshd::start_with(root, name, authorized, "")
    }

    /// Like [`Sshd::start`], with extra sshd_config lines (e.g. `SetEnv …`), first: sshd
    /// takes a keyword's first value, so they win over the defaults.
    pub fn start_with(root: &Path, name: &str, authorized: &str, extra: &str) -> Sshd {
        let dir = root.join(format!("sshd-{name}"));
        std::fs::create_dir_all(&dir).unwrap();
        let hostkey = dir.join("host_key");
        if !hostkey.exists() {
            keygen(&hostkey);
        }
        std::fs::write(dir.join("authorized_keys"), authorized).unwrap();
        if unsafe { libc::geteuid() } == 0 {
            std::fs::create_dir_all("/run/sshd").unwrap();
        }
        let port = free_port();
        let cfg = format!(
            "{extra}\nPort {port}\nListenAddress 127.0.0.1\nHostKey {hk}\nPidFile {d}/sshd.pid\n\
             AuthorizedKeysFile {d}/authorized_keys\nStrictModes no\nUsePAM no\n\
             PasswordAuthentication no\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\n\
             PermitRootLogin prohibit-password\nLogLevel ERROR\n",
            hk = hostkey.display(),
            d = dir.display()
        );
        std::fs::write(dir.join("sshd_config"), cfg).unwrap();
        let child = Command::new(sshd_binary())
            .args(["-D", "-e", "-f"])
            .arg(dir.join("sshd_config"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("sshd.log")).unwrap())
            .spawn()
            .unwrap();
        let s = Sshd {
            child,
            port,
            dir,
            name: name.to_string(),
        };
        s.wait_ready();
        s
    }

    fn wait_ready(&self) {
        let t0 = Instant::now();
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "sshd {} did not start: {}",
                self.name,
                std::fs::read_to_string(self.dir.join("sshd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Replace the host key (a reinstalled client) and restart on the same port.
    pub fn change_host_key(&mut self) {
        self.stop();
        let hk = self.dir.join("host_key");
        std::fs::remove_file(&hk).unwrap();
        std::fs::remove_file(self.dir.join("host_key.pub")).unwrap();
        keygen(&hk);
        self.child = Command::new(sshd_binary())
            .args(["-D", "-e", "-f"])
            .arg(self.dir.join("sshd_config"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.wait_ready();
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The `[hosts.NAME]` config block for this server.
    pub fn host_block(&self) -> String {
        format!(
            "[hosts.{}]\naddress = \"127.0.0.1\"\nport = {}\nuser = \"{}\"\n",
            self.name,
            self.port,
            current_user()
        )
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.stop();
    }
}
