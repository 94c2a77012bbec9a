//! Issue 17, robustness: the sender `kill -9`ed mid-transfer resumes after a restart and
//! the file ends identical; a source edited mid-transfer ends the transfer with "changed";
//! a receiver whose disk cannot hold the file refuses at accept with the reason, and a
//! browser upload that would fill our own disk is refused (507) before it is read.

mod support;

use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use support::files::{accept, make_file, offer, sha256, transfer, wait_bytes, wait_state};
use support::{eventually, read_response, Node};

#[test]
fn a_sender_killed_mid_transfer_resumes_after_a_restart() {
    let receiver = Node::start();
    let send_dir = tempfile::tempdir().unwrap();
    let send_data = send_dir.path().join("data");
    let start_sender = || {
        Node::builder()
            .data_dir(&send_data)
            .arg("--connect")
            .arg(format!("127.0.0.1:{}", receiver.port))
            .start()
    };
    let mut sender = start_sender();
    assert!(eventually(Duration::from_secs(5), || sender
        .sees_online(&receiver.id)
        && receiver.sees_online(&sender.id)));
    let dir = tempfile::tempdir().unwrap();
    let len = 32 * 1024 * 1024 + 3;
    let src = make_file(dir.path(), "big.bin", len);
    let id = offer(&sender, &receiver, &src);
    wait_state(&receiver, &id, "offered", Duration::from_secs(10));
    accept(&receiver, &id);
    wait_bytes(&receiver, &id, len as u64 / 3);

    sender.signal(rustix::process::Signal::KILL);
    let _ = sender.stop_within(Duration::from_secs(5));
    drop(sender);
    let held = transfer(&receiver, &id).expect("known")["bytes"]
        .as_u64()
        .unwrap_or(0);
    assert!(held < len as u64, "finished before the kill");
    let sender = start_sender();
    wait_state(&receiver, &id, "done", Duration::from_secs(120));
    let t = wait_state(&sender, &id, "done", Duration::from_secs(10));
    assert_eq!(
        sha256(&receiver.data_dir.join("files/big.bin")),
        sha256(&src)
    );
    // The restarted sender sent only what the receiver lacked (plus the window).
    let chunks = (len as u64).div_ceil(128 * 1024);
    let sent = t["sent_chunks"].as_u64().unwrap_or(u64::MAX);
    eprintln!("held {held} bytes at the kill; the new sender sent {sent} of {chunks} chunks");
    assert!(sent < chunks, "{sent} of {chunks} chunks sent again");
}

#[test]
fn a_source_edited_mid_transfer_ends_it_as_changed() {
    let (a, b) = support::pair();
    let dir = tempfile::tempdir().unwrap();
    let src = make_file(dir.path(), "live.log", 40 * 1024 * 1024);
    let id = offer(&a, &b, &src);
    wait_state(&b, &id, "offered", Duration::from_secs(10));
    accept(&b, &id);
    wait_bytes(&b, &id, 1);
    let mut f = std::fs::OpenOptions::new().write(true).open(&src).unwrap();
    f.seek(SeekFrom::Start(0)).unwrap();
    f.write_all(b"edited while being sent").unwrap();
    f.sync_all().unwrap();
    let t = wait_state(&a, &id, "ended", Duration::from_secs(30));
    let reason = t["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("changed"), "{reason}");
    let t = wait_state(&b, &id, "ended", Duration::from_secs(10));
    assert!(
        t["reason"].as_str().unwrap_or_default().contains("changed"),
        "{t}"
    );
    // No partial file is left on the receiver.
    assert!(!b.data_dir.join("files/live.log").exists());
}

/// A small tmpfs mounted on `dir` (created), unmounted on drop; `None` if this machine
/// does not let us mount (not root, no tmpfs), and the test says so and passes.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Tmpfs(dir.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_refuses_at_accept_and_at_upload_with_the_reason() {
    let recv_dir = tempfile::tempdir().unwrap();
    let recv_data = recv_dir.path().join("data");
    let send_dir = tempfile::tempdir().unwrap();
    let send_data = send_dir.path().join("data");
    let (Some(_recv_fs), Some(_send_fs)) = (
        Tmpfs::mount(&recv_data.join("files"), "2m"),
        Tmpfs::mount(&send_data.join("files"), "2m"),
    ) else {
        eprintln!("SKIPPED: cannot mount a tmpfs here (needs root)");
        return;
    };
    let b = Node::builder().data_dir(&recv_data).start();
    let a = Node::builder()
        .data_dir(&send_data)
        .arg("--connect")
        .arg(format!("127.0.0.1:{}", b.port))
        .start();
    assert!(eventually(Duration::from_secs(5), || a.sees_online(&b.id)
        && b.sees_online(&a.id)));

    // The receiver: 3 MB on a 2 MB disk is refused when accepted, both sides told why.
    let dir = tempfile::tempdir().unwrap();
    let src = make_file(dir.path(), "movie.bin", 3_000_000);
    let id = offer(&a, &b, &src);
    wait_state(&b, &id, "offered", Duration::from_secs(10));
    accept(&b, &id);
    let t = wait_state(&b, &id, "ended", Duration::from_secs(10));
    let reason = t["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("not enough free space"), "{reason}");
    let t = wait_state(&a, &id, "ended", Duration::from_secs(10));
    assert!(
        t["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("not enough free space"),
        "{t}"
    );
    assert_eq!(
        std::fs::read_dir(recv_data.join("files")).unwrap().count(),
        0
    );

    // Our own disk: an upload that does not fit is refused before its body is read.
    let mut s = std::net::TcpStream::connect(a.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "POST /api/v1/files HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nAuthorization: Bearer {}\r\n\
         X-Purr-To: {}\r\nX-Purr-File-Name: movie.bin\r\n\
         Content-Type: application/octet-stream\r\nContent-Length: 3000000\r\n\r\n",
        a.port,
        a.token(),
        b.id
    )
    .unwrap();
    let r = read_response(&mut s).unwrap();
    assert_eq!(r.status, 507, "{}", r.text());
    assert!(r.text().contains("not enough free space"), "{}", r.text());
    drop((a, b));
}
