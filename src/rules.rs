//! Rules that more than one layer applies, in one place: display names, message text
//! length, dial targets, and how an id is shortened for logs.
//!
//! The peer protocol (`peer::inner`, `peer::hand`), the state thread (UI `rename`,
//! `send`, `connect`), the CLI and the data dir all check against these, so a peer
//! cannot get a name accepted that the user's own `rename` refuses, and a limit cannot
//! drift between two copies.

use std::fmt;

/// Largest message text in bytes of UTF-8: SPEC §9 "Max message text 64 KiB", §5 `send`.
pub const MAX_TEXT_LEN: usize = 65_536;
/// Longest display name in characters (Unicode scalar values): SPEC §5 `rename`, §7 HAND.
pub const MAX_NAME_CHARS: usize = 64;

/// Why a display name was refused (in `rename`, `--name`, `HAND`, `NAME`, `LIST`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameError {
    /// The name is empty or only white space.
    Empty,
    /// The name has more than [`MAX_NAME_CHARS`] characters.
    TooLong {
        /// Its length in characters.
        chars: usize,
    },
    /// The name contains a control character (newline, escape, NUL, …).
    Control,
    /// The name contains an invisible formatting character: a bidi override or
    /// isolate, or a zero-width one other than ZWJ/ZWNJ ([`is_refused_format`]).
    Invisible,
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameError::Empty => write!(f, "the name is empty"),
            NameError::TooLong { chars } => write!(
                f,
                "the name has {chars} characters (at most {MAX_NAME_CHARS})"
            ),
            NameError::Control => write!(f, "the name contains a control character"),
            NameError::Invisible => write!(
                f,
                "the name contains an invisible character (a bidi override or a zero-width space)"
            ),
        }
    }
}

impl std::error::Error for NameError {}

/// Checks a display name: 1..=[`MAX_NAME_CHARS`] characters, not blank, no control
/// characters.
///
/// SPEC §5 fixes the length in chars. The rest is ours: names end up in logs, terminals
/// (`purr peers`) and the UI, where a newline or an escape sequence from a remote peer
/// could forge lines or recolour a terminal, and a blank name cannot be told apart in a
/// list. Message text, unlike names, is kept byte-exact.
pub fn validate_name(name: &str) -> Result<(), NameError> {
    if name.trim().is_empty() {
        return Err(NameError::Empty);
    }
    let chars = name.chars().count();
    if chars > MAX_NAME_CHARS {
        return Err(NameError::TooLong { chars });
    }
    if name.chars().any(char::is_control) {
        return Err(NameError::Control);
    }
    if name.chars().any(is_refused_format) {
        return Err(NameError::Invisible);
    }
    Ok(())
}

/// Longest caption a node sends with a file, in characters (issue 17). The wire allows
/// more (`FOFR.caption` ≤ 65,536 bytes, docs/PROTOCOL.md §6); a longer one from a peer
/// is cut to this.
pub const MAX_CAPTION_CHARS: usize = 1024;

/// Checks the user's caption for a file: 1..=[`MAX_CAPTION_CHARS`] characters, not
/// blank, no control characters but line breaks and tabs, none of the invisible ones a
/// name may not hold ([`is_refused_format`]): a caption sits under a file's name, where
/// a bidi override could make `cat.png` read as another name.
pub fn validate_caption(caption: &str) -> Result<(), String> {
    if caption.trim().is_empty() {
        return Err("the caption is empty".into());
    }
    let chars = caption.chars().count();
    if chars > MAX_CAPTION_CHARS {
        return Err(format!(
            "the caption has {chars} characters (at most {MAX_CAPTION_CHARS})"
        ));
    }
    if caption.chars().any(refused_in_caption_control) {
        return Err("the caption contains a control character".into());
    }
    if caption.chars().any(is_refused_format) {
        return Err(
            "the caption contains an invisible character (a bidi override or a zero-width space)"
                .into(),
        );
    }
    Ok(())
}

/// A control character a caption may not hold: all but line breaks and tabs.
fn refused_in_caption_control(c: char) -> bool {
    c.is_control() && c != '\n' && c != '\t'
}

/// A peer's caption as it is kept: what [`validate_caption`] would refuse is dropped
/// (controls but line breaks and tabs, invisible characters), cut to
/// [`MAX_CAPTION_CHARS`], trimmed; `None` when nothing is left. An offer is never refused
/// for its caption.
pub fn clean_caption(caption: &str) -> Option<String> {
    let kept: String = caption
        .chars()
        .filter(|&c| !refused_in_caption_control(c) && !is_refused_format(c))
        .take(MAX_CAPTION_CHARS)
        .collect();
    let kept = kept.trim();
    (!kept.is_empty()).then(|| kept.to_string())
}

