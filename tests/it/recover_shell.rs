//! The interactive `tapir recover` shell, driven by stdin scripts: sethost, setdisk, setdate,
//! cd, ls, add (globs), delete, extract across a level 0 + 2 incrementals chain with a
//! deleted and a renamed file; near-miss suggestions; a failing command stops a script.

use crate::common::{Run, Setup, day, sh};
use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;

/// Run `tapir recover -i KEY` with `script` on stdin.
fn shell(s: &Setup, script: &str) -> Run {
    let id = s.identity.display().to_string();
    let mut child = s
        .cmd(&["recover", "-i", &id])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    crate::common::finish(child.wait_with_output().unwrap())
}

/// Every path below `root`, relative.
fn paths(root: &Path) -> BTreeSet<String> {
    walkdir::WalkDir::new(root)
        .min_depth(1)
        .into_iter()
        .map(|e| {
            let e = e.unwrap();
            e.path()
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}

/// Content, mode and mtime of `rel` equal in both trees.
fn same_file(a: &Path, b: &Path, rel: &str, rel_b: &str) {
    let (ma, mb) = (
        fs::metadata(a.join(rel)).unwrap(),
        fs::metadata(b.join(rel_b)).unwrap(),
    );
    assert_eq!(
        fs::read(a.join(rel)).unwrap(),
        fs::read(b.join(rel_b)).unwrap(),
        "{rel}"
    );
    assert_eq!((ma.mode(), ma.mtime()), (mb.mode(), mb.mtime()), "{rel}");
}

struct Chain {
    s: Setup,
    disk: String,
    snaps: Vec<PathBuf>,
}

/// Three nights: a level 0, then a level 1 (a.conf changed, b.conf deleted, docs/readme
/// renamed, blob.bin new), then a level 2 (keep.txt changed, c.conf new).
fn three_nights() -> Chain {
    let s = Setup::new(
        "bumpsize = \"1K\"\nbumpmult = 1.0\nbumpdays = 1\ndumpcycle = 20\nruntapes = 1\ntapecycle = 10\nrunspercycle = 7",
        "",
    );
    let src = s.path().join("src");
    for (p, body) in [
        ("etc/a.conf", "a v0"),
        ("etc/b.conf", "b v0"),
        ("etc/keep.txt", "keep v0"),
        ("etc/sub/x", "x"),
        ("docs/readme", "read me"),
        ("top.txt", "top"),
    ] {
        fs::create_dir_all(src.join(p).parent().unwrap()).unwrap();
        fs::write(src.join(p), body).unwrap();
    }
    crate::common::tree::fix_mtimes(&src);
    let disk = src.display().to_string();
    s.write("disklist", &format!("localhost {disk} local\n"));
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let mut snaps = vec![];
    let mut night = |n: u32, s: &Setup| {
        // (changes made within the file clock's margin of a dump count for the next one too)
        std::thread::sleep(std::time::Duration::from_millis(200));
        s.run_env(&["dump"], &[("TAPIR_NOW", &day(n))])
            .assert_code(0);
        let d = s.path().join(format!("snap{n}"));
        sh(
            &format!("cp -a {} {}", src.display(), d.display()),
            s.path(),
        );
        snaps.push(d);
    };
    night(0, &s);
    fs::remove_file(src.join("etc/b.conf")).unwrap();
    fs::write(src.join("etc/a.conf"), "a v1").unwrap();
    fs::write(src.join("etc/blob.bin"), crate::common::noise(8192, 1)).unwrap();
    fs::rename(src.join("docs/readme"), src.join("docs/README.md")).unwrap();
    night(1, &s);
    fs::write(src.join("etc/keep.txt"), "keep v2").unwrap();
    fs::write(src.join("etc/c.conf"), "c v2").unwrap();
    night(2, &s);
    let levels = s.levels();
    assert_eq!(levels, [0, 1, 2], "the planner should bump to level 2");
    Chain { s, disk, snaps }
}

#[test]
fn browse_and_extract_as_of_a_date_across_three_levels() {
    let Chain { s, disk, snaps } = three_nights();
    let out1 = s.path().join("out1");
    fs::create_dir(&out1).unwrap();
    // As of night 1: the chain is the full and the level 1.
    let r = shell(
        &s,
        &format!(
            "listhost\nsethost localhost\nlistdisk\nsetdisk {disk}\nsetdate {}\nhistory\npwd\n\
             cd etc\nls\nadd *.conf\ncd ../docs\nls\nadd README.md\nlist\nlcd {}\nextract\nquit\n",
            &day(1)[..10],
            out1.display()
        ),
    );
    r.assert_code(0);
    let o = &r.stdout;
    let ls_etc: Vec<&str> = o
        .lines()
        .skip_while(|l| !l.ends_with("  a.conf"))
        .take_while(|l| !l.starts_with("added"))
        .collect();
    let names: Vec<&str> = ls_etc
        .iter()
        .map(|l| l.rsplit("  ").next().unwrap())
        .collect();
    assert_eq!(names, ["a.conf", "blob.bin", "keep.txt", "sub/"], "{o}");
    // a.conf's content is from night 1, keep.txt's from night 0
    assert!(ls_etc[0].starts_with(&day(1)[..10]), "{o}");
    assert!(ls_etc[2].starts_with(&day(0)[..10]), "{o}");
    assert!(o.contains(&format!("added {disk}/etc/a.conf")), "{o}");
    assert!(!o.contains("b.conf") && !o.contains("c.conf"), "{o}");
    assert!(o.contains("  README.md") && !o.contains("  readme"), "{o}");
    assert!(
        o.contains(&format!("\n{disk}\n")),
        "pwd prints the disk: {o}"
    );
    assert_eq!(o.matches("\n* ").count(), 2, "history marks the chain: {o}");
    assert!(
        o.contains("tapes needed:") && o.contains("level 1 on tape"),
        "{o}"
    );
    assert_eq!(
        paths(&out1),
        BTreeSet::from(["docs", "docs/README.md", "etc", "etc/a.conf"].map(String::from))
    );
    same_file(&snaps[1], &out1, "etc/a.conf", "etc/a.conf");
    same_file(&snaps[1], &out1, "docs/README.md", "docs/README.md");

    // As of now (night 2, three levels): a whole directory but one subdirectory.
    let out2 = s.path().join("out2");
    fs::create_dir(&out2).unwrap();
    let r = shell(
        &s,
        &format!(
            "sethost localhost\nsetdisk {disk}\nhistory\nadd etc\nadd etc/keep.txt\n\
             delete etc/sub\nlist\nlcd {}\nextract\n",
            out2.display()
        ),
    );
    r.assert_code(0);
    assert_eq!(r.stdout.matches("\n* ").count(), 3, "{}", r.stdout);
    assert!(r.stdout.contains("is already in the list"), "{}", r.stdout);
    assert_eq!(
        paths(&out2),
        BTreeSet::from(
            [
                "etc",
                "etc/a.conf",
                "etc/blob.bin",
                "etc/c.conf",
                "etc/keep.txt"
            ]
            .map(String::from)
        )
    );
    for f in ["etc/a.conf", "etc/blob.bin", "etc/c.conf", "etc/keep.txt"] {
        same_file(&snaps[2], &out2, f, f);
    }
}

#[test]
fn mistakes_get_suggestions_and_stop_a_script() {
    let Chain { s, disk, .. } = three_nights();
    let r = shell(&s, &format!("sethost localhost\nsetdisk {disk}/\n"));
    r.assert_code(2);
    assert!(
        r.stderr.contains(&format!(
            "line 2: no disk {disk}/ on localhost; did you mean {disk}?"
        )),
        "{}",
        r.stderr
    );
    // A wrong cd stops the script before the add and extract after it can run.
    let out = s.path().join("out");
    fs::create_dir(&out).unwrap();
    let r = shell(
        &s,
        &format!(
            "sethost localhost\nsetdisk {disk}\ncd ect\nadd *\nlcd {}\nextract\n",
            out.display()
        ),
    );
    r.assert_code(2);
    assert!(
        r.stderr.contains(&format!(
            "line 3: no directory {disk}/ect as of this date; did you mean etc?"
        )),
        "{}",
        r.stderr
    );
    assert!(paths(&out).is_empty());
    // Before the first full there is nothing to browse; unknown commands are named.
    let r = shell(
        &s,
        &format!("sethost localhost\nsetdisk {disk}\nsetdate 2000-01-01\n"),
    );
    r.assert_code(2);
    assert!(
        r.stderr.contains("no full dump of localhost"),
        "{}",
        r.stderr
    );
    // the date as the admin gave it, never the internal bound it was widened to
    assert!(
        r.stderr.contains("at or before 2000-01-01 23:59"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("999999"), "{}", r.stderr);
    let r = shell(&s, "lsit\n");
    r.assert_code(2);
    assert!(
        r.stderr
            .contains("unknown command \"lsit\"; did you mean list?"),
        "{}",
        r.stderr
    );
    // extract into a directory that is not empty is refused without --overwrite
    fs::write(out.join("occupied"), "x").unwrap();
    let r = shell(
        &s,
        &format!(
            "sethost localhost\nsetdisk {disk}\nadd top.txt\nlcd {}\nextract\n",
            out.display()
        ),
    );
    r.assert_code(2);
    assert!(r.stderr.contains("is not empty"), "{}", r.stderr);
}

#[test]
fn tab_completion_offers_commands_and_names() {
    let Chain { s, disk, .. } = three_nights();
    let cfg = tapir::config::load(&s.path().join("tapir.toml")).unwrap();
    let mut sh = tapir::recover::shell::Shell::new(&cfg, None, false).unwrap();
    let complete = |sh: &mut tapir::recover::shell::Shell, line: &str| {
        tapir::recover::repl::complete_line(sh, line, line.len())
    };
    assert_eq!(
        complete(&mut sh, "set"),
        (
            0,
            vec!["sethost".into(), "setdisk".into(), "setdate".into()]
        )
    );
    assert_eq!(
        complete(&mut sh, "sethost lo"),
        (8, vec!["localhost".into()])
    );
    sh.exec("sethost localhost").unwrap();
    assert_eq!(complete(&mut sh, "setdisk /"), (8, vec![disk.clone()]));
    sh.exec(&format!("setdisk {disk}")).unwrap();
    assert_eq!(complete(&mut sh, "cd e"), (3, vec!["etc/".into()]));
    assert_eq!(
        complete(&mut sh, "add etc/"),
        (
            4,
            [
                "etc/a.conf",
                "etc/blob.bin",
                "etc/c.conf",
                "etc/keep.txt",
                "etc/sub/"
            ]
            .map(String::from)
            .to_vec()
        )
    );
    assert_eq!(complete(&mut sh, "cd etc/"), (3, vec!["etc/sub/".into()]));
}

#[test]
fn on_a_terminal_tab_completes_and_the_line_editor_runs_commands() {
    let Chain { s, disk, .. } = three_nights();
    let tapir = format!(
        "{} --config {} recover",
        crate::common::BIN,
        s.path().join("tapir.toml").display()
    );
    // script(1) gives the shell a pseudo-terminal and forwards our keystrokes to it.
    let mut child = std::process::Command::new("script")
        .args(["-qec", &tapir, "/dev/null"])
        .env("TERM", "xterm")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut keys = child.stdin.take().unwrap();
    for k in [
        "sethost localh\t\n".to_string(),
        format!("setdisk {disk}\n"),
        "cd e\t\n".into(),
        "pwd\n".into(),
        "quit\n".into(),
    ] {
        keys.write_all(k.as_bytes()).unwrap();
        keys.flush().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(400));
    }
    drop(keys);
    let r = crate::common::finish(child.wait_with_output().unwrap());
    r.assert_code(0);
    assert!(
        r.stdout.contains("recover> sethost localhost"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("recover> cd etc/"), "{}", r.stdout);
    assert!(
        r.stdout.contains(&format!("\n{disk}/etc\r\n")),
        "{}",
        r.stdout
    );
}
