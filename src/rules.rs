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
    Ok(())
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
}
