//! Over real sshd hosts: hook groups (`[groups.NAME]`) run their pre hooks on every member
//! before the group's first dump and their post hooks after its last; a failed pre hook fails
//! the group's DLEs and nothing else; a program that hangs is killed at the stall timeout.

use crate::common::Setup;
use crate::common::sshd::{Sshd, keygen};
use std::path::Path;

/// Nanosecond stamps a hook appended to `file`.
fn stamps(file: &Path) -> Vec<u128> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .map(|l| l.trim().parse().unwrap())
        .collect()
}

/// agent.toml for host `name`: a `snap` hook (stamps to pre-NAME / post-NAME, failing when
/// `fail_pre`), a `mark` hook around each dump (dump-start / dump-end) and programs.
fn agent_toml(dir: &Path, name: &str, fail_pre: bool) -> String {
    let d = dir.display();
    let stamp = |f: &str| format!("[\"sh\", \"-c\", \"date +%s%N >> {d}/{f}\"]");
    let pre = if fail_pre {
        "[\"sh\", \"-c\", \"echo no snapshot space >&2; exit 1\"]".to_string()
    } else {
        stamp(&format!("pre-{name}"))
    };
    format!(
        "[hooks.snap]\npre = {pre}\npost = {}\n[hooks.mark]\npre = {}\npost = {}\n\
         [programs.blob]\nbackup = [\"cat\", \"{d}/data/{{disk}}\"]\n\
         [programs.hang]\nbackup = [\"sleep\", \"617\"]\n",
        stamp(&format!("post-{name}")),
        stamp("dump-start"),
        stamp("dump-end"),
    )
}

struct Fleet {
    s: Setup,
    _hosts: Vec<Sshd>,
}

fn fleet() -> Fleet {
    let s = Setup::new("", "");
    keygen(&s.path().join("keys/id_ed25519"));
    let pubkey = std::fs::read_to_string(s.path().join("keys/id_ed25519.pub")).unwrap();
    std::fs::create_dir_all(s.path().join("data")).unwrap();
    std::fs::write(s.path().join("data/app"), crate::common::noise(1 << 20, 3)).unwrap();
    s.write(
        "dumptypes/ssh-marked.toml",
        "auth = \"ssh\"\nhooks = [\"mark\"]\n",
    );
    s.write(
        "dumptypes/ssh-blob.toml",
        "auth = \"ssh\"\nprogram = \"blob\"\nhooks = [\"mark\"]\n",
    );
    s.write(
        "dumptypes/ssh-hang.toml",
        "auth = \"ssh\"\nprogram = \"hang\"\nstall_timeout = \"2s\"\n",
    );
    let src = s.path().join("src");
    crate::common::tree::awkward(&src);
    let d = src.display();
    s.write(
        "disklist",
        &format!("db1 app ssh-blob\ndb1 {d} ssh-marked\ndb2 {d} ssh-marked\nlocalhost {d} local\n"),
    );
    let mut hosts = Vec::new();
    let mut cfg = std::fs::read_to_string(s.path().join("tapir.toml")).unwrap();
    cfg.push_str("\n[ssh]\nidentity = \"keys/id_ed25519\"\nknown_hosts = \"keys/known_hosts\"\nconnect_timeout = \"5s\"\n");
    for name in ["db1", "db2"] {
        let agent = s.path().join(format!("agent-{name}.toml"));
        std::fs::write(&agent, agent_toml(s.path(), name, false)).unwrap();
        let line = format!(
            "restrict,command=\"{} agent --agent-config {}\" {}",
            crate::common::BIN,
            agent.display(),
            pubkey.trim()
        );
        let h = Sshd::start(s.path(), name, &line);
        cfg.push_str(&h.host_block());
        hosts.push(h);
    }
    cfg.push_str(
        "\n[groups.cluster]\nhosts = [\"db1\", \"db2\"]\npre = [\"snap\"]\npost = [\"snap\"]\n",
    );
    s.write("tapir.toml", &cfg);
    for h in &hosts {
        s.run(&["enroll", &h.name]).assert_code(0);
    }
    Fleet { s, _hosts: hosts }
}

