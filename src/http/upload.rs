//! `POST /api/v1/files` with a file in the body: how the browser offers a file (it
//! cannot name a path). This HTTP thread streams the body into
//! `<data-dir>/files/outgoing/<random>`, syncs it, reads it once more for the root hash
//! (`crate::files::prepare`), then asks the state to offer it like any other file.
//!
//! ```text
//!   head: Content-Type: application/octet-stream, X-Purr-To: <peer id>,
//!         X-Purr-File-Name: <percent-encoded UTF-8>, [X-Purr-Thumbnail-Length: n],
//!         [X-Purr-Caption: <percent-encoded UTF-8>]
//!   body: [n bytes of thumbnail: PNG/JPEG/GIF/WebP ≤ 32 KiB] file bytes
//! ```
//!
//! Bounds: the body at most [`crate::files::MAX_FILE_SIZE`], and refused before a byte
//! is read when the disk has not that much free beyond [`SPARE`]; memory is one
//! [`PIECE`] and the thumbnail; each read waits at most [`super::IDLE_TIMEOUT`]. A
//! failed or refused upload leaves no file behind.
//!
//! The guards of every state-changing request hold (Host, Origin, `Sec-Fetch-Site`,
//! token). `application/octet-stream` is not one of the types a form or a no-preflight
//! `fetch` can send cross-origin, and neither is a request with `X-Purr-File-Name`
//! (which is required), so a foreign page cannot make a browser send one without a
//! CORS preflight, which purr never grants.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::request::{Request, TimedRead};
use super::response::Response;
use crate::bus::{ApiReply, ApiRequest, StateHandle};

/// Bytes read from the socket and written at a time.
const PIECE: usize = 64 * 1024;
/// Free space an upload must leave on the data dir's disk.
pub const SPARE: u64 = 64 << 20;
/// How long the state gets to store the offer (after the upload and the hash).
const OFFER_PATIENCE: Duration = Duration::from_secs(10);

/// True when `content_type` is `application/octet-stream` (parameters allowed).
pub fn is_octet_stream(content_type: Option<&str>) -> bool {
    content_type
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/octet-stream"))
}

/// What the head of an upload says, checked.
#[derive(Debug, PartialEq)]
struct Head {
    to: String,
    name: String,
    thumb_len: usize,
    file_len: u64,
    caption: Option<String>,
}

fn parse_head(req: &Request) -> Result<Head, String> {
    let to = req
        .header("x-purr-to")
        .filter(|t| t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or("X-Purr-To must be the peer's id (64 hex)")?
        .to_ascii_lowercase();
    let raw = req.header("x-purr-file-name").unwrap_or_default();
    let name = percent_decode(raw).ok_or("X-Purr-File-Name must be percent-encoded UTF-8")?;
    let thumb_len = match req.header("x-purr-thumbnail-length") {
        None => 0,
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| *n <= crate::peer::files::MAX_THUMB)
            .ok_or("X-Purr-Thumbnail-Length must be 0..=32768")?,
    };
    let caption = match req.header("x-purr-caption").filter(|c| !c.is_empty()) {
        None => None,
        Some(raw) => {
            let text = percent_decode(raw).ok_or("X-Purr-Caption must be percent-encoded UTF-8")?;
            crate::rules::validate_caption(&text)?;
            Some(text)
        }
    };
    let file_len = (req.body_len() as u64)
        .checked_sub(thumb_len as u64)
        .ok_or("the body is shorter than the thumbnail")?;
    Ok(Head {
        to,
        name: crate::files::names::sanitize(&name),
        thumb_len,
        file_len,
        caption,
    })
}

/// Receives an upload whose head passed the guards; `buf` holds bytes already read past
/// the head. The connection cannot go on after an error (its body may be unread): the
/// caller closes it whenever the answer is not a success.
pub fn receive<S: TimedRead>(
    stream: &mut S,
    buf: &mut Vec<u8>,
    req: &Request,
    files_dir: &Path,
    state: &StateHandle,
) -> Response {
    let head = match parse_head(req) {
        Ok(h) => h,
        Err(e) => return Response::json_error(400, &e),
    };
    let dir = files_dir.join(crate::files::OUTGOING);
    if let Err(e) = std::fs::create_dir_all(&dir) {
        return Response::json_error(500, &format!("{}: {e}", dir.display()));
    }
    if let Err(e) = room_for(&dir, req.body_len() as u64) {
        return Response::json_error(507, &e);
    }
    let mut body = Body {
        stream,
        buf,
        left: req.body_len() as u64,
    };
    let mut thumb = vec![0u8; head.thumb_len];
    if let Err(e) = body.read_exact(&mut thumb) {
        return Response::json_error(400, &format!("the upload broke off: {e}"));
    }
    if head.thumb_len > 0 && crate::files::image_type(&thumb).is_none() {
        return Response::json_error(400, "the thumbnail is not a PNG, JPEG, GIF or WebP");
    }
    let path = match store(&mut body, &dir) {
        Ok(p) => p,
        Err(e) => return Response::json_error(400, &format!("the upload failed: {e}")),
    };
    let answer = offer(&path, head, (!thumb.is_empty()).then_some(thumb), state);
    // A 503 means the state did not answer in time: it may still store the offer, whose
    // file must then be there. Any other failure is final.
    if answer.status != 201 && answer.status != 503 {
        let _ = std::fs::remove_file(&path);
    }
    answer
}