/// Invisible characters a name may not contain (issue 16, point 9), on every path: a
/// peer's `HAND`, `NAME` and `LIST`, the user's `rename` and `--name`.
///
/// - bidi embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069) and the
///   marks U+200E, U+200F, U+061C: they reorder what follows, so "alice\u{202E}cod.exe"
///   shows as another name, in the UI and in a terminal;
/// - zero-width and invisible characters that only hide a difference: U+200B (zero-width
///   space), U+2060–U+2064 (word joiner, invisible operators), U+FEFF (BOM), U+00AD
///   (soft hyphen), U+034F, U+115F, U+1160, U+3164, U+FFA0 (fillers that render as
///   nothing), U+180E, and the variation selectors are *not* in this list (emoji need
///   them).
///
/// Kept on purpose: **ZWJ (U+200D)** joins emoji sequences (👩‍💻, 🏳️‍🌈) and
/// **ZWNJ (U+200C)** is required by Persian and several Indic scripts. Whatever they
/// hide is caught by [`name_skeleton`], which drops them, so two names that differ
/// only by one still conflict.
pub fn is_refused_format(c: char) -> bool {
    matches!(
        c,
        '\u{202A}'..='\u{202E}'
            | '\u{2066}'..='\u{2069}'
            | '\u{200E}'
            | '\u{200F}'
            | '\u{061C}'
            | '\u{200B}'
            | '\u{2060}'..='\u{2064}'
            | '\u{FEFF}'
            | '\u{00AD}'
            | '\u{034F}'
            | '\u{115F}'
            | '\u{1160}'
            | '\u{3164}'
            | '\u{FFA0}'
            | '\u{180E}'
    )
}

/// A name as it is kept and shown: in Unicode NFC (one spelling for `é` whether it came
/// composed or as `e` + U+0301), without leading and trailing white space (`"quinn "` is
/// `"quinn"`). Applied to every name the node keeps: a peer's (`HAND`, `NAME`) and its
/// own (`rename`, `--name`). Never cuts: a name too long stays too long, and
/// [`validate_name`] refuses it. NFC can lengthen a string in rare cases (a few
/// characters are excluded from composition and decompose); a name within the limit
/// that NFC would push past it is kept as it came, so it stays valid.
pub fn normalize_name(name: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    let trimmed = name.trim();
    let nfc: String = trimmed.nfc().collect();
    let fits = |s: &str| s.chars().count() <= MAX_NAME_CHARS;
    if fits(&nfc) || !fits(trimmed) {
        nfc
    } else {
        trimmed.to_string()
    }
}

/// What a name looks like, for `name_conflict` (SPEC §5): names with the same skeleton
/// are flagged, since a reader cannot tell them apart. A small hand-written fold, not
/// Unicode's full confusables table (UTS #39): lower case; fullwidth ASCII as ASCII;
/// combining marks, ZWJ/ZWNJ, variation selectors and white space dropped; common
/// Cyrillic and Greek look-alikes of Latin letters as those letters; `0` as `o`, `1`,
/// `i`, `|` as `l`; `rn` as `m`, `vv` as `w`. So `"quinn "`, `"QUINN"`, `"quіnn"`
/// (Cyrillic і) and `"qu1nn"` all conflict with `"quinn"`. False positives only cost a
/// warning; the fingerprint is what proves who a peer is.
pub fn name_skeleton(name: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    let mut out = String::with_capacity(name.len());
    // NFKD first: compatibility forms (fullwidth, ligatures, superscripts) become their
    // plain letters and accents become separate marks, which the fold below drops.
    for c in name.nfkd().flat_map(char::to_lowercase) {
        let c = match c {
            '\u{FF01}'..='\u{FF5E}' => {
                char::from_u32(u32::from(c) - 0xFEE0).map_or(c, |a| a.to_ascii_lowercase())
            }
            _ => c,
        };
        if c.is_whitespace()
            || ('\u{0300}'..='\u{036F}').contains(&c)
            || ('\u{FE00}'..='\u{FE0F}').contains(&c)
            || matches!(c, '\u{200C}' | '\u{200D}')
        {
            continue;
        }
        out.push(look_alike(c));
    }
    out.replace("rn", "m").replace("vv", "w")
}

