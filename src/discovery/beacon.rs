//! The beacon datagram of SPEC §4, parsed and emitted without I/O.
//!
//! ```text
//!   m e o w : <64 lowercase hex: the node id> : <tcp port, 1..=65535>
//!   └─ 5 ──┘ └──────────────── 64 ──────────┘ 1 └──── 1..=5 digits ─┘   ≤ 75 bytes
//! ```
//!
//! Parsing is strict: the datagram is untrusted input from anyone on the LAN, and there
//! is exactly one valid spelling of each beacon, the one [`Beacon::emit`] writes. So
//! upper-case hex, a sign, leading zeros (`080`), spaces, a trailing newline, or anything
//! after the port are all rejected, not repaired. Rejecting leading zeros is our choice
//! where SPEC §4 is silent: no emitter writes them, and accepting them would give one
//! beacon many spellings for nothing.

use std::fmt;

use crate::identity::NodeId;

/// SPEC §4: the payload starts with this.
pub const PREFIX: &[u8] = b"meow:";
/// SPEC §4: datagrams longer than this are ignored unread.
pub const MAX_LEN: usize = 128;
/// The id in hex: 32 bytes.
const ID_HEX_LEN: usize = 64;
/// The longest port, `65535`.
const PORT_MAX_DIGITS: usize = 5;

/// Byte ranges of a beacon (STYLE §4: named fields, checked once).
mod field {
    use std::ops::Range;
    pub const ID: Range<usize> = 5..69;
    pub const COLON: usize = 69;
    pub const PORT_START: usize = 70;
}

/// A valid beacon: who is announcing itself, and its TCP port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Beacon {
    pub id: NodeId,
    pub port: u16,
}

/// Why a datagram is not a beacon. Every one means "ignore it"; the kinds exist for
/// tests and debug logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BeaconError {
    /// Over [`MAX_LEN`] bytes.
    TooLong,
    /// Does not start with `meow:`.
    Prefix,
    /// Shorter than a beacon can be.
    Truncated,
    /// The id is not 64 lowercase hex digits.
    Id,
    /// No `:` right after the id.
    Separator,
    /// The port is not 1..=65535 in plain decimal (no sign, no leading zero, nothing after).
    Port,
}

impl fmt::Display for BeaconError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BeaconError::TooLong => "longer than 128 bytes",
            BeaconError::Prefix => "not starting with meow:",
            BeaconError::Truncated => "truncated",
            BeaconError::Id => "id is not 64 lowercase hex digits",
            BeaconError::Separator => "no ':' after the id",
            BeaconError::Port => "port is not 1..=65535 in plain decimal",
        })
    }
}

impl std::error::Error for BeaconError {}

impl Beacon {
    /// Checks `datagram` and returns the beacon it carries.
    pub fn parse(datagram: &[u8]) -> Result<Beacon, BeaconError> {
        if datagram.len() > MAX_LEN {
            return Err(BeaconError::TooLong);
        }
        if !datagram.starts_with(PREFIX) {
            return Err(BeaconError::Prefix);
        }
        if datagram.len() <= field::PORT_START {
            return Err(BeaconError::Truncated);
        }
        let id = parse_id(&datagram[field::ID]).ok_or(BeaconError::Id)?;
        if datagram[field::COLON] != b':' {
            return Err(BeaconError::Separator);
        }
        let port = parse_port(&datagram[field::PORT_START..]).ok_or(BeaconError::Port)?;
        Ok(Beacon { id, port })
    }

    /// The datagram, exactly as SPEC §4 writes it.
    pub fn emit(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(field::PORT_START + PORT_MAX_DIGITS);
        out.extend_from_slice(PREFIX);
        out.extend_from_slice(crate::hex::encode(&self.id).as_bytes());
        out.push(b':');
        out.extend_from_slice(self.port.to_string().as_bytes());
        out
    }
}

