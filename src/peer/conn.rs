//! Peer connection threads: the only code that moves peer-protocol bytes over sockets.
//!
//! A connection is born from an accepted socket whose first bytes were `HAND`
//! ([`serve_incoming`]) or from a dial ([`dial`]). Either way the handshake runs under
//! one 10 s deadline; then the connection gets two threads:
//!
//! ```text
//!             ┌──────── reader (this thread) ─────────┐
//!  socket ──▶ │ read_frame → open → Inner::parse      │──PeerMsg──▶ state
//!             │ PING → ctrl(Pong)   AUTH again → close │
//!             └────────────────────────────────────────┘
//!   state ──Outgoing(bounded 256)──▶ writer ──seal, batch──▶ socket
//!                          ctrl ──▶ writer   (tick 5 s: PING after 15 s without rx)
//! ```
//!
//! Lifetimes: the state thread holds the only `Sender<Inner>` of a connection. Dropping
//! it (duplicate, slow peer, shutdown) ends the writer, which shuts the socket, which
//! ends the reader, which reports `PeerDown`. A reader that ends first (EOF, bad record,
//! 45 s of silence) shuts the socket and reports `PeerDown`; the state drops the sender.

use std::io::{BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, select, tick, Receiver, Sender};

use super::driver;
use super::frame::{self, FrameError};
use super::handshake::{Established, HandshakeError};
use super::inner::Inner;
use super::session::{RecvHalf, Role, SendHalf};
use crate::identity::Identity;
use crate::state::{ApiReply, ApiRequest, Command, StateHandle};

/// Records that may wait for a peer's writer; a full queue means the peer cannot keep up.
pub const QUEUE_LEN: usize = 256;
/// SPEC §7: ping after 15 s without traffic from the peer.
pub const PING_AFTER: Duration = Duration::from_secs(15);
/// SPEC §7: close after 45 s without a complete frame from the peer.
pub const SILENCE_LIMIT: Duration = Duration::from_secs(45);
/// A single write that takes longer than this means the peer stopped reading.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a TCP connect may take.
pub const DIAL_TIMEOUT: Duration = Duration::from_secs(5);
/// The writer checks for idleness this often.
const IDLE_CHECK: Duration = Duration::from_secs(5);
/// At most this many queued records go out in one write.
const MAX_BATCH: usize = 64;
/// A batch also ends once this many bytes are sealed (one record may take it past).
const MAX_BATCH_BYTES: usize = 256 * 1024;
/// Buffer capacity a writer keeps between writes; a bigger one (one large record) is
/// given back after its write.
const KEEP_BYTES: usize = 2 * MAX_BATCH_BYTES;

/// Identifies one connection (a peer may have had many).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnId(u64);

impl ConnId {
    fn next() -> ConnId {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        ConnId(NEXT.fetch_add(1, Ordering::Relaxed))
    }

    /// A fresh id for unit tests of code that keys on connections.
    #[doc(hidden)]
    pub fn for_tests() -> ConnId {
        ConnId::next()
    }
}

impl std::fmt::Display for ConnId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "c{}", self.0)
    }
}

/// What connection threads need; cheap to clone.
#[derive(Debug, Clone)]
pub struct PeerContext {
    /// This node's identity (signs `AUTH`).
    pub identity: Arc<Identity>,
    /// Our listening port, advertised in `HAND`.
    pub port: u16,
    /// Where connection events go.
    pub state: StateHandle,
    /// SPEC §7 step 4 (10 s); shorter in tests.
    pub handshake_timeout: Duration,
}

/// A peer that just authenticated, as reported to the state thread.
#[derive(Debug)]
pub struct PeerUp {
    /// This connection.
    pub conn: ConnId,
    /// The peer's verified id.
    pub id: [u8; 32],
    /// The display name from its `HAND`.
    pub name: String,
    /// The name we put in our own `HAND`: if the node was renamed since, the peer must
    /// hear the new one as `NAME` (a rename only reaches peers already online).
    pub our_name: String,
    /// The listening port from its `HAND`.
    pub port: u16,
    /// Our role on this connection (decides duplicates, SPEC §7 step 3).
    pub role: Role,
    /// The socket's remote address.
    pub addr: SocketAddr,
    /// The connection's outgoing queue.
    pub tx: Sender<Inner>,
}

/// Why a dial did not produce a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DialError {
    /// The address did not resolve.
    Resolve(String),
    /// TCP connect failed.
    Connect(String),
    /// The handshake failed (includes "this is ourselves").
    Handshake(String),
    /// The address is this node.
    SelfConnection,
}

impl std::fmt::Display for DialError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DialError::Resolve(e) => write!(f, "cannot resolve: {e}"),
            DialError::Connect(e) => write!(f, "cannot connect: {e}"),
            DialError::Handshake(e) => write!(f, "handshake failed: {e}"),
            DialError::SelfConnection => write!(f, "that address is this node itself"),
        }
    }
}

