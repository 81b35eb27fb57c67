//! Program DLEs (a command's stdout is the dump) with small stand-in programs: every way a
//! stream restores (a file, stdout, the program's restore command, the stock line from its
//! header, the shell), every way a program fails, the client refusing hostile disknames,
//! and `tapir check`. The real databases are in tests/databases.rs.

use crate::common::{Run, Setup, noise};
use std::io::{Read, Write};
use std::process::Stdio;

fn sha256(b: &[u8]) -> String {
    use sha2::Digest;
    format!("{:x}", sha2::Sha256::digest(b))
}

/// A setup whose agent.toml defines the stand-in programs, and a dumptype for each.
fn setup() -> Setup {
    let s = Setup::new("", "");
    let d = s.path().display().to_string();
    std::fs::create_dir_all(s.path().join("data")).unwrap();
    let mut blob = "naïve Ünïcode ✓ line\n".repeat(1000).into_bytes();
    blob.extend(noise(3 << 20, 9));
    std::fs::write(s.path().join("data/db.bin"), &blob).unwrap();
    let noisy = "import sys\nfor i in range(200000):\n    sys.stderr.write('noise line %d %s\\n' % (i, 'x' * 100))\nsys.exit(3)\n";
    s.write(
        "agent.toml",
        &format!(
            r#"log = "{d}/agent.log"
[programs.blob]
backup = ["cat", "{d}/data/{{disk}}"]
restore = ["dd", "of={d}/restored-by-program", "status=none"]
[programs.fails]
backup = ["sh", "-c", "echo starting >&2; echo 'FATAL: database x does not exist' >&2; exit 1"]
[programs.noisy]
backup = ["python3", "-c", {noisy:?}]
[programs.chatty]
backup = ["sh", "-c", "for i in $(seq 1 25); do echo note $i >&2; done; echo data"]
[programs.silent]
backup = ["true"]
[programs.asuser]
backup = ["sh", "-c", "id -un; echo $HOME; env | sort"]
user = "nobody"
env = {{ PGPORT = "5999" }}
"#
        ),
    );
    for p in ["blob", "fails", "noisy", "chatty", "silent", "asuser"] {
        s.write(
            &format!("dumptypes/prog-{p}.toml"),
            &format!("auth = \"local\"\nprogram = \"{p}\"\n"),
        );
    }
    s
}

fn agent_env(s: &Setup) -> String {
    s.path().join("agent.toml").display().to_string()
}

fn run(s: &Setup, args: &[&str]) -> Run {
    let cfg = agent_env(s);
    s.run_env(args, &[("TAPIR_AGENT_CONFIG", &cfg)])
}

/// The fixture of the tests below: six program DLEs (one that streams a 3 MiB blob, one
/// that fails, a noisy and a chatty one, a silent one, one run as `nobody`) and a tar DLE,
/// dumped once. Returns the setup, the tar DLE's source and the dump's run.
fn dumped() -> (Setup, std::path::PathBuf, Run) {
    crate::common::require_root("a program runs as another user");
    let s = setup();
    let src = s.path().join("src");
    crate::common::tree::awkward(&src);
    s.write(
        "disklist",
        &format!(
            "localhost db.bin prog-blob\nlocalhost x1 prog-fails\nlocalhost x2 prog-noisy\n\
             localhost x3 prog-chatty\nlocalhost x4 prog-silent\nlocalhost x5 prog-asuser\n\
             localhost {} local\n",
            src.display()
        ),
    );
    let r = run(&s, &["dump", "--json"]);
    r.assert_code(1);
    (s, src, r)
}

/// The catalog's newest record of the blob DLE.
fn db_record(s: &Setup) -> serde_json::Value {
    let recs = s.find_json();
    let rec = recs
        .as_array()
        .unwrap()
        .iter()
        .rfind(|r| r["disk"] == "db.bin");
    rec.unwrap().clone()
}

/// The blob DLE's catalog record and the blob itself.
fn blob_record(s: &Setup) -> (serde_json::Value, Vec<u8>) {
    let blob = std::fs::read(s.path().join("data/db.bin")).unwrap();
    (db_record(s), blob)
}

