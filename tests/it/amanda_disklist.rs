//! Amanda admins' disklists parse as Amanda reads them: comments, quoting, tabs, device,
//! spindle (-1) and interface columns, inline dumptypes over several lines with include and
//! exclude, includefile, dumptype names in any case; what tapir cannot do is refused with the
//! line. An `include "./x"` DLE dumps only those subtrees and restores exactly them.

use crate::common::{Setup, tree};

fn dles(s: &Setup) -> Vec<serde_json::Value> {
    let r = s.run(&["config", "--json"]);
    r.assert_code(0);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    v["disklist"].as_array().unwrap().clone()
}

#[test]
fn an_amanda_style_disklist_parses_and_includes_dump_only_their_subtrees() {
    let s = Setup::new("", "");
    let home = s.path().join("home");
    for d in ["alice/docs", "bob", "carol", "tmpdir"] {
        std::fs::create_dir_all(home.join(d)).unwrap();
    }
    std::fs::write(home.join("alice/docs/a.txt"), "alice").unwrap();
    std::fs::write(home.join("alice/docs/junk.o"), "object").unwrap();
    std::fs::write(home.join("bob/b.txt"), "bob").unwrap();
    std::fs::write(home.join("carol/c.txt"), "carol").unwrap();
    std::fs::write(home.join("top.txt"), "top").unwrap();
    // Amanda's exclude list: a file on the client, relative to the DLE's root
    std::fs::write(home.join(".amanda.excludes"), "# objects\n*.o\n\n").unwrap();
    let etc = s.path().join("my etc");
    std::fs::create_dir_all(&etc).unwrap();
    std::fs::write(etc.join("passwd"), "root").unwrap();
    s.write(
        "disklist",
        &format!(
            "# Amanda's own shape\n\
             localhost\t\"{etc}\"\tLOCAL  -1  local   # dumptype in another case, no spindle\n\
             localhost {home} {{\n\
             \tlocal\n\
             \tcomment \"only some homes\"\n\
             \tinclude \"./alice\"\n\
             \tinclude append \"./b*\"\n\
             \texclude list \"./.amanda.excludes\"\n\
             \tinclude list optional append \"./.no-such-list\"\n\
             }} 2 eth0\n\
             includefile \"more.disklist\"\n",
            etc = etc.display(),
            home = home.display()
        ),
    );
    let extra = s.path().join("extra");
    std::fs::create_dir_all(&extra).unwrap();
    s.write(
        "more.disklist",
        &format!("localhost {} local-full 1\n", extra.display()),
    );
    let v = dles(&s);
    assert_eq!(v.len(), 3, "{v:?}");
    assert_eq!(v[0]["dumptype"], "local");
    assert!(v[0]["spindle"].is_null());
    assert_eq!(v[0]["interface"], "local");
    assert_eq!(v[1]["spindle"], 2);
    assert!(v[1]["dumptype"].as_str().unwrap().starts_with("inline@"));
    assert!(
        v[2]["origin"]
            .as_str()
            .unwrap()
            .ends_with("more.disklist:1")
    );

    s.run(&["dump"]).assert_code(0);
    let to = s.path().join("restored");
    s.recover("localhost", home.to_str().unwrap(), &to, &[])
        .assert_code(0);
    // what the includes and the exclude leave: alice (without *.o) and bob
    let want = s.path().join("want");
    std::fs::create_dir_all(want.join("alice/docs")).unwrap();
    std::fs::create_dir_all(want.join("bob")).unwrap();
    for (p, src) in [
        ("alice/docs/a.txt", "alice/docs/a.txt"),
        ("bob/b.txt", "bob/b.txt"),
    ] {
        std::fs::copy(home.join(src), want.join(p)).unwrap();
    }
    crate::common::sh(
        &format!(
            "touch -r {0}/alice/docs/a.txt {1}/alice/docs/a.txt; touch -r {0}/bob/b.txt {1}/bob/b.txt; \
             for d in alice/docs alice bob .; do touch -r {0}/$d {1}/$d; chmod --reference={0}/$d {1}/$d; done",
            home.display(),
            want.display()
        ),
        s.path(),
    );
    tree::assert_same(&want, &to, &|_| false);
}

#[test]
fn what_tapir_cannot_do_is_refused_with_the_line() {
    let s = Setup::new("", "");
    for (text, want) in [
        (
            "pc1 //pc1/c$ local\n",
            "disklist:1: \"//pc1/c$\" is a Samba share",
        ),
        (
            "localhost /x {\n local\n record no\n}\n",
            "disklist:3: Amanda's record",
        ),
        (
            "localhost /x {\n local\n colour blue\n}\n",
            "disklist:3: unknown dumptype option \"colour\"",
        ),
        (
            "localhost /x nosuch\n",
            "disklist:1: unknown dumptype \"nosuch\"",
        ),
        ("localhost /x {\n local\n", "without its closing"),
        (
            "includefile \"missing.disklist\"\n",
            "missing.disklist: cannot read",
        ),
    ] {
        s.write("disklist", text);
        let r = s.run(&["config"]);
        r.assert_code(2);
        assert!(r.stderr.contains(want), "{text:?}: {}", r.stderr);
    }
}

#[test]
fn a_list_file_outside_the_dle_is_refused_by_the_agent() {
    let s = Setup::new("", "");
    let d = s.path().join("d");
    std::fs::create_dir_all(&d).unwrap();
    s.write(
        "disklist",
        &format!(
            "localhost {} {{\n local\n exclude list \"../../../etc/passwd\"\n}}\n",
            d.display()
        ),
    );
    let r = s.run(&["--json", "dump"]);
    r.assert_code(1);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let why = v["outcomes"][0]["reason"].as_str().unwrap().to_string();
    assert!(why.contains("not a normalized absolute path"), "{why}");
    assert!(!why.contains("root:x:"), "{why}");
}
