//! An established peer connection's reader thread, and the responder side of the
//! handshake for accepted sockets.

use std::io::BufReader;
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::{bounded, Sender};

use super::deadline::Deadlined;
use super::writer::writer;
use super::{now_ms, SILENCE_LIMIT, WRITE_TIMEOUT};
use crate::bus::{
    Command, ConnId, PeerContext, PeerUp, StateHandle, BULK_QUEUE_LEN, PEER_QUEUE_LEN,
};
use crate::conn::handshake as driver;
use crate::peer::frame::{self, FrameError};
use crate::peer::handshake::{Established, HandshakeError};
use crate::peer::inner::Inner;
use crate::peer::session::RecvHalf;

/// Serves a connection whose first bytes were `HAND`: we are the responder.
pub fn serve_incoming(stream: TcpStream, addr: SocketAddr, ctx: &PeerContext) {
    let name = ctx.name.get().to_string();
    let mut io = Deadlined {
        stream: &stream,
        deadline: Instant::now() + ctx.handshake_timeout,
    };
    match driver::run_responder(&mut io, ctx.identity.signing_key(), ctx.port, &name) {
        Ok(est) => run_established(stream, addr, est, name, ctx, None),
        Err(HandshakeError::SelfConnection) => log::debug!("{addr}: connected to ourselves"),
        Err(e) => log::info!("{addr}: handshake failed: {e}"),
    }
}

/// After the handshake: start the writer, report `PeerUp`, read until the end.
pub(super) fn run_established(
    stream: TcpStream,
    addr: SocketAddr,
    est: Established,
    our_name: String,
    ctx: &PeerContext,
    dialed: Option<String>,
) {
    let Ok(write_half) = stream.try_clone() else {
        return;
    };
    let _ = write_half.set_write_timeout(Some(WRITE_TIMEOUT));
    // Best effort: a kernel without these options still carries the session.
    let sock = socket2::SockRef::from(&stream);
    let _ = sock.set_tcp_notsent_lowat(super::NOTSENT_LOWAT);
    let _ = sock.set_recv_buffer_size(super::RECV_BUFFER);
    let (send, recv) = est.session.split();
    let conn = ConnId::next();
    let (tx, rx) = bounded::<Inner>(PEER_QUEUE_LEN);
    let (ctrl_tx, ctrl_rx) = bounded::<Inner>(4);
    let (bulk, bulk_rx) = bounded::<Inner>(BULK_QUEUE_LEN);
    let origin = Instant::now();
    let last_rx = Arc::new(AtomicU64::new(0));
    let writer_last_rx = last_rx.clone();
    let spawned = crate::threads::spawn("peer-writer", move || {
        let queues = super::writer::Queues {
            rx,
            ctrl: ctrl_rx,
            bulk: bulk_rx,
        };
        writer(write_half, send, queues, origin, writer_last_rx)
    });
    if spawned.is_err() {
        return;
    }
    let short = crate::rules::short_id(&est.peer_id);
    log::info!(
        "{conn}: peer {short}… ({}) at {addr} authenticated",
        est.peer_name
    );
    let up = PeerUp {
        conn,
        id: est.peer_id,
        name: est.peer_name,
        our_name,
        port: est.peer_port,
        role: est.role,
        addr,
        tx,
        bulk,
    };
    if ctx.state.send(Command::PeerUp { up, dialed }) {
        let why = reader(&stream, recv, conn, &ctrl_tx, &ctx.state, origin, &last_rx);
        log::info!("{conn}: peer {short}… disconnected: {why}");
    }
    let _ = stream.shutdown(Shutdown::Both);
    ctx.state.send(Command::PeerDown { conn });
}

/// Reads records until the connection ends; returns why it ended.
fn reader(
    stream: &TcpStream,
    mut recv: RecvHalf,
    conn: ConnId,
    ctrl: &Sender<Inner>,
    state: &StateHandle,
    origin: Instant,
    last_rx: &AtomicU64,
) -> String {
    let mut input = BufReader::with_capacity(
        64 * 1024,
        Deadlined {
            stream,
            deadline: Instant::now() + SILENCE_LIMIT,
        },
    );
    loop {
        let frame = match frame::read_frame(&mut input) {
            Ok(f) => f,
            Err(FrameError::Closed) => return "closed by peer".into(),
            Err(FrameError::Io(std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock)) => {
                return format!("silent for {SILENCE_LIMIT:?}")
            }
            Err(e) => return format!("frame error: {e}"),
        };
        // Any complete frame is traffic: the silence clock restarts.
        input.get_mut().deadline = Instant::now() + SILENCE_LIMIT;
        last_rx.store(now_ms(origin), Ordering::Relaxed);
        if frame.cmd != frame::DATA {
            return format!("unexpected frame {}", frame::CmdDisplay(&frame.cmd));
        }
        let plain = match recv.open(&frame.payload) {
            Ok(p) => p,
            Err(e) => return format!("bad record: {e}"),
        };
        let inner = match Inner::parse(&plain) {
            Ok(i) => i,
            Err(e) => return format!("malformed inner message: {e}"),
        };
        match inner {
            Inner::Ping => {
                // A full control queue means pongs are already on their way.
                let _ = ctrl.try_send(Inner::Pong);
            }
            // PONG goes on to the state: it proves a probed link alive (issue 16.7).
            Inner::Unknown(_) => {}
            Inner::Auth(_) => return "AUTH after the handshake".into(),
            other => {
                if !state.send(Command::PeerMsg { conn, inner: other }) {
                    return "node shutting down".into();
                }
            }
        }
    }
}
