//! Groups in the CLI (issue 18): `purr groups`, `purr group-create`, `purr send GROUP`,
//! `purr history GROUP`, and a name that is both a contact and a group refused (exit 2);
//! the rest of a group's life: `group-accept`, `group-decline`, `group-leave`,
//! `group-invite`, `group-remove`, with their refusals.

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
    // Two messages after two system lines (created, added).
    let lines = ok(purr(&b, &["history", "cats", "--json"]));
    let kinds: Vec<String> = lines
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("json")["kind"].to_string())
        .collect();
    assert_eq!(
        kinds,
        ["\"system\"", "\"system\"", "\"text\"", "\"text\""],
        "{lines}"
    );
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

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

fn phase_of(node: &Node, name: &str) -> String {
    groups(node)
        .iter()
        .find(|g| g["name"] == name)
        .and_then(|g| g["phase"].as_str().map(str::to_string))
        .unwrap_or_default()
}

#[test]
fn invite_accept_decline_leave_and_remove_from_the_cli_with_clear_refusals() {
    let (a, b) = pair();
    let wait = Duration::from_secs(10);
    let alice = a.api("me")["name"].as_str().expect("name").to_string();
    let bob = b.api("me")["name"].as_str().expect("name").to_string();
    ok(purr(&a, &["send", &bob, "hi"]));
    ok(purr(&b, &["send", &alice, "hi"]));
    assert!(eventually(wait, || b
        .peers()
        .iter()
        .any(|p| p["id"] == a.id && p["stranger"] == false)));

    // Invited by name, declined by name.
    ok(purr(&a, &["group-create", "cats"]));
    let out = ok(purr(&a, &["group-invite", "cats", &bob]));
    assert_eq!(out, format!("invited {bob} to cats"));
    assert!(eventually(wait, || phase_of(&b, "cats") == "invited"));
    let out = ok(purr(&b, &["group-decline", "cats"]));
    assert!(out.ends_with("declined: cats"), "{out}");

    // Accepted by id prefix; unread shows; the history names who did what.
    ok(purr(&a, &["group-create", "dogs", &bob]));
    assert!(eventually(wait, || phase_of(&b, "dogs") == "invited"));
    let dogs = groups(&b)
        .iter()
        .find(|g| g["name"] == "dogs")
        .and_then(|g| g["id"].as_str().map(str::to_string))
        .expect("dogs");
    let out = ok(purr(&b, &["group-accept", &dogs[..6]]));
    assert!(out.ends_with("joining: dogs"), "{out}");
    assert!(eventually(wait, || phase_of(&b, "dogs") == "member"));
    ok(purr(&a, &["send", "dogs", "woof"]));
    assert!(
        eventually(wait, || ok(purr(&b, &["groups"]))
            .lines()
            .any(|l| l.contains("dogs") && l.ends_with("1 unread"))),
        "{}",
        ok(purr(&b, &["groups"]))
    );
    let h = ok(purr(&b, &["history", "dogs"]));
    assert!(h.contains(&format!("* {alice} created the group")), "{h}");
    assert!(h.contains(&format!("* {alice} added me")), "{h}");

    // Refusals: the owner cannot leave (409), a member cannot remove (403), an unknown
    // group or member is named; all exit 1.
    let o = purr(&a, &["group-leave", "dogs"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(err(&o).contains("hand it over"), "{}", err(&o));
    let o = purr(&b, &["group-remove", "dogs", &alice]);
    assert_eq!(o.status.code(), Some(1));
    assert!(err(&o).contains("owner"), "{}", err(&o));
    let o = purr(&b, &["group-leave", "nosuchgroup"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err(&o).contains("no group matches \"nosuchgroup\""),
        "{}",
        err(&o)
    );
    let o = purr(&a, &["group-remove", "dogs", "nobody-at-all"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(err(&o).contains("not a member of dogs"), "{}", err(&o));
    let o = purr(&a, &["group-accept", "dogs"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(err(&o).contains("409"), "{}", err(&o));

    // Removed by the owner: B is told.
    let out = ok(purr(&a, &["group-remove", "dogs", &bob]));
    assert_eq!(out, format!("removed {bob} from dogs"));
    assert!(eventually(wait, || phase_of(&b, "dogs") == "removed"));

    // A member leaves: the owner's history says so.
    ok(purr(&a, &["group-create", "birds", &bob]));
    assert!(eventually(wait, || phase_of(&b, "birds") == "invited"));
    ok(purr(&b, &["group-accept", "birds"]));
    assert!(eventually(wait, || phase_of(&b, "birds") == "member"));
    let out = ok(purr(&b, &["group-leave", "birds"]));
    assert!(out.ends_with("left: birds"), "{out}");
    assert!(
        eventually(wait, || ok(purr(&a, &["history", "birds"]))
            .contains(&format!("* {bob} left"))),
        "{}",
        ok(purr(&a, &["history", "birds"]))
    );
}
