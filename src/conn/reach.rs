//! Dial-backs for a peer's `RBCK` (issue 20, peer-assisted reachability).
//!
//! The state thread has already checked the job (rate, count, and that every address
//! is one it would dial for that peer anyway, docs/SECURITY.md); this thread only dials.
//! Each address gets one TCP connect and our `HAND` (a throwaway key: nothing of our
//! identity is spent), the `HAND` that comes back is read for its id, and the
//! connection is closed before any `AUTH`: the far node sees a handshake that stopped
//! half-way (logged at debug level), never a session or a stranger.
//!
//! ```text
//!   state ──ReachJob{peer, nonce, addrs ≤ 16}──▶ reach thread
//!     one scoped thread per address: connect (≤ 3 s in all) ─▶ our HAND ─▶ their HAND?
//!       id = peer ─▶ ok · another id ─▶ other_key · anything else ─▶ handshake
//!   state ◀──ReachDone{peer, nonce, results}── (the state answers RBRS)
//! ```

use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use super::deadline::Deadlined;
use crate::bus::{Command, ConnectFailure, DialError, PeerContext, ReachJob};
use crate::peer::frame;
use crate::peer::hand::{Hand, MAX_HAND_LEN};
use crate::peer::handshake::Handshake;
use crate::peer::reach::{Outcome, Tried, MAX_REACH_ADDRS};

/// One address, connect and `HAND` together (the issue: a short deadline, ≤ 3 s).
pub const DEADLINE: Duration = Duration::from_secs(3);

/// Starts the dial-backs of `job` on a thread of their own: the state's
/// [`crate::bus::ReachFn`].
pub fn spawn(job: ReachJob, ctx: PeerContext) -> Result<(), DialError> {
    crate::threads::spawn("reach", move || {
        // Reports however the thread ends (a panic included): the state counts the
        // jobs running, and a job that never reported would hold its slot for good.
        let mut report = Report {
            ctx: &ctx,
            job: &job,
            results: Vec::new(),
        };
        report.results = run(&job, ctx.port);
    })
    .map(drop)
    .map_err(|e| DialError::NoThread(e.to_string()))
}

/// Sends `ReachDone` when dropped.
struct Report<'a> {
    ctx: &'a PeerContext,
    job: &'a ReachJob,
    results: Vec<Tried>,
}

impl Drop for Report<'_> {
    fn drop(&mut self) {
        self.ctx.state.send(Command::ReachDone {
            peer: self.job.peer,
            nonce: self.job.nonce,
            results: std::mem::take(&mut self.results),
        });
    }
}

/// Tries every address of `job` at once (at most [`MAX_REACH_ADDRS`], each within
/// [`DEADLINE`]), so the whole job takes about 3 s however many there are.
pub fn run(job: &ReachJob, our_port: u16) -> Vec<Tried> {
    let addrs = &job.addrs[..job.addrs.len().min(MAX_REACH_ADDRS)];
    std::thread::scope(|s| {
        let handles: Vec<_> = addrs
            .iter()
            .map(|&addr| {
                let peer = job.peer;
                std::thread::Builder::new()
                    .name("reach-dial".into())
                    .stack_size(crate::threads::THREAD_STACK)
                    .spawn_scoped(s, move || try_one(addr, &peer, our_port))
            })
            .collect();
        handles
            .into_iter()
            .zip(addrs)
            .map(|(h, &addr)| match h.map(|h| h.join()) {
                Ok(Ok(tried)) => tried,
                _ => Tried {
                    addr,
                    outcome: Outcome::Failed,
                    ms: 0,
                },
            })
            .collect()
    })
}

/// Connects to `addr`, sends a `HAND`, and reads the one that comes back.
fn try_one(addr: SocketAddr, peer: &[u8; 32], our_port: u16) -> Tried {
    let began = Instant::now();
    let done = |outcome| Tried {
        addr,
        outcome,
        ms: u32::try_from(began.elapsed().as_millis()).unwrap_or(u32::MAX),
    };
    let stream = match TcpStream::connect_timeout(&addr, DEADLINE) {
        Ok(s) => s,
        Err(e) => {
            return done(match DialError::connect(&e) {
                DialError::Connect(ConnectFailure::Refused, _) => Outcome::Refused,
                DialError::Connect(ConnectFailure::TimedOut, _) => Outcome::TimedOut,
                DialError::Connect(ConnectFailure::Unreachable, _) => Outcome::Unreachable,
                _ => Outcome::Failed,
            })
        }
    };
    let connected = done(Outcome::Ok).ms;
    let outcome = hand_back(&stream, peer, our_port, began + DEADLINE);
    let _ = stream.shutdown(std::net::Shutdown::Both);
    Tried {
        // The time to connect: what a dial costs; the HAND adds a round trip.
        ms: connected,
        ..done(outcome)
    }
}

/// Our `HAND` with a throwaway key, then theirs: whose id does it name?
fn hand_back(stream: &TcpStream, peer: &[u8; 32], our_port: u16, deadline: Instant) -> Outcome {
    let Ok(key) = crate::identity::Identity::generate() else {
        return Outcome::Failed;
    };
    let Ok((_, hand)) = Handshake::initiator_random(key.signing_key(), our_port.max(1), "reach")
    else {
        return Outcome::Failed;
    };
    let mut io = Deadlined { stream, deadline };
    if frame::write_bytes(&mut io, &hand).is_err() {
        return Outcome::Handshake;
    }
    match frame::read_frame_limited(&mut io, MAX_HAND_LEN) {
        Ok(f) if &f.cmd == b"HAND" => match Hand::parse(&f.payload) {
            Ok(h) if &h.id == peer => Outcome::Ok,
            Ok(_) => Outcome::OtherKey,
            Err(_) => Outcome::Handshake,
        },
        _ => Outcome::Handshake,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(peer: [u8; 32], addrs: Vec<SocketAddr>) -> ReachJob {
        ReachJob {
            peer,
            nonce: [0; 16],
            addrs,
        }
    }

    #[test]
    fn a_purr_hand_is_ok_another_id_is_other_key_and_nothing_is_refused() {
        let peer = crate::identity::Identity::generate().unwrap();
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let at = l.local_addr().unwrap();
        let id = peer.id();
        let server = std::thread::spawn(move || {
            for _ in 0..2 {
                let (s, _) = l.accept().unwrap();
                let mut s2 = s.try_clone().unwrap();
                let first = frame::read_frame_limited(&mut s2, MAX_HAND_LEN).unwrap();
                assert_eq!(&first.cmd, b"HAND");
                let hs = Handshake::responder_random(peer.signing_key(), 1, "bob").unwrap();
                // The responder's HAND goes out with its AUTH on the HAND it got.
                if let Ok(crate::peer::handshake::Step::Continue(_, out)) = hs.on_frame(first) {
                    let _ = frame::write_bytes(&mut s2, &out);
                }
                drop(s);
            }
        });
        let other = crate::identity::Identity::generate().unwrap().id();
        let r = run(&job(id, vec![at]), 1);
        assert_eq!(r[0].outcome, Outcome::Ok, "{r:?}");
        let r = run(&job(other, vec![at]), 1);
        assert_eq!(r[0].outcome, Outcome::OtherKey, "{r:?}");
        server.join().unwrap();
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let gone = closed.local_addr().unwrap();
        drop(closed);
        let r = run(&job(id, vec![gone]), 1);
        assert_eq!(r[0].outcome, Outcome::Refused, "{r:?}");
    }
}