/// Hashes the stored upload and asks the state to offer it.
fn offer(path: &Path, head: Head, thumb: Option<Vec<u8>>, state: &StateHandle) -> Response {
    let mut source = match crate::files::prepare(path) {
        Ok(s) => s,
        Err(e) => return Response::json_error(500, &e.to_string()),
    };
    if source.size != head.file_len {
        return Response::json_error(500, "the stored upload has the wrong size");
    }
    source.mime = crate::files::mime_of(&head.name).into();
    source.name = head.name;
    let q = ApiRequest::OfferFile {
        to: head.to,
        source,
        thumb,
        caption: head.caption,
        upload: true,
    };
    match state.ask_within(q, OFFER_PATIENCE) {
        Some(ApiReply::File(t)) => Response::json(201, &t),
        other => super::api::answer(other),
    }
}

/// `Err` (for a `507`) unless the disk under `dir` has `len` bytes and [`SPARE`] free.
fn room_for(dir: &Path, len: u64) -> Result<(), String> {
    let stat = rustix::fs::statvfs(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let free = stat.f_bavail.saturating_mul(stat.f_frsize);
    if free < len.saturating_add(SPARE) {
        return Err(format!(
            "not enough free space for the upload: {len} bytes, {free} free on the data dir's disk"
        ));
    }
    Ok(())
}

/// Streams the rest of the body into a new file in `dir`, synced; removed on error.
fn store(body: &mut impl Read, dir: &Path) -> std::io::Result<PathBuf> {
    let name = crate::hex::encode(&crate::rng::bytes::<16>().map_err(std::io::Error::other)?);
    let path = dir.join(name);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)?;
    let written = copy_into(body, &mut file);
    if let Err(e) = written {
        drop(file);
        let _ = std::fs::remove_file(&path);
        return Err(e);
    }
    Ok(path)
}

fn copy_into(body: &mut impl Read, file: &mut File) -> std::io::Result<()> {
    let mut piece = vec![0u8; PIECE];
    loop {
        let n = body.read(&mut piece)?;
        if n == 0 {
            break;
        }
        file.write_all(&piece[..n])?;
    }
    file.sync_all()
}

/// The request body as a reader: first what `buf` holds, then the socket, `left` bytes
/// in all; a socket that closes early or idles [`super::IDLE_TIMEOUT`] is an error.
struct Body<'a, S> {
    stream: &'a mut S,
    buf: &'a mut Vec<u8>,
    left: u64,
}

impl<S: TimedRead> Read for Body<'_, S> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let want = out
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        if want == 0 {
            return Ok(0);
        }
        let n = if !self.buf.is_empty() {
            let n = want.min(self.buf.len());
            out[..n].copy_from_slice(&self.buf[..n]);
            self.buf.drain(..n);
            n
        } else {
            self.stream.set_timeout(super::IDLE_TIMEOUT)?;
            match self.stream.read(&mut out[..want]) {
                Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => n,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return Err(std::io::ErrorKind::TimedOut.into())
                }
                Err(e) => return Err(e),
            }
        };
        self.left -= n as u64;
        Ok(n)
    }
}

/// Decodes `%XX` escapes; `None` for a bad escape or bytes that are not UTF-8.
pub fn percent_decode(s: &str) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hi = char::from(bytes.next()?).to_digit(16)?;
            let lo = char::from(bytes.next()?).to_digit(16)?;
            out.push((hi * 16 + lo) as u8);
        } else {
            out.push(b);
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_decode_and_are_cleaned() {
        assert_eq!(percent_decode("a%20b.png").as_deref(), Some("a b.png"));
        assert_eq!(percent_decode("%D0%BA%D0%BE%D1%82").as_deref(), Some("кот"));
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("%ff"), None);
        assert_eq!(percent_decode("%4"), None);
    }

    #[test]
    fn the_body_reads_the_buffer_then_the_stream_and_stops_at_the_length() {
        let mut stream: &[u8] = b"defgh";
        let mut buf = b"abc".to_vec();
        let mut body = Body {
            stream: &mut stream,
            buf: &mut buf,
            left: 6,
        };
        let mut out = Vec::new();
        body.read_to_end(&mut out).unwrap();
        assert_eq!(out, b"abcdef");
        let mut short: &[u8] = b"x";
        let mut buf = Vec::new();
        let mut body = Body {
            stream: &mut short,
            buf: &mut buf,
            left: 3,
        };
        assert!(body.read_to_end(&mut Vec::new()).is_err());
    }
}
