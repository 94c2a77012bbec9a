//! JSON helpers shared by the message bodies: strict hex strings and bounded arrays.
//!
//! This module owns two rules that apply to every JSON body a peer sends: byte strings
//! are exactly `2 * N` lowercase hex characters, and arrays are cut off at their limit
//! *while* they are parsed, so a hostile array never becomes a large allocation.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserialize, Deserializer, SeqAccess, Visitor};
use serde::{Serialize, Serializer};

use crate::hex;

/// Appends `value` as compact JSON.
pub(crate) fn write<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    // Cannot fail: the values are structs of strings, integers and sequences (serde_json
    // only errors on non-string map keys or non-finite floats) and writing into a Vec
    // never fails. Logged rather than unwrapped so no input can turn this into a panic.
    if let Err(e) = serde_json::to_writer(&mut *out, value) {
        log::error!("JSON encoding failed: {e}");
    }
}

/// Serializes bytes as a lowercase hex string.
pub(crate) fn ser_hex<S: Serializer, const N: usize>(
    bytes: &[u8; N],
    s: S,
) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode(bytes))
}

/// Deserializes a string of exactly `2 * N` lowercase hex characters.
pub(crate) fn hex_array<'de, const N: usize, D: Deserializer<'de>>(
    d: D,
) -> Result<[u8; N], D::Error> {
    d.deserialize_str(HexVisitor::<N>)
}

struct HexVisitor<const N: usize>;

impl<const N: usize> Visitor<'_> for HexVisitor<N> {
    type Value = [u8; N];

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} lowercase hex characters", 2 * N)
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<[u8; N], E> {
        hex::decode_array(s).map_err(E::custom)
    }
}

/// Deserializes a JSON array, failing as soon as it has more than `max` items, so the
/// `Vec` never grows past the limit whatever the peer sends.
pub(crate) fn bounded<'de, D, T>(d: D, max: usize, what: &'static str) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    d.deserialize_seq(BoundedVisitor {
        max,
        what,
        over: Over::Refuse,
        item: PhantomData,
    })
}

/// Deserializes a JSON array, keeping its first `max` items and skipping the rest
/// (still checked as JSON, never built). For lists where more than the limit is not an
/// error worth closing a good session over (`LIST`, SPEC §7).
pub(crate) fn prefix<'de, D, T>(d: D, max: usize, what: &'static str) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    d.deserialize_seq(BoundedVisitor {
        max,
        what,
        over: Over::Skip,
        item: PhantomData,
    })
}

/// What an array longer than its limit is.
#[derive(Clone, Copy)]
enum Over {
    /// An error.
    Refuse,
    /// Cut: the rest is skipped (the frame limit, 1 MiB, bounds how much there is).
    Skip,
}

struct BoundedVisitor<T> {
    max: usize,
    what: &'static str,
    over: Over,
    item: PhantomData<T>,
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for BoundedVisitor<T> {
    type Value = Vec<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.over {
            Over::Refuse => write!(f, "an array of at most {} {}", self.max, self.what),
            Over::Skip => write!(f, "an array of {}", self.what),
        }
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
        let mut items = Vec::new();
        while items.len() < self.max {
            match seq.next_element()? {
                Some(item) => items.push(item),
                None => return Ok(items),
            }
        }
        // At the limit: one more element of any shape is one too many, or skipped.
        // `IgnoredAny` goes over it without building it.
        match self.over {
            Over::Refuse => match seq.next_element::<de::IgnoredAny>()? {
                Some(_) => Err(de::Error::custom(format!(
                    "more than {} {}",
                    self.max, self.what
                ))),
                None => Ok(items),
            },
            Over::Skip => {
                while seq.next_element::<de::IgnoredAny>()?.is_some() {}
                Ok(items)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(json: &str, max: usize) -> serde_json::Result<Vec<[u8; 2]>> {
        struct Hex2([u8; 2]);
        impl<'de> Deserialize<'de> for Hex2 {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                hex_array::<2, D>(d).map(Hex2)
            }
        }
        let mut de = serde_json::Deserializer::from_str(json);
        let items: Vec<Hex2> = bounded(&mut de, max, "ids")?;
        Ok(items.into_iter().map(|h| h.0).collect())
    }

    #[test]
    fn bounded_arrays_stop_at_the_limit() {
        assert_eq!(
            ids(r#"["0a0b","ffff"]"#, 2).unwrap(),
            [[10, 11], [255, 255]]
        );
        let err = ids(r#"["0a0b","ffff","0000"]"#, 2).unwrap_err();
        assert!(err.to_string().contains("more than 2 ids"), "{err}");
        // The limit is hit before the malformed third item is even looked at.
        let err = ids(r#"["0a0b","ffff",{"huge":[]}]"#, 2).unwrap_err();
        assert!(err.to_string().contains("more than 2 ids"), "{err}");
    }

    #[test]
    fn prefix_arrays_keep_the_first_items_and_skip_the_rest() {
        let mut de = serde_json::Deserializer::from_str(r#"[1,2,3,{"x":[4]},"y"]"#);
        let items: Vec<serde_json::Value> = prefix(&mut de, 2, "numbers").unwrap();
        assert_eq!(items, [1, 2]);
        // What is skipped must still be JSON.
        let mut de = serde_json::Deserializer::from_str("[1,2,3,}");
        assert!(prefix::<_, serde_json::Value>(&mut de, 2, "numbers").is_err());
    }

    #[test]
    fn hex_must_be_exact_and_lowercase() {
        assert!(ids(r#"["0A0B"]"#, 1).is_err());
        assert!(ids(r#"["0a0"]"#, 1).is_err());
        assert!(ids(r#"[10]"#, 1).is_err());
        let mut out = Vec::new();
        let mut ser = serde_json::Serializer::new(&mut out);
        ser_hex(&[0xab, 0x01], &mut ser).unwrap();
        assert_eq!(out, br#""ab01""#);
    }
}
