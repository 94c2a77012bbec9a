//! The data dir's disk becomes unwritable under a running node: the user is told, the
//! node keeps running, and the message is stored and delivered once it is writable.
//!
//! The fault is a full disk: a small tmpfs that the test fills up, then frees. (A
//! read-only remount is refused by Linux with EBUSY while the node has files open for
//! writing, and `chmod` does not stop writes through open descriptors, so neither can
//! make a live node's disk unwritable.) Needs root for the mount; skips otherwise.

mod support;

use std::process::Command;
use std::time::Duration;

use serde_json::json;
use support::{eventually, Node};

/// A small tmpfs mounted for the test, unmounted on drop (before its mount point, a
/// temporary directory kept in the second field, is removed).
struct Tmpfs(std::path::PathBuf, #[allow(dead_code)] tempfile::TempDir);

impl Tmpfs {
    fn new() -> Option<Tmpfs> {
        if !rustix::process::geteuid().is_root() {
            return None;
        }
        let dir = tempfile::tempdir().ok()?;
        let mnt = dir.path().join("mnt");
        std::fs::create_dir(&mnt).ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=32m", "tmpfs"])
            .arg(&mnt)
            .status()
            .ok()?
            .success();
        ok.then_some(Tmpfs(mnt, dir))
    }

    /// Fills the file system until writes fail; returns the filler's path.
    fn fill(&self) -> std::path::PathBuf {
        use std::io::Write;
        let path = self.0.join("filler");
        let mut f = std::fs::File::create(&path).unwrap();
        let chunk = vec![0xa5u8; 64 * 1024];
        for _ in 0..10_000 {
            if f.write_all(&chunk).is_err() {
                break;
            }
        }
        let _ = f.sync_all();
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_delays_durability_but_loses_nothing() {
    let Some(fs) = Tmpfs::new() else {
        eprintln!("SKIP: needs root to mount a tmpfs");
        return;
    };
    let b = Node::start();
    let a = Node::builder()
        .data_dir(&fs.0.join("a"))
        .arg("--connect")
        .arg(format!("127.0.0.1:{}", b.port))
        .start();
    assert!(eventually(Duration::from_secs(5), || a.sees_online(&b.id)));
    let mut ws = a.ws();
    ws.send(json!({"cmd": "hello"}));
    ws.recv_cmd("peers");

    let filler = fs.fill();
    ws.send(json!({"cmd": "send", "to": b.id, "text": "written while the disk is full"}));
    let e = ws.recv_cmd("error");
    assert!(e["error"].as_str().unwrap().contains("disk"), "{e}");
    // The peer already has it (it went on the wire), and A is alive.
    assert!(eventually(Duration::from_secs(3), || {
        b.api(&format!("messages?peer={}", a.id))
            .as_array()
            .is_some_and(|m| m.len() == 1)
    }));
    ws.send(json!({"cmd": "hello"}));
    ws.recv_cmd("me");

    std::fs::remove_file(filler).unwrap();
    let stored = ws.recv_cmd("message");
    assert_eq!(stored["message"]["text"], "written while the disk is full");
    assert!(eventually(Duration::from_secs(10), || {
        let h = a.api(&format!("messages?peer={}", b.id));
        h[0]["status"] == "delivered"
    }));
}
