//! Regression (issue 16.11): a data dir that already existed with mode 0755 stayed so,
//! the identity and the database listable by every user. A node now tightens its own
//! data dir to 0700 (and only warns about a directory that holds other files).

mod support;

use std::os::unix::fs::PermissionsExt;

use support::Node;

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn a_pre_existing_0755_data_dir_becomes_0700() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let _node = Node::builder().data_dir(&dir).start();
    assert_eq!(mode(&dir), 0o700);
}

#[test]
fn a_directory_with_other_files_is_left_alone_with_a_warning() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("home");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("notes.txt"), "mine").unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut node = Node::builder().data_dir(&dir).start();
    assert_eq!(mode(&dir), 0o755);
    assert!(node
        .stop_within(std::time::Duration::from_secs(5))
        .is_some());
    let log_path = node.log_path();
    let read_log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    assert!(
        support::eventually(std::time::Duration::from_secs(3), || read_log()
            .contains("run: chmod 700")),
        "{}",
        read_log()
    );
}
