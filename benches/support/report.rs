//! Checks that a benchmark report states only what its run measured.
//!
//! A generated report (docs/BENCHMARKS.md) must not recite figures from elsewhere: an old
//! profile, another program's results, numbers from an issue. Those belong in the
//! hand-written docs/BENCHMARKS-NOTES.md. Two checks, run by the `--quick` smoke runs
//! (`make test`):
//!
//! - [`recited`]: a paragraph built by a function of the run's measurements is rendered
//!   twice, from two different sets of measurements. A number that appears in both is
//!   fixed text, so it must be one the caller declares: a target, the benchmark's own
//!   configuration, or a constant of the node (each named where it is declared).
//! - [`outside_markers`]: phrases that only recited figures use.

/// Phrases that mark a figure taken from outside the run.
pub const OUTSIDE_MARKERS: &[&str] = &[
    "87d0106",
    "Go original",
    "Reference,",
    "from the issue",
    "not this run",
];

/// The markers of [`OUTSIDE_MARKERS`] that `text` contains.
pub fn outside_markers(text: &str) -> Vec<&'static str> {
    OUTSIDE_MARKERS
        .iter()
        .copied()
        .filter(|m| text.contains(m))
        .collect()
}

/// The numbers in `text`: runs of digits, with `,` between digits and one `.` before a
/// digit kept inside. Digits right after a letter or `§` are part of a name (`p99`,
/// `X25519`, `SHA256`, `§7`), not figures, and are skipped.
pub fn numbers(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let name = i > 0 && (chars[i - 1] == '§' || chars[i - 1].is_alphabetic());
        let start = i;
        while i < chars.len()
            && (chars[i].is_ascii_digit()
                || ((chars[i] == ',' || chars[i] == '.')
                    && chars.get(i + 1).is_some_and(char::is_ascii_digit)))
        {
            i += 1;
        }
        if !name {
            out.push(chars[start..i].iter().collect());
        }
    }
    out
}

/// Numbers found in both renders (as many times as in both) that `allowed` does not
/// list: fixed text stating a figure this run did not measure. `allowed` pairs each
/// declared number with where it comes from.
pub fn recited(a: &str, b: &str, allowed: &[(&str, &str)]) -> Vec<String> {
    let mut in_b = numbers(b);
    let mut fixed = Vec::new();
    for n in numbers(a) {
        if let Some(i) = in_b.iter().position(|m| *m == n) {
            in_b.swap_remove(i);
            if !allowed.iter().any(|(m, _)| *m == n) {
                fixed.push(n);
            }
        }
    }
    fixed
}

/// Panics, naming what was found, when the two renders of one paragraph share an
/// undeclared number or either contains an outside marker.
pub fn assert_measured_only(what: &str, a: &str, b: &str, allowed: &[(&str, &str)]) {
    let fixed = recited(a, b, allowed);
    assert!(
        fixed.is_empty(),
        "{what}: the numbers {fixed:?} do not change with the measurements: a figure this \
         run did not measure (move it to docs/BENCHMARKS-NOTES.md) or a constant to \
         declare; text:\n{a}"
    );
    for text in [a, b] {
        let markers = outside_markers(text);
        assert!(
            markers.is_empty(),
            "{what}: recites figures from outside the run ({markers:?}):\n{text}"
        );
    }
}

/// The check checks: a recited figure is caught, measured and declared ones pass.
pub fn self_test() {
    assert_eq!(
        numbers("§7: p99 of 1,000 × 100 B in 0.25 ms, 16,384 ops."),
        ["1,000", "100", "0.25", "16,384"]
    );
    let render = |rate: f64| format!("{rate:.0} msg/s at window 100; the old one did 8,600/s.");
    let window = ("100", "the window");
    assert_eq!(
        recited(&render(123.0), &render(456.0), &[window]),
        ["8,600"]
    );
    let old = ("8,600", "declared");
    assert!(recited(&render(123.0), &render(456.0), &[window, old]).is_empty());
    assert_eq!(outside_markers("as the Go original did"), ["Go original"]);
}
