//! An established peer connection's thread, and the responder side of the handshake
//! for accepted sockets.
//!
//! After the handshake a connection has this one thread. Its socket is non-blocking;
//! the thread waits in poll(2) for the socket (readable, or writable while sealed bytes
//! wait) and for its queues' [`Doorbell`](crate::doorbell::Doorbell), with a timeout
//! at the next of its clocks: the peer's silence limit, the next `PING`, a write that
//! made no progress. Each round it writes what waits ([`Outgoing`]), reads what the
//! socket has into an [`Assembler`] and hands each complete record on. Before it
//! sleeps it gives its buffers back: an idle connection holds its thread's stack, its
//! session and little else.

use std::io::{ErrorKind, Read};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use rustix::event::{poll, PollFd, PollFlags, Timespec};

use super::deadline::Deadlined;
use super::outgoing::Outgoing;
use super::{PING_AFTER, SILENCE_LIMIT, WRITE_TIMEOUT};
use crate::bus::{Command, ConnId, Intake, PeerContext, PeerOutbox, PeerUp, StateHandle};
use crate::conn::handshake as driver;
use crate::peer::assemble::Assembler;
use crate::peer::frame::{self, MAX_FRAME_LEN};
use crate::peer::handshake::{Established, HandshakeError};
use crate::peer::inner::Inner;
use crate::peer::session::{RecvHalf, SendHalf};

/// How long one wait for the state to take this connection's earlier records lasts
/// before the connection writes what waits and tries again (the whole wait is bounded
/// by [`SILENCE_LIMIT`]).
const INTAKE_STEP: Duration = Duration::from_millis(10);

/// A connection with no traffic either way for this long gives back the stack pages
/// its deeper code touched (sealing, opening, parsing, logging: ~12 KiB), which a
/// connection that sleeps 15 s between pings should not keep. Not at every
/// sleep: a busy connection would fault them in again for each record.
const GO_COLD_AFTER: Duration = Duration::from_secs(2);

/// Serves a connection whose first bytes were `HAND`: we are the responder. `hold`
/// (the listener's count of open connections) is kept until the connection ends.
pub fn serve_incoming<H: Send + 'static>(
    stream: TcpStream,
    addr: SocketAddr,
    ctx: &PeerContext,
    hold: H,
) {
    if let Some((est, name)) = handshake_incoming(&stream, addr, ctx) {
        let start = Handshaken {
            stream,
            addr,
            est,
            our_name: name,
        };
        if let Err(e) = hand_over(start, ctx.clone(), None, hold) {
            log::warn!("{addr}: {e}");
        }
    }
}

/// A connection whose handshake is done, on its way to its own thread.
pub(super) struct Handshaken {
    pub stream: TcpStream,
    pub addr: SocketAddr,
    pub est: Established,
    pub our_name: String,
}

/// Starts the thread that serves an authenticated connection; the thread that ran the
/// handshake then ends.
///
/// Why not serve it on the handshake's thread: the handshake allocates and frees a
/// great many small blocks (curve arithmetic, JSON, signatures), and glibc keeps what a
/// thread frees in that thread's cache (tcache, up to 7 blocks of each size) for the
/// thread's life: 15 KiB per connection, measured with 100 idle peers (heap in use
/// 21.5 KiB per peer, 6.3 KiB with the cache disabled). A thread that exits hands its
/// cache back to the arena, where every thread can use it; and the new thread's stack
/// never held the handshake's deep frames.
pub(super) fn hand_over<H: Send + 'static>(
    start: Handshaken,
    ctx: PeerContext,
    dialed: Option<String>,
    hold: H,
) -> std::io::Result<()> {
    crate::threads::spawn("peer", move || {
        let _hold = hold;
        run_established(start, &ctx, dialed);
    })
    .map(drop)
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

/// After the handshake: report `PeerUp`, then serve the connection until it ends.
fn run_established(start: Handshaken, ctx: &PeerContext, dialed: Option<String>) {
    let Handshaken {
        stream,
        addr,
        est,
        our_name,
    } = start;
    // A stack glibc reuses from an ended thread may hold that thread's deep pages.
    crate::memory::release_stack_below_here();
    let (tx, bulk, outbox) = match crate::bus::peer_queues() {
        Ok(q) => q,
        Err(e) => {
            log::warn!("{addr}: no room for another connection: {e}");
            return;
        }
    };
    if let Err(e) = stream.set_nonblocking(true) {
        log::warn!("{addr}: {e}");
        return;
    }
    super::tcp::tune_session(&stream);
    let (send, recv) = est.session.split();
    let conn = ConnId::next();
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
        let mut link = Link::new(&stream, send, recv, outbox, conn, &ctx.state);
        let why = link.run();
        log::info!("{conn}: peer {short}… disconnected: {why}");
    }
    let _ = stream.shutdown(Shutdown::Both);
    ctx.state.send(Command::PeerDown { conn });
}