/// 64 lowercase hex digits → 32 bytes; anything else → `None`.
fn parse_id(hex: &[u8]) -> Option<NodeId> {
    if hex.len() != ID_HEX_LEN {
        return None;
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let mut id = [0u8; 32];
    for (byte, pair) in id.iter_mut().zip(hex.chunks_exact(2)) {
        *byte = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(id)
}

/// `1`..=`65535`, ASCII digits only, no leading zero; anything else → `None`.
fn parse_port(digits: &[u8]) -> Option<u16> {
    if digits.is_empty()
        || digits.len() > PORT_MAX_DIGITS
        || digits[0] == b'0'
        || !digits.iter().all(u8::is_ascii_digit)
    {
        return None;
    }
    let value = digits
        .iter()
        .fold(0u32, |n, d| n * 10 + u32::from(d - b'0'));
    u16::try_from(value).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

    fn id() -> NodeId {
        crate::hex::decode_array::<32>(HEX).unwrap()
    }

    fn parse(s: &str) -> Result<Beacon, BeaconError> {
        Beacon::parse(s.as_bytes())
    }

    #[test]
    fn emits_the_spec_format_and_parses_it_back() {
        let b = Beacon {
            id: id(),
            port: 35035,
        };
        let bytes = b.emit();
        assert_eq!(bytes, format!("meow:{HEX}:35035").as_bytes());
        assert_eq!(Beacon::parse(&bytes), Ok(b));
        for port in [1, 9, 10, 80, 65535] {
            let b = Beacon { id: id(), port };
            assert_eq!(Beacon::parse(&b.emit()), Ok(b));
        }
    }

    #[test]
    fn port_range_is_1_to_65535() {
        assert_eq!(parse(&format!("meow:{HEX}:0")), Err(BeaconError::Port));
        assert_eq!(parse(&format!("meow:{HEX}:65536")), Err(BeaconError::Port));
        assert_eq!(parse(&format!("meow:{HEX}:99999")), Err(BeaconError::Port));
        assert_eq!(parse(&format!("meow:{HEX}:100000")), Err(BeaconError::Port));
        assert_eq!(parse(&format!("meow:{HEX}:65535")).unwrap().port, 65535);
    }

    #[test]
    fn port_is_plain_decimal() {
        for bad in [
            "+80", "-80", " 80", "80 ", "0x50", "8a", "080", "00", "1_0", "٣",
        ] {
            assert_eq!(
                parse(&format!("meow:{HEX}:{bad}")),
                Err(BeaconError::Port),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn trailing_bytes_are_rejected() {
        for tail in ["\n", "\r\n", "\0", ":", " ", "x"] {
            assert_eq!(
                parse(&format!("meow:{HEX}:35035{tail}")),
                Err(BeaconError::Port),
                "{tail:?}"
            );
        }
    }

    #[test]
    fn id_must_be_64_lowercase_hex() {
        let upper = HEX.to_uppercase();
        assert_eq!(parse(&format!("meow:{upper}:1")), Err(BeaconError::Id));
        let mut one_upper = HEX.to_string();
        one_upper.replace_range(20..21, "A");
        assert_eq!(parse(&format!("meow:{one_upper}:1")), Err(BeaconError::Id));
        let not_hex = HEX.replace('a', "g");
        assert_eq!(parse(&format!("meow:{not_hex}:1")), Err(BeaconError::Id));
        // 63 digits: the separator lands inside the id.
        assert_eq!(
            parse(&format!("meow:{}:1234", &HEX[1..])),
            Err(BeaconError::Id)
        );
        // 65 digits: the separator is not where it belongs.
        assert_eq!(
            parse(&format!("meow:{HEX}0:1234")),
            Err(BeaconError::Separator)
        );
    }

    #[test]
    fn truncated_beacons_are_rejected() {
        let full = format!("meow:{HEX}:35035");
        for len in 0..full.len() - 5 {
            assert!(parse(&full[..len]).is_err(), "{len} bytes");
        }
        assert_eq!(parse(&format!("meow:{HEX}:")), Err(BeaconError::Truncated));
        assert_eq!(parse(&format!("meow:{HEX}")), Err(BeaconError::Truncated));
        assert_eq!(parse("meow:"), Err(BeaconError::Truncated));
        assert_eq!(parse(""), Err(BeaconError::Prefix));
    }

    #[test]
    fn wrong_prefix_is_rejected() {
        for p in ["Meow:", "MEOW:", "moew:", " meow:", "meow;", "purr:"] {
            assert_eq!(
                parse(&format!("{p}{HEX}:1")),
                Err(BeaconError::Prefix),
                "{p}"
            );
        }
    }

    #[test]
    fn over_long_datagrams_are_rejected_before_parsing() {
        let mut long = format!("meow:{HEX}:1").into_bytes();
        long.resize(MAX_LEN + 1, b'0');
        assert_eq!(Beacon::parse(&long), Err(BeaconError::TooLong));
        assert_eq!(Beacon::parse(&[b'x'; 2048]), Err(BeaconError::TooLong));
    }

    #[test]
    fn non_utf8_is_rejected() {
        let mut b = format!("meow:{HEX}:1").into_bytes();
        b[10] = 0xff;
        assert_eq!(Beacon::parse(&b), Err(BeaconError::Id));
        let mut b = format!("meow:{HEX}:12").into_bytes();
        b[71] = 0xc3;
        assert_eq!(Beacon::parse(&b), Err(BeaconError::Port));
        assert_eq!(Beacon::parse(&[0xff; 75]), Err(BeaconError::Prefix));
    }
}
