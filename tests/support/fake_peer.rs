//! A scripted peer built on the library's own handshake (`purr::conn::handshake`): it
//! authenticates to a real node with a fixed identity and then does exactly what a test
//! tells it — send chosen records, read, stop reading, or vanish mid-stream.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use ed25519_dalek::SigningKey;
use purr::conn::handshake::run_initiator;
use purr::peer::frame::{self, FrameError};
use purr::peer::handshake::{Established, HandshakeError};
use purr::peer::inner::Inner;
use purr::peer::session::Session;

/// An authenticated connection to a node, driven by the test.
pub struct FakePeer {
    pub stream: TcpStream,
    pub session: Session,
    pub node_id: [u8; 32],
}

/// The id (64 hex) of the identity with this secret seed.
pub fn id_hex(seed: [u8; 32]) -> String {
    purr::hex::encode(&SigningKey::from_bytes(&seed).verifying_key().to_bytes())
}

/// Connects with the receive buffer capped before `connect` (so the TCP window stays
/// small and a peer that stops reading is noticed after kilobytes, not megabytes).
pub fn connect_small_window(addr: SocketAddr, rcvbuf: usize) -> TcpStream {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        None,
    )
    .expect("socket");
    socket.set_recv_buffer_size(rcvbuf).expect("SO_RCVBUF");
    socket
        .connect_timeout(&addr.into(), Duration::from_secs(5))
        .expect("connect");
    socket.into()
}

impl FakePeer {
    /// Dials `addr` and completes the handshake as `seed` (port 1, so the node's redials
    /// of this contact go nowhere).
    pub fn connect(addr: SocketAddr, seed: [u8; 32], name: &str) -> FakePeer {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
        FakePeer::over(stream, seed, name).expect("handshake")
    }

    /// Runs the handshake over an already connected stream.
    pub fn over(
        mut stream: TcpStream,
        seed: [u8; 32],
        name: &str,
    ) -> Result<FakePeer, HandshakeError> {
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream
            .set_write_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let key = SigningKey::from_bytes(&seed);
        let Established {
            session, peer_id, ..
        } = run_initiator(&mut stream, &key, 1, name)?;
        Ok(FakePeer {
            stream,
            session,
            node_id: peer_id,
        })
    }

    /// The sealed `DATA` frame carrying `inner`, as bytes for the wire.
    pub fn seal(&mut self, inner: &Inner) -> Vec<u8> {
        let (mut plain, mut wire) = (Vec::new(), Vec::new());
        inner.encode(&mut plain);
        self.session.seal(&plain, &mut wire).expect("seal");
        wire
    }

    pub fn send(&mut self, inner: &Inner) -> std::io::Result<()> {
        let wire = self.seal(inner);
        self.stream.write_all(&wire)
    }

    /// The next record, `None` once the node closed the connection (or it timed out).
    pub fn recv(&mut self) -> Option<Inner> {
        let plain = self.recv_plain()?;
        Some(Inner::parse(&plain).expect("node's record parses"))
    }

    /// The next record's plaintext (`kind | body`), unparsed: to check what a node
    /// sends against rules our own parser would hide (it cuts long lists, say).
    pub fn recv_plain(&mut self) -> Option<Vec<u8>> {
        let f = match frame::read_frame(&mut self.stream) {
            Ok(f) => f,
            Err(FrameError::Io(ErrorKind::WouldBlock | ErrorKind::TimedOut)) => return None,
            Err(_) => return None,
        };
        Some(self.session.open(&f.payload).expect("node's record opens"))
    }
}

/// A stream that fails every write once `left` bytes have gone out: a peer whose
/// connection is cut at an exact byte offset.
pub struct CutAfter {
    pub inner: TcpStream,
    pub left: usize,
}

impl Read for CutAfter {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.inner.read(buf)
    }
}

impl Write for CutAfter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            return Err(ErrorKind::BrokenPipe.into());
        }
        let n = buf.len().min(self.left);
        let n = self.inner.write(&buf[..n])?;
        self.left -= n;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}
