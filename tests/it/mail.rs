//! The report mail is a strict RFC 5322 / 2045 message: Date, From, To, Subject (RFC 2047
//! when not ASCII), Message-ID, MIME-Version, charset, transfer encoding, no line over 998
//! bytes, even with very long DLE paths; the text with an HTML alternative. Checked by
//! Python's email parser in strict mode.

use crate::common::{Setup, sh};
use std::process::Command;

#[test]
fn the_report_mail_parses_strictly_with_long_paths_and_a_non_ascii_subject() {
    let s = Setup::new(
        "org = \"Sauvegardes Bâtiment Nord\"\nmailto = [\"ops@example.org\", \"Backup Team <backup@example.org>\"]\nmailfrom = \"tapir@backup1.example.org\"",
        "",
    );
    let cfg = std::fs::read_to_string(s.path().join("tapir.toml")).unwrap();
    s.write("tapir.toml", &cfg.replacen("org = \"Test\"\n", "", 1));
    let mut src = s.path().to_path_buf();
    while src.as_os_str().len() < 1100 {
        src.push("a-rather-long-directory-name-".repeat(3));
    }
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("f"), "x").unwrap();
    s.write("disklist", &format!("localhost {} local\n", src.display()));
    s.run(&["dump"]).assert_code(0);
    let mailbox = s.path().join("mailbox");
    let fake = s.path().join("sendmail");
    std::fs::write(
        &fake,
        format!(
            "#!/bin/sh\necho \"$@\" > {0}.args\ncat > {0}\n",
            mailbox.display()
        ),
    )
    .unwrap();
    sh(&format!("chmod +x {}", fake.display()), s.path());
    s.run_env(
        &["report", "--mail"],
        &[("TAPIR_SENDMAIL", fake.to_str().unwrap())],
    )
    .assert_code(0);
    assert_eq!(
        std::fs::read_to_string(format!("{}.args", mailbox.display()))
            .unwrap()
            .trim(),
        "-f tapir@backup1.example.org -t -oi"
    );
    let raw = std::fs::read(&mailbox).unwrap();
    for line in raw.split(|&b| b == b'\n') {
        assert!(line.len() <= 998, "a line of {} bytes", line.len());
    }
    let check = r#"
import email, sys
from email import policy
raw = open(sys.argv[1], 'rb').read()
m = email.message_from_bytes(raw, policy=policy.strict)
for h in ['Date', 'From', 'To', 'Subject', 'Message-ID', 'MIME-Version', 'Content-Type']:
    assert m[h] is not None, h
assert m.get_content_type() == 'multipart/alternative', m.get_content_type()
text = m.get_body(preferencelist=('plain',))
html = m.get_body(preferencelist=('html',))
assert text.get_content_charset() == 'utf-8', text.get_content_charset()
assert text['Content-Transfer-Encoding'] is not None and html['Content-Transfer-Encoding'] is not None
assert html.get_content_type() == 'text/html' and '<svg' in html.get_content()
assert m['From'].addresses[0].addr_spec == 'tapir@backup1.example.org'
assert [a.addr_spec for a in m['To'].addresses] == ['ops@example.org', 'backup@example.org']
assert 'Sauvegardes Bâtiment Nord' in str(m['Subject']), str(m['Subject'])
assert not any(ord(c) > 127 for c in raw.split(b'\r\n\r\n')[0].decode('ascii')), 'raw 8-bit header'
body = text.get_content()
assert sys.argv[2] in body, 'the long path is not in the body'
assert sys.argv[2] in html.get_content(), 'the long path is not in the HTML'
print('ok')
"#;
    let out = Command::new("/usr/bin/python3")
        .args([
            "-c",
            check,
            mailbox.to_str().unwrap(),
            src.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&raw[..raw.len().min(3000)])
    );
}
