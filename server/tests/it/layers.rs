//! Dependencies inside `server` run one way: each module may use only modules of lower
//! layers. This reads every `crate::…` path in `server/src` and fails on any that reaches
//! sideways or upwards, naming the file — so a cycle cannot creep back in unnoticed.

use std::{collections::BTreeSet, fs, path::Path};

/// From the bottom up. A module uses only modules of the layers before its own.
const LAYERS: &[&[&str]] = &[
    &["clock", "error", "background"],
    &["domain", "paging", "rate"],
    &["config"],
    &["db", "telemetry"],
    &["state"],
    &["records"],
    &["auth", "health"],
    &["audit", "settings", "orgs", "notifications"],
    &["devices", "deliveries", "api_tokens"],
    &["subscriptions"],
    &[
        "admin",
        "retention",
        "demo",
        "demo_lims",
        "simulator",
        "sources",
        "people",
        "instances",
    ],
    &["housekeeping"],
    &["dispatcher", "http"],
    &["harness"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

/// The crate modules a file names: `crate::x::…` anywhere, and every top-level name of a
/// `use crate::{x, y::…}` list. Comments are skipped (doc links name modules above freely).
fn modules_used(source: &str) -> BTreeSet<String> {
    let code: String = source
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut used = BTreeSet::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(list) = rest.strip_prefix('{') {
            // A use list: names at depth 1, up to the matching brace.
            let mut depth = 1;
            let mut name = String::new();
            let mut expecting_name = true;
            for c in list.chars() {
                match c {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    ',' if depth == 1 => {
                        if !name.is_empty() {
                            used.insert(std::mem::take(&mut name));
                        }
                        expecting_name = true;
                    }
                    c if depth == 1 && expecting_name && (c.is_alphanumeric() || c == '_') => {
                        name.push(c)
                    }
                    _ if depth == 1 && !name.is_empty() => {
                        used.insert(std::mem::take(&mut name));
                        expecting_name = false;
                    }
                    _ => {}
                }
            }
            if !name.is_empty() {
                used.insert(name);
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            used.insert(name);
        }
    }
    used
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn modules_use_only_the_layers_below_them() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut problems = Vec::new();
    for file in files {
        let relative = file.strip_prefix(&src).unwrap();
        let first = relative
            .iter()
            .next()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let module = first.trim_end_matches(".rs").to_owned();
        // The crate root and the programs in bin/ sit above every module.
        if ["lib", "bin"].contains(&module.as_str()) {
            continue;
        }
        let Some(own) = layer_of(&module) else {
            problems.push(format!(
                "{} is in no layer: add `{module}` to LAYERS",
                relative.display()
            ));
            continue;
        };
        for used in modules_used(&fs::read_to_string(&file).unwrap()) {
            // Re-exports of the crate root (`Error`, `Result`, `AppState`, …) start upper-case.
            if used == module || used.starts_with(char::is_uppercase) {
                continue;
            }
            match layer_of(&used) {
                Some(layer) if layer < own => {}
                Some(_) => problems.push(format!(
                    "{} uses crate::{used}, which is not below `{module}`",
                    relative.display()
                )),
                None => problems.push(format!(
                    "{} uses crate::{used}, which is in no layer",
                    relative.display()
                )),
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_reader_finds_every_kind_of_path() {
    let used = modules_used(
        "use crate::{\n    audit::{self, Entry},\n    clock::now_ms,\n    AppState, Result,\n};\n\
         // crate::admin in a comment\nlet x = crate::dispatcher::run();",
    );
    let used: Vec<&str> = used.iter().map(String::as_str).collect();
    assert_eq!(used, ["AppState", "Result", "audit", "clock", "dispatcher"]);
}
