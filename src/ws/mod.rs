//! The UI WebSocket (`/ws`, SPEC §5): upgrade, then one reader and one writer thread.
//!
//! Only the writer thread writes to the socket. The reader runs tungstenite over a
//! [`ReadHalf`] whose `Write` side does not touch the socket but queues bytes (pongs,
//! close replies) for the writer, so control frames and event frames can never
//! interleave mid-frame. The writer takes events from this UI's bounded queue (filled by
//! the state thread), control bytes from the reader, and sends a ping every 30 s.
//!
//! ```text
//!   socket ──▶ reader (tungstenite) ──ClientCmd──▶ state ──events──▶ ┐
//!                 │ pong/close/error bytes                           ▼
//!                 └───────────────────────────────────────────▶ writer ──▶ socket
//! ```
//! Ends: the client closes or goes silent (reader ends → writer ends); a write takes
//! 30 s (the UI stopped reading) → writer ends and shuts the socket → reader ends; or
//! the state drops the UI (its queue took nothing for 3 s while events waited, or its
//! backlog passed 8 MiB: `state/subscribers.rs`) by shutting the socket down → both
//! end. Either way the state gets `Unsubscribe`.

mod upgrade;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{bounded, select, tick, Receiver, Sender};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::frame::{CloseFrame, Frame};
use tungstenite::protocol::{Role, WebSocketConfig};
use tungstenite::{Bytes, Message, WebSocket};

use crate::api::{ClientCmd, Event};
use crate::bus::{Command, SubId, UI_QUEUE_LEN};
use crate::http::request::Request;
use crate::http::HttpContext;

/// Largest UI message (SPEC §5 texts are ≤ 64 KiB; JSON escaping can triple that).
pub const MAX_MESSAGE: usize = 256 * 1024;
/// The writer pings this often so that a silent socket means a dead client.
const PING_INTERVAL: Duration = Duration::from_secs(30);
/// No frame (not even a pong) for this long: the client is gone.
const READ_TIMEOUT: Duration = Duration::from_secs(75);
/// A UI that does not take our bytes for this long is dropped (the node is unaffected).
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// Control frames waiting for the writer.
const CTRL_QUEUE_LEN: usize = 64;
/// The writer gathers waiting frames up to about this many bytes into one write.
const WRITE_BATCH: usize = 64 * 1024;

/// Upgrades the connection (the guards already passed) and serves it until it ends.
/// `leftover` holds bytes read past the request head.
pub fn serve(mut stream: TcpStream, req: &Request, leftover: Vec<u8>, ctx: &HttpContext) {
    let accept = match upgrade::accept_key(req) {
        Ok(key) => key,
        Err(resp) => {
            let _ = stream.write_all(&resp.to_bytes(false, true));
            return;
        }
    };
    let head = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
    );
    if stream.write_all(head.as_bytes()).is_err() {
        return;
    }
    let (Ok(write_half), Ok(())) = (
        stream.try_clone(),
        stream.set_read_timeout(Some(READ_TIMEOUT)),
    ) else {
        return;
    };
    let _ = write_half.set_write_timeout(Some(WRITE_TIMEOUT));

    let sub = SubId::next();
    let (events_tx, events_rx) = bounded::<Arc<str>>(UI_QUEUE_LEN);
    let (ctrl_tx, ctrl_rx) = bounded::<Vec<u8>>(CTRL_QUEUE_LEN);
    let subscribe = Command::Subscribe {
        sub,
        tx: events_tx,
        closer: stream.try_clone().ok(),
    };
    if !ctx.state.send(subscribe) {
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("ws-writer".into())
        .stack_size(crate::threads::THREAD_STACK)
        .spawn(move || writer(write_half, events_rx, ctrl_rx));
    if spawned.is_ok() {
        reader(stream, leftover, sub, ctrl_tx, ctx);
    }
    ctx.state.send(Command::Unsubscribe { sub });
}

/// The reader side of the socket: reads frames; its writes go to the writer thread.
struct ReadHalf {
    stream: TcpStream,
    ctrl: Sender<Vec<u8>>,
    pending: Vec<u8>,
}

impl Read for ReadHalf {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.stream.read(buf)
    }
}

impl Write for ReadHalf {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.pending.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let bytes = std::mem::take(&mut self.pending);
        self.ctrl
            .try_send(bytes)
            .map_err(|_| std::io::Error::other("WebSocket writer is gone or stuck"))
    }
}

fn config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(16 * 1024)
        .write_buffer_size(0)
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE))
}

