//! Test harness: a throwaway tapir setup in a temp dir, the real binary run with a cleared
//! environment, corpus builders and a strict tree comparison.

pub mod db;
pub mod exim;
pub mod seaweed;
pub mod shared;
pub mod sshd;
pub mod tree;
pub mod unit;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_tapir");

/// One tapir installation: config, dumptypes, disklist, keys, vtape, catalog.
pub struct Setup {
    pub dir: tempfile::TempDir,
    pub identity: PathBuf,
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "exit code\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

impl Setup {
    /// A setup with `extra` appended to a minimal config (top-level keys) and `changer`
    /// settings; a fresh identity; dumptypes `local` (server gzip) and friends.
    pub fn new(top: &str, changer: &str) -> Setup {
        let dir = tempfile::Builder::new()
            .prefix("tapir-test")
            .tempdir()
            .unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("dumptypes")).unwrap();
        std::fs::create_dir_all(d.join("keys")).unwrap();
        let identity = d.join("keys/identity.txt");
        let out = Command::new(BIN)
            .args(["keygen", "-o"])
            .arg(&identity)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "keygen: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let recipient = String::from_utf8(out.stdout).unwrap();
        std::fs::write(d.join("keys/recipients.txt"), recipient).unwrap();
        let changer = if changer.is_empty() {
            "slots = 10\nautolabel = \"daily-%%\"\n"
        } else {
            changer
        };
        let cfg = format!(
            "org = \"Test\"\n{top}\n[changer]\nroot = \"vtape\"\n{changer}\n[encryption]\nrecipients_file = \"keys/recipients.txt\"\n"
        );
        std::fs::write(d.join("tapir.toml"), cfg).unwrap();
        for (name, body) in [
            (
                "local",
                "auth = \"local\"\ncompress = \"server-fast\"\nexclude = [\"*.tmp\"]\n",
            ),
            (
                "local-full",
                "auth = \"local\"\nstrategy = \"noinc\"\nexclude = [\"*.tmp\"]\n",
            ),
            (
                "local-best",
                "auth = \"local\"\ncompress = \"server-best\"\nexclude = [\"*.tmp\"]\n",
            ),
            (
                "local-client",
                "auth = \"local\"\ncompress = \"client-fast\"\nexclude = [\"*.tmp\"]\n",
            ),
            (
                "local-zstd",
                "auth = \"local\"\ncompress = \"server-zstd\"\nexclude = [\"*.tmp\"]\n",
            ),
            (
                "local-client-zstd",
                "auth = \"local\"\ncompress = \"client-zstd\"\ncompress_level = 3\nexclude = [\"*.tmp\"]\n",
            ),
            (
                "local-plain",
                "auth = \"local\"\ncompress = \"none\"\nencrypt = \"none\"\nexclude = [\"*.tmp\"]\n",
            ),
        ] {
            std::fs::write(d.join(format!("dumptypes/{name}.toml")), body).unwrap();
        }
        std::fs::write(d.join("disklist"), "").unwrap();
        Setup { dir, identity }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A setup of its own holding a copy of `kept` (a shared fixture's setup, see
    /// [`shared::keep`]): files, modes and mtimes as they are there.
    pub fn copy_of(kept: &Path) -> Setup {
        let dir = tempfile::Builder::new()
            .prefix("tapir-test")
            .tempdir()
            .unwrap();
        let ok = Command::new("cp")
            .arg("-a")
            .arg(kept.join("."))
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(ok.success(), "cp -a {}", kept.display());
        let identity = dir.path().join("keys/identity.txt");
        Setup { dir, identity }
    }

    /// A new age identity `keys/NAME.txt` made by `tapir keygen`: its path and recipient.
    pub fn new_identity(&self, name: &str) -> (PathBuf, String) {
        let p = self.path().join(format!("keys/{name}.txt"));
        let out = self.run(&["keygen", "-o", p.to_str().unwrap()]);
        out.assert_code(0);
        (p, out.stdout.trim().to_string())
    }

    /// Encrypt the next dumps to `recipient` too (the recipients file gets its line).
    pub fn add_recipient(&self, recipient: &str) {
        let rf = self.path().join("keys/recipients.txt");
        let had = std::fs::read_to_string(&rf).unwrap();
        std::fs::write(&rf, format!("{}\n{recipient}\n", had.trim_end())).unwrap();
    }

    pub fn write(&self, rel: &str, body: &str) {
        let p = self.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, body).unwrap();
    }

