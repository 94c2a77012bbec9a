//! Strict lowercase hex, the only form ids, keys and tokens take on the wire and on disk.
//!
//! Decoding rejects upper case on purpose: SPEC §4/§7 fix ids as "64 lowercase hex", so
//! `ABCD…` is a different (invalid) string, not the same id spelled differently.

/// Why a hex string was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HexError {
    /// The string does not have the expected number of characters.
    Length { expected: usize, found: usize },
    /// A character outside `0-9a-f` at this byte offset.
    BadChar { at: usize },
}

impl std::fmt::Display for HexError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HexError::Length { expected, found } => {
                write!(f, "expected {expected} hex characters, found {found}")
            }
            HexError::BadChar { at } => write!(f, "not a lowercase hex character at offset {at}"),
        }
    }
}

impl std::error::Error for HexError {}

const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Lowercase hex of `bytes`.
pub fn encode(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 0x0f)] as char);
    }
    s
}

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

/// Decodes exactly `N` bytes from `2 * N` lowercase hex characters.
pub fn decode_array<const N: usize>(s: &str) -> Result<[u8; N], HexError> {
    let raw = s.as_bytes();
    if raw.len() != 2 * N {
        return Err(HexError::Length {
            expected: 2 * N,
            found: raw.len(),
        });
    }
    let mut out = [0u8; N];
    for (i, pair) in raw.chunks_exact(2).enumerate() {
        let hi = nibble(pair[0]).ok_or(HexError::BadChar { at: 2 * i })?;
        let lo = nibble(pair[1]).ok_or(HexError::BadChar { at: 2 * i + 1 })?;
        out[i] = (hi << 4) | lo;
    }
    Ok(out)
}

/// True when `s` is exactly `len` lowercase hex characters.
pub fn is_lower_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|c| nibble(c).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let bytes = [0x00, 0x01, 0xab, 0xff];
        assert_eq!(encode(&bytes), "0001abff");
        assert_eq!(decode_array::<4>("0001abff"), Ok(bytes));
    }

    #[test]
    fn rejects_upper_case_and_wrong_length() {
        assert_eq!(decode_array::<2>("ABCD"), Err(HexError::BadChar { at: 0 }));
        assert_eq!(
            decode_array::<2>("abc"),
            Err(HexError::Length {
                expected: 4,
                found: 3
            })
        );
        assert!(!is_lower_hex("abcG", 4));
        assert!(is_lower_hex("abcd", 4));
    }
}
