//! Bad input: each config mistake gives a message naming file:line, exit 2, and changes nothing.

use crate::common::Setup;

fn assert_config_error(s: &Setup, expect: &[&str]) {
    for cmd in [&["dump"][..], &["config"], &["tapes"]] {
        let r = s.run(cmd);
        r.assert_code(2);
        for e in expect {
            assert!(
                r.stderr.contains(e),
                "{cmd:?}: expected {e:?} in:\n{}",
                r.stderr
            );
        }
    }
    assert!(
        !s.path().join("catalog").exists(),
        "a config error must change nothing"
    );
    assert!(
        !s.path().join("vtape").exists(),
        "a config error must change nothing"
    );
}

fn with_disklist() -> Setup {
    let s = Setup::new("", "");
    s.write("disklist", "localhost /etc local\n");
    s
}

#[test]
fn unknown_key_in_tapir_toml_names_the_line() {
    let s = with_disklist();
    let cfg = std::fs::read_to_string(s.path().join("tapir.toml")).unwrap();
    s.write(
        "tapir.toml",
        &cfg.replace("org = \"Test\"", "org = \"Test\"\ndumpcyle = 3"),
    );
    assert_config_error(&s, &["tapir.toml:2:1", "unknown field `dumpcyle`"]);
}

#[test]
fn unknown_key_in_a_section_names_the_line() {
    let s = with_disklist();
    let cfg = std::fs::read_to_string(s.path().join("tapir.toml")).unwrap();
    s.write(
        "tapir.toml",
        &cfg.replace("root = \"vtape\"", "root = \"vtape\"\nslot = 3"),
    );
    assert_config_error(&s, &["tapir.toml:", "unknown field `slot`"]);
}

#[test]
fn unknown_dumptype_in_disklist_names_file_line_and_known_types() {
    let s = Setup::new("", "");
    s.write(
        "disklist",
        "# comment\nlocalhost /etc local\nlocalhost /var lcoal\n",
    );
    assert_config_error(
        &s,
        &["disklist:3: unknown dumptype \"lcoal\"", "known: local"],
    );
}

#[test]
fn duplicate_dle_across_a_fragment_names_both_places() {
    let s = with_disklist();
    s.write("disklist.d/web.conf", "\nlocalhost /etc local-best\n");
    assert_config_error(
        &s,
        &[
            "disklist.d/web.conf:2: duplicate DLE localhost /etc",
            "first defined at",
            "disklist:1",
        ],
    );
}

#[test]
fn bad_labelstr_regex_names_the_line() {
    let s = Setup::new("", "slots = 10\nlabelstr = \"^daily-[0-9+$\"\n");
    s.write("disklist", "localhost /etc local\n");
    assert_config_error(
        &s,
        &["tapir.toml:", "changer.labelstr is not a valid regex"],
    );
}

#[test]
fn unknown_key_and_bad_value_in_a_dumptype() {
    let s = with_disklist();
    s.write(
        "dumptypes/local.toml",
        "auth = \"local\"\ncompres = \"server-fast\"\n",
    );
    assert_config_error(&s, &["dumptypes/local.toml:2:1", "unknown field `compres`"]);
    s.write(
        "dumptypes/local.toml",
        "auth = \"local\"\ncompress = \"fastest\"\n",
    );
    assert_config_error(&s, &["dumptypes/local.toml:2", "unknown variant `fastest`"]);
    s.write(
        "dumptypes/local.toml",
        "auth = \"local\"\nexclude = [\"a[\"]\n",
    );
    assert_config_error(&s, &["dumptypes/local.toml:2", "bad exclude glob"]);
}

#[test]
fn inconsistent_numbers_are_refused() {
    let s = Setup::new("tapecycle = 5\nrunspercycle = 7", "");
    s.write("disklist", "localhost /etc local\n");
    assert_config_error(
        &s,
        &[
            "tapir.toml:2:13",
            "tapecycle (5) must exceed runspercycle * runtapes",
        ],
    );
    let s = Setup::new("", "slots = 10\ntape_size = \"20X\"\n");
    s.write("disklist", "localhost /etc local\n");
    assert_config_error(&s, &["tapir.toml:", "unknown size suffix"]);
}

#[test]
fn missing_config_and_unknown_dle_on_the_command_line() {
    let s = with_disklist();
    let r = s.run(&["--config", "nope.toml", "dump"]);
    r.assert_code(2);
    assert!(r.stderr.contains("nope.toml: cannot read"), "{}", r.stderr);
    let r = s.run(&["dump", "web9"]);
    r.assert_code(2);
    assert!(
        r.stderr.contains("host \"web9\" is not in the disklist"),
        "{}",
        r.stderr
    );
    let r = s.run(&["dump", "localhost", "/usr"]);
    r.assert_code(2);
    assert!(
        r.stderr.contains("no disk \"/usr\" on localhost") && r.stderr.contains("it has: /etc"),
        "{}",
        r.stderr
    );
    let r = s.run(&["dump", "--bogus"]);
    r.assert_code(2);
}

#[test]
fn shipped_example_config_dumptypes_and_disklist_parse() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let cfg = crate::common::example_config_json();
    let shipped = std::fs::read_dir(root.join("dumptypes")).unwrap().count();
    assert_eq!(
        cfg["dumptypes"].as_object().unwrap().len(),
        shipped,
        "every shipped dumptype parsed"
    );
    assert!(cfg["disklist"].as_array().unwrap().len() >= 2);
    assert!(
        cfg["disklist_file"]
            .as_str()
            .unwrap()
            .ends_with("disklist.example")
    );
}
