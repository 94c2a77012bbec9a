//! Property tests of the name rules (issue 16, point 9: `rules::validate_name`,
//! `normalize_name`, `name_skeleton`) and of `LIST` handling of names: whatever a peer
//! puts in a name, nothing panics, a refused name drops its `LIST` entry and never the
//! session, and names that only differ by case, surrounding space or an invisible
//! joiner have one skeleton.

use proptest::collection::vec;
use proptest::prelude::*;
use purr::peer::inner::{Inner, InnerError};
use purr::rules::{is_refused_format, name_skeleton, normalize_name, validate_name, NameError};

/// Any string, with the characters the rules are about mixed in often.
fn hostile_name() -> impl Strategy<Value = String> {
    let special = prop_oneof![
        Just('\u{202E}'),
        Just('\u{2066}'),
        Just('\u{200B}'),
        Just('\u{200D}'),
        Just('\u{200C}'),
        Just('\u{FEFF}'),
        Just('\u{0456}'),
        Just('\u{0301}'),
        Just(' '),
        Just('\n'),
        Just('I'),
        Just('ｑ'),
        any::<char>(),
    ];
    vec(
        prop_oneof![
            special,
            "[a-zA-Z0-9]".prop_map(|s| s.chars().next().unwrap_or('a'))
        ],
        0..80,
    )
    .prop_map(|cs| cs.into_iter().collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn name_rules_never_panic_and_agree(name in hostile_name()) {
        let checked = validate_name(&name);
        let normal = normalize_name(&name);
        prop_assert_eq!(normalize_name(&normal), normal.clone(), "normalizing twice changes nothing");
        // Unless NFC's result was cut back to the name limit (only names already too long,
        // or the rare characters NFC expands), the kept name looks like the given one.
        if name.trim().chars().count() < purr::rules::MAX_NAME_CHARS {
            prop_assert_eq!(name_skeleton(&normal), name_skeleton(&name));
        }
        let skeleton = name_skeleton(&name);
        prop_assert_eq!(name_skeleton(&skeleton), skeleton.clone(), "a skeleton is its own");
        if name.chars().any(is_refused_format) && !name.chars().any(char::is_control) && !name.trim().is_empty() && name.chars().count() <= 64 {
            prop_assert_eq!(checked, Err(NameError::Invisible));
        }
        if checked.is_ok() {
            prop_assert!(!name.chars().any(is_refused_format) && !name.chars().any(char::is_control));
        }
    }

    #[test]
    fn case_space_and_joiners_do_not_change_the_skeleton(name in "[a-z]{1,20}", pad in 0usize..3) {
        let skeleton = name_skeleton(&name);
        prop_assert_eq!(name_skeleton(&name.to_uppercase()), skeleton.clone());
        let padded = format!("{}{name}{}", " ".repeat(pad), " ".repeat(pad));
        prop_assert_eq!(name_skeleton(&padded), skeleton.clone());
        let mut joined = name.clone();
        joined.insert(1.min(name.len()), '\u{200D}');
        prop_assert_eq!(name_skeleton(&joined), skeleton);
    }

    /// A `LIST` whose entries carry any names parses (the session is kept); exactly the
    /// entries with valid names are kept, in order.
    #[test]
    fn list_entries_with_refused_names_are_dropped_not_fatal(names in vec(hostile_name(), 0..12)) {
        let entries: Vec<serde_json::Value> = names
            .iter()
            .enumerate()
            .map(|(i, n)| serde_json::json!({
                "id": format!("{:064x}", i + 1),
                "addrs": ["10.0.0.1:35035"],
                "name": n,
            }))
            .collect();
        let mut plain = b"LIST".to_vec();
        plain.extend(serde_json::to_vec(&entries).expect("JSON"));
        match Inner::parse(&plain) {
            Ok(Inner::List(kept)) => {
                let expected: Vec<&String> = names.iter().filter(|n| validate_name(n).is_ok()).collect();
                let got: Vec<&String> = kept.iter().map(|e| &e.name).collect();
                prop_assert_eq!(got, expected);
            }
            other => prop_assert!(false, "LIST refused: {:?}", other.map(|_| ()).map_err(|e: InnerError| e.to_string())),
        }
    }
}

#[test]
fn a_name_with_a_bidi_override_is_refused_in_name_and_dropped_from_a_list() {
    let bad = "alice\u{202E}gnp.exe";
    let mut plain = b"NAME".to_vec();
    plain.extend(serde_json::to_vec(&serde_json::json!({ "name": bad })).expect("JSON"));
    assert!(matches!(
        Inner::parse(&plain),
        Err(InnerError::BadName(NameError::Invisible))
    ));
    let mut plain = b"LIST".to_vec();
    let list = serde_json::json!([
        {"id": "11".repeat(32), "addrs": [], "name": bad},
        {"id": "22".repeat(32), "addrs": [], "name": "bob"},
    ]);
    plain.extend(serde_json::to_vec(&list).expect("JSON"));
    match Inner::parse(&plain) {
        Ok(Inner::List(kept)) => {
            assert_eq!(kept.len(), 1);
            assert_eq!(kept[0].name, "bob");
        }
        other => panic!("{other:?}"),
    }
}
