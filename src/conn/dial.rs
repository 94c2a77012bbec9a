//! Outgoing peer connections: connect, run the handshake as initiator, then serve the
//! connection like an accepted one. A dial thread reports `DialFailed` or hands the
//! connection to a thread of its own, and ends.

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Instant;

use super::deadline::Deadlined;
use super::peer::{hand_over, Handshaken};
use super::DIAL_TIMEOUT;
use crate::bus::{Command, DialError, PeerContext};
use crate::conn::handshake as driver;
use crate::peer::handshake::{Established, HandshakeError};

/// Starts a dial thread for `target` (`host:port`): the state thread's
/// [`crate::bus::DialFn`].
pub fn spawn_dial(target: String, ctx: PeerContext) -> Result<(), DialError> {
    crate::threads::spawn("dial", move || dial(target, ctx))
        .map(drop)
        .map_err(|e| DialError::NoThread(e.to_string()))
}

/// Dials `target` (`host:port`), runs the handshake as initiator, and hands the
/// connection to its own thread (see [`hand_over`]); a failure is reported as
/// `DialFailed`. Runs on its own thread.
fn dial(target: String, ctx: PeerContext) {
    let error = match connect_and_handshake(&target, &ctx) {
        Ok((stream, addr, est, our_name)) => {
            let start = Handshaken {
                stream,
                addr,
                est,
                our_name,
            };
            match hand_over(start, ctx.clone(), Some(target.clone()), ()) {
                Ok(()) => return,
                Err(e) => DialError::NoThread(e.to_string()),
            }
        }
        Err(error) => error,
    };
    ctx.state.send(Command::DialFailed { target, error });
}

fn connect_and_handshake(
    target: &str,
    ctx: &PeerContext,
) -> Result<(TcpStream, SocketAddr, Established, String), DialError> {
    let addrs: Vec<SocketAddr> = target
        .to_socket_addrs()
        .map_err(|e| DialError::Resolve(e.to_string()))?
        .collect();
    let name = ctx.name.get().to_string();
    let mut last = DialError::Resolve(format!("{target} has no address"));
    for addr in addrs {
        let stream = match TcpStream::connect_timeout(&addr, DIAL_TIMEOUT) {
            Ok(s) => s,
            Err(e) => {
                last = DialError::connect(&e);
                continue;
            }
        };
        super::tcp::tune(&stream);
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
