//! The shipped Puppet module (scripts/puppet/tapir) is valid Puppet in the autoload layout:
//! `puppet parser validate` and `puppet-lint --fail-on-warnings` accept it, and its examples
//! compile with `puppet apply --noop` (a server backing itself up, the key line from Hiera or
//! missing).

use std::path::Path;
use std::process::Command;

fn run(tool: &str, args: &[&str]) -> (bool, String) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/puppet");
    let out = Command::new(tool)
        .args(args)
        .current_dir(&dir)
        .output()
        .unwrap_or_else(|e| panic!("{tool} (Debian package puppet / puppet-lint): {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn the_module_validates_and_lints_clean() {
    let manifests: Vec<String> = std::fs::read_dir(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/puppet/tapir/manifests"),
    )
    .unwrap()
    .map(|e| {
        format!(
            "tapir/manifests/{}",
            e.unwrap().file_name().to_string_lossy()
        )
    })
    .collect();
    assert!(manifests.len() >= 2, "{manifests:?}");
    let mut args = vec!["parser", "validate"];
    args.extend(manifests.iter().map(String::as_str));
    let (ok, text) = run("puppet", &args);
    assert!(
        ok && text.trim().is_empty(),
        "puppet parser validate: {text}"
    );
    let (ok, text) = run("puppet-lint", &["--fail-on-warnings", "tapir"]);
    assert!(ok && text.trim().is_empty(), "puppet-lint: {text}");
}

/// `puppet apply --noop` of `site` with the module (and Debian's sshkeys_core), the compiled
/// catalog kept as JSON: its resources, and what puppet said.
fn compile(site: &str, hiera: Option<&str>) -> (Vec<serde_json::Value>, String) {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("site.pp"), site).unwrap();
    let modules = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/puppet");
    let mut cmd = Command::new("puppet");
    cmd.args(["apply", "--noop", "--detailed-exitcodes", "--color=false"])
        .arg(format!(
            "--modulepath={}:/usr/share/puppet/modules",
            modules.display()
        ))
        .arg("--catalog_cache_terminus=json")
        .arg(format!(
            "--client_datadir={}",
            d.path().join("data").display()
        ))
        .arg(format!("--vardir={}", d.path().join("var").display()))
        .arg(format!("--codedir={}", d.path().join("code").display()));
    let hiera_cfg = d.path().join("hiera.yaml");
    if let Some(data) = hiera {
        std::fs::create_dir_all(d.path().join("hieradata")).unwrap();
        std::fs::write(d.path().join("hieradata/common.yaml"), data).unwrap();
        std::fs::write(
            &hiera_cfg,
            format!(
                "---\nversion: 5\ndefaults:\n  datadir: {}\n  data_hash: yaml_data\nhierarchy:\n  - name: common\n    path: common.yaml\n",
                d.path().join("hieradata").display()
            ),
        )
        .unwrap();
    } else {
        std::fs::write(&hiera_cfg, "---\nversion: 5\nhierarchy: []\n").unwrap();
    }
    cmd.arg(format!("--hiera_config={}", hiera_cfg.display()));
    let out = cmd.arg(d.path().join("site.pp")).output().expect("puppet");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // --detailed-exitcodes: 0 nothing to do, 2 changes (would be made); 1/4/6 failures
    assert!(
        matches!(out.status.code(), Some(0 | 2)),
        "puppet apply --noop failed: {said}"
    );
    let catalog = std::fs::read_dir(d.path().join("data/catalog"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let c: serde_json::Value = serde_json::from_slice(&std::fs::read(catalog).unwrap()).unwrap();
    (c["resources"].as_array().unwrap().clone(), said)
}

fn of_type<'a>(rs: &'a [serde_json::Value], t: &str) -> Vec<&'a serde_json::Value> {
    rs.iter().filter(|r| r["type"] == t).collect()
}

const KEY_LINE: &str = "restrict,from=\"10.0.0.1,10.0.0.2\",command=\"tapir agent\" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOv5wDvS6l2Jt1q0w6bq3Yt0Tn3vO8Vf2Gm9Zx0y1a2b tapir@backup";

#[test]
fn the_examples_compile_the_server_backs_itself_up_and_the_key_is_an_ssh_authorized_key() {
    // a server that also backs itself up: one Package[tapir]
    let (rs, said) = compile(
        &format!(
            "node default {{\n  include tapir::server\n  class {{ 'tapir::client': dles => ['/etc'], server_key_line => '{KEY_LINE}' }}\n}}\n"
        ),
        None,
    );
    assert_eq!(of_type(&rs, "Package").len(), 1, "{said}");
    let keys = of_type(&rs, "Ssh_authorized_key");
    assert_eq!(keys.len(), 1, "{said}");
    let p = &keys[0]["parameters"];
    assert_eq!(p["type"], "ssh-ed25519");
    assert_eq!(p["user"], "tapir");
    assert_eq!(
        p["options"],
        serde_json::json!([
            "restrict",
            "from=\"10.0.0.1,10.0.0.2\"",
            "command=\"tapir agent\""
        ])
    );
    assert!(p["key"].as_str().unwrap().starts_with("AAAAC3Nza"));
    assert!(
        of_type(&rs, "File")
            .iter()
            .all(|f| !f["title"].as_str().unwrap().ends_with("authorized_keys")),
        "the key is not a whole-file resource"
    );

    // the documented client example, its key line from Hiera
    let example = "node default {\n  class { 'tapir::client': dles => ['/etc', '/var/www'], dumptype => 'ssh-fast' }\n}\n";
    let (rs, said) = compile(
        example,
        Some(&format!("tapir::server_key_line: '{KEY_LINE}'\n")),
    );
    assert_eq!(of_type(&rs, "Ssh_authorized_key").len(), 1, "{said}");

    // without it: the catalog compiles, says what is missing, installs no key
    let (rs, said) = compile(example, None);
    assert!(of_type(&rs, "Ssh_authorized_key").is_empty());
    assert!(
        said.contains("no server key line (set tapir::server_key_line in Hiera"),
        "{said}"
    );
}
