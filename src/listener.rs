//! The one TCP port: bind, accept, enforce the connection cap, sniff, dispatch (SPEC §2, §9).
//!
//! One acceptor thread does all of it up to the dispatch: it polls the listening socket
//! together with every accepted connection that has not yet sent its first 4 bytes (the
//! *lobby*), peeks those bytes without consuming them, and only then starts the HTTP,
//! WebSocket or peer thread. A connection that sends nothing, or dribbles bytes, costs a
//! file descriptor and a slot in the lobby until its 5 s deadline, never a thread: a
//! flood of idle sockets leaves no thread stacks or malloc arenas behind.
//!
//! A connection with 1–3 bytes in (a slow client, or a slowloris) would keep `poll`
//! reporting it readable, so it leaves the poll set and is peeked again every
//! [`PARTIAL_RECHECK`] until the rest arrives or its deadline passes.
//!
//! The cap counts every live connection, in the lobby or past it. Past `max - RESERVE`
//! only loopback connections are admitted, so a LAN flood cannot lock the user out of
//! their own UI; past `max` everything is closed at once. The count lives in an atomic
//! that a guard decrements on drop: the one piece of shared state outside the state
//! thread, because the acceptor must decide without a round trip and a connection's end
//! must be counted however its thread exits (even by panic).

use std::net::{IpAddr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags};

use socket2::{Domain, Protocol, Socket, Type};

use crate::bus::PeerContext;
use crate::conn;
use crate::http::{self, HttpContext};
use crate::threads::THREAD_STACK;

/// Connections kept free for loopback clients (the user's own UI).
pub const LOOPBACK_RESERVE: usize = 16;
/// How long a new connection has to send its first 4 bytes (SPEC §2).
pub const SNIFF_TIMEOUT: Duration = Duration::from_secs(5);
/// How often a connection that sent 1–3 bytes is peeked again.
pub const PARTIAL_RECHECK: Duration = Duration::from_millis(100);
/// Connections accepted per wake-up before the lobby is looked at again.
const ACCEPT_BURST: usize = 64;
/// Write deadline set on every accepted socket until its handler sets its own.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the port could not be opened. Fatal (exit 1).
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    /// Another process has the port.
    #[error(
        "port {0} is in use (another purr node, or another program): choose another with --port PORT, or --port 0 for any free port"
    )]
    InUse(u16),
    /// Anything else (no permission for ports < 1024, address not on this machine...).
    #[error("cannot listen on {addr}: {source}")]
    Other {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// Binds the listening socket: `--listen` if given, else `::` dual-stack, falling back to
/// `0.0.0.0` where the kernel has no IPv6.
pub fn bind(listen: Option<IpAddr>, port: u16) -> Result<TcpListener, ListenError> {
    match listen {
        Some(ip) => bind_one(SocketAddr::new(ip, port)),
        None => match bind_one(SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port)) {
            Err(ListenError::Other { source, .. })
                if source.raw_os_error() == Some(97) /* EAFNOSUPPORT */
                    || source.kind() == std::io::ErrorKind::AddrNotAvailable =>
            {
                log::warn!("no IPv6 on this machine ({source}); listening on IPv4 only");
                bind_one(SocketAddr::new(
                    IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
                    port,
                ))
            }
            other => other,
        },
    }
}

fn bind_one(addr: SocketAddr) -> Result<TcpListener, ListenError> {
    let other = |source| ListenError::Other { addr, source };
    let socket =
        Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP)).map_err(other)?;
    if addr.is_ipv6() {
        // Dual stack: IPv4 clients arrive as ::ffff:a.b.c.d.
        socket.set_only_v6(false).map_err(other)?;
    }
    socket.set_reuse_address(true).map_err(other)?;
    socket.bind(&addr.into()).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AddrInUse {
            ListenError::InUse(addr.port())
        } else {
            other(e)
        }
    })?;
    socket.listen(1024).map_err(other)?;
    Ok(socket.into())
}