#[test]
fn failing_programs_fail_alone_with_their_exit_and_bounded_stderr() {
    let (s, src, r) = dumped();
    let outcome = |disk: &str| crate::common::outcome(&r.stdout, "localhost", disk);
    assert_eq!(outcome("db.bin")["status"], "OK", "{}", r.stdout);
    assert_eq!(outcome(&src.display().to_string())["status"], "OK");
    let reason = |d: &str| outcome(d)["reason"].as_str().unwrap_or("").to_string();
    assert_eq!(outcome("x1")["status"], "FAILED");
    assert!(
        reason("x1").contains("exit status: 1") && reason("x1").contains("FATAL: database x"),
        "{}",
        reason("x1")
    );
    assert_eq!(outcome("x2")["status"], "FAILED");
    assert!(
        reason("x2").contains("exit status: 3") && reason("x2").contains("noise line 199999"),
        "{}",
        reason("x2")
    );
    assert!(reason("x2").len() < 4096, "bounded: {}", reason("x2").len());
    assert_eq!(outcome("x3")["status"], "OK", "stderr alone is no failure");
    let x3 = outcome("x3");
    let notes: Vec<&str> = x3["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    assert_eq!(notes.len(), 21, "{notes:?}");
    assert_eq!(notes[0], "(5 earlier stderr line(s) not kept)");
    assert_eq!(notes[20], "stderr: note 25");
    assert_eq!(outcome("x4")["status"], "FAILED");
    assert!(reason("x4").contains("wrote nothing"), "{}", reason("x4"));
    assert_eq!(outcome("x5")["status"], "OK");
    // the report mail/text carries the failures and the notes too
    let text = run(&s, &["report"]);
    assert!(text.stdout.contains("stderr: note 25"), "{}", text.stdout);
}

#[test]
fn the_header_and_the_index_say_what_the_stream_is() {
    let (s, _, _) = dumped();
    let (rec, blob) = blob_record(&s);
    let file = s.tape_file(&rec);
    let head = String::from_utf8_lossy(&std::fs::read(&file).unwrap()[..32768]).into_owned();
    for want in [
        "format = \"stream\"",
        "program = \"blob\"",
        "stream_name = \"db.bin.blob\"",
        &format!("stream_sha256 = \"{}\"", sha256(&blob)),
        "| age -d -i KEY | gzip -dc > db.bin.blob",
        "payload is age(gzip(stream))",
    ] {
        assert!(head.contains(want), "{want}\n{head}");
    }
    assert!(
        head.contains(&format!(
            "#   dd of={}/restored-by-program status=none < db.bin.blob",
            s.path().display()
        )),
        "{head}"
    );
    let ix = s.index_lines(&rec);
    assert_eq!(ix.len(), 1, "{ix:?}");
    assert_eq!(ix[0]["p"], "db.bin.blob");
    assert_eq!(ix[0]["s"], blob.len() as u64);
    assert_eq!(ix[0]["h"], sha256(&blob));
}

#[test]
fn a_stream_restores_to_a_dir_to_stdout_through_its_program_by_the_stock_line_and_in_the_shell() {
    let (s, _, _) = dumped();
    let (rec, blob) = blob_record(&s);
    // 1. --to DIR: the one file
    let to = s.path().join("r1");
    s.recover("localhost", "db.bin", &to, &[]).assert_code(0);
    assert_eq!(std::fs::read(to.join("db.bin.blob")).unwrap(), blob);
    assert_eq!(std::fs::read_dir(&to).unwrap().count(), 1);
    // 2. --stdout
    let id = s.identity.display().to_string();
    let out = s
        .cmd(&[
            "recover",
            "--host",
            "localhost",
            "--disk",
            "db.bin",
            "-i",
            &id,
            "--stdout",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout == blob, "--stdout gives the stream");
    // 3. --run-restore: the program's restore command from agent.toml
    let r = run(
        &s,
        &[
            "recover",
            "--host",
            "localhost",
            "--disk",
            "db.bin",
            "-i",
            &id,
            "--run-restore",
        ],
    );
    r.assert_code(0);
    assert!(r.stdout.contains("which exited 0"), "{}", r.stdout);
    assert_eq!(
        std::fs::read(s.path().join("restored-by-program")).unwrap(),
        blob
    );
    // 4. the stock line of the header, without tapir
    let stock = s.path().join("r4");
    std::fs::create_dir(&stock).unwrap();
    let recipe = crate::common::stock_recipe(&s, &rec);
    crate::common::sh(&recipe, &stock);
    assert_eq!(std::fs::read(stock.join("db.bin.blob")).unwrap(), blob);
    // 5. the shell lists it and extracts the file
    let shell_to = s.path().join("r5");
    std::fs::create_dir(&shell_to).unwrap();
    let mut c = s.cmd(&["recover", "-i", &id]);
    c.stdin(Stdio::piped()).stdout(Stdio::piped());
    let mut child = c.spawn().unwrap();
    write!(
        child.stdin.take().unwrap(),
        "sethost localhost\nlistdisk\nsetdisk db.bin\nls\nadd db.bin.blob\nlcd {}\nextract\n",
        shell_to.display()
    )
    .unwrap();
    let mut said = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut said)
        .unwrap();
    assert!(child.wait().unwrap().success(), "{said}");
    assert!(
        said.contains("db.bin  (program blob: one stream file)"),
        "{said}"
    );
    assert_eq!(std::fs::read(shell_to.join("db.bin.blob")).unwrap(), blob);
}

#[test]
fn a_program_runs_as_its_user_in_a_cleared_environment_and_stdout_refuses_a_tar_dle() {
    let (s, src, _) = dumped();
    let id = s.identity.display().to_string();
    // the user switch and the cleared environment
    let out = s
        .cmd(&[
            "recover",
            "--host",
            "localhost",
            "--disk",
            "x5",
            "-i",
            &id,
            "--stdout",
        ])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = said.lines().collect();
    assert_eq!(lines[0], "nobody", "{said}");
    let env: Vec<&str> = lines[2..]
        .iter()
        .map(|l| l.split('=').next().unwrap())
        .filter(|k| !["PWD", "SHLVL", "_", "OLDPWD"].contains(k))
        .collect();
    assert_eq!(env, ["HOME", "LOGNAME", "PATH", "PGPORT", "USER"], "{said}");

    // --stdout of a tar DLE is refused with what to use instead
    let r = s.run(&[
        "recover",
        "--host",
        "localhost",
        "--disk",
        &src.display().to_string(),
        "-i",
        &id,
        "--stdout",
    ]);
    r.assert_code(2);
    assert!(r.stderr.contains("is a tar DLE"), "{}", r.stderr);
}

#[test]
fn verify_reads_each_stream_to_its_end_and_a_rebuilt_catalog_indexes_it_again() {
    let (s, _, _) = dumped();
    let (rec, _) = blob_record(&s);
    let id = s.identity.display().to_string();
    let ix = s.index_lines(&rec);
    // verify with the key reads each stream to its end; a rebuilt catalog indexes it again
    let r = s.run(&["verify", "--identity", &id]);
    r.assert_code(0);
    assert!(
        r.stdout
            .contains("read to the end; its sha256 matches the header"),
        "{}",
        r.stdout
    );
    std::fs::remove_dir_all(s.path().join("catalog")).unwrap();
    s.run(&["catalog", "rebuild", "--identity", &id])
        .assert_code(0);
    let ix2 = s.index_lines(&db_record(&s));
    assert_eq!(ix2.len(), 1);
    assert_eq!(
        (&ix2[0]["p"], &ix2[0]["s"], &ix2[0]["h"]),
        (&ix[0]["p"], &ix[0]["s"], &ix[0]["h"])
    );
    s.recover("localhost", "db.bin", &s.path().join("r6"), &[])
        .assert_code(0);
}

#[test]
fn a_corrupt_stream_restores_nothing_by_any_way() {
    let (s, _, _) = dumped();
    let (rec, _) = blob_record(&s);
    corrupt_stream_restores_nothing(&s, &rec);
}

/// One flipped payload byte: --to leaves nothing, --run-restore stops its command and says
/// why, --stdout fails.
fn corrupt_stream_restores_nothing(s: &Setup, rec: &serde_json::Value) {
    use std::os::unix::fs::FileExt;
    let file = s.tape_file(rec);
    let f = std::fs::OpenOptions::new()
        .write(true)
        .read(true)
        .open(&file)
        .unwrap();
    let at = 32768 + 2_000_000;
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, at).unwrap();
    f.write_all_at(&[b[0] ^ 0x40], at).unwrap();
    let id = s.identity.display().to_string();
    let to = s.path().join("r-corrupt");
    let r = s.recover("localhost", "db.bin", &to, &[]);
    r.assert_code(1);
    assert!(!to.exists(), "nothing restored: {}", r.stderr);
    // (left by a restore before, when one ran)
    let _ = std::fs::remove_file(s.path().join("restored-by-program"));
    let r = run(
        s,
        &[
            "recover",
            "--host",
            "localhost",
            "--disk",
            "db.bin",
            "-i",
            &id,
            "--run-restore",
        ],
    );
    r.assert_code(1);
    let name = file.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        r.stderr.contains("was stopped (killed)") && r.stderr.contains(&name),
        "{}",
        r.stderr
    );
    let r = s.run(&[
        "recover",
        "--host",
        "localhost",
        "--disk",
        "db.bin",
        "-i",
        &id,
        "--stdout",
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
}

#[test]
fn hostile_disknames_are_refused_on_the_client_and_in_the_disklist() {
    let s = setup();
    let hello = r#"{"type":"hello","protocol":1,"tool_version":"x"}"#.to_string();
    for disk in ["-c shell", "a;b", "../../etc/shadow", "$(id)"] {
        let req = serde_json::json!({"type": "dump", "path": disk, "level": 0, "exclude": [],
            "one_file_system": true, "gzip_level": null, "program": "blob"});
        let (out, _) = crate::common::agent_says(
            &s.path().join("agent.toml"),
            &[hello.clone(), req.to_string()],
        );
        assert!(out.contains("refused: disk"), "{disk}: {out}");
    }
    let req = serde_json::json!({"type": "dump", "path": "x", "level": 0, "exclude": [],
        "one_file_system": true, "gzip_level": null, "program": "rm"});
    let (out, _) =
        crate::common::agent_says(&s.path().join("agent.toml"), &[hello, req.to_string()]);
    assert!(out.contains("program \\\"rm\\\" is not defined"), "{out}");
    let log = std::fs::read_to_string(s.path().join("agent.log")).unwrap();
    assert_eq!(log.matches("REFUSED").count(), 5, "{log}");
    assert!(log.contains("a;b") && log.contains("-c shell"), "{log}");

    s.write("disklist", "localhost a;b prog-blob\n");
    let r = run(&s, &["dump"]);
    r.assert_code(2);
    assert!(
        r.stderr.contains("disklist:1") && r.stderr.contains("';' is not allowed"),
        "{}",
        r.stderr
    );
    // tar options do not go with a program
    s.write(
        "dumptypes/bad.toml",
        "auth = \"local\"\nprogram = \"blob\"\nexclude = [\"*.tmp\"]\n",
    );
    s.write("disklist", "localhost db.bin prog-blob\n");
    let r = run(&s, &["dump"]);
    r.assert_code(2);
    assert!(
        r.stderr.contains("bad.toml") && r.stderr.contains("exclude is a tar option"),
        "{}",
        r.stderr
    );
}

#[test]
fn check_says_whether_each_program_can_run() {
    let s = setup();
    std::fs::remove_file(s.path().join("dumptypes/bad.toml")).ok();
    s.write(
        "dumptypes/prog-missing.toml",
        "auth = \"local\"\nprogram = \"nonesuch\"\n",
    );
    let mut agent = std::fs::read_to_string(s.path().join("agent.toml")).unwrap();
    agent.push_str("[programs.gone]\nbackup = [\"pg_dump_not_installed\", \"{disk}\"]\n");
    s.write("agent.toml", &agent);
    s.write(
        "dumptypes/prog-gone.toml",
        "auth = \"local\"\nprogram = \"gone\"\n",
    );
    s.write(
        "disklist",
        "localhost db.bin prog-blob\nlocalhost y prog-missing\nlocalhost z prog-gone\n",
    );
    let r = run(&s, &["check", "--json"]);
    r.assert_code(1);
    let items: Vec<serde_json::Value> = serde_json::from_str(&r.stdout).unwrap();
    let has = |name: &str, status: &str, detail: &str| {
        let it = items
            .iter()
            .find(|i| i["item"] == name)
            .unwrap_or_else(|| panic!("{name}: {}", r.stdout));
        assert_eq!(it["status"], status, "{it}");
        assert!(it["detail"].as_str().unwrap().contains(detail), "{it}");
    };
    has("localhost db.bin", "OK", "program blob is allowed");
    has("localhost y", "FAIL", "program \"nonesuch\" is not defined");
    has(
        "localhost z",
        "FAIL",
        "pg_dump_not_installed is not an executable",
    );
}

/// A drill of every DLE (the program DLEs' one file, and the awkward tar tree entry by
/// entry) passes: a program's stream has no metadata of its own, only its size and content.
#[test]
fn a_drill_restores_program_streams_and_the_awkward_tree_and_finds_them_equal() {
    let (s, _src, _) = dumped();
    let m = s.path().join("mirror");
    run(&s, &["mirror", "--to", m.to_str().unwrap()]).assert_code(0);
    let id = s.identity.display().to_string();
    let scratch = s.path().join("scratch");
    let state = s.path().join("state");
    let r = run(
        &s,
        &[
            "--json",
            "drill",
            "--from",
            m.to_str().unwrap(),
            "-i",
            &id,
            "--state",
            state.to_str().unwrap(),
            "--scratch",
            scratch.to_str().unwrap(),
        ],
    );
    let v: serde_json::Value =
        serde_json::from_str(&r.stdout).unwrap_or_else(|_| panic!("{}{}", r.stdout, r.stderr));
    let drilled = v["drilled"].as_array().unwrap();
    assert!(
        drilled.iter().any(|d| d["disk"] == "db.bin"),
        "{}",
        r.stdout
    );
    assert!(drilled.len() >= 2, "{}", r.stdout);
    for d in drilled {
        assert_eq!(d["ok"], true, "{d}");
    }
    r.assert_code(0);
}
