//! The house stays in order: every `crate::` import in `src/` points to a module of the same
//! layer or a lower one (lib.rs's module doc lists the layers), and no modules import each
//! other round about. A failure names the file and the line.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Layer of each top-level module, from lib.rs's `//! N. \`a\`, \`b\`` lines.
fn layers(lib: &str) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for line in lib.lines().filter_map(|l| l.strip_prefix("//! ")) {
        let Some((n, rest)) = line.split_once(". ") else {
            continue;
        };
        let Ok(n) = n.parse::<usize>() else { continue };
        for m in rest.split(',') {
            out.insert(m.trim().trim_matches('`').to_string(), n);
        }
    }
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// (module, line number, imported module) for every `crate::NAME` outside comments.
fn imports(src: &Path, mods: &BTreeMap<String, usize>) -> Vec<(String, String, String)> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut out = Vec::new();
    for f in files {
        let rel = f.strip_prefix(src).unwrap().to_string_lossy().into_owned();
        let top = rel
            .split('/')
            .next()
            .unwrap()
            .trim_end_matches(".rs")
            .to_string();
        if top == "lib" || top == "main" {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        for (i, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap();
            let mut rest = code;
            while let Some(at) = rest.find("crate::") {
                rest = &rest[at + "crate::".len()..];
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if name != top && mods.contains_key(&name) {
                    out.push((top.clone(), format!("src/{rel}:{}", i + 1), name));
                }
            }
        }
    }
    out
}

#[test]
fn every_import_points_down_and_no_modules_import_each_other() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lib = std::fs::read_to_string(root.join("src/lib.rs")).unwrap();
    let layer = layers(&lib);
    // every module is placed
    let declared: BTreeSet<String> = lib
        .lines()
        .filter_map(|l| l.strip_prefix("pub mod "))
        .map(|m| m.trim_end_matches(';').to_string())
        .collect();
    let placed: BTreeSet<String> = layer.keys().cloned().collect();
    assert_eq!(
        declared, placed,
        "lib.rs's layer list and its modules differ"
    );

    let found = imports(&root.join("src"), &layer);
    let upward: Vec<String> = found
        .iter()
        .filter(|(from, _, to)| layer[to] > layer[from])
        .map(|(from, at, to)| {
            format!(
                "{at}: {from} (layer {}) imports {to} (layer {})",
                layer[from], layer[to]
            )
        })
        .collect();
    assert!(
        upward.is_empty(),
        "imports that point up:\n{}",
        upward.join("\n")
    );

    no_circle(&found);
    // inside each module too: its submodules do not import each other round about
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    no_circle(&submodule_imports(&root.join("src"), &files));
}

/// Fail naming the module and lines when one reaches itself through `found`'s imports.
fn no_circle(found: &[(String, String, String)]) {
    let mut edges: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (from, _, to) in found {
        edges.entry(from).or_default().insert(to);
    }
    for (start, next) in &edges {
        let mut seen = BTreeSet::new();
        let mut todo: Vec<&str> = next.iter().copied().collect();
        while let Some(m) = todo.pop() {
            if m == *start {
                let lines: Vec<&String> = found
                    .iter()
                    .filter(|(f, _, t)| f == start || t == start)
                    .map(|(_, at, _)| at)
                    .take(6)
                    .collect();
                panic!("{start} imports itself round about; see {lines:?}");
            }
            if seen.insert(m) {
                todo.extend(edges.get(m).into_iter().flatten().copied());
            }
        }
    }
}

/// (`top::sub`, line, `top::other`) for `super::other` (in `top/sub.rs`) and
/// `crate::top::other` inside a top-level module's own files, tests left out.
fn submodule_imports(src: &Path, files: &[PathBuf]) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for f in files {
        let rel = f.strip_prefix(src).unwrap().to_string_lossy().into_owned();
        let parts: Vec<&str> = rel.split('/').collect();
        if parts.len() < 2 || parts[1] == "mod.rs" {
            continue;
        }
        let (top, sub) = (parts[0], parts[1].trim_end_matches(".rs"));
        let siblings: BTreeSet<String> = std::fs::read_dir(src.join(top))
            .unwrap()
            .map(|e| {
                e.unwrap()
                    .file_name()
                    .to_string_lossy()
                    .trim_end_matches(".rs")
                    .to_string()
            })
            .filter(|n| n != "mod" && n != sub)
            .collect();
        let mut prefixes = vec![format!("crate::{top}::")];
        if parts.len() == 2 {
            prefixes.push("super::".to_string());
        }
        let text = std::fs::read_to_string(f).unwrap();
        for (i, line) in text.lines().enumerate() {
            if line.starts_with("mod tests") {
                break;
            }
            let code = line.split("//").next().unwrap();
            for p in &prefixes {
                let mut rest = code;
                while let Some(at) = rest.find(p.as_str()) {
                    rest = &rest[at + p.len()..];
                    let name: String = rest
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    if siblings.contains(&name) {
                        out.push((
                            format!("{top}::{sub}"),
                            format!("src/{rel}:{}", i + 1),
                            format!("{top}::{name}"),
                        ));
                    }
                }
            }
        }
    }
    out
}

#[test]
fn the_check_sees_an_upward_import() {
    // the checker itself: a lower module naming a higher one is found, with its line
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("low")).unwrap();
    std::fs::write(
        dir.path().join("low/mod.rs"),
        "// crate::high in a comment\nuse crate::high::X;\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("high.rs"), "use crate::low::Y;\n").unwrap();
    let layer: BTreeMap<String, usize> = [("low".to_string(), 1), ("high".to_string(), 2)].into();
    let found = imports(dir.path(), &layer);
    assert!(
        found.contains(&("low".into(), "src/low/mod.rs:2".into(), "high".into())),
        "{found:?}"
    );
    assert_eq!(found.len(), 2, "{found:?}");
}
