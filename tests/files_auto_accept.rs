//! Issue 17, point 4: with `--auto-accept-images MIB`, an image (by its offered type)
//! within the size from a contact whose fingerprint the user verified is accepted
//! without asking; anything else (another type, too large, an unverified sender) waits
//! for Accept as before. `--downloads DIR` is where received files go.

mod support;

use std::time::Duration;

use serde_json::json;
use support::files::{make_file, offer, sha256, transfer, wait_state};
use support::{eventually, pair_with, Node};

/// Verifies `peer` on `node`, as the user does in the UI, and waits until it shows.
fn verify(node: &Node, peer: &str) {
    let mut ws = node.ws();
    ws.send(json!({"cmd": "verify", "peer": peer, "verified": true}));
    assert!(
        eventually(Duration::from_secs(5), || node
            .peers()
            .iter()
            .any(|p| p["id"] == peer && p["verified"] == true)),
        "not verified"
    );
}

#[test]
fn images_from_verified_contacts_are_taken_without_asking_and_nothing_else() {
    let dir = tempfile::tempdir().expect("tempdir");
    let downloads = dir.path().join("Downloads");
    // B receives with the option; A is started by `pair_with`, B by `Node::start`:
    // so here A is the receiver (it gets the options) and B the sender.
    let (a, b) = pair_with(
        Node::builder()
            .arg("--auto-accept-images")
            .arg("1")
            .arg("--downloads")
            .arg(downloads.display().to_string()),
    );
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).expect("mkdir");
    let png = make_file(&src, "cat.png", 300 * 1024);
    let big = make_file(&src, "big.png", 1024 * 1024 + 1);
    let bin = make_file(&src, "notes.bin", 1000);

    // Not verified yet: the image waits for the user.
    let first = offer(&b, &a, &png);
    wait_state(&a, &first, "offered", Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(transfer(&a, &first).expect("known")["state"], "offered");

    verify(&a, &b.id);
    let image = offer(&b, &a, &png);
    wait_state(&a, &image, "done", Duration::from_secs(30));
    wait_state(&b, &image, "done", Duration::from_secs(10));
    assert_eq!(sha256(&downloads.join("cat.png")), sha256(&png));

    // Too large, or not an image: asked as before.
    let large = offer(&b, &a, &big);
    let other = offer(&b, &a, &bin);
    wait_state(&a, &large, "offered", Duration::from_secs(10));
    wait_state(&a, &other, "offered", Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(500));
    for id in [&first, &large, &other] {
        assert_eq!(transfer(&a, id).expect("known")["state"], "offered", "{id}");
    }
}
