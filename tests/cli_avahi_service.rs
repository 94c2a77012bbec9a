//! `purr avahi-service` (issue 20.5): the Avahi service file for this node on stdout,
//! where to save it on stderr; the port is `--port`, else the running node's, else
//! 35035; it reads the data dir only, so it works with the node stopped, and a data dir
//! without an identity is an error, not a new identity.

mod support;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use support::{Node, BIN};

fn avahi_service(dir: &Path, extra: &[&str]) -> Output {
    Command::new(BIN)
        .arg("--data-dir")
        .arg(dir)
        .args(extra)
        .arg("avahi-service")
        .output()
        .expect("run purr")
}

fn text(out: &Output) -> String {
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout.clone()).expect("utf-8")
}

#[test]
fn the_service_file_names_the_id_and_the_port_with_the_node_running_or_not() {
    let mut node = Node::start();
    let dir = node.data_dir.clone();
    let running = avahi_service(&dir, &[]);
    let xml = text(&running);
    assert!(xml.starts_with("<?xml version=\"1.0\" standalone=\"no\"?>\n<!DOCTYPE service-group SYSTEM \"avahi-service.dtd\">"), "{xml}");
    assert!(xml.contains("<type>_purr._tcp</type>"), "{xml}");
    assert!(
        xml.contains(&format!("<port>{}</port>", node.port)),
        "node.json's port: {xml}"
    );
    assert!(
        xml.contains(&format!("<txt-record>id={}</txt-record>", node.id)),
        "{xml}"
    );
    assert!(xml.contains(&format!("purr %h {}", &node.id[..8])), "{xml}");
    let hint = String::from_utf8_lossy(&running.stderr);
    assert!(hint.contains("/etc/avahi/services/purr.service"), "{hint}");
    assert_eq!(hint.lines().count(), 1, "one line: {hint}");

    assert!(node
        .stop_within(Duration::from_secs(10))
        .is_some_and(|s| s.success()));
    let stopped = text(&avahi_service(&dir, &[]));
    assert!(
        stopped.contains("<port>35035</port>"),
        "the default port: {stopped}"
    );
    assert!(stopped.contains(&node.id), "{stopped}");
    let given = text(&avahi_service(&dir, &["--port", "4242"]));
    assert!(given.contains("<port>4242</port>"), "{given}");
}

#[test]
fn a_data_dir_without_an_identity_is_an_error_and_stays_empty() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = avahi_service(tmp.path(), &[]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(out.stdout.is_empty());
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
}