/// Counts live connections; see the module docs.
#[derive(Debug, Clone, Default)]
pub struct ConnCounter(Arc<AtomicUsize>);

/// One live connection; decrements the count when dropped.
#[derive(Debug)]
pub struct ConnGuard(Arc<AtomicUsize>);

impl Drop for ConnGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl ConnCounter {
    /// Live connections now.
    pub fn get(&self) -> usize {
        self.0.load(Ordering::Acquire)
    }

    /// Admits a connection if the count is below `limit`.
    pub fn admit(&self, limit: usize) -> Option<ConnGuard> {
        self.0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < limit).then_some(n + 1)
            })
            .ok()
            .map(|_| ConnGuard(self.0.clone()))
    }
}

/// What the first 4 bytes say the connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sniffed {
    Http,
    Peer,
    Other,
}

/// Classifies the first 4 bytes (SPEC §2).
pub fn classify(first: &[u8]) -> Sniffed {
    const HTTP: [&[u8; 4]; 9] = [
        b"GET ", b"HEAD", b"POST", b"PUT ", b"DELE", b"CONN", b"OPTI", b"TRAC", b"PATC",
    ];
    match first {
        b"HAND" => Sniffed::Peer,
        f if HTTP.iter().any(|m| m.as_slice() == f) => Sniffed::Http,
        _ => Sniffed::Other,
    }
}

/// What a non-blocking peek at a lobby connection found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Peek {
    /// All 4 bytes are there (not consumed).
    Ready([u8; 4]),
    /// 1–3 bytes so far.
    Partial,
    /// Nothing yet.
    Empty,
    /// The client closed, or the socket failed.
    Gone,
}

/// Peeks at the first 4 bytes without waiting and without consuming them.
fn peek(stream: &TcpStream) -> Peek {
    use rustix::net::{recv, RecvFlags};
    let mut first = [0u8; 4];
    loop {
        return match recv(stream, &mut first, RecvFlags::PEEK | RecvFlags::DONTWAIT) {
            Ok((_, 4)) => Peek::Ready(first),
            Ok((_, 0)) => Peek::Gone,
            Ok(_) => Peek::Partial,
            Err(rustix::io::Errno::INTR) => continue,
            Err(rustix::io::Errno::AGAIN) => Peek::Empty,
            Err(_) => Peek::Gone,
        };
    }
}

/// A connection waiting for its first 4 bytes.
struct Waiting {
    stream: TcpStream,
    peer: SocketAddr,
    guard: ConnGuard,
    deadline: Instant,
    /// Some bytes are in: out of the poll set, peeked again at this time.
    recheck: Option<Instant>,
}

/// What the acceptor hands to each connection.
#[derive(Debug, Clone)]
pub struct ConnContext {
    pub http: HttpContext,
    pub peer: PeerContext,
    pub max_connections: usize,
    pub counter: ConnCounter,
}

/// Runs the accept loop on the current thread until `stop` is set and the socket is shut.
pub fn accept_loop(listener: TcpListener, ctx: ConnContext, stop: Arc<AtomicBool>) {
    let ctx = Arc::new(ctx);
    if let Err(e) = listener.set_nonblocking(true) {
        log::error!("cannot make the listening socket non-blocking: {e}");
        return;
    }
    let mut lobby: Vec<Waiting> = Vec::new();
    let mut accept_failed = false;
    while !stop.load(Ordering::Acquire) {
        let now = Instant::now();
        let (listener_ready, ready) = wait(&listener, &lobby, now, accept_failed);
        if stop.load(Ordering::Acquire) {
            break;
        }
        let now = Instant::now();
        accept_failed = false;
        if listener_ready {
            accept_failed = !accept_burst(&listener, &ctx, &mut lobby, now);
        }
        // Peek at what poll reported and at the partial ones that are due; the rest stay.
        // Backwards, so that swap_remove only moves entries already looked at.
        for i in (0..lobby.len()).rev() {
            let w = &lobby[i];
            let due = ready.get(i).copied().unwrap_or(false) || w.recheck.is_some_and(|t| t <= now);
            let expired = w.deadline <= now;
            let verdict = if due || expired {
                peek(&w.stream)
            } else {
                Peek::Empty
            };
            match verdict {
                Peek::Ready(first) => dispatch(lobby.swap_remove(i), first, &ctx),
                Peek::Gone => drop(lobby.swap_remove(i)),
                _ if expired => {
                    let w = lobby.swap_remove(i);
                    log::debug!(
                        "{}: nothing recognisable within {SNIFF_TIMEOUT:?}; closing",
                        w.peer
                    );
                }
                Peek::Partial => lobby[i].recheck = Some(now + PARTIAL_RECHECK),
                Peek::Empty => {}
            }
        }
    }
    log::debug!("acceptor stopped");
}