/// The Latin letter a character is commonly mistaken for (itself otherwise).
fn look_alike(c: char) -> char {
    match c {
        // Cyrillic
        'а' => 'a',
        'в' | 'ь' => 'b',
        'с' | 'ϲ' => 'c',
        'ԁ' => 'd',
        'е' | 'ё' | 'є' => 'e',
        'һ' | 'н' => 'h',
        'і' | 'ї' | 'ӏ' | 'ι' | 'ί' | 'i' | 'l' | '1' | '|' => 'l',
        'ј' => 'j',
        'к' | 'κ' => 'k',
        'м' => 'm',
        'о' | 'ο' | 'ό' | 'σ' | '0' => 'o',
        'р' | 'ρ' => 'p',
        'ԛ' => 'q',
        'ѕ' => 's',
        'т' | 'τ' => 't',
        'у' | 'γ' => 'y',
        'υ' | 'μ' => 'u',
        'ѵ' | 'ν' => 'v',
        'ԝ' | 'ω' => 'w',
        'х' | 'χ' => 'x',
        // Greek
        'α' => 'a',
        'β' => 'b',
        'ε' => 'e',
        'η' => 'n',
        'ζ' => 'z',
        other => other,
    }
}

/// `host:port` with a non-empty host and a port 1..=65535 (IPv6 in brackets): what
/// `--connect`, `--peers` lines and the UI's `connect` accept.
pub fn valid_target(addr: &str) -> bool {
    match addr.rsplit_once(':') {
        Some((host, port)) => {
            !host.is_empty()
                && host.len() <= 255
                && !host.chars().any(char::is_whitespace)
                && port.parse::<u16>().is_ok_and(|p| p != 0)
        }
        None => false,
    }
}

/// How far before our receive time a peer's `MESS` `ts` may lie (docs/PROTOCOL.md §6):
/// a message can wait in its sender's outbox for months; older is clamped to this.
pub const TS_MAX_PAST_MS: i64 = 365 * 24 * 3_600_000;
/// How far after our receive time a peer's `ts` may lie: clocks off by hours still show
/// their own time, but `ts` 2^63 − 1 no longer pins a conversation at the top for ever.
pub const TS_MAX_FUTURE_MS: i64 = 24 * 3_600_000;

/// The `ts` a received message is stored and shown with: the sender's time (Unix ms)
/// clamped to [`TS_MAX_PAST_MS`] before and [`TS_MAX_FUTURE_MS`] after `received_ms`
/// (our clock when it arrived). Messages are ordered by our `seq`, never by `ts`; the
/// window keeps what the UI shows and sorts conversations by near the truth, and every
/// `u64` a peer may send (0, 2^63 − 1, 2^64 − 1) in a range a JavaScript `Date` takes.
pub fn clamp_peer_ts(ts: u64, received_ms: i64) -> i64 {
    let ts = i64::try_from(ts).unwrap_or(i64::MAX);
    ts.clamp(
        received_ms.saturating_sub(TS_MAX_PAST_MS),
        received_ms.saturating_add(TS_MAX_FUTURE_MS),
    )
}

