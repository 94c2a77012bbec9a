//! The central state thread: the one owner of the node's mutable state.
//!
//! Every other thread (HTTP, WebSocket, peer connections, discovery) talks to it only by
//! sending a [`Command`] on a crossbeam channel; it answers through channels the command
//! carries. Nothing here is shared behind a lock, and the loop never does network I/O:
//! events for UIs go into each UI's bounded queue with `try_send`, so a stuck browser
//! can only lose its own subscription, never stall the node.
//!
//! ```text
//!   ws threads ──Subscribe/Ui/Unsubscribe──┐
//!   http threads ──Api{reply}──────────────┤            ┌──▶ UI queue 1 ──▶ ws writer 1
//!   signal handler ──Shutdown──────────────┼──▶ state ──┼──▶ UI queue 2 ──▶ ws writer 2
//!   (later) peer threads, discovery ───────┘   (loop)   └──▶ (later) peer queues
//!                                     tick (1 s) ──▶
//! ```

mod subscribers;

use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{bounded, select, tick, Receiver, Sender};

use crate::api::{ClientCmd, Event, Me, Peer};
use crate::datadir::DataDir;
use crate::identity::{self, Identity};

use subscribers::Subscribers;
pub use subscribers::{SubId, UI_QUEUE_LEN};

/// How many commands may wait for the state thread before senders block.
const COMMAND_QUEUE_LEN: usize = 4096;

/// What other threads ask of the state thread.
#[derive(Debug)]
pub enum Command {
    /// A UI connected; send its events to `tx`.
    Subscribe { sub: SubId, tx: Sender<Arc<str>> },
    /// A UI went away.
    Unsubscribe { sub: SubId },
    /// A command from a UI.
    Ui { sub: SubId, cmd: ClientCmd },
    /// A request of the local JSON API; the answer goes to `reply`.
    Api {
        req: ApiRequest,
        reply: Sender<ApiReply>,
    },
    /// Stop the loop (SIGINT/SIGTERM).
    Shutdown,
}

/// Requests of the local JSON API (SPEC §6).
#[derive(Debug, Clone, PartialEq)]
pub enum ApiRequest {
    /// `GET /api/v1/me`
    Me,
    /// `GET /api/v1/peers`
    Peers,
}

/// Answers to [`ApiRequest`]s.
#[derive(Debug, Clone, PartialEq)]
pub enum ApiReply {
    Me(Me),
    Peers(Vec<Peer>),
}

/// A cloneable handle for sending commands to the state thread.
#[derive(Debug, Clone)]
pub struct StateHandle {
    tx: Sender<Command>,
}

impl StateHandle {
    /// Sends a command; false when the state thread has stopped (the node is shutting down).
    pub fn send(&self, cmd: Command) -> bool {
        self.tx.send(cmd).is_ok()
    }

    /// Asks an API question and waits (bounded) for the answer.
    pub fn ask(&self, req: ApiRequest) -> Option<ApiReply> {
        let (reply, rx) = bounded(1);
        if !self.send(Command::Api { req, reply }) {
            return None;
        }
        rx.recv_timeout(Duration::from_secs(5)).ok()
    }
}

/// What the state thread needs to start.
pub struct StateConfig {
    pub identity: Identity,
    pub name: String,
    pub port: u16,
    pub data_dir: DataDir,
}

/// The state owned by the thread.
struct State {
    identity: Identity,
    name: String,
    port: u16,
    data_dir: DataDir,
    subs: Subscribers,
}

/// Starts the state thread. Returns its handle and the join handle; the thread ends on
/// [`Command::Shutdown`] or when every handle is dropped.
pub fn spawn(config: StateConfig) -> std::io::Result<(StateHandle, std::thread::JoinHandle<()>)> {
    let (tx, rx) = bounded(COMMAND_QUEUE_LEN);
    let state = State {
        identity: config.identity,
        name: config.name,
        port: config.port,
        data_dir: config.data_dir,
        subs: Subscribers::default(),
    };
    let join = std::thread::Builder::new()
        .name("state".into())
        .spawn(move || state.run(rx))?;
    Ok((StateHandle { tx }, join))
}

impl State {
    fn run(mut self, rx: Receiver<Command>) {
        let ticker = tick(Duration::from_secs(1));
        loop {
            select! {
                recv(rx) -> cmd => match cmd {
                    Ok(Command::Shutdown) | Err(_) => break,
                    Ok(cmd) => self.handle(cmd),
                },
                recv(ticker) -> _ => self.on_tick(),
            }
        }
        log::debug!("state thread stopped");
    }

    fn handle(&mut self, cmd: Command) {
        match cmd {
            Command::Subscribe { sub, tx } => self.subs.add(sub, tx),
            Command::Unsubscribe { sub } => self.subs.remove(sub),
            Command::Ui { sub, cmd } => self.on_ui(sub, cmd),
            Command::Api { req, reply } => {
                let answer = match req {
                    ApiRequest::Me => ApiReply::Me(self.me()),
                    ApiRequest::Peers => ApiReply::Peers(self.peers()),
                };
                // The asker may have timed out and gone; nothing to do then.
                let _ = reply.try_send(answer);
            }
            Command::Shutdown => {}
        }
    }

    /// Timers (peer redials, keepalives) hang off this tick as they arrive.
    fn on_tick(&mut self) {}

    fn me(&self) -> Me {
        Me {
            id: self.identity.id_hex(),
            name: self.name.clone(),
            fingerprint: identity::fingerprint(&self.identity.id()),
            port: self.port,
        }
    }

    fn peers(&self) -> Vec<Peer> {
        Vec::new()
    }

    fn on_ui(&mut self, sub: SubId, cmd: ClientCmd) {
        match cmd {
            ClientCmd::Hello => {
                self.subs.send(sub, &Event::Me(self.me()));
                self.subs.send(
                    sub,
                    &Event::Peers {
                        peers: self.peers(),
                    },
                );
            }
            ClientCmd::Peers => self.subs.send(
                sub,
                &Event::Peers {
                    peers: self.peers(),
                },
            ),
            ClientCmd::Rename { name } => self.rename(sub, name),
            other => {
                let name = other.name();
                self.subs.send(
                    sub,
                    &Event::error(
                        format!("`{name}` is not available in this version yet"),
                        Some(name.to_string()),
                    ),
                );
            }
        }
    }

    fn rename(&mut self, sub: SubId, name: String) {
        if let Err(e) = identity::validate_name(&name) {
            self.subs
                .send(sub, &Event::error(e.to_string(), Some("rename".into())));
            return;
        }
        // A rename is rare and the file is tiny; writing it here keeps the name and the
        // file in one owner. (Message commits never happen on this thread.)
        if let Err(e) = self.data_dir.save_name(&name) {
            log::warn!("could not save the new name: {e}");
            self.subs.send(
                sub,
                &Event::error(
                    format!("could not save the name: {e}"),
                    Some("rename".into()),
                ),
            );
        }
        log::info!("renamed to {name:?}");
        self.name = name;
        self.subs.broadcast(&Event::Me(self.me()));
    }
}
