//! A picture of the nights: `tapir overview` (amoverview) against the runs as they went, and
//! `report --html` (amplot) rendered by a real browser: headless Chromium draws it to a PNG
//! and its DOM names every DLE and a lane per dumper; the page loads nothing from outside.

use crate::common::{Setup, day};
use std::path::Path;
use std::process::Command;

/// Two hosts' DLEs (so two dumpers run), and one DLE whose directory comes and goes.
fn nights() -> (Setup, String, String, String) {
    let s = Setup::new("inparallel = 2", "");
    let mk = |name: &str, n: usize| {
        let d = s.path().join(name);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("data"), crate::common::noise(n, 7)).unwrap();
        d.display().to_string()
    };
    let (a, b) = (mk("alpha", 3 << 20), mk("beta", 2 << 20));
    // a name that is markup: the page must show it, never run it
    let flaky = s
        .path()
        .join("fl<img src=x onerror=alert(1)>aky&'")
        .display()
        .to_string();
    s.write(
        "disklist",
        &format!("localhost {a} local\n127.0.0.1 {b} local\nlocalhost \"{flaky}\" local\n"),
    );
    for n in 1..=4 {
        // the flaky DLE's directory exists on nights 2 and 4 only
        if n % 2 == 0 {
            std::fs::create_dir_all(&flaky).unwrap();
            std::fs::write(Path::new(&flaky).join(format!("f{n}")), "x").unwrap();
        } else {
            let _ = std::fs::remove_dir_all(&flaky);
        }
        let code = s.run_env(&["dump"], &[("TAPIR_NOW", &day(n))]).code;
        assert_eq!(code, if n % 2 == 0 { 0 } else { 1 }, "night {n}");
    }
    (s, a, b, flaky)
}

fn chromium(args: &[&str], dir: &Path) -> std::process::Output {
    Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
        ])
        .arg(format!(
            "--user-data-dir={}",
            dir.join("chromium").display()
        ))
        .args(args)
        .env("HOME", dir)
        .output()
        .expect("chromium (scripts/test installs Debian's chromium)")
}

#[test]
fn overview_matrix_and_the_html_night_in_a_real_browser() {
    let (s, a, b, flaky) = nights();
    // the matrix, as the runs went
    let r = s.run(&["overview", "--json"]);
    r.assert_code(0);
    let o: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(
        o["nights"],
        serde_json::json!(["2026-01-02", "2026-01-03", "2026-01-04", "2026-01-05"])
    );
    let codes = |disk: &str| -> Vec<String> {
        let row = o["dles"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["disk"] == disk)
            .unwrap();
        row["cells"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| match c["status"].as_str().unwrap() {
                "OK" => c["level"].to_string(),
                s => s[..1].to_string(),
            })
            .collect()
    };
    // every level the catalog holds for alpha, night by night
    let levels: Vec<String> = s
        .find_json()
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["disk"] == a.as_str())
        .map(|r| r["level"].to_string())
        .collect();
    assert_eq!(codes(&a), levels);
    assert_eq!(codes(&flaky)[0], "F");
    assert_eq!(codes(&flaky)[2], "F");
    assert_eq!(codes(&flaky)[1], "0");
    let text = s.run(&["overview", "--nights", "2"]);
    text.assert_code(0);
    let head = text.stdout.lines().next().unwrap();
    assert!(head.ends_with("01-04 01-05"), "{}", text.stdout);
    let row = text.stdout.lines().find(|l| l.contains(&flaky)).unwrap();
    assert!(
        row.split_whitespace().rev().nth(1) == Some("F"),
        "{}",
        text.stdout
    );

    // the night as a page: self-contained
    let r = s.run(&["report", "--html"]);
    r.assert_code(0);
    let html = r.stdout;
    for outside in ["<script", "<img", "<link", "<iframe", "url(", "@import"] {
        assert!(
            !html.contains(outside),
            "the page must not load anything: {outside}"
        );
    }
    let attribute = regex::Regex::new(r#"<[^>]*\s(src|href|on[a-z]+)="#).unwrap();
    assert!(!attribute.is_match(&html), "{:?}", attribute.find(&html));
    let page = s.path().join("night.html");
    std::fs::write(&page, &html).unwrap();

    // rendered by Chromium to a PNG kept for people to look at
    let png = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/report-night.png");
    let shot = chromium(
        &[
            &format!("--screenshot={}", png.display()),
            "--window-size=1000,900",
            &format!("file://{}", page.display()),
        ],
        s.path(),
    );
    let bytes = std::fs::read(&png).unwrap_or_else(|e| {
        panic!(
            "no screenshot ({e}): {}",
            String::from_utf8_lossy(&shot.stderr)
        )
    });
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    assert!(bytes.len() > 10_000, "an empty page? {} bytes", bytes.len());
    println!("the HTML report rendered by Chromium: {}", png.display());

    // and read back through the DOM the browser built
    let dom = chromium(
        &["--dump-dom", &format!("file://{}", page.display())],
        s.path(),
    );
    let dom = String::from_utf8_lossy(&dom.stdout).into_owned();
    let shown = |d: &str| {
        d.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    for disk in [&a, &b, &flaky] {
        assert!(dom.contains(&shown(disk)), "{disk} not on the page");
    }
    assert!(!dom.contains("<img"), "a DLE's name became markup");
    assert!(dom.contains("<svg"), "no timeline");
    assert!(
        dom.contains("dumper 0") && dom.contains("dumper 1"),
        "a lane per dumper"
    );
    for dle in [
        format!("localhost:{a} "),
        format!("127.0.0.1:{b} "),
        format!("localhost:{} ", shown(&flaky)),
    ] {
        assert!(dom.contains(&format!("<title>{dle}")), "no bar says {dle}");
    }
    assert_eq!(
        dom.matches("<rect").count(),
        3,
        "night 4: three dumps, three bars"
    );
}
