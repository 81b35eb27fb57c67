//! `tapir keys check`: an identity opens every tape file it is a recipient of, and a key that
//! is not (or no longer) one is named with each file it cannot open, from the tapes and from
//! a mirror; only the age headers are read.

use crate::common::{Setup, day, noise};
use std::fs;

#[test]
fn keys_check_names_each_file_an_identity_cannot_open() {
    let s = Setup::new("", "");
    let src = s.path().join("src");
    fs::create_dir_all(&src).unwrap();
    fs::write(src.join("data"), noise(100 << 10, 3)).unwrap();
    s.write("disklist", &format!("localhost {} local\n", src.display()));
    // a second recipient, B, beside the setup's own identity A
    let b = s.path().join("keys/b.txt");
    let out = s.run(&["keygen", "-o", b.to_str().unwrap()]);
    out.assert_code(0);
    let a_recipient = fs::read_to_string(s.path().join("keys/recipients.txt")).unwrap();
    fs::write(
        s.path().join("keys/recipients.txt"),
        format!("{}\n{}\n", a_recipient.trim(), out.stdout.trim()),
    )
    .unwrap();
    s.run_env(&["dump"], &[("TAPIR_NOW", &day(0))])
        .assert_code(0);
    let a = s.identity.display().to_string();
    let check = |id: &str, extra: &[&str]| {
        let mut args = vec!["keys", "check", "-i", id];
        args.extend_from_slice(extra);
        s.run(&args)
    };
    for id in [&a, &b.display().to_string()] {
        let r = check(id, &[]);
        r.assert_code(0);
        assert!(
            r.stdout.contains("1 tape file(s)") && r.stdout.contains(": 1 open with"),
            "{}",
            r.stdout
        );
    }
    // B leaves the recipients: the next night's tape is closed to it, the first still opens
    fs::write(s.path().join("keys/recipients.txt"), a_recipient).unwrap();
    fs::write(src.join("more"), b"night two").unwrap();
    s.run_env(&["dump"], &[("TAPIR_NOW", &day(1))])
        .assert_code(0);
    let r = check(&b.display().to_string(), &[]);
    r.assert_code(1);
    assert_eq!(r.stdout.matches("CANNOT OPEN").count(), 1, "{}", r.stdout);
    assert!(
        r.stdout.contains("cannot decrypt (wrong identity?)") && r.stdout.contains("1 do not"),
        "{}",
        r.stdout
    );
    // a stranger's key opens nothing; the mirror says the same
    let c = s.path().join("keys/c.txt");
    s.run(&["keygen", "-o", c.to_str().unwrap()]).assert_code(0);
    let m = s.path().join("mirror");
    s.run(&["mirror", "--to", m.to_str().unwrap()])
        .assert_code(0);
    let r = check(&c.display().to_string(), &["--from", m.to_str().unwrap()]);
    r.assert_code(1);
    assert_eq!(r.stdout.matches("CANNOT OPEN").count(), 2, "{}", r.stdout);
    assert!(r.stdout.contains(&m.display().to_string()), "{}", r.stdout);
    check(&a, &["--from", m.to_str().unwrap()]).assert_code(0);
}
