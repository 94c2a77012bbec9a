//! The rooms stay honest (docs/ARCHITECTURE.md, "Modules: who owns what"): threads meet
//! only in `bus`, the protocol does no I/O and knows no node state, the store speaks
//! domain types. This test reads the source and fails when an import crosses a wall,
//! naming the file, the line and the rule.

use std::path::{Path, PathBuf};

/// (folder or file under src/, paths it must not name, why).
const RULES: &[(&str, &[&str], &str)] = &[
    (
        "peer",
        &[
            "crate::state",
            "crate::listener",
            "crate::conn",
            "crate::store",
            "crate::http",
            "crate::ws",
            "crate::discovery",
            "crate::node",
            "crate::bus",
            "crate::api",
        ],
        "the protocol is I/O-free and knows no node state",
    ),
    (
        "state",
        &[
            "crate::conn",
            "crate::listener",
            "crate::http",
            "crate::ws",
            "crate::discovery",
            "crate::node",
        ],
        "the state meets connection threads only in crate::bus",
    ),
    (
        "conn",
        &[
            "crate::state",
            "crate::listener",
            "crate::http",
            "crate::ws",
            "crate::store",
        ],
        "connection threads meet the state only in crate::bus",
    ),
    (
        "discovery",
        &[
            "crate::state",
            "crate::conn",
            "crate::listener",
            "crate::store",
        ],
        "discovery only sends commands (crate::bus)",
    ),
    (
        "store",
        &[
            "crate::api",
            "crate::http",
            "crate::ws",
            "crate::conn",
            "crate::state",
            "crate::bus",
        ],
        "the store speaks domain types, not the UI's JSON, and knows no threads",
    ),
    (
        "groups",
        &[
            "crate::state",
            "crate::conn",
            "crate::store",
            "crate::http",
            "crate::ws",
            "crate::listener",
            "crate::bus",
        ],
        "group rules are pure: no I/O, no node state",
    ),
    (
        "files",
        &[
            "crate::state",
            "crate::conn",
            "crate::store",
            "crate::http",
            "crate::ws",
            "crate::listener",
        ],
        "file workers meet the state only in crate::bus",
    ),
    (
        "http",
        &["crate::state", "crate::conn", "crate::store"],
        "HTTP threads meet the state only in crate::bus",
    ),
    (
        "ws",
        &["crate::state", "crate::conn", "crate::store"],
        "WebSocket threads meet the state only in crate::bus",
    ),
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a line, without a `//` comment (doc comments may name other modules).
fn code(line: &str) -> &str {
    match line.find("//") {
        Some(i) => &line[..i],
        None => line,
    }
}

#[test]
fn no_import_crosses_a_wall() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut broken = Vec::new();
    let mut checked = 0;
    for (room, forbidden, why) in RULES {
        let mut files = Vec::new();
        rust_files(&src.join(room), &mut files);
        assert!(
            !files.is_empty(),
            "src/{room} has no Rust files: rule out of date"
        );
        for file in files {
            checked += 1;
            let text = std::fs::read_to_string(&file).expect("readable source");
            for (n, line) in text.lines().enumerate() {
                let line = code(line);
                // `use crate::{a, b}` groups: each name counts as `crate::name`.
                let grouped: Vec<String> = match line.trim().strip_prefix("use crate::{") {
                    Some(rest) => rest
                        .split([',', '}', ' ', ';'])
                        .filter(|s| !s.is_empty())
                        .map(|s| format!("crate::{s}"))
                        .collect(),
                    None => Vec::new(),
                };
                for f in *forbidden {
                    let named = line.contains(&format!("{f}::"))
                        || line.contains(&format!("{f};"))
                        || line.contains(&format!("{f}::{{"))
                        || grouped
                            .iter()
                            .any(|g| g == f || g.starts_with(&format!("{f}::")));
                    if named {
                        broken.push(format!(
                            "{}:{}: names {f} ({why})",
                            file.strip_prefix(&src).unwrap_or(&file).display(),
                            n + 1
                        ));
                    }
                }
            }
        }
    }
    assert!(checked > 40, "only {checked} files read");
    assert!(
        broken.is_empty(),
        "imports across the walls:\n{}",
        broken.join("\n")
    );
}