    /// A command for the real binary, environment cleared, cwd = the setup.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args)
            .current_dir(self.path())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("TZ", "UTC")
            .stdin(Stdio::null());
        c
    }

    pub fn run(&self, args: &[&str]) -> Run {
        self.run_env(args, &[])
    }

    pub fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut c = self.cmd(args);
        for (k, v) in env {
            c.env(k, v);
        }
        finish(c.output().unwrap())
    }

    /// `tapir recover --host HOST --disk DISK -i IDENTITY --to TO` plus `extra` arguments.
    pub fn recover(&self, host: &str, disk: &str, to: &Path, extra: &[&str]) -> Run {
        let id = self.identity.display().to_string();
        let to = to.display().to_string();
        let mut args = vec![
            "recover", "--host", host, "--disk", disk, "-i", &id, "--to", &to,
        ];
        args.extend_from_slice(extra);
        self.run(&args)
    }

    /// `tapir recover --host HOST --disk DISK -i IDENTITY --run-restore` with the agent.toml
    /// whose programs it runs.
    pub fn run_restore(&self, host: &str, disk: &str, agent_cfg: &Path) -> Run {
        let id = self.identity.display().to_string();
        self.run_env(
            &[
                "recover",
                "--host",
                host,
                "--disk",
                disk,
                "-i",
                &id,
                "--run-restore",
            ],
            &[("TAPIR_AGENT_CONFIG", agent_cfg.to_str().unwrap())],
        )
    }

    /// `tapir fetch --host localhost --disk DISK -o OUT` plus `extra` arguments.
    pub fn fetch(&self, disk: &str, out: &str, extra: &[&str]) -> Run {
        let mut args = vec!["fetch", "--host", "localhost", "--disk", disk, "-o", out];
        args.extend_from_slice(extra);
        self.run(&args)
    }

    /// The catalog's newest dump record.
    pub fn newest_record(&self) -> serde_json::Value {
        self.find_json()
            .as_array()
            .unwrap()
            .iter()
            .max_by_key(|r| r["datestamp"].as_str().unwrap().to_string())
            .unwrap()
            .clone()
    }

    /// The index lines of a dump record, as JSON values.
    pub fn index_lines(&self, rec: &serde_json::Value) -> Vec<serde_json::Value> {
        use std::io::Read;
        let ix = self
            .path()
            .join("catalog")
            .join(rec["index"].as_str().expect("index recorded"));
        let mut text = String::new();
        flate2::read::GzDecoder::new(std::fs::File::open(ix).unwrap())
            .read_to_string(&mut text)
            .unwrap();
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// Every dump the catalog lists, as JSON.
    pub fn find_json(&self) -> serde_json::Value {
        let r = self.run(&["find", "--json"]);
        r.assert_code(0);
        serde_json::from_str(&r.stdout).unwrap()
    }

    /// The level of every dump the catalog lists, oldest first.
    pub fn levels(&self) -> Vec<u64> {
        self.find_json()
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["level"].as_u64().unwrap())
            .collect()
    }

    pub fn tape_file(&self, rec: &serde_json::Value) -> PathBuf {
        self.path()
            .join("vtape")
            .join(format!("slot{}", rec["slot"]))
            .join(rec["file_name"].as_str().unwrap())
    }

    /// All `.partial` files under vtape.
    pub fn partials(&self) -> Vec<PathBuf> {
        walkdir::WalkDir::new(self.path().join("vtape"))
            .into_iter()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".partial"))
            .map(|e| e.into_path())
            .collect()
    }
}

/// Every file below `dir` (none when it does not exist), in walk order.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .collect()
}

