//! Issue 17: `GET /api/v1/files/<id>/content` serves a finished file so that a browser
//! never runs it: an SVG or HTML file with script as an attachment, a PNG (known by its
//! bytes) inline, always with `nosniff` and a sandboxing CSP; 404 until done.

mod support;

use std::time::Duration;

use support::files::{accept, offer, wait_state};
use support::{get, pair, HttpResp, Node};

fn content(node: &Node, id: &str) -> HttpResp {
    get(
        node.addr(),
        &format!("/api/v1/files/{id}/content"),
        &format!("Authorization: Bearer {}\r\n", node.token()),
    )
}

fn safe_headers(r: &HttpResp) {
    assert_eq!(
        r.header("x-content-type-options").as_deref(),
        Some("nosniff")
    );
    let csp = r.header("content-security-policy").unwrap_or_default();
    assert!(csp.starts_with("sandbox;"), "{csp}");
    assert!(csp.contains("default-src 'none'"), "{csp}");
}

#[test]
fn files_are_served_as_attachments_and_images_inline() {
    let (a, b) = pair();
    let dir = tempfile::tempdir().unwrap();
    let svg = b"<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>";
    let html = b"<!doctype html><script>alert(document.cookie)</script>";
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend((0..200_000u32).map(|i| (i * 7) as u8));
    let files: [(&str, &[u8]); 3] = [
        ("evil \"x\".svg", svg),
        ("page.html", html),
        ("cat.png", &png),
    ];
    for (name, bytes) in files {
        let src = dir.path().join(name);
        std::fs::write(&src, bytes).unwrap();
        let id = offer(&a, &b, &src);
        wait_state(&b, &id, "offered", Duration::from_secs(10));
        // Not received yet: nothing to serve (and never the .part).
        let early = content(&b, &id);
        assert_eq!(early.status, 404, "{}", early.text());
        accept(&b, &id);
        wait_state(&b, &id, "done", Duration::from_secs(30));

        let r = content(&b, &id);
        assert_eq!(r.status, 200, "{name}: {}", r.text());
        assert_eq!(r.body, bytes, "{name}");
        safe_headers(&r);
        let disposition = r.header("content-disposition").unwrap_or_default();
        let kind = r.header("content-type").unwrap_or_default();
        if name.ends_with(".png") {
            assert!(disposition.starts_with("inline;"), "{disposition}");
            assert_eq!(kind, "image/png");
        } else {
            assert!(disposition.starts_with("attachment;"), "{disposition}");
            assert_eq!(kind, "application/octet-stream");
            assert!(!disposition.contains('"'), "{disposition}");
        }
        // The sender serves its own source the same way.
        let mine = content(&a, &id);
        assert_eq!(mine.status, 200, "{}", mine.text());
        assert_eq!(mine.body, bytes);
        safe_headers(&mine);
    }
    // Unknown ids and foreign tokens get nothing.
    assert_eq!(content(&b, &"0".repeat(32)).status, 404);
    assert_eq!(content(&b, "../../etc/passwd").status, 404);
    let r = get(
        b.addr(),
        &format!("/api/v1/files/{}/content", "0".repeat(32)),
        "",
    );
    assert_eq!(r.status, 401);
}
