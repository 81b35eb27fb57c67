//! The shipped Puppet module (scripts/puppet/tapir) is valid Puppet in the autoload layout:
//! `puppet parser validate` and `puppet-lint --fail-on-warnings` accept it.

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
