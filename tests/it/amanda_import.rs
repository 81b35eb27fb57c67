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
    let run = Command::new(BIN)
        .arg("--config")
        .arg(to.join("tapir.toml"))
        .args(["config", "--json"])
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let cfg: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
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
