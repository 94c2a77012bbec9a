//! Benchmark reports measure, never recite (issue 15, point 8): no text that
//! `scripts/bench.sh` or a benchmark program prints may quote a figure from outside the
//! run (the Go original's numbers, an old commit's profile). Those live in the
//! hand-written docs/BENCHMARKS-NOTES.md. The paragraphs themselves are checked by the
//! benchmarks' `--quick` runs (benches/support/report.rs); this test scans the sources
//! for the phrases such quotes use, so one cannot come back unnoticed.

#[path = "../benches/support/report.rs"]
#[allow(dead_code)]
mod report;

use std::path::Path;

/// The generators: every benchmark program, its support code, and the script.
fn generators() -> Vec<std::path::PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("scripts/bench.sh")];
    for dir in ["benches", "benches/support"] {
        for entry in std::fs::read_dir(root.join(dir)).expect("benches dir") {
            let path = entry.expect("dir entry").path();
            // report.rs lists the phrases it looks for.
            if path.extension().is_some_and(|e| e == "rs") && !path.ends_with("report.rs") {
                files.push(path);
            }
        }
    }
    files
}

#[test]
fn generators_do_not_recite_outside_figures() {
    let files = generators();
    assert!(files.len() > 5, "found only {files:?}");
    let mut found = Vec::new();
    for path in &files {
        let text = std::fs::read_to_string(path).expect("read generator");
        for (i, line) in text.lines().enumerate() {
            for marker in report::outside_markers(line) {
                found.push(format!("{}:{}: {marker:?}", path.display(), i + 1));
            }
        }
    }
    assert!(
        found.is_empty(),
        "figures from outside the run in the report generators (move them to \
         docs/BENCHMARKS-NOTES.md):\n{}",
        found.join("\n")
    );
}

#[test]
fn the_check_catches_a_recited_figure() {
    report::self_test();
}
