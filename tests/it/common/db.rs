//! Real database servers for program DLE tests, each in a temp dir on a Unix socket, started
//! by the test and stopped when dropped: PostgreSQL (`initdb`, `pg_ctl` as the postgres
//! user) and MariaDB (`mariadb-install-db`, `mariadbd` as the mysql user). No system
//! service is started or changed.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Run `argv` as `user` (root runs tests), panicking with its output on failure.
pub fn run_as(user: &str, argv: &[&str]) -> String {
    let out = Command::new("runuser")
        .args(["-u", user, "--"])
        .args(argv)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{argv:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn chown(path: &Path, user: &str) {
    let st = Command::new("chown")
        .args(["-R", &format!("{user}:{user}")])
        .arg(path)
        .status()
        .unwrap();
    assert!(st.success());
}

fn wait_for(what: &str, mut ready: impl FnMut() -> bool, log: &Path) {
    let t0 = Instant::now();
    while !ready() {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "{what} did not start: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A PostgreSQL cluster listening on a socket in its own dir (no TCP).
pub struct Postgres {
    pub bin: PathBuf,
    pub dir: PathBuf,
    pub port: u16,
}

impl Postgres {
    /// The newest installed server's bin directory.
    pub fn bin_dir() -> PathBuf {
        let mut v: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL is not installed: scripts/test installs postgresql")
            .filter_map(|e| Some(e.ok()?.path().join("bin")))
            .filter(|b| b.join("initdb").exists())
            .collect();
        v.sort();
        v.pop().expect("no /usr/lib/postgresql/*/bin/initdb")
    }

    pub fn start(dir: &Path) -> Postgres {
        let bin = Postgres::bin_dir();
        std::fs::create_dir_all(dir).unwrap();
        chown(dir, "postgres");
        let data = dir.join("data");
        let tool = |t: &str| bin.join(t).display().to_string();
        run_as(
            "postgres",
            &[
                &tool("initdb"),
                "-D",
                data.to_str().unwrap(),
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
            ],
        );
        let port = 20000 + (std::process::id() % 20000) as u16;
        let opts = format!(
            "-p {port} -k {} -c listen_addresses='' -c fsync=off",
            dir.display()
        );
        let log = dir.join("server.log");
        run_as(
            "postgres",
            &[
                &tool("pg_ctl"),
                "-D",
                data.to_str().unwrap(),
                "-o",
                &opts,
                "-l",
                log.to_str().unwrap(),
                "-w",
                "start",
            ],
        );
        Postgres {
            bin,
            dir: dir.to_path_buf(),
            port,
        }
    }

    pub fn tool(&self, t: &str) -> String {
        self.bin.join(t).display().to_string()
    }

    /// Connection arguments for the client tools.
    pub fn conn(&self) -> Vec<String> {
        vec![
            format!("--host={}", self.dir.display()),
            format!("--port={}", self.port),
            "--username=postgres".into(),
        ]
    }

    /// One SQL statement's rows, unaligned.
    pub fn sql(&self, db: &str, sql: &str) -> String {
        let psql = self.tool("psql");
        let mut argv: Vec<&str> = vec![&psql, "-X", "-At", "-v", "ON_ERROR_STOP=1"];
        let conn = self.conn();
        argv.extend(conn.iter().map(String::as_str));
        argv.extend(["-d", db, "-c", sql]);
        run_as("postgres", &argv).trim().to_string()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-m", "immediate", "stop"])
            .output();
    }
}

/// A MariaDB server on a socket in its own dir (no TCP).
pub struct Mariadb {
    pub datadir: PathBuf,
    pub socket: PathBuf,
    child: Child,
}

impl Mariadb {
    /// A new server with a fresh system database.
    pub fn start(dir: &Path) -> Mariadb {
        std::fs::create_dir_all(dir).unwrap();
        let datadir = dir.join("data");
        let out = Command::new("mariadb-install-db")
            .args(["--no-defaults", "--user=mysql", "--skip-test-db"])
            .arg(format!("--datadir={}", datadir.display()))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "mariadb-install-db: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Mariadb::serve(dir, &datadir)
    }

    /// A server on an existing data directory (a restored backup).
    pub fn serve(dir: &Path, datadir: &Path) -> Mariadb {
        std::fs::create_dir_all(dir).unwrap();
        chown(dir, "mysql");
        chown(datadir, "mysql");
        let socket = dir.join("mysqld.sock");
        let log = dir.join("server.log");
        let child = Command::new("/usr/sbin/mariadbd")
            .arg("--no-defaults")
            .arg(format!("--datadir={}", datadir.display()))
            .arg(format!("--socket={}", socket.display()))
            .arg(format!("--pid-file={}", dir.join("mysqld.pid").display()))
            .arg(format!("--log-error={}", log.display()))
            .args([
                "--skip-networking",
                "--user=mysql",
                "--innodb-flush-log-at-trx-commit=0",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let m = Mariadb {
            datadir: datadir.to_path_buf(),
            socket,
            child,
        };
        wait_for("mariadbd", || m.try_sql("SELECT 1").is_some(), &log);
        m
    }

    fn run_sql(&self, sql: &str) -> Result<String, String> {
        let out = Command::new("mariadb")
            .arg(format!("--socket={}", self.socket.display()))
            .args([
                "-u",
                "root",
                "--default-character-set=utf8mb4",
                "-N",
                "-B",
                "-e",
                sql,
            ])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    fn try_sql(&self, sql: &str) -> Option<String> {
        self.run_sql(sql).ok()
    }

    pub fn sql(&self, sql: &str) -> String {
        self.run_sql(sql)
            .unwrap_or_else(|e| panic!("mariadb: {sql} failed: {e}"))
    }
}

impl Drop for Mariadb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
