//! Inner messages: every kind round-trips; malformed bodies of known kinds are errors;
//! unknown kinds are not.

use std::net::SocketAddr;

use purr::peer::inner::{
    Inner, InnerError, ListEntry, Mess, MsgId, NameError, MAX_ADDRS, MAX_IDS, MAX_LIST_ENTRIES,
    MAX_TEXT_LEN,
};

fn encoded(inner: &Inner) -> Vec<u8> {
    let mut out = Vec::new();
    inner.encode(&mut out);
    out
}

fn round_trip(inner: Inner) {
    let bytes = encoded(&inner);
    assert_eq!(
        Inner::parse(&bytes),
        Ok(inner),
        "{}",
        String::from_utf8_lossy(&bytes)
    );
}

fn mess(text: &str) -> Inner {
    Inner::Mess(Mess {
        id: MsgId([0x5a; 16]),
        ts: 1_764_115_200_000,
        text: text.to_owned(),
    })
}

fn entry() -> ListEntry {
    ListEntry {
        id: [0xc3; 32],
        addrs: vec![
            "192.168.1.20:35035".parse().unwrap(),
            "[fe80::1]:35035".parse().unwrap(),
        ],
        name: "carol@nas".into(),
        kinds: Vec::new(),
    }
}

fn is_json_error(bytes: &[u8]) -> bool {
    matches!(Inner::parse(bytes), Err(InnerError::Json { .. }))
}

#[test]
fn every_kind_round_trips() {
    round_trip(Inner::Auth(std::array::from_fn(|i| i as u8)));
    round_trip(Inner::List(vec![
        entry(),
        ListEntry {
            addrs: vec![],
            ..entry()
        },
    ]));
    round_trip(Inner::List(vec![]));
    round_trip(mess("hi"));
    round_trip(Inner::Ackn(vec![MsgId([1; 16]), MsgId([2; 16])]));
    round_trip(Inner::Read(vec![MsgId([3; 16])]));
    round_trip(Inner::Ackn(vec![]));
    round_trip(Inner::Name("Zoë 🐈".into()));
    round_trip(Inner::Ping);
    round_trip(Inner::Pong);
}