/// Polls the listener and the lobby; returns whether the listener is readable and, per
/// lobby entry, whether it is. Waits until the earliest deadline or recheck at most.
fn wait(
    listener: &TcpListener,
    lobby: &[Waiting],
    now: Instant,
    accept_failed: bool,
) -> (bool, Vec<bool>) {
    let mut next = now + SNIFF_TIMEOUT;
    if accept_failed {
        // Out of fds or memory: poll would report the listener at once; back off.
        next = now + Duration::from_millis(100);
    }
    let mut fds = Vec::with_capacity(lobby.len() + 1);
    let mut index = Vec::with_capacity(lobby.len());
    let listen_events = if accept_failed {
        PollFlags::empty()
    } else {
        PollFlags::IN
    };
    fds.push(PollFd::new(listener, listen_events));
    for (i, w) in lobby.iter().enumerate() {
        next = next.min(w.deadline);
        match w.recheck {
            Some(t) => next = next.min(t),
            None => {
                fds.push(PollFd::new(&w.stream, PollFlags::IN));
                index.push(i);
            }
        }
    }
    let timeout = next.saturating_duration_since(now);
    let timeout = rustix::event::Timespec {
        tv_sec: i64::try_from(timeout.as_secs()).unwrap_or(i64::MAX),
        tv_nsec: i64::from(timeout.subsec_nanos()),
    };
    match rustix::event::poll(&mut fds, Some(&timeout)) {
        Ok(_) => {}
        Err(rustix::io::Errno::INTR) => return (false, Vec::new()),
        Err(e) => {
            log::warn!("poll failed: {e}");
            std::thread::sleep(Duration::from_millis(100));
            return (false, Vec::new());
        }
    }
    let listener_ready = !fds[0].revents().is_empty();
    let mut ready = vec![false; lobby.len()];
    for (fd, i) in fds[1..].iter().zip(index) {
        ready[i] = !fd.revents().is_empty();
    }
    (listener_ready, ready)
}

/// Accepts what is waiting (up to [`ACCEPT_BURST`]) into the lobby; `false` if accept
/// failed for want of resources.
fn accept_burst(
    listener: &TcpListener,
    ctx: &ConnContext,
    lobby: &mut Vec<Waiting>,
    now: Instant,
) -> bool {
    for _ in 0..ACCEPT_BURST {
        let (stream, peer) = match listener.accept() {
            Ok(pair) => pair,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return true,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionAborted => continue,
            Err(e) => {
                log::warn!("accept failed: {e}");
                return false;
            }
        };
        let peer = crate::net::canonical(peer);
        let loopback = crate::net::is_loopback(peer.ip());
        let limit = if loopback {
            ctx.max_connections
        } else {
            ctx.max_connections.saturating_sub(LOOPBACK_RESERVE)
        };
        let Some(guard) = ctx.counter.admit(limit) else {
            log::debug!("connection cap reached; closing {peer} at once");
            continue; // dropping `stream` closes it
        };
        // Accepted sockets do not inherit O_NONBLOCK on Linux; peeks use MSG_DONTWAIT.
        lobby.push(Waiting {
            stream,
            peer,
            guard,
            deadline: now + SNIFF_TIMEOUT,
            recheck: None,
        });
    }
    true
}