/// The real binary on a machine with no tapir config: in `dir` (also its HOME), the
/// environment cleared but PATH, TZ=UTC and `env`.
pub fn bare_cmd(dir: &Path, args: &[&str], env: &[(&str, String)]) -> Command {
    let mut c = Command::new(BIN);
    c.args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("TZ", "UTC")
        .env("HOME", dir);
    for (k, v) in env {
        c.env(k, v);
    }
    c
}

/// [`bare_cmd`], run to its end.
pub fn bare(dir: &Path, args: &[&str], env: &[(&str, String)]) -> Run {
    finish(bare_cmd(dir, args, env).output().unwrap())
}

pub fn finish(o: Output) -> Run {
    use std::os::unix::process::ExitStatusExt;
    let code = o
        .status
        .code()
        .unwrap_or_else(|| 128 + o.status.signal().unwrap_or(0));
    Run {
        code,
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// Run a shell pipeline, panicking with its stderr on failure.
pub fn sh(script: &str, cwd: &Path) {
    let o = Command::new("bash")
        .args(["-o", "pipefail", "-c", script])
        .current_dir(cwd)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{script}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

pub fn is_root() -> bool {
    unsafe { libc::geteuid() == 0 }
}

/// Root-only tests run (CI is root) and fail elsewhere: never a silent pass.
pub fn require_root(why: &str) {
    assert!(
        is_root(),
        "this test must run as root ({why}); scripts/test runs as root"
    );
}

/// Time `days` days after a fixed start, as RFC 3339 for TAPIR_NOW.
pub fn day(days: u32) -> String {
    let start = chrono::DateTime::parse_from_rfc3339("2026-01-01T02:00:00Z").unwrap();
    (start + chrono::Duration::days(days as i64)).to_rfc3339()
}

/// `n` incompressible bytes (xorshift64*), different per `seed`.
pub fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
        })
        .collect()
}