#[test]
fn documented_body_shapes() {
    assert_eq!(encoded(&Inner::Ping), b"PING");
    assert_eq!(encoded(&Inner::Name("x".into())), br#"NAME{"name":"x"}"#);
    let ids = encoded(&Inner::Read(vec![MsgId([0xab; 16])]));
    assert_eq!(
        ids,
        format!(r#"READ{{"ids":["{}"]}}"#, "ab".repeat(16)).as_bytes()
    );
    let list = encoded(&Inner::List(vec![entry()]));
    let expected = format!(
        r#"LIST[{{"id":"{}","addrs":["192.168.1.20:35035","[fe80::1]:35035"],"name":"carol@nas"}}]"#,
        "c3".repeat(32)
    );
    assert_eq!(String::from_utf8(list).unwrap(), expected);
}

#[test]
fn unknown_kinds_are_not_errors() {
    assert_eq!(
        Inner::parse(b"TYPE{\"who\":1}"),
        Ok(Inner::Unknown(*b"TYPE"))
    );
    assert_eq!(
        Inner::parse(b"\xff\x00zz"),
        Ok(Inner::Unknown(*b"\xff\x00zz"))
    );
    // Kinds are case-sensitive: "mess" is not MESS.
    assert_eq!(Inner::parse(b"mess not json"), Ok(Inner::Unknown(*b"mess")));
}

#[test]
fn too_short_for_a_kind() {
    assert_eq!(Inner::parse(b"PIN"), Err(InnerError::Short { len: 3 }));
    assert_eq!(Inner::parse(b""), Err(InnerError::Short { len: 0 }));
}

#[test]
fn malformed_known_kinds_are_errors() {
    let mut long_auth = b"AUTH".to_vec();
    long_auth.extend([0; 65]);
    assert_eq!(
        Inner::parse(&long_auth),
        Err(InnerError::AuthLength { len: 65 })
    );
    assert_eq!(
        Inner::parse(&long_auth[..67]),
        Err(InnerError::AuthLength { len: 63 })
    );
    assert_eq!(
        Inner::parse(b"PING!"),
        Err(InnerError::NotEmpty {
            kind: *b"PING",
            len: 1
        })
    );
    assert_eq!(
        Inner::parse(b"PONG{}"),
        Err(InnerError::NotEmpty {
            kind: *b"PONG",
            len: 2
        })
    );
    let id = "0".repeat(32);
    for bad in [
        "MESS".to_owned(),
        "MESS{".to_owned(),
        format!(r#"MESS{{"id":"{id}","ts":1}}"#),
        format!(r#"MESS{{"id":"{id}","ts":-1,"text":"a"}}"#),
        format!(r#"MESS{{"id":"{id}","ts":1.5,"text":"a"}}"#),
        format!(r#"MESS{{"id":"{id}","ts":"1","text":"a"}}"#),
        r#"MESS{"id":"00","ts":1,"text":"a"}"#.to_owned(),
        format!(r#"MESS{{"id":"{id}","ts":1,"text":"a"}}{{}}"#),
        format!(r#"MESS{{"id":"{id}","ts":1,"text":"\ud800"}}"#),
        r#"ACKN{"ids":"nope"}"#.to_owned(),
        format!(r#"ACKN{{"ids":["{}"]}}"#, "g".repeat(32)),
        r#"READ[]"#.to_owned(),
        r#"NAME{"name":7}"#.to_owned(),
        r#"NAME"bob""#.to_owned(),
        r#"LIST{}"#.to_owned(),
        format!(
            r#"LIST[{{"id":"{}","addrs":["nas:35035"],"name":"n"}}]"#,
            "c3".repeat(32)
        ),
        format!(
            r#"LIST[{{"id":"{}","addrs":[],"name":"n"}}]"#,
            "c3".repeat(31)
        ),
    ] {
        assert!(is_json_error(bad.as_bytes()), "accepted {bad}");
    }
}

#[test]
fn extra_json_fields_are_ignored() {
    let id = "5a".repeat(16);
    let body = format!(r#"MESS{{"id":"{id}","ts":1764115200000,"text":"hi","reply_to":null}}"#);
    assert_eq!(Inner::parse(body.as_bytes()), Ok(mess("hi")));
}

#[test]
fn mess_text_is_kept_exactly() {
    round_trip(mess("\0"));
    round_trip(mess("a\0\0b\u{1}\u{7f}\r\n\t\"\\"));
    round_trip(mess("🐱👩‍👩‍👧 мяу ﷽ \u{feff}"));
    let nul_wire = encoded(&mess("x\0y"));
    assert!(String::from_utf8(nul_wire)
        .unwrap()
        .contains(r#""text":"x\u0000y""#));
}

#[test]
fn mess_text_limit_is_64_kib_in_bytes() {
    round_trip(mess(&"a".repeat(MAX_TEXT_LEN)));
    round_trip(mess(&"\0".repeat(MAX_TEXT_LEN))); // 6 bytes each on the wire
                                                  // 16_384 four-byte emoji = exactly 65_536 bytes.
    round_trip(mess(&"🐱".repeat(MAX_TEXT_LEN / 4)));
    let over = encoded(&mess(&"a".repeat(MAX_TEXT_LEN + 1)));
    assert_eq!(
        Inner::parse(&over),
        Err(InnerError::TextTooLong {
            len: MAX_TEXT_LEN + 1
        })
    );
    let over_emoji = format!("{}a", "🐱".repeat(MAX_TEXT_LEN / 4));
    assert!(matches!(
        Inner::parse(&encoded(&mess(&over_emoji))),
        Err(InnerError::TextTooLong { .. })
    ));
    assert_eq!(
        Inner::parse(&encoded(&mess(""))),
        Err(InnerError::EmptyText)
    );
}

#[test]
fn names_are_checked_in_name_and_list() {
    round_trip(Inner::Name("é".repeat(64)));
    let long = Inner::Name("é".repeat(65));
    assert_eq!(
        Inner::parse(&encoded(&long)),
        Err(InnerError::BadName(NameError::TooLong { chars: 65 }))
    );
    // A blank name is refused from a peer as from the user's own `rename` (one rule):
    // `NAME` closes the session; a `LIST` entry is dropped and the session kept (issue
    // 16, point 9: an older honest node may relay such a name).
    for (name, error) in [
        ("", NameError::Empty),
        ("   ", NameError::Empty),
        ("a\u{1b}[2J", NameError::Control),
        ("a\u{202E}b", NameError::Invisible),
    ] {
        assert_eq!(
            Inner::parse(&encoded(&Inner::Name(name.into()))),
            Err(InnerError::BadName(error))
        );
        let list = Inner::List(vec![ListEntry {
            name: name.into(),
            ..entry()
        }]);
        assert_eq!(Inner::parse(&encoded(&list)), Ok(Inner::List(Vec::new())));
    }
}

#[test]
fn list_addresses_need_a_port() {
    let zero: SocketAddr = "10.0.0.1:0".parse().unwrap();
    let list = Inner::List(vec![ListEntry {
        addrs: vec![zero],
        ..entry()
    }]);
    assert_eq!(
        Inner::parse(&encoded(&list)),
        Err(InnerError::ZeroPort(zero))
    );
}

#[test]
fn counts_are_bounded() {
    let at_max = Inner::List(vec![entry(); MAX_LIST_ENTRIES]);
    assert_eq!(at_max.validate(), Ok(()));
    round_trip(at_max);
    // A sender never sends more; a receiver keeps the first MAX_LIST_ENTRIES (SPEC §7).
    let over = Inner::List(vec![entry(); MAX_LIST_ENTRIES + 500]);
    assert!(matches!(over.validate(), Err(InnerError::TooMany { .. })));
    assert_eq!(
        Inner::parse(&encoded(&over)),
        Ok(Inner::List(vec![entry(); MAX_LIST_ENTRIES]))
    );

    let addrs = vec!["10.0.0.1:1".parse().unwrap(); MAX_ADDRS + 1];
    let many_addrs = Inner::List(vec![ListEntry { addrs, ..entry() }]);
    assert!(matches!(
        many_addrs.validate(),
        Err(InnerError::TooMany { .. })
    ));
    assert!(is_json_error(&encoded(&many_addrs)));

    round_trip(Inner::Ackn(vec![MsgId([4; 16]); MAX_IDS]));
    let many_ids = Inner::Ackn(vec![MsgId([4; 16]); MAX_IDS + 1]);
    assert!(matches!(
        many_ids.validate(),
        Err(InnerError::TooMany { .. })
    ));
    assert!(is_json_error(&encoded(&many_ids)));
}