/// A stream whose every read and write must finish by one deadline.
struct Deadlined<'a> {
    stream: &'a TcpStream,
    deadline: Instant,
}

impl Deadlined<'_> {
    fn left(&self) -> std::io::Result<Duration> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(std::io::ErrorKind::TimedOut.into());
        }
        Ok(left)
    }
}

impl Read for Deadlined<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.stream.set_read_timeout(Some(self.left()?))?;
        (&mut &*self.stream).read(buf)
    }
}

impl Write for Deadlined<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.stream.set_write_timeout(Some(self.left()?))?;
        (&mut &*self.stream).write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The name to put in our `HAND`: the current one, from the state thread.
fn current_name(ctx: &PeerContext) -> Option<String> {
    match ctx.state.ask(ApiRequest::Me) {
        Some(ApiReply::Me(me)) => Some(me.name),
        _ => None,
    }
}

/// Serves a connection whose first bytes were `HAND`: we are the responder.
pub fn serve_incoming(stream: TcpStream, addr: SocketAddr, ctx: &PeerContext) {
    let Some(name) = current_name(ctx) else {
        return;
    };
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

/// Dials `target` (`host:port`), runs the handshake as initiator, and serves the
/// connection; a failure is reported as `DialFailed`. Runs on its own thread.
pub fn dial(target: String, ctx: PeerContext) {
    match connect_and_handshake(&target, &ctx) {
        Ok((stream, addr, est, name)) => {
            run_established(stream, addr, est, name, &ctx, Some(target))
        }
        Err(error) => {
            ctx.state.send(Command::DialFailed { target, error });
        }
    }
}

fn connect_and_handshake(
    target: &str,
    ctx: &PeerContext,
) -> Result<(TcpStream, SocketAddr, Established, String), DialError> {
    let addrs: Vec<SocketAddr> = target
        .to_socket_addrs()
        .map_err(|e| DialError::Resolve(e.to_string()))?
        .collect();
    let name = current_name(ctx).ok_or(DialError::Connect("node shutting down".into()))?;
    let mut last = DialError::Resolve(format!("{target} has no address"));
    for addr in addrs {
        let stream = match TcpStream::connect_timeout(&addr, DIAL_TIMEOUT) {
            Ok(s) => s,
            Err(e) => {
                last = DialError::Connect(e.to_string());
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let mut io = Deadlined {
            stream: &stream,
            deadline: Instant::now() + ctx.handshake_timeout,
        };
        return match driver::run_initiator(&mut io, ctx.identity.signing_key(), ctx.port, &name) {
            Ok(est) => Ok((stream, crate::net::canonical(addr), est, name)),
            Err(HandshakeError::SelfConnection) => Err(DialError::SelfConnection),
            Err(e) => Err(DialError::Handshake(e.to_string())),
        };
    }
    Err(last)
}

/// Milliseconds since an arbitrary process-wide origin, for the shared "last received".
fn now_ms(origin: Instant) -> u64 {
    u64::try_from(origin.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// After the handshake: start the writer, report `PeerUp`, read until the end.
fn run_established(
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
    let (send, recv) = est.session.split();
    let conn = ConnId::next();
    let (tx, rx) = bounded::<Inner>(QUEUE_LEN);
    let (ctrl_tx, ctrl_rx) = bounded::<Inner>(4);
    let origin = Instant::now();
    let last_rx = Arc::new(AtomicU64::new(0));
    let writer_last_rx = last_rx.clone();
    let spawned = std::thread::Builder::new()
        .name("peer-writer".into())
        .stack_size(crate::listener::THREAD_STACK)
        .spawn(move || writer(write_half, send, rx, ctrl_rx, origin, writer_last_rx));
    if spawned.is_err() {
        return;
    }
    let short = crate::hex::encode(&est.peer_id[..4]);
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
            Inner::Pong | Inner::Unknown(_) => {}
            Inner::Auth(_) => return "AUTH after the handshake".into(),
            other => {
                if !state.send(Command::PeerMsg { conn, inner: other }) {
                    return "node shutting down".into();
                }
            }
        }
    }
}

/// The writer's buffers: queued records are sealed one after another into `wire` and
/// go out in one write.
#[derive(Default)]
struct Batch {
    plain: Vec<u8>,
    wire: Vec<u8>,
}

impl Batch {
    /// Seals `first` and then what `more` yields, up to [`MAX_BATCH`] records or
    /// [`MAX_BATCH_BYTES`]; returns the bytes to write.
    fn seal(
        &mut self,
        first: Inner,
        mut more: impl FnMut() -> Option<Inner>,
        send: &mut SendHalf,
    ) -> Result<&[u8], super::session::RecordError> {
        self.wire.clear();
        let mut next = Some(first);
        let mut count = 0;
        while let Some(msg) = next.take() {
            self.plain.clear();
            msg.encode(&mut self.plain);
            send.seal(&self.plain, &mut self.wire)?;
            count += 1;
            if count < MAX_BATCH && self.wire.len() < MAX_BATCH_BYTES {
                next = more();
            }
        }
        Ok(&self.wire)
    }

    /// Gives back buffers a large record grew past [`KEEP_BYTES`]. A connection lives
    /// for days, and a buffer keeps its largest size: `make soak` found a node holding
    /// 6.7 MB for one connection's writes (a burst of `READ` receipts of 4,096 ids
    /// each, batched), growing again with each bigger burst.
    fn release(&mut self) {
        for buf in [&mut self.plain, &mut self.wire] {
            if buf.capacity() > KEEP_BYTES {
                *buf = Vec::new();
            }
        }
    }
}

/// Seals and writes what the state thread and the reader queue, pings when idle.
fn writer(
    mut stream: TcpStream,
    mut send: SendHalf,
    rx: Receiver<Inner>,
    ctrl: Receiver<Inner>,
    origin: Instant,
    last_rx: Arc<AtomicU64>,
) {
    let idle = tick(IDLE_CHECK);
    let mut last_ping = 0u64;
    let mut batch = Batch::default();
    loop {
        let first = select! {
            recv(rx) -> m => match m {
                Ok(m) => m,
                Err(_) => break, // the state thread let go of this connection
            },
            recv(ctrl) -> m => match m {
                Ok(m) => m,
                Err(_) => break,
            },
            recv(idle) -> _ => {
                let now = now_ms(origin);
                let quiet = now.saturating_sub(last_rx.load(Ordering::Relaxed));
                if quiet < PING_AFTER.as_millis() as u64
                    || now.saturating_sub(last_ping) < PING_AFTER.as_millis() as u64
                {
                    continue;
                }
                last_ping = now;
                Inner::Ping
            },
        };
        let wire = match batch.seal(first, || rx.try_recv().ok(), &mut send) {
            Ok(wire) => wire,
            Err(e) => {
                log::warn!("cannot seal a record: {e}");
                let _ = stream.shutdown(Shutdown::Both);
                return;
            }
        };
        if let Err(e) = stream.write_all(wire) {
            log::debug!("peer write failed: {e}");
            break;
        }
        batch.release();
    }
    let _ = stream.shutdown(Shutdown::Both);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peer::inner::{ListEntry, MsgId};
    use crate::peer::session::{Keys, Session};

    fn send_half() -> SendHalf {
        let keys = Keys::from_okm(&[7u8; 128]);
        Session::new(&keys, Role::Initiator).split().0
    }

    /// A `READ` of 4,096 ids: about 143 KB, the largest record a node sends in bulk.
    fn big_read() -> Inner {
        Inner::Read((0..4096u32).map(|i| MsgId([i as u8; 16])).collect())
    }

    #[test]
    fn a_batch_ends_at_its_byte_limit_and_leaves_the_rest_queued() {
        let mut send = send_half();
        let mut batch = Batch::default();
        let mut queued = 63;
        let more = || {
            (queued > 0).then(|| {
                queued -= 1;
                big_read()
            })
        };
        let len = batch.seal(big_read(), more, &mut send).unwrap().len();
        let one = {
            let mut plain = Vec::new();
            big_read().encode(&mut plain);
            plain.len()
        };
        assert!(len >= MAX_BATCH_BYTES, "{len}");
        // The last record takes it past the limit, by its size plus the frame's header,
        // IV, padding and tag.
        assert!(len < MAX_BATCH_BYTES + one + 128, "{len}");
        assert!(queued > 50, "only {queued} of 63 left queued");
    }

    #[test]
    fn buffers_a_large_record_grew_are_given_back_after_the_write() {
        let mut send = send_half();
        let mut batch = Batch::default();
        // A LIST of 1,024 entries of 16 IPv6 addresses: ~700 KB in one record.
        let addrs: Vec<SocketAddr> = (0..16u16)
            .map(|i| SocketAddr::from(([0x2001, 0xdb8, 0, 0, 0, 0, 0x1234, i], 35035)))
            .collect();
        let list = Inner::List(
            (0..1024u32)
                .map(|i| ListEntry {
                    id: [i as u8; 32],
                    addrs: addrs.clone(),
                    name: format!("node {i}"),
                })
                .collect(),
        );
        let len = batch.seal(list, || None, &mut send).unwrap().len();
        assert!(len > KEEP_BYTES, "{len}");
        batch.release();
        assert!(batch.wire.capacity() <= KEEP_BYTES);
        assert!(batch.plain.capacity() <= KEEP_BYTES);

        // An ordinary batch keeps its buffers for the next write.
        batch.seal(big_read(), || None, &mut send).unwrap();
        let kept = batch.wire.capacity();
        batch.release();
        assert_eq!(batch.wire.capacity(), kept);
    }
}