/// The first 8 hex characters of an id, for logs.
pub fn short_id(id: &[u8; 32]) -> String {
    crate::hex::encode(&id[..4])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_kept_in_nfc_and_accents_do_not_hide_a_look_alike() {
        // `é` composed (U+00E9) or as `e` + U+0301: one name.
        assert_eq!(normalize_name(" Jose\u{301} "), "Jos\u{e9}");
        assert_eq!(normalize_name("Jos\u{e9}"), "Jos\u{e9}");
        assert_eq!(
            name_skeleton("Jos\u{e9}"),
            name_skeleton("Jose\u{301}"),
            "one spelling"
        );
        // Compatibility forms fold too: a ligature, a superscript.
        assert_eq!(name_skeleton("\u{fb01}le"), name_skeleton("file"));
        // A name too long is not cut (the user's `rename` must see it refused).
        assert_eq!(normalize_name(&"a".repeat(70)), "a".repeat(70));
        assert!(validate_name(&normalize_name(&"x".repeat(65))).is_err());
        // U+0958 is excluded from composition: NFC makes it two characters. A valid
        // name of 64 of them is kept as it came, not made invalid.
        let long = "\u{958}".repeat(MAX_NAME_CHARS);
        assert_eq!(normalize_name(&long), long);
        assert_eq!(validate_name(&normalize_name(&long)), Ok(()));
        assert_eq!(
            normalize_name(&normalize_name(" Jose\u{301} ")),
            "Jos\u{e9}"
        );
    }

    #[test]
    fn names_count_chars_not_bytes_and_refuse_blanks_and_controls() {
        assert_eq!(validate_name("bob"), Ok(()));
        assert_eq!(validate_name(&"é".repeat(64)), Ok(()));
        assert_eq!(
            validate_name(&"é".repeat(65)),
            Err(NameError::TooLong { chars: 65 })
        );
        assert_eq!(validate_name(""), Err(NameError::Empty));
        assert_eq!(validate_name("   "), Err(NameError::Empty));
        assert_eq!(validate_name("a\nb"), Err(NameError::Control));
        assert_eq!(validate_name("\u{1b}[31m"), Err(NameError::Control));
    }

    #[test]
    fn bidi_overrides_and_zero_width_spaces_are_refused_zwj_is_kept() {
        for bad in [
            "alice\u{202E}cod.exe",
            "bob\u{2066}x",
            "a\u{200B}b",
            "\u{FEFF}eve",
            "x\u{200F}",
        ] {
            assert_eq!(validate_name(bad), Err(NameError::Invisible), "{bad:?}");
        }
        assert_eq!(validate_name("👩\u{200D}💻 ada"), Ok(()));
        assert_eq!(validate_name("می\u{200C}خواهم"), Ok(()));
        assert_eq!(validate_name("\u{3164}"), Err(NameError::Invisible));
    }

    #[test]
    fn look_alike_names_have_one_skeleton() {
        let quinn = name_skeleton("quinn");
        for same in [
            "quinn ",
            "QUINN",
            "qu\u{0456}nn",
            "Qu1nn",
            "ｑｕｉｎｎ",
            "qui\u{200D}nn",
            "quin\u{0308}n",
        ] {
            assert_eq!(name_skeleton(same), quinn, "{same:?}");
        }
        assert_eq!(name_skeleton("rnallory"), name_skeleton("mallory"));
        assert_eq!(name_skeleton("раураl"), name_skeleton("paypal"));
        assert_ne!(name_skeleton("quinn"), name_skeleton("quincy"));
        assert_eq!(normalize_name("  quinn \t"), "quinn");
    }

    #[test]
    fn targets() {
        assert!(valid_target("127.0.0.1:35035"));
        assert!(valid_target("[::1]:1"));
        assert!(valid_target("pi.local:35035"));
        assert!(!valid_target("127.0.0.1"));
        assert!(!valid_target(":35035"));
        assert!(!valid_target("host:0"));
        assert!(!valid_target("host:65536"));
        assert!(!valid_target("two words:1"));
    }

    #[test]
    fn a_peers_timestamp_is_kept_within_a_window_around_our_receive_time() {
        let now = 1_764_115_200_000;
        assert_eq!(clamp_peer_ts(now as u64 - 60_000, now), now - 60_000);
        assert_eq!(clamp_peer_ts(now as u64 + 3_600_000, now), now + 3_600_000);
        assert_eq!(clamp_peer_ts(0, now), now - TS_MAX_PAST_MS);
        for far in [i64::MAX as u64, u64::MAX] {
            assert_eq!(clamp_peer_ts(far, now), now + TS_MAX_FUTURE_MS);
        }
        // A node whose own clock reads 0 or the far future does not overflow.
        assert_eq!(clamp_peer_ts(5, 0), 5);
        assert_eq!(clamp_peer_ts(u64::MAX, i64::MAX), i64::MAX);
    }

    #[test]
    fn short_ids_are_the_first_four_bytes_in_hex() {
        let mut id = [0u8; 32];
        id[..4].copy_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(short_id(&id), "deadbeef");
    }

    #[test]
    fn captions_keep_line_breaks_and_lose_what_hides_a_name() {
        assert!(validate_caption("look\nat this 👩‍💻").is_ok());
        assert!(validate_caption("  ").is_err());
        assert!(validate_caption("a\u{1b}[31m").is_err());
        assert!(validate_caption("cat\u{202e}gnp.exe").is_err());
        assert!(validate_caption(&"x".repeat(MAX_CAPTION_CHARS + 1)).is_err());
        assert_eq!(
            clean_caption(" a\u{202e}b\u{0}\nc ").as_deref(),
            Some("ab\nc")
        );
        assert_eq!(clean_caption("\u{200b}"), None);
        let long = clean_caption(&"é".repeat(70_000)).unwrap();
        assert_eq!(long.chars().count(), MAX_CAPTION_CHARS);
    }
}
