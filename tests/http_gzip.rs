//! Issue 19, point 9: the UI's files were served uncompressed even when the browser
//! asked for gzip. Text files now have a gzip copy made at build time, sent when
//! `Accept-Encoding` takes gzip, with `Vary: Accept-Encoding` and an ETag of its own.

mod support;

use std::io::Read;

use support::{get, Node};

#[test]
fn the_page_goes_gzipped_to_a_browser_that_asks_and_plain_to_one_that_does_not() {
    let node = Node::start();
    let auth = format!("Authorization: Bearer {}\r\n", node.token());
    let plain = get(node.addr(), "/", &auth);
    assert_eq!(plain.status, 200);
    assert_eq!(plain.header("content-encoding"), None);

    let asked = format!("{auth}Accept-Encoding: gzip, deflate, br\r\n");
    let gz = get(node.addr(), "/", &asked);
    assert_eq!(gz.status, 200);
    assert_eq!(gz.header("content-encoding").as_deref(), Some("gzip"));
    assert_eq!(gz.header("vary").as_deref(), Some("Accept-Encoding"));
    assert!(
        gz.body.len() < plain.body.len(),
        "{} vs {}",
        gz.body.len(),
        plain.body.len()
    );
    let mut unzipped = Vec::new();
    flate2::read::GzDecoder::new(&gz.body[..])
        .read_to_end(&mut unzipped)
        .expect("valid gzip");
    assert_eq!(unzipped, plain.body);

    // Each representation has its own ETag, and each revalidates to 304.
    let (etag, etag_gz) = (plain.header("etag").unwrap(), gz.header("etag").unwrap());
    assert_ne!(etag, etag_gz);
    let again = get(
        node.addr(),
        "/",
        &format!("{asked}If-None-Match: {etag_gz}\r\n"),
    );
    assert_eq!(again.status, 304);
    let refused = get(
        node.addr(),
        "/",
        &format!("{auth}Accept-Encoding: gzip;q=0\r\n"),
    );
    assert_eq!(refused.header("content-encoding"), None);
}
