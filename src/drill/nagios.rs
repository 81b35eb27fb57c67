//! `tapir drill --check`: the drills' state as a Nagios plugin sees it. CRITICAL when a DLE's
//! last drill failed; WARNING when a DLE's last good drill is older than the limit (or none
//! passed yet, or nothing was drilled) or a host's recovery-time estimate is over the target.

use crate::catalog::drills::{Drills, Last};
use crate::units::show_secs;

/// The exit code and the plugin's one line (with perfdata).
pub fn check(
    d: &Drills,
    copy: &str,
    hosts: &[String],
    max_age: std::time::Duration,
    target: Option<u64>,
    now: &chrono::DateTime<chrono::Local>,
) -> anyhow::Result<(i32, String)> {
    let oldest_ok = crate::clock::datestamp(&(*now - chrono::Duration::from_std(max_age)?));
    let wanted = |h: &String| hosts.is_empty() || hosts.contains(h);
    let c = d.copies.get(copy);
    let dles: Vec<&Last> = c.map_or(vec![], |c| {
        c.dles.values().filter(|l| wanted(&l.host)).collect()
    });
    let name = |l: &&Last| format!("{} {}", l.host, l.disk);
    let failed: Vec<String> = dles.iter().filter(|l| !l.ok).map(name).collect();
    let stale: Vec<String> = dles
        .iter()
        .filter(|l| {
            l.last_ok
                .as_deref()
                .is_none_or(|at| at < oldest_ok.as_str())
        })
        .map(name)
        .collect();
    let slow: Vec<String> = c.map_or(vec![], |c| {
        c.rto
            .iter()
            .filter(|(h, s)| wanted(h) && target.is_some_and(|t| **s > t as f64))
            .map(|(h, s)| format!("{h} {}", show_secs(*s)))
            .collect()
    });
    let age = show_secs(max_age.as_secs_f64());
    let (code, what) = if !failed.is_empty() {
        (2, format!("last drill failed: {}", failed.join(", ")))
    } else if dles.is_empty() {
        (1, format!("no drill of {copy} recorded"))
    } else if !stale.is_empty() {
        (
            1,
            format!("no good drill within {age}: {}", stale.join(", ")),
        )
    } else if !slow.is_empty() {
        let t = show_secs(target.unwrap_or(0) as f64);
        (
            1,
            format!("recovery time over the target of {t}: {}", slow.join(", ")),
        )
    } else {
        (0, format!("{} DLE(s) drilled within {age}", dles.len()))
    };
    let word = ["OK", "WARNING", "CRITICAL"][code as usize];
    let line = format!(
        "TAPIR DRILL {word} - {what} | dles={};;;0 failed={};;;0 stale={};;;0 slow={};;;0",
        dles.len(),
        failed.len(),
        stale.len(),
        slow.len()
    );
    Ok((code, line))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::drills::Copy;

    fn drills(ok: bool, last_ok: &str, rto: f64) -> Drills {
        let mut c = Copy::default();
        c.dles.insert(
            "h /d".into(),
            Last {
                host: "h".into(),
                disk: "/d".into(),
                at: "20261201020000".into(),
                ok,
                reason: None,
                last_ok: Some(last_ok.into()),
            },
        );
        c.rto.insert("h".into(), rto);
        let mut d = Drills::default();
        d.copies.insert("/m".into(), c);
        d
    }

    #[test]
    fn failed_is_critical_then_stale_then_slow_warn() {
        let now = crate::clock::parse_datestamp("20261205020000").unwrap();
        let week = std::time::Duration::from_secs(7 * 86_400);
        let run = |d: &Drills, target| check(d, "/m", &[], week, target, &now).unwrap();
        let (code, line) = run(&drills(false, "20261201020000", 10.0), None);
        assert_eq!(code, 2, "{line}");
        assert!(
            line.starts_with("TAPIR DRILL CRITICAL - last drill failed: h /d |"),
            "{line}"
        );
        let (code, line) = run(&drills(true, "20261101020000", 10.0), None);
        assert_eq!(code, 1, "{line}");
        assert!(line.contains("no good drill within 7.0 d: h /d"), "{line}");
        let (code, line) = run(&drills(true, "20261201020000", 7200.0), Some(3600));
        assert_eq!(code, 1, "{line}");
        assert!(
            line.contains("recovery time over the target of 60 min: h 2.0 h"),
            "{line}"
        );
        let (code, line) = run(&drills(true, "20261201020000", 60.0), Some(3600));
        assert_eq!(
            (code, line.contains("1 DLE(s) drilled within 7.0 d")),
            (0, true),
            "{line}"
        );
        let (code, line) = check(&Drills::default(), "/m", &[], week, None, &now).unwrap();
        assert_eq!(code, 1, "{line}");
    }
}
