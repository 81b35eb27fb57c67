//! `tapir config --amanda-import`: Amanda's own sample amanda.conf and disklist become a
//! tapir config directory that loads, with what has no meaning in tapir listed.

use crate::common::BIN;
use std::process::Command;

const AMANDA_CONF: &str = r#"
org "DailySet1"
mailto "ops@example.org backup@example.org"
dumpuser "amandabackup"
inparallel 4
dumpcycle 1 week
runspercycle 7
tapecycle 15 tapes
runtapes 1
tpchanger "chg-disk:/var/lib/amanda/vtapes/DailySet1"
tapetype HARDDISK
labelstr "^DailySet1-[0-9][0-9]*$"

define tapetype HARDDISK {
    comment "Virtual tapes"
    length 3072 mbytes
}

holdingdisk hd1 {
    directory "/var/amanda/holding"
    use -100 Mb
}

define dumptype global {
    comment "Global definitions"
    auth "bsdtcp"
}

define dumptype user-tar {
    global
    program "GNUTAR"
    comment "user partitions dumped with tar"
    priority low
}

define dumptype comp-user-tar {
    user-tar
    compress client fast
}

define dumptype root-tar {
    global
    program "GNUTAR"
    comment "root partitions dumped with tar"
    compress none
    index
    exclude list "/etc/amanda/exclude.gtar"
    priority low
}
"#;

#[test]
fn amandas_sample_config_imports_and_loads() {
    let d = tempfile::tempdir().unwrap();
    let conf = d.path().join("amanda.conf");
    std::fs::write(&conf, AMANDA_CONF).unwrap();
    let dl = d.path().join("disklist");
    std::fs::write(
        &dl,
        "# Amanda's sample\nlocalhost /etc root-tar\nlocalhost /home {\n  comp-user-tar\n  include \"./*\"\n} -1\n",
    )
    .unwrap();
    let to = d.path().join("tapir");
    let out = Command::new(BIN)
        .args(["config", "--amanda-import"])
        .arg(&conf)
        .arg("--amanda-disklist")
        .arg(&dl)
        .arg("--to")
        .arg(&to)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for said in [
        "not carried over: ",
        "dumpuser amandabackup has no tapir equivalent",
        "tpchanger",
        "holdingdisk hd1",
        "dumptype global: auth \"bsdtcp\"",
        "4 dumptype(s) imported",
    ] {
        assert!(stdout.contains(said), "{said:?} not in:\n{stdout}");
    }
    let cfg = loaded(&to);
    assert_eq!(cfg["org"], "DailySet1");
    assert_eq!(cfg["dumpcycle"], 7);
    assert_eq!(cfg["tapecycle"], 15);
    assert_eq!(cfg["inparallel"], 4);
    assert_eq!(
        cfg["mailto"],
        serde_json::json!(["ops@example.org", "backup@example.org"])
    );
    assert_eq!(cfg["changer"]["tape_size"], 3072u64 << 20);
    assert_eq!(cfg["changer"]["labelstr"], "^DailySet1-[0-9][0-9]*$");
    let types = &cfg["dumptypes"];
    assert_eq!(types["comp-user-tar"]["compress"], "client-fast");
    assert_eq!(types["comp-user-tar"]["priority"], "low");
    assert_eq!(
        types["comp-user-tar"]["description"],
        "user partitions dumped with tar"
    );
    assert_eq!(types["root-tar"]["compress"], "none");
    assert_eq!(
        types["root-tar"]["exclude_list"],
        serde_json::json!(["/etc/amanda/exclude.gtar"])
    );
    assert_eq!(cfg["disklist"].as_array().unwrap().len(), 2);
    // an import never overwrites a config
    let again = Command::new(BIN)
        .args(["config", "--amanda-import"])
        .arg(&conf)
        .arg("--to")
        .arg(&to)
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(2));
}

/// Amanda's own example files from Debian's packages (`apt-get download`, `dpkg -x`), once
/// per target directory; the `.gz` examples unpacked beside.
fn upstream_examples() -> std::path::PathBuf {
    static ONCE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = ONCE.lock().unwrap_or_else(|p| p.into_inner());
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/amanda-examples");
    let ex = root.join("usr/share/doc/amanda-server/examples");
    if ex.join("quick/disklist").exists() {
        return ex;
    }
    crate::common::require_root("apt-get download of amanda-server and amanda-common");
    let dl = tempfile::tempdir().unwrap();
    let get = || {
        Command::new("apt-get")
            .args(["download", "-qq", "amanda-server", "amanda-common"])
            .current_dir(dl.path())
            .output()
            .unwrap()
            .status
            .success()
    };
    if !get() {
        // a fresh machine has no package lists yet
        crate::common::sh("apt-get update -qq", dl.path());
        assert!(get(), "apt-get download amanda-server amanda-common failed");
    }
    crate::common::sh(
        &format!(
            "for d in *.deb; do dpkg -x \"$d\" {0}; done && find {0} -name '*.gz' -path '*examples*' -exec gunzip -kf {{}} +",
            root.display()
        ),
        dl.path(),
    );
    ex
}