fn reader(
    stream: TcpStream,
    leftover: Vec<u8>,
    sub: SubId,
    ctrl: Sender<Vec<u8>>,
    ctx: &HttpContext,
) {
    let half = ReadHalf {
        stream,
        ctrl: ctrl.clone(),
        pending: Vec::new(),
    };
    let mut ws = WebSocket::from_partially_read(half, leftover, Role::Server, Some(config()));
    // Errors the reader finds itself go straight to the writer as ready frames.
    let reply_error = |error: String, request: Option<String>| {
        let mut frame = Vec::new();
        push_text_frame(&mut frame, &Event::error(error, request).to_json());
        let _ = ctrl.try_send(frame);
    };
    loop {
        match ws.read() {
            Ok(Message::Text(text)) => match ClientCmd::parse(text.as_str()) {
                Ok(cmd) => {
                    if !ctx.state.send(Command::Ui { sub, cmd }) {
                        break;
                    }
                }
                Err(e) => reply_error(e.to_string(), e.request()),
            },
            Ok(Message::Binary(_)) => reply_error(
                "binary frames are not supported: send JSON text frames".into(),
                None,
            ),
            Ok(_) => {} // ping/pong/close are answered by tungstenite itself
            Err(tungstenite::Error::Capacity(e)) => {
                reply_error(
                    format!("message too large ({e}); limit is {MAX_MESSAGE} bytes"),
                    None,
                );
                let close = CloseFrame {
                    code: CloseCode::Size,
                    reason: "message too large".into(),
                };
                let _ = ctrl.try_send(frame_bytes(Frame::close(Some(close))));
                linger(&mut ws.get_mut().stream);
                break;
            }
            Err(e) => {
                log::debug!("UI WebSocket ended: {e}");
                break;
            }
        }
    }
    // Dropping `ws` (and with it the last control sender) tells the writer to finish.
}

/// Reads and discards what the client is still sending (the rest of an over-size
/// message), bounded in time and bytes, so that closing does not reset the connection:
/// a reset could destroy our close frame before the client reads it.
fn linger(stream: &mut TcpStream) {
    const LINGER: Duration = Duration::from_secs(2);
    const MAX_DISCARD: usize = 16 * 1024 * 1024;
    let deadline = std::time::Instant::now() + LINGER;
    let mut scratch = [0u8; 16 * 1024];
    let mut discarded = 0;
    while discarded < MAX_DISCARD {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return;
        }
        match stream.read(&mut scratch) {
            Ok(0) | Err(_) => return,
            Ok(n) => discarded += n,
        }
    }
}

fn writer(mut stream: TcpStream, events: Receiver<Arc<str>>, ctrl: Receiver<Vec<u8>>) {
    let ping = tick(PING_INTERVAL);
    let mut out: Vec<u8> = Vec::with_capacity(WRITE_BATCH);
    loop {
        out.clear();
        select! {
            recv(ctrl) -> bytes => match bytes {
                Ok(bytes) => out.extend_from_slice(&bytes),
                Err(_) => break, // the reader is done
            },
            recv(events) -> json => match json {
                Ok(json) => push_text_frame(&mut out, &json),
                Err(_) => break, // the state thread dropped this UI
            },
            recv(ping) -> _ => out.extend_from_slice(&frame_bytes(Frame::ping(Bytes::new()))),
        }
        // Whatever else is waiting goes in the same write: a burst of events (a message
        // and its status, a busy conversation) costs one system call, not one each.
        while out.len() < WRITE_BATCH {
            if let Ok(bytes) = ctrl.try_recv() {
                out.extend_from_slice(&bytes);
            } else if let Ok(json) = events.try_recv() {
                push_text_frame(&mut out, &json);
            } else {
                break;
            }
        }
        if let Err(e) = stream.write_all(&out) {
            log::debug!("UI WebSocket write failed: {e}");
            break;
        }
        if out.capacity() > 4 * WRITE_BATCH {
            out = Vec::with_capacity(WRITE_BATCH); // one big history page: give it back
        }
    }
    // Wakes the reader if it is still blocked in read.
    let _ = stream.shutdown(Shutdown::Both);
}

/// Appends a complete unmasked server text frame (RFC 6455 §5.2: FIN + opcode 1, then
/// the payload length in 7 bits, or 126 + 16 bits, or 127 + 64 bits).
fn push_text_frame(out: &mut Vec<u8>, json: &str) {
    const FIN_TEXT: u8 = 0x81;
    let len = json.len();
    out.push(FIN_TEXT);
    if len < 126 {
        out.push(len as u8); // < 126 fits
    } else if let Ok(short) = u16::try_from(len) {
        out.push(126);
        out.extend_from_slice(&short.to_be_bytes());
    } else {
        out.push(127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(json.as_bytes());
}

fn frame_bytes(frame: Frame) -> Vec<u8> {
    let mut out = Vec::with_capacity(frame.len());
    // Formatting into a Vec cannot fail.
    let _ = frame.format(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use tungstenite::protocol::frame::coding::{Data, OpCode};

    #[test]
    fn text_frames_are_encoded_as_tungstenite_encodes_them() {
        for len in [0, 1, 125, 126, 127, 65_535, 65_536, 200_000] {
            let json = "x".repeat(len);
            let mut ours = Vec::new();
            push_text_frame(&mut ours, &json);
            let theirs = frame_bytes(Frame::message(
                Bytes::from(json.into_bytes()),
                OpCode::Data(Data::Text),
                true,
            ));
            assert_eq!(ours, theirs, "length {len}");
        }
    }
}
