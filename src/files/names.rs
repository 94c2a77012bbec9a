//! File names from peers are never paths: [`sanitize`] keeps a short, harmless name,
//! and [`candidate`] picks `name (1).ext` on a collision.

/// Longest name kept, in bytes (ext4 and most file systems allow 255).
pub const MAX_NAME_BYTES: usize = 200;

/// Whether `c` is kept in a name: no separators, NUL or controls, no bidi overrides,
/// isolates or marks, no zero-width characters that hide an extension.
fn allowed(c: char) -> bool {
    !(c.is_control()
        || matches!(c, '/' | '\\' | ':')
        || matches!(
            c,
            '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
                | '\u{061c}' | '\u{feff}'
        ))
}

/// A name safe to create in the downloads folder: the sender's name without path
/// separators, NUL, control or bidi characters, leading dots or spaces, cut to
/// [`MAX_NAME_BYTES`] (keeping a short extension), never empty, `.` or `..`.
pub fn sanitize(name: &str) -> String {
    let cleaned: String = name.chars().filter(|&c| allowed(c)).collect();
    let cleaned = cleaned.trim_start_matches(['.', ' ']).trim_end();
    let cleaned = if cleaned.len() > MAX_NAME_BYTES {
        let (stem, ext) = split_ext(cleaned);
        let ext = if ext.len() <= 16 { ext } else { "" };
        let mut stem = stem.to_string();
        let room = MAX_NAME_BYTES - ext.len();
        while stem.len() > room {
            stem.pop();
        }
        format!("{stem}{ext}")
    } else {
        cleaned.to_string()
    };
    if cleaned.is_empty() {
        "file".into()
    } else if reserved_on_windows(&cleaned) {
        format!("_{cleaned}")
    } else {
        cleaned
    }
}

/// Names Windows keeps for devices, with any extension (`con`, `NUL.txt`, `com1.log`):
/// harmless here, but a file so named cannot be opened or copied on Windows, where a
/// received file may well go next (a share, a USB stick).
fn reserved_on_windows(name: &str) -> bool {
    let stem = name.split('.').next().unwrap_or("").trim_end();
    let up = stem.to_ascii_uppercase();
    let numbered = |prefix: &str| {
        up.len() == 4 && up.starts_with(prefix) && matches!(up.as_bytes()[3], b'1'..=b'9')
    };
    matches!(up.as_str(), "CON" | "PRN" | "AUX" | "NUL") || numbered("COM") || numbered("LPT")
}

/// `name` for `n == 0`, else `stem (n).ext`.
pub fn candidate(name: &str, n: u32) -> String {
    if n == 0 {
        return name.to_string();
    }
    let (stem, ext) = split_ext(name);
    format!("{stem} ({n}){ext}")
}

/// `("photo", ".jpg")`; a name without a dot (or only a leading one) has no extension.
fn split_ext(name: &str) -> (&str, &str) {
    match name.rfind('.') {
        Some(i) if i > 0 => name.split_at(i),
        _ => (name, ""),
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn names_windows_keeps_for_devices_get_a_prefix() {
        for (given, kept) in [
            ("con", "_con"),
            ("NUL.txt", "_NUL.txt"),
            ("com1.log", "_com1.log"),
            ("LPT9", "_LPT9"),
            ("console.txt", "console.txt"),
            ("com0", "com0"),
            ("com10", "com10"),
            ("my con", "my con"),
        ] {
            assert_eq!(sanitize(given), kept, "{given}");
        }
    }

    use super::*;

    #[test]
    fn paths_controls_bidi_and_dots_are_gone() {
        assert_eq!(sanitize("../../etc/passwd"), "etcpasswd");
        assert_eq!(sanitize("..\\..\\boot.ini"), "boot.ini");
        assert_eq!(sanitize(".bashrc"), "bashrc");
        assert_eq!(sanitize("a\0b\nc\x1b[31m"), "abc[31m");
        // U+202E RIGHT-TO-LEFT OVERRIDE makes "invoice_gpj.exe" look like a .jpg.
        assert_eq!(sanitize("invoice_\u{202e}gpj.exe"), "invoice_gpj.exe");
        assert_eq!(sanitize("x\u{2066}y\u{200b}z"), "xyz");
        assert_eq!(sanitize(""), "file");
        assert_eq!(sanitize(".."), "file");
        assert_eq!(sanitize("/"), "file");
        assert_eq!(sanitize("  . "), "file");
        assert_eq!(sanitize("кот 🐱.png"), "кот 🐱.png");
    }

    #[test]
    fn long_names_are_cut_on_a_char_boundary_keeping_the_extension() {
        let long = format!("{}.tar.gz", "é".repeat(5000));
        let s = sanitize(&long);
        assert!(s.len() <= MAX_NAME_BYTES, "{}", s.len());
        assert!(s.ends_with(".gz"), "{s}");
        let s = sanitize(&"n".repeat(10_000));
        assert_eq!(s.len(), MAX_NAME_BYTES);
    }

    #[test]
    fn collisions_number_before_the_extension() {
        assert_eq!(candidate("cat.png", 0), "cat.png");
        assert_eq!(candidate("cat.png", 1), "cat (1).png");
        assert_eq!(candidate("README", 2), "README (2)");
        assert_eq!(candidate("a.tar.gz", 1), "a.tar (1).gz");
    }
}
