//! The `--peers FILE` format: one `host:port` a line, `#` starts a comment, blank lines
//! are fine. A bad line is reported with its number and skipped; the rest still count.

/// Parses the file's text into dial targets and `(line number, problem)` for bad lines.
pub fn parse(text: &str) -> (Vec<String>, Vec<(usize, String)>) {
    let mut targets = Vec::new();
    let mut bad = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        if crate::rules::valid_target(line) {
            if !targets.iter().any(|t| t == line) {
                targets.push(line.to_string());
            }
        } else {
            bad.push((i + 1, format!("{line:?} is not host:port")));
        }
    }
    (targets, bad)
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn lines_comments_and_errors() {
        let text = "# my peers\n127.0.0.1:35035\n\n  pi.local:4000  # the pi\nnonsense\n[::1]:9\n127.0.0.1:35035\nh:0\n";
        let (targets, bad) = parse(text);
        assert_eq!(targets, vec!["127.0.0.1:35035", "pi.local:4000", "[::1]:9"]);
        assert_eq!(bad.iter().map(|(n, _)| *n).collect::<Vec<_>>(), vec![5, 8]);
    }
}
