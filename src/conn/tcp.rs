//! TCP options of peer connections.
//!
//! Linux backs off TCP retransmissions exponentially, to 120 s between tries: after a
//! LAN outage of a few seconds (a switch restarting, a Wi-Fi roam, a cable moved) what
//! waited in a connection goes out only at the next try, seconds after the link is
//! back. On a LAN a lost segment is retried within a second for as long as the
//! connection lives (its end is still ours to decide: 45 s of silence). Linux 6.15 added
//! `TCP_RTO_MAX_MS` for that; older kernels refuse it and keep their backoff.

use std::net::TcpStream;
use std::os::fd::AsRawFd;

/// The longest wait between two retransmissions of a peer connection.
pub const RTO_MAX_MS: u32 = 1000;

/// `TCP_RTO_MAX_MS` from linux/tcp.h (not in the libc crate yet).
const TCP_RTO_MAX_MS: libc::c_int = 44;

/// Sets the options every peer connection gets: no Nagle delay, and retransmissions
/// at most [`RTO_MAX_MS`] apart where the kernel allows it (returns whether it did).
pub fn tune(stream: &TcpStream) -> bool {
    let _ = stream.set_nodelay(true);
    cap_retransmit_wait(stream)
}

/// Bytes a peer session's socket may hold written but not yet sent
/// (`TCP_NOTSENT_LOWAT`), and received but not yet read (`SO_RCVBUF`; the kernel doubles
/// it for its bookkeeping). A chat record queued behind a file waits for what the two
/// kernels already hold; kept small, the rest of the credit window waits in the
/// connection's bulk lane, which every ordinary record overtakes (issue 17: chat never
/// waits behind a file). 256 KiB per round trip still fills a gigabit LAN at a 2 ms RTT.
pub const NOTSENT_LOWAT: u32 = 128 * 1024;
/// See [`NOTSENT_LOWAT`].
pub const RECV_BUFFER: usize = 256 * 1024;

/// After the handshake, on peer sessions only (the local API's uploads keep the
/// kernel's autotuned buffers): the small kernel queues of [`NOTSENT_LOWAT`]. Best
/// effort: a kernel without these options still carries the session.
pub fn tune_session(stream: &TcpStream) {
    let sock = socket2::SockRef::from(stream);
    let _ = sock.set_tcp_notsent_lowat(NOTSENT_LOWAT);
    let _ = sock.set_recv_buffer_size(RECV_BUFFER);
}

#[allow(unsafe_code)]
fn cap_retransmit_wait(stream: &TcpStream) -> bool {
    let ms = RTO_MAX_MS as libc::c_int;
    // SAFETY: the fd is the stream's, open for the call; the option value is a c_int
    // that lives across the call, and its size is passed with it.
    let rc = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::IPPROTO_TCP,
            TCP_RTO_MAX_MS,
            std::ptr::addr_of!(ms).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    rc == 0
}

/// The connection's `TCP_RTO_MAX_MS`, where the kernel has it (for tests).
#[allow(unsafe_code)]
pub fn retransmit_wait_ms(stream: &TcpStream) -> Option<u32> {
    let mut ms: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: as above; `ms` and `len` are valid for writes for the call's duration.
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::IPPROTO_TCP,
            TCP_RTO_MAX_MS,
            std::ptr::addr_of_mut!(ms).cast(),
            &mut len,
        )
    };
    (rc == 0).then(|| u32::try_from(ms).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn peer_sockets_retransmit_within_a_second_where_the_kernel_allows_it() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let Some(default) = retransmit_wait_ms(&stream) else {
            eprintln!("SKIP: this kernel has no TCP_RTO_MAX_MS (before Linux 6.15)");
            return;
        };
        assert_eq!(default, 120_000, "the kernel's default");
        assert!(tune(&stream));
        assert_eq!(retransmit_wait_ms(&stream), Some(RTO_MAX_MS));
        assert!(stream.nodelay().unwrap());
    }
}