/// Starts the thread for a connection whose first 4 bytes are in.
fn dispatch(w: Waiting, first: [u8; 4], ctx: &Arc<ConnContext>) {
    let Waiting {
        stream,
        peer,
        guard,
        ..
    } = w;
    let kind = classify(&first);
    if kind == Sniffed::Other {
        log::debug!("{peer}: unknown protocol; closing");
        return;
    }
    // Handlers read with deadlines of their own; this one bounds them until they do.
    if stream.set_read_timeout(Some(SNIFF_TIMEOUT)).is_err()
        || stream.set_write_timeout(Some(WRITE_TIMEOUT)).is_err()
    {
        return;
    }
    // Every accepted socket: which are peers is known only after the sniff.
    crate::conn::tcp::tune(&stream);
    let ctx = ctx.clone();
    let spawned = std::thread::Builder::new()
        .name("conn".into())
        .stack_size(THREAD_STACK)
        .spawn(move || match kind {
            Sniffed::Http => {
                let _guard = guard;
                http::serve(stream, peer, &ctx.http)
            }
            // The guard goes on to the connection's own thread, after the handshake.
            Sniffed::Peer => conn::serve_incoming(stream, peer, &ctx.peer, guard),
            Sniffed::Other => drop(guard),
        });
    if let Err(e) = spawned {
        log::warn!("cannot start a thread for {peer}: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        for m in [
            "GET ", "HEAD", "POST", "PUT ", "DELE", "CONN", "OPTI", "TRAC", "PATC",
        ] {
            assert_eq!(classify(m.as_bytes()), Sniffed::Http, "{m}");
        }
        assert_eq!(classify(b"HAND"), Sniffed::Peer);
        assert_eq!(classify(b"hand"), Sniffed::Other);
        assert_eq!(classify(b"GETX"), Sniffed::Other);
        assert_eq!(classify(b"\x16\x03\x01\x00"), Sniffed::Other);
        assert_eq!(classify(b"GE"), Sniffed::Other);
    }

    #[test]
    fn counter_caps_and_releases() {
        let c = ConnCounter::default();
        let a = c.admit(2).unwrap();
        let _b = c.admit(2).unwrap();
        assert!(c.admit(2).is_none());
        assert!(c.admit(3).is_some_and(|g| {
            drop(g);
            true
        }));
        drop(a);
        assert_eq!(c.get(), 1);
        assert!(c.admit(2).is_some());
    }

    #[test]
    fn peek_sees_partial_then_all_four_bytes_without_consuming_them() {
        use std::io::Write;
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (s, _) = l.accept().unwrap();
        assert_eq!(peek(&s), Peek::Empty);
        c.write_all(b"GE").unwrap();
        let settle = Instant::now() + Duration::from_secs(2);
        while peek(&s) == Peek::Empty && Instant::now() < settle {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(peek(&s), Peek::Partial);
        c.write_all(b"T / HTTP/1.1\r\n").unwrap();
        while peek(&s) == Peek::Partial && Instant::now() < settle {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(peek(&s), Peek::Ready(*b"GET "));
        // Peeked, not consumed.
        let mut all = [0u8; 4];
        std::io::Read::read_exact(&mut &s, &mut all).unwrap();
        assert_eq!(&all, b"GET ");
    }

    #[test]
    fn peek_sees_a_closed_connection() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (s, _) = l.accept().unwrap();
        drop(c);
        let settle = Instant::now() + Duration::from_secs(2);
        while peek(&s) == Peek::Empty && Instant::now() < settle {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(peek(&s), Peek::Gone);
    }
}
