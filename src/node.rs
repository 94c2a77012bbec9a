//! Running a node: open the data dir, bind the port, start the threads (state, acceptor,
//! LAN discovery unless `--no-discovery`), print the three startup lines, wait for
//! SIGINT/SIGTERM/SIGHUP, shut down.
//!
//! Order matters: the lock is taken before anything is read or created, so two nodes on
//! one data dir can never both write it; the port is bound before the identity and the
//! token are created, so a node that cannot listen leaves no new identity behind;
//! `node.json` is written only once we listen, so a client that finds it can connect.
//!
//! SIGHUP is a shutdown like SIGTERM: it is what a node started from an SSH session gets
//! when the session ends (a service manager sends SIGTERM). Unless it was ignored when we
//! started (`nohup purr &`): then the user asked to survive the hang-up, and it stays
//! ignored.

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::bus::Command;
use crate::cli::NodeArgs;
use crate::datadir::{DataDir, DataDirError, NodeInfo};
use crate::http::HttpContext;
use crate::listener::{self, ConnContext, ConnCounter, ListenError};
use crate::state::{self, StateConfig};

/// Why a node could not run. Each maps to exit code 1 with this message.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// A thread the node cannot run without died: exit non-zero so that a service
    /// manager restarts it.
    #[error("the node cannot go on: {0}")]
    Died(String),
    /// The data dir or a file in it.
    #[error(transparent)]
    DataDir(#[from] DataDirError),
    /// The port.
    #[error(transparent)]
    Listen(#[from] ListenError),
    /// The message database.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// `--name` is not a valid display name.
    #[error("bad --name: {0}")]
    Name(#[from] crate::rules::NameError),
    /// `--peers FILE` cannot be read.
    #[error("cannot read --peers file {path}: {source}")]
    PeersFile {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    /// The OS refused a thread or a signal handler.
    #[error("cannot start: {0}")]
    Start(#[from] std::io::Error),
}

/// The UI address printed at start and by `purr url`.
pub fn ui_url(listen: IpAddr, port: u16, token: Option<&str>) -> String {
    let host = match listen {
        IpAddr::V6(v6) if v6.is_loopback() => "[::1]",
        _ => "127.0.0.1",
    };
    match token {
        Some(t) => format!("http://{host}:{port}/?token={t}"),
        None => format!("http://{host}:{port}/"),
    }
}

/// Runs a node until SIGINT/SIGTERM/SIGHUP; returns `Ok` on a clean shutdown.
pub fn run(args: NodeArgs) -> Result<(), NodeError> {
    // Before any thread exists (see `memory`).
    crate::memory::limit_arenas();
    crate::memory::fix_mmap_threshold();
    let start_mappings = crate::memory::StartMappings::read();
    let dir_path = args
        .data_dir
        .clone()
        .unwrap_or_else(crate::cli::default_data_dir);
    if let Some(n) = &args.name {
        crate::rules::validate_name(n)?;
    }
    let mut data_dir = DataDir::create(&dir_path)?;
    data_dir.lock()?;
    let listener = listener::bind(args.listen, args.port)?;
    let (committed_tx, committed) = crossbeam_channel::unbounded();
    let writer_config = crate::store::WriterConfig {
        commit_delay: Duration::from_millis(args.store_commit_delay_ms),
        no_fsync: args.bench_no_fsync,
        panic_at_first_batch: args.fault_panic == Some(crate::cli::FaultPanic::StoreWriter),
        ..Default::default()
    };
    // The key and token files and the database do not depend on each other: made at
    // the same time, a first start waits for the slower one's flushes, not for all of
    // them one after the other. A bad key is still the error reported first.
    let (keys, store) = std::thread::scope(|s| {
        let keys = std::thread::Builder::new()
            .name("keys".into())
            .spawn_scoped(s, || data_dir.identity_and_token());
        let store = crate::store::open(&dir_path, writer_config, committed_tx);
        let keys = match keys {
            Ok(handle) => handle
                .join()
                .unwrap_or_else(|_| Err(DataDirError::Panicked("the identity files"))),
            // No thread to spare: write them here.
            Err(_) => data_dir.identity_and_token(),
        };
        (keys, store)
    });
    let (identity, token) = keys?;
    let store = store?;
    let name = match &args.name {
        Some(n) => crate::rules::normalize_name(n),
        None => data_dir
            .saved_name()
            .unwrap_or_else(|| crate::cli::default_name(&dir_path)),
    };

    let local: SocketAddr = listener.local_addr()?;
    let port = local.port();
    let id_hex = identity.id_hex();
    let identity_id = identity.id();
    let ui_token = (!args.no_ui_auth).then_some(token);
    let url = ui_url(local.ip(), port, ui_token.as_deref());
    let token_required = ui_token.is_some();

    let signals = if sighup_ignored() {
        log::info!("SIGHUP is ignored (nohup): the node stops on SIGINT or SIGTERM only");
        Signals::new([SIGINT, SIGTERM])?
    } else {
        Signals::new([SIGINT, SIGTERM, SIGHUP])?
    };
    let info_dir = DataDir::existing(&dir_path);
    if args.clock_offset_ms != 0 {
        log::warn!(
            "test mode: the wall clock is shifted by {} ms (--clock-offset-ms)",
            args.clock_offset_ms
        );
    }
    let (state, peer_ctx, state_join) = state::spawn(StateConfig {
        identity: Arc::new(identity),
        name,
        port,
        data_dir,
        configured: configured_targets(&args)?,
        handshake_timeout: Duration::from_millis(args.handshake_timeout_ms),
        clock: state::Clock {
            offset_ms: args.clock_offset_ms,
        },
        store,
        committed,
        dial: crate::conn::spawn_dial,
        reach: crate::conn::reach::spawn,
        panic_at_first_tick: args.fault_panic == Some(crate::cli::FaultPanic::State),
        about: crate::diag::NodeFacts {
            listen: Some(local.to_string()),
            discovery: !args.no_discovery && !crate::net::is_loopback(local.ip()),
            beacon_interval_s: Some(args.beacon_interval),
            ..Default::default()
        },
        strangers_per_minute: args.strangers_per_minute,
        downloads: args.downloads.clone(),
        auto_accept_images: args.auto_accept_images << 20,
        idle_session: Duration::from_secs(args.idle_session_secs),
        announce: state::announce::Setup {
            listen: local.ip(),
            advertise: args.advertise.clone(),
        },
        code: start_mappings.clone(),
    })?;

    let stop = Arc::new(AtomicBool::new(false));
    let ctx = ConnContext {
        http: HttpContext {
            state: state.clone(),
            token: ui_token.map(Arc::from),
            files_dir: Arc::from(dir_path.join(crate::files::FILES_DIR)),
        },
        peer: peer_ctx,
        max_connections: args.max_connections,
        counter: ConnCounter::default(),
    };
    let accept_socket = listener.try_clone()?;
    let acceptor = {
        let stop = stop.clone();
        std::thread::Builder::new()
            .name("acceptor".into())
            .spawn(move || listener::accept_loop(listener, ctx, stop))?
    };

    // After the acceptor: a peer that hears our first beacon can connect at once.
    if args.no_discovery {
        log::info!("LAN discovery is off (--no-discovery): no beacons sent or heard");
    } else if crate::net::is_loopback(local.ip()) {
        // Peers on the LAN could not reach the port a beacon would announce.
        log::info!("LAN discovery is off: listening on loopback only ({local})");
        if !args.scan_ranges.is_empty() {
            log::warn!("--scan is ignored: listening on loopback only ({local})");
        }
    } else {
        let config = crate::discovery::Config {
            id: identity_id,
            port,
            interval: Duration::from_secs(args.beacon_interval),
            state: state.clone(),
            scan: args.scan_ranges.clone(),
        };
        // Never fatal: the node works without discovery, through --connect and --peers.
        if let Err(e) = crate::discovery::spawn(config) {
            log::warn!("LAN discovery cannot start: {e}; use --connect or --peers");
        }
    }

    // The state thread ends before a signal only if it died (a panic, or the store
    // writer gone): a watcher wakes the signal loop then, and the node exits non-zero
    // with the cause, so a service manager restarts it, instead of listening on and
    // answering 503 for ever. Started before the startup lines: once they are out, every
    // thread of an idle node is running (tests count them from /proc).
    let mut signals = signals;
    let signalled = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (signalled, wake) = (signalled.clone(), signals.handle());
        std::thread::Builder::new()
            .name("state-watch".into())
            .spawn(move || {
                let outcome = state_join.join();
                if !signalled.load(Ordering::Acquire) {
                    wake.close();
                }
                outcome
            })?
    };

    // node.json before the startup lines: a script that has read the lines may rely on it.
    info_dir.write_node_info(NodeInfo {
        pid: std::process::id(),
        port,
    })?;
    // SPEC §1 has the token on the `ui` line: scripts that start a node read it there.
    // But a service manager's journal keeps stdout for everyone who may read the logs,
    // so when stdout *is* the journal the line goes without it (`purr url` prints it).
    let to_journal = stdout_is_journal();
    let shown = if to_journal && token_required {
        ui_url(local.ip(), port, None)
    } else {
        url.clone()
    };
    print_startup(local, &id_hex, &shown);
    if to_journal && token_required {
        log::info!(
            "the UI token is not printed into the journal; for the UI address with it run: purr url --data-dir {}",
            dir_path.display()
        );
    }
    if args.open {
        open_browser(&url);
    }
    let dropped = crate::memory::drop_startup_pages(&start_mappings);
    log::debug!("{dropped} KiB of pages only the start used are no longer mapped");

    if let Some(sig) = signals.forever().next() {
        signalled.store(true, Ordering::Release);
        log::info!("signal {sig}: shutting down");
    }
    stop.store(true, Ordering::Release);
    // Wakes the acceptor out of its poll(2): a listening socket that is shut down
    // reports itself readable.
    let _ = socket2::SockRef::from(&accept_socket).shutdown(std::net::Shutdown::Both);
    state.send(Command::Shutdown);
    let outcome = watcher.join();
    let _ = acceptor.join();
    info_dir.remove_node_info();
    match outcome {
        Ok(Ok(crate::state::Stopped::Shutdown)) if signalled.load(Ordering::Acquire) => Ok(()),
        Ok(Ok(crate::state::Stopped::Shutdown)) => {
            Err(NodeError::Died("the state thread stopped by itself".into()))
        }
        Ok(Ok(crate::state::Stopped::StoreWriterGone)) => Err(NodeError::Died(
            "the database writer thread stopped (see the log above); nothing could be saved".into(),
        )),
        Ok(Err(panic)) | Err(panic) => Err(NodeError::Died(format!(
            "the state thread panicked: {}",
            panic_text(&panic)
        ))),
    }
}

/// The message of a thread's panic payload.
fn panic_text(payload: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(no message)".to_string()
    }
}

/// Whether stdout is connected to systemd's journal: systemd sets `JOURNAL_STREAM` to
/// `DEV:INODE` of the stream it gives a service, and the variable is inherited, so it
/// counts only while stdout is that very stream (systemd.exec(5)).
fn stdout_is_journal() -> bool {
    let Ok(stream) = std::env::var("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = stream.split_once(':') else {
        return false;
    };
    let (Ok(dev), Ok(ino)) = (dev.parse::<u64>(), ino.parse::<u64>()) else {
        return false;
    };
    match rustix::fs::fstat(std::io::stdout()) {
        Ok(st) => st.st_dev == dev && st.st_ino == ino,
        Err(_) => false,
    }
}

/// Whether SIGHUP was ignored when we were started (`nohup`), from the `SigIgn` mask in
/// /proc/self/status: asking with sigaction(2) would take unsafe code for one bit.
fn sighup_ignored() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("SigIgn:"))
        .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
        .is_some_and(|mask| mask & (1 << (SIGHUP - 1)) != 0)
}