fn import(conf: &std::path::Path, dl: &std::path::Path, to: &std::path::Path) -> (i32, String) {
    let out = Command::new(BIN)
        .args(["config", "--amanda-import"])
        .arg(conf)
        .arg("--amanda-disklist")
        .arg(dl)
        .arg("--to")
        .arg(to)
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

fn loaded(to: &std::path::Path) -> serde_json::Value {
    let run = Command::new(BIN)
        .arg("--config")
        .arg(to.join("tapir.toml"))
        .args(["config", "--json"])
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "the imported config does not load: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    serde_json::from_slice(&run.stdout).unwrap()
}

#[test]
fn amandas_upstream_examples_import_to_configs_that_load() {
    let ex = upstream_examples();
    let d = tempfile::tempdir().unwrap();

    // the full example: raw devices cannot be carried; they stay, commented, with the reason
    let to = d.path().join("full");
    let (code, said) = import(&ex.join("amanda.conf"), &ex.join("disklist"), &to);
    assert_eq!(code, 1, "DLEs were left out: {said}");
    let cfg = loaded(&to);
    let dles: Vec<(String, String)> = cfg["disklist"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["host"].as_str().unwrap().into(),
                d["disk"].as_str().unwrap().into(),
            )
        })
        .collect();
    for want in [
        ("slowsrv", "/"),
        ("slowsrv", "/usr"),
        ("joespc", "/msdos"),
        ("hosta", "/diskA/big"),
    ] {
        assert!(
            dles.contains(&(want.0.into(), want.1.into())),
            "{want:?} not in {dles:?}"
        );
    }
    let original = std::fs::read_to_string(ex.join("disklist")).unwrap();
    let carried = std::fs::read_to_string(to.join("disklist")).unwrap();
    let raw: Vec<&str> = original
        .lines()
        .filter(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            // an entry starts a line; a block's options are indented
            let entry = l.starts_with(|c: char| c.is_alphanumeric());
            entry && w.len() >= 3 && !w[1].starts_with('/')
        })
        .collect();
    assert!(raw.len() >= 20, "{raw:?}");
    assert_eq!(said.matches("DLE left out").count(), raw.len(), "{said}");
    let paths = original
        .lines()
        .filter(|l| l.starts_with(|c: char| c.is_alphanumeric()))
        .filter(|l| {
            l.split_whitespace()
                .nth(1)
                .is_some_and(|w| w.starts_with('/'))
        })
        .count();
    assert_eq!(
        dles.len(),
        paths,
        "every entry with a path is carried: {dles:?}"
    );
    for line in &raw {
        let at = carried
            .lines()
            .position(|l| l == format!("# {line}"))
            .unwrap_or_else(|| panic!("{line:?} not commented"));
        let reason = carried.lines().nth(at - 1).unwrap();
        assert!(
            reason.starts_with("# tapir: left out: ") && reason.contains("raw device"),
            "{reason}"
        );
    }
    for l in original
        .lines()
        .filter(|l| l.starts_with("hosta") || l.starts_with("slowsrv"))
    {
        assert!(
            carried.lines().any(|c| c == l),
            "{l:?} not carried as it was"
        );
    }

    // the quick example: its includefiles (named under /etc/amanda/DailySet1/, shipped
    // beside amanda.conf) are followed, so the disklist's dumptype exists
    let to = d.path().join("quick");
    let q = ex.join("quick");
    let (code, said) = import(&q.join("amanda.conf"), &q.join("disklist"), &to);
    assert_eq!(code, 0, "{said}");
    assert!(
        said.contains("includefile /etc/amanda/DailySet1/dumptypes read from"),
        "{said}"
    );
    let cfg = loaded(&to);
    assert_eq!(cfg["disklist"][0]["dumptype"], "lev-medium", "{cfg}");
    assert!(cfg["dumptypes"]["lev-medium"].is_object());
}
