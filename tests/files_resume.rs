//! Issue 17, point 2: a transfer survives `kill -9` of the receiver and carries on where
//! it stopped; what is sent again is within the bound (the last unsynced few MiB plus
//! the window), and the file ends identical.

mod support;

use std::time::{Duration, Instant};

use support::files::{accept, make_file, offer, sha256, transfer, wait_state};
use support::{eventually, Node};

const CHUNK: u64 = 128 * 1024;
/// SYNC_BYTES (4 MiB) + the window (16 chunks) + a commit's worth of slack.
const MAX_RESENT_CHUNKS: u64 = 32 + 16 + 16;
const ROUNDS: usize = 3;

#[test]
fn a_receiver_killed_mid_transfer_resumes_and_the_file_arrives_identical() {
    let sender = Node::start();
    let recv_dir = tempfile::tempdir().unwrap();
    let recv_data = recv_dir.path().join("data");
    let start_receiver = || {
        Node::builder()
            .data_dir(&recv_data)
            .arg("--connect")
            .arg(format!("127.0.0.1:{}", sender.port))
            .start()
    };
    let mut receiver = start_receiver();
    assert!(eventually(Duration::from_secs(5), || receiver
        .sees_online(&sender.id)
        && sender.sees_online(&receiver.id)));

    let dir = tempfile::tempdir().unwrap();
    let len = 48 * 1024 * 1024 + 5;
    let src = make_file(dir.path(), "big.bin", len);
    let chunks = (len as u64).div_ceil(CHUNK);
    let id = offer(&sender, &receiver, &src);
    wait_state(&receiver, &id, "offered", Duration::from_secs(10));
    accept(&receiver, &id);

    for round in 0..ROUNDS {
        // Let some of it arrive, then kill -9 the receiver.
        let target = (round as u64 + 1) * len as u64 / (ROUNDS as u64 + 2);
        let end = Instant::now() + Duration::from_secs(60);
        while Instant::now() < end {
            let t = transfer(&receiver, &id).expect("known");
            if t["bytes"].as_u64().unwrap_or(0) >= target || t["state"] == "done" {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        receiver.signal(rustix::process::Signal::KILL);
        let _ = receiver.stop_within(Duration::from_secs(5));
        drop(receiver);
        receiver = start_receiver();
        eprintln!("round {round}: killed after {target} bytes");
    }
    wait_state(&receiver, &id, "done", Duration::from_secs(120));
    let t = wait_state(&sender, &id, "done", Duration::from_secs(10));
    let got = recv_data.join("files").join("big.bin");
    assert_eq!(sha256(&got), sha256(&src));
    let sent = t["sent_chunks"].as_u64().expect("sent_chunks");
    let resent = sent.saturating_sub(chunks);
    eprintln!(
        "{chunks} chunks, {sent} sent: {resent} re-sent over {ROUNDS} kills ({} KiB)",
        resent * CHUNK / 1024
    );
    assert!(
        resent <= MAX_RESENT_CHUNKS * ROUNDS as u64,
        "{resent} chunks sent again over {ROUNDS} kills"
    );
}
