//! Regression (issue 16, point 3): the JSON API took cross-site POSTs. A page on
//! another port of localhost is *same-site*, so the `SameSite=Strict` cookie went along
//! with its `<form enctype=text/plain>`, and the message was posted as the user (`201`).
//! State-changing requests now need our own Origin (or none), a `Sec-Fetch-Site` of
//! `same-origin`/`none` (or none), and an `application/json` body; under `--no-ui-auth`
//! these are the only defence, so both modes are tested.

mod support;

use support::{http, HttpResp, Node};

/// What a browser sends for `<form method=post enctype=text/plain>` on
/// `http://127.0.0.1:8000` with one field named `{"to":"<id>","text":"pwned","x":"`
/// and the value `"}`: the body is `name=value`, which is valid JSON.
fn form_post(node: &Node, to: &str, cookie: &str) -> HttpResp {
    let body = format!(r#"{{"to":"{to}","text":"pwned","x":"="}}"#);
    http(
        node.addr(),
        &format!(
            "POST /api/v1/messages HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nOrigin: http://127.0.0.1:8000\r\nSec-Fetch-Site: same-site\r\nContent-Type: text/plain\r\n{cookie}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len(),
            port = node.port,
        ),
    )
}

/// A POST to the API with the given extra header lines and a good JSON body.
fn post(node: &Node, to: &str, headers: &str) -> HttpResp {
    let body = format!(r#"{{"to":"{to}","text":"ok"}}"#);
    http(
        node.addr(),
        &format!(
            "POST /api/v1/messages HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len(),
            port = node.port,
        ),
    )
}

fn texts(node: &Node, peer: &str) -> Vec<String> {
    node.api(&format!("messages?peer={peer}"))
        .as_array()
        .map(|a| a.iter().map(|m| m["text"].to_string()).collect())
        .unwrap_or_default()
}

/// The guards, for a node whose requests carry `auth` (a cookie, or nothing under
/// `--no-ui-auth`). Each refusal names its reason; nothing refused is posted.
fn check_guards(a: &Node, b_id: &str, auth: &str) {
    let r = form_post(a, b_id, auth);
    assert_eq!(r.status, 403, "cross-site form post: {}", r.text());
    assert!(r.text().contains("Origin"), "{}", r.text());

    let json = "Content-Type: application/json\r\n";
    let own = format!("Origin: http://127.0.0.1:{}\r\n", a.port);
    for (headers, status, why) in [
        // Another origin, whatever else the request says.
        (
            format!("{json}Origin: http://127.0.0.1:8000\r\n"),
            403,
            "Origin",
        ),
        (
            format!("{json}Origin: http://localhost:{}\r\n", a.port),
            403,
            "Origin",
        ),
        (format!("{json}Origin: null\r\n"), 403, "Origin"),
        // A browser that says the request is not same-origin.
        (
            format!("{json}Sec-Fetch-Site: same-site\r\n"),
            403,
            "Sec-Fetch-Site",
        ),
        (
            format!("{json}{own}Sec-Fetch-Site: cross-site\r\n"),
            403,
            "Sec-Fetch-Site",
        ),
        // Bodies a form can send without a preflight, from our own origin or a script.
        (
            format!("{own}Content-Type: text/plain\r\n"),
            415,
            "Content-Type",
        ),
        (
            "Content-Type: application/x-www-form-urlencoded\r\n".into(),
            415,
            "Content-Type",
        ),
        (
            "Content-Type: multipart/form-data; boundary=x\r\n".into(),
            415,
            "Content-Type",
        ),
        (String::new(), 415, "Content-Type"),
    ] {
        let r = post(a, b_id, &format!("{auth}{headers}"));
        assert_eq!(r.status, status, "{headers:?}: {}", r.text());
        assert!(r.text().contains(why), "{headers:?}: {}", r.text());
        assert!(r.text().starts_with("{\"error\""), "{}", r.text());
    }
    // A DELETE from another origin is refused before anything looks at the path.
    let r = http(
        a.addr(),
        &format!("DELETE /api/v1/messages HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n{auth}Origin: http://127.0.0.1:8000\r\nConnection: close\r\n\r\n", a.port),
    );
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(texts(a, b_id).is_empty(), "nothing refused was posted");

    // What passes: our UI's own origin, a browser's same-origin or typed-in request, and
    // scripts (no Origin, no Sec-Fetch-Site), all with JSON.
    for headers in [
        format!("{json}{own}Sec-Fetch-Site: same-origin\r\n"),
        format!("Content-Type: application/json; charset=utf-8\r\n{own}"),
        format!("{json}Sec-Fetch-Site: none\r\n"),
        json.to_string(),
    ] {
        let r = post(a, b_id, &format!("{auth}{headers}"));
        assert_eq!(r.status, 201, "{headers:?}: {}", r.text());
    }
    assert_eq!(texts(a, b_id).len(), 4);
}

#[test]
fn cross_site_posts_are_refused_with_the_cookie() {
    let (a, b) = support::pair();
    let cookie = format!("Cookie: purr_token={}\r\n", a.token());
    check_guards(&a, &b.id, &cookie);
}

#[test]
fn cross_site_posts_are_refused_under_no_ui_auth() {
    let (a, b) = support::pair_with(Node::builder().arg("--no-ui-auth"));
    check_guards(&a, &b.id, "");
}

/// Reading stays open to the UI and scripts: GETs are not state-changing, and a
/// browser's own page load carries no Origin for them to check.
#[test]
fn gets_are_not_affected() {
    let node = Node::start();
    let r = support::get(
        node.addr(),
        "/api/v1/me",
        &format!(
            "Authorization: Bearer {}\r\nSec-Fetch-Site: same-site\r\n",
            node.token()
        ),
    );
    assert_eq!(r.status, 200, "{}", r.text());
}
