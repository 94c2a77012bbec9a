//! Groups in the CLI (issue 18): `purr groups`, `purr group-create`, `purr send GROUP`,
//! `purr history GROUP`, and a name that is both a contact and a group refused (exit 2).

mod support;

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::{json, Value};
use support::files::post;
use support::{eventually, pair, Node, BIN};

fn purr(node: &Node, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .arg("--data-dir")
        .arg(&node.data_dir)
        .stdin(Stdio::null())
        .output()
        .expect("run purr")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

fn ok(o: Output) -> String {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    stdout(&o)
}

fn groups(node: &Node) -> Vec<Value> {
    serde_json::from_str(&ok(purr(node, &["groups", "--json"]))).expect("json")
}

#[test]
fn create_send_and_read_a_group_from_the_cli_and_refuse_an_ambiguous_name() {
    let (a, b) = pair();
    let bob = b.api("me")["name"].as_str().expect("name").to_string();
    ok(purr(&a, &["send", &bob, "hi"]));
    ok(purr(&b, &["send", &a.id[..8], "hi"]));
    assert!(eventually(Duration::from_secs(10), || {
        b.peers()
            .iter()
            .any(|p| p["id"] == a.id && p["stranger"] == false)
    }));

    let out = ok(purr(&a, &["group-create", "cats", &bob]));
    assert!(out.contains("created: cats"), "{out}");
    let gid = groups(&a)[0]["id"].as_str().expect("id").to_string();
    assert!(eventually(Duration::from_secs(10), || groups(&b)
        .first()
        .is_some_and(|g| g["phase"] == "invited")));
    let r = post(&b, &format!("groups/{gid}/accept"), &json!({}));
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(eventually(Duration::from_secs(10), || groups(&a)[0]
        ["members"]
        .as_array()
        .is_some_and(|m| m.len() == 2)));

    // By name and by id prefix.
    assert!(ok(purr(&a, &["send", "cats", "meow"])).contains("stored in group cats"));
    ok(purr(&b, &["send", &gid[..6], "purr"]));
    assert!(eventually(Duration::from_secs(10), || {
        let h = ok(purr(&a, &["history", "cats"]));
        h.contains("me: meow") && h.contains(&format!("{bob}: purr"))
    }));
    let lines = ok(purr(&b, &["history", "cats", "--json"]));
    assert_eq!(lines.lines().count(), 2, "{lines}");
    // The 1:1 conversation with bob is untouched.
    assert!(!ok(purr(&a, &["history", &bob])).contains("meow"));

    // A group named like a contact: neither is guessed.
    ok(purr(&a, &["group-create", &bob]));
    let o = purr(&a, &["send", &bob, "who?"]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&b.id) && err.contains("group "),
        "both not listed: {err}"
    );
}
