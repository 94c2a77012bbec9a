//! Issue 15, point 6: if the state thread or the store writer dies, the node must not
//! keep listening and answer 503 for ever; it exits non-zero with the cause in its log,
//! so a service manager (`Restart=on-failure`) restarts it. The deaths are injected with
//! the hidden `--fault-panic THREAD`.

mod support;

use std::time::{Duration, Instant};

use support::fake_peer::FakePeer;
use support::Node;

/// Waits (bounded) for the node to exit; its status and its stderr.
fn exit_of(node: &mut Node, within: Duration) -> (std::process::ExitStatus, String) {
    let end = Instant::now() + within;
    let status = loop {
        if let Some(status) = node.exited() {
            break status;
        }
        assert!(Instant::now() < end, "the node still runs after {within:?}");
        std::thread::sleep(Duration::from_millis(50));
    };
    let log = std::fs::read_to_string(node.log_path()).unwrap_or_default();
    (status, log)
}

#[test]
fn a_dead_state_thread_ends_the_node_with_exit_1_and_the_cause() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("node.log");
    let mut node = Node::builder()
        .arg("--fault-panic")
        .arg("state")
        .stderr_log(&log)
        .start();
    let (status, _) = exit_of(&mut node, Duration::from_secs(10));
    let log = std::fs::read_to_string(&log).unwrap();
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(
        log.contains("the node cannot go on: the state thread panicked: fault injected"),
        "{log}"
    );
}

#[test]
fn a_dead_store_writer_ends_the_node_with_exit_1_and_the_cause() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("node.log");
    let mut node = Node::builder()
        .arg("--fault-panic")
        .arg("store-writer")
        .stderr_log(&log)
        .start();
    // A peer's message is stored (with the contact it makes): the writer's first batch.
    let mut peer = FakePeer::connect(node.addr(), [0x3d; 32], "trigger");
    let mess = purr::peer::inner::Inner::Mess(purr::peer::inner::Mess {
        id: purr::peer::inner::MsgId([1; 16]),
        ts: 1_700_000_000_000,
        text: "store me".into(),
    });
    peer.send(&mess).unwrap();
    let (status, _) = exit_of(&mut node, Duration::from_secs(10));
    let log = std::fs::read_to_string(&log).unwrap();
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(
        log.contains("fault injected by --fault-panic store-writer"),
        "{log}"
    );
    assert!(
        log.contains("the node cannot go on: the database writer thread stopped"),
        "{log}"
    );
}