use crate::common::outcome;

#[test]
fn group_hooks_bracket_the_groups_dumps_and_a_failed_pre_fails_only_the_group() {
    let f = fleet();
    let s = &f.s;
    let p = s.path();
    let src = p.join("src").display().to_string();
    let r = s.run(&["dump", "--json"]);
    r.assert_code(0);
    for (h, d) in [("db1", "app"), ("db1", src.as_str()), ("db2", src.as_str())] {
        assert_eq!(outcome(&r.stdout, h, d)["status"], "OK", "{}", r.stdout);
    }
    let (pre1, pre2) = (stamps(&p.join("pre-db1")), stamps(&p.join("pre-db2")));
    let (post1, post2) = (stamps(&p.join("post-db1")), stamps(&p.join("post-db2")));
    let (starts, ends) = (stamps(&p.join("dump-start")), stamps(&p.join("dump-end")));
    assert_eq!(
        (pre1.len(), pre2.len(), post1.len(), post2.len()),
        (1, 1, 1, 1)
    );
    assert_eq!(
        (starts.len(), ends.len()),
        (3, 3),
        "each member DLE was marked"
    );
    let first_dump = *starts.iter().min().unwrap();
    let last_dump = *ends.iter().max().unwrap();
    assert!(
        pre1[0].max(pre2[0]) < first_dump,
        "pre hooks before the first dump"
    );
    assert!(
        post1[0].min(post2[0]) > last_dump,
        "post hooks after the last dump"
    );
    let apart = pre1[0].abs_diff(pre2[0]);
    assert!(
        apart < 1_000_000_000,
        "pre hooks at one moment: {apart} ns apart"
    );

    // db2's snapshot fails: the whole group is FAILED, db1's snapshot is released, the
    // local DLE is dumped
    std::fs::write(p.join("agent-db2.toml"), agent_toml(p, "db2", true)).unwrap();
    let r = s.run(&["dump", "--json"]);
    r.assert_code(1);
    for (h, d) in [("db1", "app"), ("db1", src.as_str()), ("db2", src.as_str())] {
        let o = outcome(&r.stdout, h, d);
        assert_eq!(o["status"], "FAILED", "{o}");
        let why = o["reason"].as_str().unwrap();
        assert!(
            why.contains("group cluster: pre hook on db2 failed")
                && why.contains("no snapshot space"),
            "{why}"
        );
    }
    assert_eq!(outcome(&r.stdout, "localhost", &src)["status"], "OK");
    assert_eq!(
        stamps(&p.join("dump-start")).len(),
        3,
        "no member DLE dumped"
    );
    assert_eq!(
        stamps(&p.join("post-db1")).len(),
        2,
        "db1's pre ran: its post too"
    );
    assert_eq!(
        stamps(&p.join("post-db2")).len(),
        1,
        "db2's pre failed: no post"
    );
}

#[test]
fn a_hanging_program_is_killed_at_the_stall_timeout() {
    let f = fleet();
    let s = &f.s;
    s.write("disklist", "db1 stuck ssh-hang\n");
    let mut cfg = std::fs::read_to_string(s.path().join("tapir.toml")).unwrap();
    let at = cfg.find("\n[groups.cluster]").unwrap();
    cfg.truncate(at);
    s.write("tapir.toml", &cfg);
    let r = s.run(&["dump", "--json"]);
    r.assert_code(1);
    let o = outcome(&r.stdout, "db1", "stuck");
    assert_eq!(o["status"], "FAILED");
    assert!(
        o["reason"].as_str().unwrap().contains("no data for 2 s"),
        "{o}"
    );
    // the agent saw the server go and killed the program
    let t0 = std::time::Instant::now();
    loop {
        let left = std::process::Command::new("pgrep")
            .args(["-f", "sleep 617"])
            .output()
            .unwrap();
        if !left.status.success() {
            break;
        }
        assert!(
            t0.elapsed() < std::time::Duration::from_secs(5),
            "sleep 617 still runs: {}",
            String::from_utf8_lossy(&left.stdout)
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(s.partials().is_empty());
}
