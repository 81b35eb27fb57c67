//! The catalog is a cache of the tapes: deleted, `catalog rebuild` makes it again (history
//! from headers, indexes from payloads) and everything goes on as before.

use crate::common::{Setup, day, sh, tree};

fn without_seconds(v: &serde_json::Value) -> Vec<serde_json::Value> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let mut r = r.clone();
            r.as_object_mut().unwrap().remove("seconds");
            r
        })
        .collect()
}

#[test]
fn deleted_catalog_is_rebuilt_and_restores_and_plans_as_before() {
    let s = Setup::new("", "");
    let src = s.path().join("src");
    tree::awkward(&src);
    s.write("disklist", &format!("localhost {} local\n", src.display()));
    std::thread::sleep(std::time::Duration::from_millis(100));
    s.run_env(&["dump"], &[("TAPIR_NOW", &day(0))])
        .assert_code(0);
    std::fs::write(src.join("one-byte"), b"changed").unwrap();
    std::fs::remove_file(src.join("readonly")).unwrap();
    s.run_env(&["dump"], &[("TAPIR_NOW", &day(1))])
        .assert_code(0);
    let before = s.find_json();
    let indexes: Vec<_> = before
        .as_array()
        .unwrap()
        .iter()
        .map(|r| s.index_lines(r))
        .collect();

    std::fs::remove_dir_all(s.path().join("catalog")).unwrap();
    let id = s.identity.display().to_string();
    let r = s.run(&["catalog", "rebuild", "--identity", &id]);
    r.assert_code(0);
    assert!(r.stdout.contains("2 dumps, 2 indexes"), "{}", r.stdout);
    let after = s.find_json();
    assert_eq!(without_seconds(&after), without_seconds(&before));
    let rebuilt: Vec<_> = after
        .as_array()
        .unwrap()
        .iter()
        .map(|r| s.index_lines(r))
        .collect();
    assert_eq!(
        rebuilt, indexes,
        "indexes read back from the payloads equal the originals"
    );

    // restore the chain through the rebuilt catalog
    let out = s.path().join("restored");
    std::fs::create_dir(&out).unwrap();
    for rec in after.as_array().unwrap() {
        sh(
            &format!(
                "{} --config {} fetch --host localhost --disk {} --date {} -i {id} -o - | tar -xpf - --incremental -C {}",
                crate::common::BIN,
                s.path().join("tapir.toml").display(),
                src.display(),
                rec["datestamp"].as_str().unwrap(),
                out.display()
            ),
            s.path(),
        );
    }
    tree::assert_same(&src, &out, &|p| p.to_string_lossy().ends_with(".tmp"));
    // and the planner carries on with an incremental
    let r = s.run_env(&["dump", "--json"], &[("TAPIR_NOW", &day(2))]);
    r.assert_code(0);
    assert!(
        r.stdout.contains("\"level\": 1") || r.stdout.contains("\"level\": 2"),
        "{}",
        r.stdout
    );
}

#[test]
fn rebuild_from_a_mirror_copy_without_a_key_gives_history_and_verify_passes() {
    let s = Setup::new("", "");
    let src = s.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("f"), crate::common::noise(100 << 10, 3)).unwrap();
    s.write("disklist", &format!("localhost {} local\n", src.display()));
    s.run(&["dump"]).assert_code(0);
    let before = s.find_json();
    let mirror = s.path().join("mirror");
    sh(
        &format!(
            "cp -a {} {}",
            s.path().join("vtape").display(),
            mirror.display()
        ),
        s.path(),
    );
    std::fs::remove_dir_all(s.path().join("catalog")).unwrap();
    std::fs::remove_dir_all(s.path().join("vtape")).unwrap();
    let r = s.run(&["catalog", "rebuild", "--from", mirror.to_str().unwrap()]);
    r.assert_code(0);
    assert!(r.stdout.contains("1 dumps, 0 indexes"), "{}", r.stdout);
    let mut expect = without_seconds(&before);
    expect[0].as_object_mut().unwrap()["index"] = serde_json::Value::Null;
    assert_eq!(without_seconds(&s.find_json()), expect);
    s.run(&["verify", "--from", mirror.to_str().unwrap()])
        .assert_code(0);
}