/// `--connect` targets plus the lines of `--peers FILE` (bad lines are logged and skipped).
fn configured_targets(args: &NodeArgs) -> Result<Vec<String>, NodeError> {
    let mut targets = Vec::new();
    for c in &args.connect {
        if crate::rules::valid_target(c) {
            targets.push(c.clone());
        } else {
            log::warn!("--connect {c:?} is not host:port; ignored");
        }
    }
    if let Some(path) = &args.peers {
        let text = std::fs::read_to_string(path).map_err(|source| NodeError::PeersFile {
            path: path.clone(),
            source,
        })?;
        let (listed, bad) = crate::peers_file::parse(&text);
        for (line, why) in bad {
            log::warn!("{}:{line}: {why}; skipped", path.display());
        }
        for t in listed {
            if !targets.contains(&t) {
                targets.push(t);
            }
        }
    }
    Ok(targets)
}

/// The three lines of SPEC §1, flushed at once: scripts wait for them. (The `ui` line
/// carries the token unless stdout is the journal; see [`run`].)
fn print_startup(local: SocketAddr, id_hex: &str, url: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "listening on {local}");
    let _ = writeln!(out, "id {id_hex}");
    let _ = writeln!(out, "ui {url}");
    let _ = out.flush();
}

fn open_browser(url: &str) {
    match std::process::Command::new("xdg-open")
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
    {
        Ok(_) => log::info!("opened the UI in the default browser"),
        Err(e) => log::warn!("--open: could not run xdg-open: {e}"),
    }
}
