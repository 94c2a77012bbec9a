//! Issue 17: files of 0 B, 1 B, exactly one chunk, one chunk + 1 byte and a few MiB go
//! from one real node to another on loopback, byte for byte.

mod support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use support::files::{accept, make_file, offer, sha256, wait_state};
use support::pair;

const CHUNK: usize = 128 * 1024;

#[test]
fn files_of_every_edge_size_arrive_identical() {
    let (a, b) = pair();
    let dir = tempfile::tempdir().unwrap();
    for (i, len) in [0, 1, CHUNK, CHUNK + 1, 5 * 1024 * 1024 + 17]
        .into_iter()
        .enumerate()
    {
        let src = make_file(dir.path(), &format!("f{i}.bin"), len);
        let id = offer(&a, &b, &src);
        wait_state(&b, &id, "offered", Duration::from_secs(10));
        let started = Instant::now();
        accept(&b, &id);
        wait_state(&b, &id, "done", Duration::from_secs(60));
        let took = started.elapsed();
        wait_state(&a, &id, "done", Duration::from_secs(10));
        let got: PathBuf = b.data_dir.join("files").join(format!("f{i}.bin"));
        assert_eq!(sha256(&got), sha256(&src), "{len} bytes");
        if len > CHUNK * 8 {
            let mbps = len as f64 / took.as_secs_f64() / 1e6;
            eprintln!("{len} bytes in {took:?}: {mbps:.1} MB/s");
        }
    }
    // No partial file is left behind.
    // Nothing of the transfers is left behind on either side: no partial file, no chunk
    // hashes (deleted once "done" is stored, on a thread of their own: bounded wait).
    let leftovers = |node: &support::Node| -> Vec<String> {
        std::fs::read_dir(node.data_dir.join("files"))
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.ends_with(".part") || n.ends_with(".hashes"))
                    .collect()
            })
            .unwrap_or_default()
    };
    let clean = support::eventually(Duration::from_secs(10), || {
        leftovers(&a).is_empty() && leftovers(&b).is_empty()
    });
    assert!(
        clean,
        "left behind: {:?} {:?}",
        leftovers(&a),
        leftovers(&b)
    );
}
