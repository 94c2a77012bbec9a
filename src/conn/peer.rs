//! An established peer connection's reader thread, and the responder side of the
//! handshake for accepted sockets.

use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::{bounded, Sender};

use super::deadline::Deadlined;
use super::readbuf::ReadBuf;
use super::writer::writer;
use super::{now_ms, SILENCE_LIMIT, WRITE_TIMEOUT};
use crate::bus::{Command, ConnId, Intake, PeerContext, PeerUp, StateHandle, BULK_QUEUE_LEN};
use crate::conn::handshake as driver;
use crate::peer::frame::{self, FrameError};
use crate::peer::handshake::{Established, HandshakeError};
use crate::peer::inner::Inner;
use crate::peer::session::RecvHalf;

/// Serves a connection whose first bytes were `HAND`: we are the responder.
///
/// Not inlined into the connection thread's entry, and the handshake not into it: the
/// reader then runs in frames of its own instead of below the handshake's (and the
/// HTTP path's) locals, which stayed on the stack, resident, for the connection's life.
#[inline(never)]
pub fn serve_incoming(stream: TcpStream, addr: SocketAddr, ctx: &PeerContext) {
    if let Some((est, name)) = handshake_incoming(&stream, addr, ctx) {
        run_established(stream, addr, est, name, ctx, None);
    }
}

/// The responder's handshake; `None` (logged) when it failed.
#[inline(never)]
fn handshake_incoming(
    stream: &TcpStream,
    addr: SocketAddr,
    ctx: &PeerContext,
) -> Option<(Established, String)> {
    let name = ctx.name.get().to_string();
    let mut io = Deadlined {
        stream,
        deadline: Instant::now() + ctx.handshake_timeout,
    };
    match driver::run_responder(&mut io, ctx.identity.signing_key(), ctx.port, &name) {
        Ok(est) => Some((est, name)),
        Err(HandshakeError::SelfConnection) => {
            log::debug!("{addr}: connected to ourselves");
            None
        }
        Err(e) => {
            log::info!("{addr}: handshake failed: {e}");
            None
        }
    }
}

/// After the handshake: start the writer, report `PeerUp`, read until the end.
#[inline(never)]
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
    // The handshake was this thread's deepest code; reading records needs a fraction of
    // that stack, so the pages below are given back for the connection's life.
    crate::memory::release_stack_below_here();
    let _ = write_half.set_write_timeout(Some(WRITE_TIMEOUT));
    super::tcp::tune_session(&stream);
    let (send, recv) = est.session.split();
    let conn = ConnId::next();
    let (tx, rx) = crate::bus::peer_queue();
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
    // Read here, not on the state thread: it asks the kernel for the interface list.
    let path = crate::diag::path::describe(&stream, addr);
    let up = PeerUp {
        conn,
        id: est.peer_id,
        name: est.peer_name,
        our_name,
        port: est.peer_port,
        role: est.role,
        addr,
        local: stream.local_addr().ok().map(crate::net::canonical),
        path,
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
    let intake = Intake::for_this_thread();
    // 4 KiB while the peer is quiet, up to 64 KiB while records stream in.
    let mut input = ReadBuf::new(Deadlined {
        stream,
        deadline: Instant::now() + SILENCE_LIMIT,
    });
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
        let size = plain.len();
        let inner = match Inner::parse(&plain) {
            Ok(i) => i,
            Err(e) => return format!("malformed inner message: {e}"),
        };
        drop(plain);
        match inner {
            Inner::Ping => {
                // A full control queue means pongs are already on their way.
                let _ = ctrl.try_send(Inner::Pong);
            }
            // PONG goes on to the state: it proves a probed link alive (issue 16.7).
            Inner::Unknown(_) => {}
            Inner::Auth(_) => return "AUTH after the handshake".into(),
            other => {
                // Waits while this peer's earlier records still fill its share of the
                // state's queue: the socket is not read meanwhile, so TCP slows the peer.
                let charge = match intake.charge(size, SILENCE_LIMIT) {
                    Ok(c) => c,
                    Err(s) => {
                        return format!(
                            "the node took none of its {} KiB of records for {SILENCE_LIMIT:?}",
                            s.waiting / 1024
                        )
                    }
                };
                let msg = Command::PeerMsg {
                    conn,
                    inner: other,
                    charge,
                };
                if !state.send(msg) {
                    return "node shutting down".into();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::INTAKE_BYTES;
    use crate::peer::files::Chunk;
    use crate::peer::inner::MsgId;
    use crate::peer::session::{Keys, Role, Session};
    use std::io::Write;
    use std::net::TcpListener;
    use std::time::Duration;

    const CHUNKS: usize = 100;
    const CHUNK: usize = 128 * 1024;

    /// A peer floods 100 chunks (12.5 MiB) at a node whose state thread takes nothing:
    /// the reader hands on at most its intake and waits; once the state catches up,
    /// the rest follow. Without the intake all 100 sat in the command queue.
    #[test]
    fn a_flooding_peer_fills_only_its_share_of_the_state_queue() {
        let keys = Keys::from_okm(&[7u8; 128]);
        let (mut send, _) = Session::new(&keys, Role::Initiator).split();
        let (_, recv) = Session::new(&keys, Role::Responder).split();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        let (state, commands) = StateHandle::channel();
        let (ctrl, _ctrl_rx) = bounded(4);
        let reader_thread = std::thread::spawn(move || {
            let last_rx = AtomicU64::new(0);
            let conn = ConnId::for_tests();
            reader(&server, recv, conn, &ctrl, &state, Instant::now(), &last_rx)
        });
        client
            .set_write_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let flooder = std::thread::spawn(move || {
            let (mut plain, mut wire) = (Vec::new(), Vec::new());
            for i in 0..CHUNKS {
                let chunk = Inner::FileChunk(Chunk {
                    id: MsgId([9; 16]),
                    index: i as u64,
                    hash: [0; 32],
                    data: vec![i as u8; CHUNK],
                });
                plain.clear();
                wire.clear();
                chunk.encode(&mut plain);
                send.seal(&plain, &mut wire).unwrap();
                if client.write_all(&wire).is_err() {
                    return i;
                }
            }
            CHUNKS
        });

        // The state takes nothing for a while: the intake fills (bounded wait: the
        // flooder seals slowly in a debug build on a busy machine), then stays full.
        let full = INTAKE_BYTES / CHUNK - 1;
        let give_up = Instant::now() + Duration::from_secs(20);
        while commands.len() < full && Instant::now() < give_up {
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(500));
        let queued = commands.len();
        assert!(queued >= full, "only {queued} queued");
        assert!(
            queued * CHUNK <= INTAKE_BYTES + CHUNK,
            "{queued} chunks of 128 KiB wait for the state"
        );

        // The state catches up: every chunk arrives, in order.
        let mut got = 0;
        let give_up = Instant::now() + Duration::from_secs(20);
        while got < CHUNKS && Instant::now() < give_up {
            if let Ok(Command::PeerMsg { inner, .. }) = commands
                .recv_timeout(Duration::from_millis(100))
                .map(|boxed| *boxed)
            {
                match inner {
                    Inner::FileChunk(c) => assert_eq!(c.index, got as u64),
                    other => panic!("unexpected {other:?}"),
                }
                got += 1;
            }
        }
        assert_eq!(got, CHUNKS);
        assert_eq!(flooder.join().unwrap(), CHUNKS);
        drop(commands);
        let _ = reader_thread.join();
    }
}