/// One established connection, served by its thread.
struct Link<'a> {
    stream: &'a TcpStream,
    send: SendHalf,
    recv: RecvHalf,
    conn: ConnId,
    state: &'a StateHandle,
    /// This connection's share of the state's queue.
    intake: Intake,
    input: Assembler,
    out: Outgoing,
    /// When the last complete frame came (the silence and ping clocks).
    last_rx: Instant,
    last_ping: Option<Instant>,
    /// When bytes last went either way.
    last_active: Instant,
    /// The stack below the loop was given back, and nothing happened since.
    cold: bool,
    /// Whether a read may find something: after poll(2) said so, or after a read that
    /// filled its room. Saves a read that would block on every wake by the bell.
    readable: bool,
}

impl<'a> Link<'a> {
    fn new(
        stream: &'a TcpStream,
        send: SendHalf,
        recv: RecvHalf,
        outbox: PeerOutbox,
        conn: ConnId,
        state: &'a StateHandle,
    ) -> Link<'a> {
        Link {
            stream,
            send,
            recv,
            conn,
            state,
            intake: Intake::for_this_thread(),
            input: Assembler::default(),
            out: Outgoing::new(outbox),
            last_rx: Instant::now(),
            last_ping: None,
            last_active: Instant::now(),
            cold: false,
            readable: true,
        }
    }

    /// Serves the connection until it ends; returns why it ended.
    fn run(&mut self) -> String {
        loop {
            if let Err(why) = self.write_waiting() {
                return why;
            }
            if self.out.done() {
                return "the node let go of it".into();
            }
            let more = match self.read_some() {
                Ok(more) => more,
                Err(why) => return why,
            };
            let now = Instant::now();
            if now >= self.last_rx + SILENCE_LIMIT {
                return format!("silent for {SILENCE_LIMIT:?}");
            }
            if let Some(since) = self.out.stalled_since() {
                if now >= since + WRITE_TIMEOUT {
                    return format!("took none of our records for {WRITE_TIMEOUT:?}");
                }
            }
            if now >= self.next_ping() {
                self.last_ping = Some(now);
                self.out.control(Inner::Ping);
                continue;
            }
            if more || (self.out.waiting() && !self.out.pending()) {
                continue;
            }
            if let Err(why) = self.sleep(now) {
                return why;
            }
        }
    }

    /// When a `PING` is due: [`PING_AFTER`] without a frame from the peer, and as long
    /// since the last one.
    fn next_ping(&self) -> Instant {
        let after_rx = self.last_rx + PING_AFTER;
        match self.last_ping {
            Some(p) => after_rx.max(p + PING_AFTER),
            None => after_rx,
        }
    }

    fn write_waiting(&mut self) -> Result<(), String> {
        let mut sock = self.stream;
        let wrote = self
            .out
            .flush(&mut sock, &mut self.send, Instant::now())
            .map_err(|e| e.to_string())?;
        if wrote {
            self.active();
        }
        Ok(())
    }

    /// Bytes went one way or the other.
    fn active(&mut self) {
        self.last_active = Instant::now();
        self.cold = false;
    }

    /// One read of what the socket has, and every record it completes handed on; true
    /// when the read filled the room offered (more is probably waiting).
    fn read_some(&mut self) -> Result<bool, String> {
        if !self.readable {
            return Ok(false);
        }
        let room = self.input.space();
        let offered = room.len();
        let mut sock = self.stream;
        let n = match sock.read(room) {
            Ok(0) => {
                self.input.filled(0);
                return Err(match self.input.truncated() {
                    None => "closed by peer".into(),
                    Some(e) => format!("frame error: {e}"),
                });
            }
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => 0,
            Err(e) if e.kind() == ErrorKind::WouldBlock => 0,
            Err(e) => {
                self.input.filled(0);
                return Err(format!("read failed: {e}"));
            }
        };
        self.input.filled(n);
        if n > 0 {
            self.active();
        }
        loop {
            let frame = match self.input.next_frame(MAX_FRAME_LEN) {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) => return Err(format!("frame error: {e}")),
            };
            // Any complete frame is traffic: the silence clock restarts.
            self.last_rx = Instant::now();
            if frame.cmd != frame::DATA {
                return Err(format!(
                    "unexpected frame {}",
                    frame::CmdDisplay(&frame.cmd)
                ));
            }
            self.record(&frame.payload)?;
        }
        self.readable = n == offered;
        Ok(self.readable)
    }

    /// Opens one record and hands it on (or answers it, for `PING`).
    fn record(&mut self, payload: &[u8]) -> Result<(), String> {
        let plain = self
            .recv
            .open(payload)
            .map_err(|e| format!("bad record: {e}"))?;
        let size = plain.len();
        let inner = Inner::parse(&plain).map_err(|e| format!("malformed inner message: {e}"))?;
        drop(plain);
        match inner {
            Inner::Ping => self.out.control(Inner::Pong),
            // PONG goes on to the state: it proves a probed link alive (issue 16.7).
            Inner::Unknown(_) => {}
            Inner::Auth(_) => return Err("AUTH after the handshake".into()),
            other => {
                let charge = self.charge(size)?;
                let msg = Command::PeerMsg {
                    conn: self.conn,
                    inner: other,
                    charge,
                };
                if !self.state.send(msg) {
                    return Err("node shutting down".into());
                }
            }
        }
        Ok(())
    }

    /// Charges `size` bytes to this connection's intake, waiting while its earlier
    /// records still fill its share of the state's queue: the socket is not read
    /// meanwhile, so TCP slows the peer. What waits to be written goes on meanwhile.
    fn charge(&mut self, size: usize) -> Result<crate::bus::Charge, String> {
        let give_up = Instant::now() + SILENCE_LIMIT;
        loop {
            match self.intake.charge(size, INTAKE_STEP) {
                Ok(c) => return Ok(c),
                Err(s) if Instant::now() >= give_up => {
                    return Err(format!(
                        "the node took none of its {} KiB of records for {SILENCE_LIMIT:?}",
                        s.waiting / 1024
                    ))
                }
                Err(_) => self.write_waiting()?,
            }
        }
    }

    /// Waits in poll(2) for the socket, the bell or the next clock; buffers are given
    /// back first.
    fn sleep(&mut self, now: Instant) -> Result<(), String> {
        self.input.shed();
        self.out.shed();
        if !self.cold && now >= self.last_active + GO_COLD_AFTER {
            crate::memory::release_stack_below_here();
            self.cold = true;
        }
        let bell = self.out.bell();
        bell.arm();
        // The last look: a record queued before the bell was armed did not ring it.
        if self.out.waiting() && !self.out.pending() {
            bell.disarm();
            return Ok(());
        }
        let mut wake = (self.last_rx + SILENCE_LIMIT).min(self.next_ping());
        if let Some(since) = self.out.stalled_since() {
            wake = wake.min(since + WRITE_TIMEOUT);
        }
        if !self.cold {
            wake = wake.min(self.last_active + GO_COLD_AFTER);
        }
        let wait = wake.saturating_duration_since(now) + Duration::from_millis(1);
        let timeout = Timespec::try_from(wait).ok();
        let mut sock_events = PollFlags::IN;
        if self.out.pending() {
            sock_events |= PollFlags::OUT;
        }
        let mut fds = [
            PollFd::new(self.stream, sock_events),
            PollFd::new(bell, PollFlags::IN),
        ];
        let polled = poll(&mut fds, timeout.as_ref());
        // A read of the bell only when it rang: most wakes of a busy link are its socket.
        if fds[1].revents().contains(PollFlags::IN) {
            bell.clear();
        } else {
            bell.disarm();
        }
        // Readable, or closed or failed: the next read tells which.
        self.readable = fds[0]
            .revents()
            .intersects(PollFlags::IN | PollFlags::HUP | PollFlags::ERR);
        match polled {
            Ok(_) | Err(rustix::io::Errno::INTR) => Ok(()),
            Err(e) => Err(format!("poll failed: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::INTAKE_BYTES;
    use crate::peer::files::Chunk;
    use crate::peer::frame::FrameError;
    use crate::peer::inner::MsgId;
    use crate::peer::session::{Keys, Role, Session};
    use std::io::Write;
    use std::net::TcpListener;
    use std::time::Duration;

    /// A link served on its own thread over loopback, and the peer's end: its socket,
    /// the halves to seal and open with, the state's queue and the commands the link
    /// sends to the state.
    struct Served {
        client: TcpStream,
        seal: SendHalf,
        open: RecvHalf,
        queue: Option<crate::bus::PeerQueue>,
        _commands: crate::bus::Commands,
        thread: std::thread::JoinHandle<String>,
    }

    fn serve() -> Served {
        let keys = Keys::from_okm(&[5u8; 128]);
        let (seal, open) = Session::new(&keys, Role::Initiator).split();
        let (reply, recv) = Session::new(&keys, Role::Responder).split();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let (server, _) = listener.accept().unwrap();
        let (state, commands) = StateHandle::channel();
        let (queue, _bulk, outbox) = crate::bus::peer_queues().unwrap();
        let thread = std::thread::spawn(move || {
            server.set_nonblocking(true).unwrap();
            let mut link = Link::new(&server, reply, recv, outbox, ConnId::for_tests(), &state);
            link.run()
        });
        Served {
            client,
            seal,
            open,
            queue: Some(queue),
            _commands: commands,
            thread,
        }
    }

    impl Served {
        /// The next record the link wrote, `None` at the end of the stream.
        fn next(&mut self) -> Option<Inner> {
            match frame::read_frame(&mut self.client) {
                Ok(f) => Some(Inner::parse(&self.open.open(&f.payload).unwrap()).unwrap()),
                Err(FrameError::Closed) => None,
                Err(e) => panic!("reading what the link wrote: {e}"),
            }
        }
    }

    /// The connection sleeps in poll(2) until its doorbell rings: a record the state
    /// queues then goes out at once (without the bell it would wait for the next PING,
    /// 15 s). When the state lets go of the link (drops its queue), what it queued is
    /// written and the connection closes, also when the drop comes right after the
    /// sends (20 rounds; the order inside `PeerQueue`'s drop, sender first and then
    /// the bell, is what keeps a thread woken by it from finding the queue still open).
    #[test]
    fn the_doorbell_wakes_a_sleeping_connection_and_a_dropped_queue_closes_it() {
        let mut s = serve();
        std::thread::sleep(Duration::from_millis(300));
        let sent = Instant::now();
        s.queue.as_ref().unwrap().try_send(Inner::Pong).unwrap();
        assert_eq!(s.next(), Some(Inner::Pong));
        assert!(
            sent.elapsed() < Duration::from_secs(1),
            "{:?}",
            sent.elapsed()
        );
        drop(s.queue.take());
        assert_eq!(s.next(), None);
        assert_eq!(s.thread.join().unwrap(), "the node let go of it");

        for round in 0..20u64 {
            let mut s = serve();
            std::thread::sleep(Duration::from_millis(round % 4));
            let queue = s.queue.take().unwrap();
            for _ in 0..3 {
                queue.try_send(Inner::Pong).unwrap();
            }
            drop(queue);
            for _ in 0..3 {
                assert_eq!(s.next(), Some(Inner::Pong), "round {round}");
            }
            assert_eq!(s.next(), None, "round {round}");
            assert_eq!(s.thread.join().unwrap(), "the node let go of it");
        }
    }

    /// A `PING` from the peer is answered by the connection itself; a record of another
    /// kind goes on to the state.
    #[test]
    fn a_ping_is_answered_and_other_records_go_to_the_state() {
        let mut s = serve();
        let mut wire = Vec::new();
        for msg in [Inner::Ping, Inner::Read(vec![MsgId([3; 16])])] {
            let mut plain = Vec::new();
            msg.encode(&mut plain);
            s.seal.seal(&plain, &mut wire).unwrap();
        }
        s.client.write_all(&wire).unwrap();
        assert_eq!(s.next(), Some(Inner::Pong));
        let cmd = s._commands.recv_timeout(Duration::from_secs(5)).unwrap();
        assert!(
            matches!(*cmd, Command::PeerMsg { inner: Inner::Read(ref ids), .. } if ids == &[MsgId([3; 16])]),
            "{cmd:?}"
        );
        drop(s.queue.take());
        assert_eq!(s.thread.join().unwrap(), "the node let go of it");
    }

    const CHUNKS: usize = 100;
    const CHUNK: usize = 128 * 1024;

    /// A peer floods 100 chunks (12.5 MiB) at a node whose state thread takes nothing:
    /// the connection hands on at most its intake and waits; once the state catches up,
    /// the rest follow. Without the intake all 100 sat in the command queue.
    #[test]
    fn a_flooding_peer_fills_only_its_share_of_the_state_queue() {
        let keys = Keys::from_okm(&[7u8; 128]);
        let (mut send, _) = Session::new(&keys, Role::Initiator).split();
        let (reply, recv) = Session::new(&keys, Role::Responder).split();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        let (state, commands) = StateHandle::channel();
        let reader_thread = std::thread::spawn(move || {
            server.set_nonblocking(true).unwrap();
            let (_queue, _bulk, outbox) = crate::bus::peer_queues().unwrap();
            let conn = ConnId::for_tests();
            let mut link = Link::new(&server, reply, recv, outbox, conn, &state);
            link.run()
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
