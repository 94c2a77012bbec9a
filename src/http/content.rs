//! `GET /api/v1/files/<id>/content`: a finished file, streamed from disk by this HTTP
//! thread (the state only says where it is, [`crate::bus::FileContent`]).
//!
//! A received file is whatever a peer sent, so it is served so that the browser never
//! runs it: `Content-Disposition: attachment` unless its first bytes are one of a few
//! image types (PNG, JPEG, GIF, WebP; never SVG, which can carry script), with that
//! type and no other; `X-Content-Type-Options: nosniff` (on every response); and a
//! sandboxing CSP, so even a file opened in a tab has no script, no origin and no
//! network. The body goes out in bounded pieces (`std::io::copy`: sendfile or an 8 KiB
//! buffer), never the whole file in memory.

use std::fs::File;
use std::io::{Read, Seek, Write};

use super::request::Request;
use super::response::Response;
use crate::bus::{ApiReply, ApiRequest, FileContent, StateHandle};

/// The policy for served files: a sandbox with no script, nothing loaded but images
/// from this node (a browser's own image viewer needs `img-src`).
pub const FILE_CSP: &str = "sandbox; default-src 'none'; img-src 'self'";

/// A file ready to stream: the head (with its real `Content-Length`) and the open file.
#[derive(Debug)]
pub struct Streamed {
    head: Response,
    file: File,
    len: u64,
}

impl Streamed {
    /// Writes the head, then (unless `head_only`) the file in bounded pieces. A file
    /// that shrank under us ends the connection early: the client sees a short body.
    pub fn write_to(self, w: &mut impl Write, head_only: bool, close: bool) -> std::io::Result<()> {
        w.write_all(&self.head.head_bytes(self.len, close))?;
        if head_only {
            return Ok(());
        }
        let copied = std::io::copy(&mut self.file.take(self.len), w)?;
        if copied < self.len {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        Ok(())
    }
}

/// Serves `/api/v1/files/<id>/content`: the file, or a JSON error.
pub fn serve(req: &Request, id: String, state: &StateHandle) -> Result<Streamed, Response> {
    if req.method != "GET" && req.method != "HEAD" {
        return Err(Response::json_error(405, "method not allowed").with("Allow", "GET, HEAD"));
    }
    match state.ask(ApiRequest::FileContent { id }) {
        Some(ApiReply::Content(c)) => open(&c),
        other => Err(super::api::answer(other)),
    }
}

/// Serves `/api/v1/files/<id>/thumb`: the offer's preview, inline only if its bytes are
/// an allow-listed image (a peer chose them), with the same headers as a file.
pub fn thumb(req: &Request, id: String, state: &StateHandle) -> Response {
    if req.method != "GET" && req.method != "HEAD" {
        return Response::json_error(405, "method not allowed").with("Allow", "GET, HEAD");
    }
    match state.ask(ApiRequest::FileThumb { id }) {
        Some(ApiReply::Thumb(bytes)) => match crate::files::image_type(&bytes) {
            Some(mime) => {
                let mut r = head("thumbnail", Some(mime));
                r.body = bytes.into();
                r
            }
            None => Response::json_error(404, "the thumbnail is not an image"),
        },
        other => super::api::answer(other),
    }
}

/// Opens the file, checks it is still the one the transfer names, and makes the head.
fn open(c: &FileContent) -> Result<Streamed, Response> {
    let gone = || Response::json_error(404, "the file is no longer there");
    let mut file = File::open(&c.path).map_err(|_| gone())?;
    let meta = file.metadata().map_err(|_| gone())?;
    if !meta.is_file() || meta.len() != c.size {
        return Err(gone());
    }
    if let Some(identity) = c.identity {
        let (_, mtime, ino) = crate::files::identity_of(&meta);
        if (mtime, ino) != identity {
            return Err(Response::json_error(
                404,
                "the file changed since it was offered",
            ));
        }
    }
    let mut magic = [0u8; 16];
    let n = read_up_to(&mut file, &mut magic).map_err(|_| gone())?;
    file.rewind().map_err(|_| gone())?;
    let image = crate::files::image_type(&magic[..n]);
    Ok(Streamed {
        head: head(&c.name, image),
        file,
        len: c.size,
    })
}

/// The head of a served file: an allow-listed image inline, anything else to download.
fn head(name: &str, image: Option<&'static str>) -> Response {
    let (kind, disposition) = match image {
        Some(mime) => (mime, "inline"),
        None => ("application/octet-stream", "attachment"),
    };
    Response::empty(200)
        .with("Content-Type", kind)
        .with(
            "Content-Disposition",
            format!("{disposition}; filename*=UTF-8''{}", rfc5987(name)),
        )
        .with("Content-Security-Policy", FILE_CSP)
        .with("Cross-Origin-Resource-Policy", "same-origin")
        .with("Cache-Control", "private, no-store")
}

fn read_up_to(file: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// RFC 5987 `value-chars`: every byte but the `attr-char`s percent-encoded, so no name
/// can break out of the header (quotes, `;`, CR/LF, non-ASCII).
pub fn rfc5987(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cannot_break_out_of_the_header() {
        assert_eq!(rfc5987("a b.png"), "a%20b.png");
        assert_eq!(rfc5987("x\"\r\n;y"), "x%22%0D%0A%3By");
        assert_eq!(rfc5987("é"), "%C3%A9");
    }

    #[test]
    fn only_images_are_inline() {
        let h = head("cat.png", Some("image/png"));
        assert_eq!(h.header("content-type"), Some("image/png"));
        assert!(h
            .header("content-disposition")
            .unwrap()
            .starts_with("inline;"));
        let h = head("x.svg", None);
        assert_eq!(h.header("content-type"), Some("application/octet-stream"));
        assert!(h
            .header("content-disposition")
            .unwrap()
            .starts_with("attachment;"));
        assert_eq!(h.header("content-security-policy"), Some(FILE_CSP));
    }
}
