//! check-rpo as Nagios, NRPE v2 and Icinga read it: a short first line (NRPE v2 keeps 1,024
//! bytes), perfdata that parses by the plugin guidelines (quoted labels, `U` for unknown),
//! skipped DLEs reported as skipped, a missing catalog UNKNOWN.

use crate::common::{Setup, day};

/// One perfdata item by the plugin guidelines: 'label'=value[UOM];[warn];[crit];[min];[max]
pub fn valid_perf(item: &str) -> bool {
    let re = regex::Regex::new(
        r"^('([^'=]|'')+'|[^'= ]+)=(-?[0-9.]+|U)(s|ms|us|%|B|KB|MB|TB|c)?(;-?[0-9.]*){0,4}$",
    )
    .unwrap();
    re.is_match(item)
}

/// Perfdata items of a plugin output as Nagios reads them: after `|` on the first line, and
/// in the long output everything after its first `|`, split at spaces outside quotes.
pub fn perfdata(out: &str) -> Vec<String> {
    let (first, long) = out.split_once('\n').unwrap_or((out, ""));
    let mut text = first.split_once('|').map_or("", |(_, p)| p).to_string();
    if let Some((_, p)) = long.split_once('|') {
        text.push(' ');
        text.push_str(p);
    }
    split_perf(&text)
}

/// Perfdata items split at whitespace outside single-quoted labels.
pub fn split_perf(text: &str) -> Vec<String> {
    let (mut items, mut cur, mut quoted) = (vec![], String::new(), false);
    for c in text.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                cur.push(c);
            }
            c if c.is_whitespace() && !quoted => {
                if !cur.is_empty() {
                    items.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        items.push(cur);
    }
    items
}

#[test]
fn forty_long_dles_fit_nrpe_v2_and_every_label_parses() {
    let s = Setup::new(
        "",
        "slots = 10\nautolabel = \"daily-%%\"\ntape_size = \"1G\"\n",
    );
    let mut dl = String::new();
    let mut dirs = vec![];
    for k in 0..40 {
        let d = s.path().join(format!(
            "srv/application-{k:02}/var/lib/some/rather/long/data/directory/name"
        ));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("f"), "x").unwrap();
        dl.push_str(&format!("localhost {} local\n", d.display()));
        dirs.push(d);
    }
    let odd = s.path().join("it's=odd");
    std::fs::create_dir_all(&odd).unwrap();
    dl.push_str(&format!("localhost \"{}\" local\n", odd.display()));
    s.write("disklist", &dl);
    s.run_env(&["dump"], &[("TAPIR_NOW", &day(0))])
        .assert_code(0);
    // one DLE added since: never dumped
    let new = s.path().join("new");
    std::fs::create_dir_all(&new).unwrap();
    dl.push_str(&format!("localhost {} local\n", new.display()));
    s.write("disklist", &dl);

    let r = s.run_env(
        &["check-rpo"],
        &[("TAPIR_NOW", &day(0).replace("02:00", "03:00"))],
    );
    r.assert_code(2);
    let first = r.stdout.lines().next().unwrap();
    assert!(
        first.len() <= 1024,
        "first line is {} bytes: {first}",
        first.len()
    );
    assert!(
        first.starts_with("TAPIR RPO CRITICAL - 1 of 42 DLEs not OK"),
        "{first}"
    );
    assert!(first.contains("never dumped"), "{first}");
    let items = perfdata(&r.stdout);
    assert_eq!(items.len(), 3 + 42, "{}", r.stdout);
    for i in &items {
        assert!(valid_perf(i), "bad perfdata item {i:?}");
    }
    assert!(
        items.iter().any(|i| i.contains("it''s_odd_age'=3600s")),
        "{items:?}"
    );
    assert!(
        items
            .iter()
            .any(|i| i.ends_with("new_age'=U;93600;180000;0")),
        "{items:?}"
    );
    assert!(
        items.iter().any(|i| i == "oldest_age=U;93600;180000;0"),
        "{items:?}"
    );
}

#[test]
fn a_skipped_dle_is_reported_as_skipped_and_a_missing_catalog_is_unknown() {
    let s = Setup::new("", "");
    s.write(
        "dumptypes/never.toml",
        "auth = \"local\"\nstrategy = \"skip\"\n",
    );
    let a = s.path().join("a");
    std::fs::create_dir_all(&a).unwrap();
    let r = s.run(&["check-rpo"]);
    r.assert_code(3);
    assert!(
        r.stdout.starts_with("TAPIR RPO UNKNOWN - the catalog"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("does not exist"), "{}", r.stdout);

    s.write(
        "disklist",
        &format!("localhost {} local\nlocalhost /tmp never\n", a.display()),
    );
    s.run_env(&["dump"], &[("TAPIR_NOW", &day(0))])
        .assert_code(0);
    let prom = s.path().join("rpo.prom");
    let r = s.run_env(
        &["check-rpo", "--prometheus", prom.to_str().unwrap()],
        &[("TAPIR_NOW", &day(0).replace("02:00", "03:00"))],
    );
    r.assert_code(0);
    assert!(
        r.stdout
            .starts_with("TAPIR RPO OK - 1 DLEs backed up within 1d2h; 1 skipped | "),
        "{}",
        r.stdout
    );
    let text = std::fs::read_to_string(&prom).unwrap();
    assert!(
        text.contains("tapir_rpo_state{host=\"localhost\",disk=\"/tmp\"} 0"),
        "{text}"
    );
    assert!(
        text.contains("tapir_skipped{host=\"localhost\",disk=\"/tmp\"} 1"),
        "{text}"
    );
}