/// `tapir config --json` of the shipped example config.
pub fn example_config_json() -> serde_json::Value {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(BIN)
        .arg("--config")
        .arg(root.join("tapir.toml"))
        .args(["config", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Restore dump `rec` by `tapir fetch --identity | tar -x` and by the stock pipeline its
/// header spells out; both trees must equal `src` (but what `skip` names).
pub fn restore_both_ways(
    s: &Setup,
    rec: &serde_json::Value,
    src: &Path,
    skip: &dyn Fn(&Path) -> bool,
) {
    let file = s.tape_file(rec);
    let id = s.identity.display().to_string();

    // 1. tapir fetch --identity | tar -x
    let out1 = s.path().join("restore-fetch");
    std::fs::create_dir(&out1).unwrap();
    let cfg = s.path().join("tapir.toml");
    let disk = rec["disk"].as_str().unwrap();
    sh(
        &format!(
            "{} --config {} fetch --host localhost --disk '{disk}' --identity {id} -o - | tar -xpf - -C {}",
            BIN,
            cfg.display(),
            out1.display()
        ),
        s.path(),
    );
    tree::assert_same(src, &out1, skip);

    // 2. the stock pipeline, exactly as the header spells it
    let recipe = stock_recipe(s, rec);
    let out2 = s.path().join("restore-stock");
    std::fs::create_dir(&out2).unwrap();
    sh(
        &format!("cd {} && {recipe}", out2.display()),
        file.parent().unwrap(),
    );
    tree::assert_same(src, &out2, skip);
}

/// The stock-tools restore line of dump `rec`'s header, with the identity and the tape
/// file's directory filled in (run it in the directory to restore into).
pub fn stock_recipe(s: &Setup, rec: &serde_json::Value) -> String {
    let file = s.tape_file(rec);
    let header = String::from_utf8_lossy(&std::fs::read(&file).unwrap()[..32768]).into_owned();
    let recipe = header
        .lines()
        .find(|l| l.starts_with("#   dd if="))
        .expect("recipe in header");
    let slot_dir = file.parent().unwrap().display().to_string();
    recipe
        .trim_start_matches("#   ")
        .replace("KEY", &s.identity.display().to_string())
        .replace("dd if=", &format!("dd if={slot_dir}/"))
}

/// The outcome of HOST DISK in `tapir dump --json` output.
pub fn outcome(stdout: &str, host: &str, disk: &str) -> serde_json::Value {
    let v: serde_json::Value =
        serde_json::from_str(stdout).unwrap_or_else(|_| panic!("not JSON: {stdout}"));
    v["outcomes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["host"] == host && o["disk"] == disk)
        .unwrap_or_else(|| panic!("{host} {disk}: {stdout}"))
        .clone()
}

/// Speak the protocol to `tapir agent --agent-config CFG` directly, as a hostile server
/// would: `frames` are JSON messages; returns what the agent wrote and whether it exited 0.
pub fn agent_says(agent_cfg: &Path, frames: &[String]) -> (String, bool) {
    use std::io::{Read, Write};
    let mut child = Command::new(BIN)
        .args(["agent", "--agent-config"])
        .arg(agent_cfg)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    for f in frames {
        let mut frame = vec![b'M'];
        frame.extend_from_slice(&(f.len() as u32).to_be_bytes());
        frame.extend_from_slice(f.as_bytes());
        stdin.write_all(&frame).unwrap();
    }
    drop(stdin);
    let mut out = Vec::new();
    child.stdout.take().unwrap().read_to_end(&mut out).unwrap();
    let ok = child.wait().unwrap().success();
    (String::from_utf8_lossy(&out).into_owned(), ok)
}

/// A busy machine: two CPU spinners and a copy loop of ~100 MB.
pub struct Load(Vec<std::process::Child>);

impl Load {
    pub fn start(dir: &Path) -> Load {
        let big = dir.join("load.bin");
        std::fs::write(&big, noise(100 << 20, 7)).unwrap();
        let copy = format!(
            "while :; do cp -a {0} {0}.copy; rm -f {0}.copy; done",
            big.display()
        );
        let mut kids = vec![];
        for script in ["while :; do :; done", "while :; do :; done", copy.as_str()] {
            kids.push(
                std::process::Command::new("bash")
                    .args(["-c", script])
                    .spawn()
                    .unwrap(),
            );
        }
        Load(kids)
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        for k in &mut self.0 {
            let _ = k.kill();
            let _ = k.wait();
        }
    }
}

/// Prometheus's own `promtool` (scripts/test unpacks it from Debian's prometheus package
/// into target/promtool; no service is installed): never a silent skip.
pub fn promtool() -> PathBuf {
    if let Some(p) = std::env::var_os("TAPIR_TEST_PROMTOOL") {
        return PathBuf::from(p);
    }
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/promtool/usr/bin/promtool");
    assert!(
        p.exists(),
        "{} is missing: run scripts/test (it unpacks Debian's prometheus package there)",
        p.display()
    );
    p
}

/// The setup's signing key as an allowed-signers file (what an admin keeps with the keys).
pub fn allowed_signers(s: &Setup) -> PathBuf {
    let public = std::fs::read_to_string(s.path().join("keys/signing_key.pub")).unwrap();
    let key: Vec<&str> = public.split_whitespace().take(2).collect();
    let signers = s.path().join("allowed_signers");
    std::fs::write(
        &signers,
        format!("tapir namespaces=\"tapir-tape\" {}\n", key.join(" ")),
    )
    .unwrap();
    signers
}

/// Run the stock `ssh-keygen -Y verify` line that `file`'s header spells out, with
/// `signers`, in the file's directory.
pub fn stock_verify(file: &Path, signers: &Path) -> Output {
    let text = String::from_utf8_lossy(&std::fs::read(file).unwrap()[..32768]).into_owned();
    let line = text
        .lines()
        .find(|l| l.contains("ssh-keygen -Y verify"))
        .expect("the stock verification line")
        .trim_start_matches("#   ")
        .replace("SIGNERS", &signers.display().to_string());
    Command::new("bash")
        .args(["-c", &line])
        .current_dir(file.parent().unwrap())
        .output()
        .unwrap()
}
