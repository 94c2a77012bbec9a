//! The one TCP port: bind, accept, enforce the connection cap, sniff, dispatch (SPEC §2, §9).
//!
//! One acceptor thread. Each accepted connection gets a thread (small stack) that peeks
//! its first 4 bytes with `MSG_PEEK | MSG_WAITALL` under a 5 s deadline (the kernel
//! waits for all 4, no polling) and becomes the HTTP, WebSocket or peer thread.
//!
//! The cap counts every live connection. Past `max - RESERVE` only loopback connections
//! are admitted, so a LAN flood cannot lock the user out of their own UI; past `max`
//! everything is closed at once. The count lives in an atomic that a guard decrements on
//! drop: the one piece of shared state outside the state thread, because the acceptor
//! must decide without a round trip and a connection's end must be counted however its
//! thread exits (even by panic).

use std::net::{IpAddr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

use crate::http::{self, HttpContext};
use crate::peer::conn::{self as peer_conn, PeerContext};

/// Stack size of connection threads: they keep big buffers on the heap, and a Pi with
/// 512 connections should not reserve 1 GiB of address space for stacks.
pub const THREAD_STACK: usize = 256 * 1024;
/// Connections kept free for loopback clients (the user's own UI).
pub const LOOPBACK_RESERVE: usize = 16;
/// How long a new connection has to send its first 4 bytes (SPEC §2).
pub const SNIFF_TIMEOUT: Duration = Duration::from_secs(5);
/// Write deadline set on every accepted socket until its handler sets its own.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the port could not be opened. Fatal (exit 1).
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    /// Another process has the port.
    #[error("port {0} is in use")]
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

/// Peeks the first 4 bytes without consuming them; `None` if they don't arrive in time.
fn sniff(stream: &TcpStream) -> Option<[u8; 4]> {
    use rustix::net::{recv, RecvFlags};
    let mut first = [0u8; 4];
    // The socket's read timeout (SNIFF_TIMEOUT) bounds the wait; WAITALL makes the kernel
    // wait for all 4 bytes instead of returning 1 byte of a slow client.
    loop {
        match recv(stream, &mut first, RecvFlags::PEEK | RecvFlags::WAITALL) {
            Ok((_, 4)) => return Some(first),
            Ok(_) => return None, // EOF or a partial peek at the deadline
            Err(rustix::io::Errno::INTR) => continue,
            Err(_) => return None,
        }
    }
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
    loop {
        let (stream, peer) = match listener.accept() {
            Ok(pair) => pair,
            Err(e) => {
                if stop.load(Ordering::Acquire) {
                    break;
                }
                // Out of fds or memory: back off instead of spinning on the error.
                log::warn!("accept failed: {e}");
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        if stop.load(Ordering::Acquire) {
            break;
        }
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
        let ctx = ctx.clone();
        let spawned = std::thread::Builder::new()
            .name("conn".into())
            .stack_size(THREAD_STACK)
            .spawn(move || {
                let _guard = guard;
                handle(stream, peer, &ctx);
            });
        if let Err(e) = spawned {
            log::warn!("cannot start a thread for {peer}: {e}");
        }
    }
    log::debug!("acceptor stopped");
}

fn handle(stream: TcpStream, peer: SocketAddr, ctx: &ConnContext) {
    if stream.set_read_timeout(Some(SNIFF_TIMEOUT)).is_err()
        || stream.set_write_timeout(Some(WRITE_TIMEOUT)).is_err()
    {
        return;
    }
    let _ = stream.set_nodelay(true);
    let Some(first) = sniff(&stream) else {
        log::debug!("{peer}: nothing recognisable within {SNIFF_TIMEOUT:?}; closing");
        return;
    };
    match classify(&first) {
        Sniffed::Http => http::serve(stream, peer, &ctx.http),
        Sniffed::Peer => peer_conn::serve_incoming(stream, peer, &ctx.peer),
        Sniffed::Other => log::debug!("{peer}: unknown protocol; closing"),
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
    fn sniff_waits_for_all_four_bytes() {
        use std::io::Write;
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let t = std::thread::spawn(move || {
            let mut c = TcpStream::connect(addr).unwrap();
            c.write_all(b"GE").unwrap();
            std::thread::sleep(Duration::from_millis(200));
            c.write_all(b"T / HTTP/1.1\r\n").unwrap();
            std::thread::sleep(Duration::from_millis(200));
        });
        let (s, _) = l.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        assert_eq!(sniff(&s), Some(*b"GET "));
        // Peeked, not consumed.
        let mut all = [0u8; 4];
        std::io::Read::read_exact(&mut &s, &mut all).unwrap();
        assert_eq!(&all, b"GET ");
        t.join().unwrap();
    }

    #[test]
    fn sniff_gives_up_at_the_deadline() {
        use std::io::Write;
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let mut c = TcpStream::connect(addr).unwrap();
        c.write_all(b"G").unwrap();
        let (s, _) = l.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let start = std::time::Instant::now();
        assert_eq!(sniff(&s), None);
        assert!(start.elapsed() < Duration::from_secs(2));
    }
}
