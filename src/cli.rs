//! Command line (SPEC §1), parsed by clap. Bad arguments exit 2 with clap's message.
//!
//! `purr` with no subcommand runs a node; `id`, `url`, `peers`, `send` are small clients
//! that read the data dir (and, for `url`, `peers` and `send`, talk to the running node).
//! `--data-dir` and `--port` are global: they may come before or after the subcommand.
//! The other options belong to the node; given with a subcommand they are a usage error
//! (exit 2), checked in [`Cli::try_parse_from`] because clap's own
//! `args_conflicts_with_subcommands` would also refuse the global options.

use std::ffi::OsString;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use clap::parser::ValueSource;
use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand};

/// Default TCP port for everything (SPEC §1).
pub const DEFAULT_PORT: u16 = 35035;
/// Default cap on simultaneous connections of all kinds (SPEC §9).
pub const DEFAULT_MAX_CONNECTIONS: usize = 512;

/// The first lines of `purr --help`.
const ABOUT: &str = "purr: a peer-to-peer messenger for the local network.
`purr [OPTIONS]` without a subcommand starts a node; the subcommands talk to one.";

/// Shown at the end of `purr --help`.
const AFTER_HELP: &str = "\
Without a subcommand, purr runs a node in the foreground until SIGINT, SIGTERM or SIGHUP.

Logs go to stderr. RUST_LOG sets how much: RUST_LOG=debug purr, RUST_LOG=warn purr,
RUST_LOG=purr=trace purr (default: info).";

/// The whole command line.
#[derive(Debug, Parser)]
#[command(name = "purr", version, about = ABOUT, long_about = None, after_help = AFTER_HELP)]
pub struct Cli {
    /// A client subcommand; without one, purr runs a node.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Options of every command.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// Options of the node.
    #[command(flatten)]
    pub node: NodeArgs,
}

/// Options accepted before or after any subcommand.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Data directory [default: $XDG_DATA_HOME/purr, else ~/.local/share/purr]
    #[arg(long, value_name = "DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// TCP port: the node's [default: 35035; 0 = any free port], or, for a subcommand,
    /// the running node's [default: from <data-dir>/node.json]
    #[arg(short, long, value_name = "PORT", global = true)]
    pub port: Option<u16>,
}

/// Options for running a node.
#[derive(Debug, Clone, Args)]
pub struct NodeArgs {
    /// Display name [default: the saved name, else $USER@$HOSTNAME, followed by
    /// /<dir name> when --data-dir is not the default]
    #[arg(short, long, value_name = "NAME")]
    pub name: Option<String>,
    /// The TCP port (from the global `--port`, else [`DEFAULT_PORT`]).
    #[arg(skip = DEFAULT_PORT)]
    pub port: u16,
    /// Address to bind [default: :: dual-stack, else 0.0.0.0]
    #[arg(long, value_name = "IP")]
    pub listen: Option<IpAddr>,
    /// File of peer addresses, one `host:port` a line, `#` comments
    #[arg(long, value_name = "FILE")]
    pub peers: Option<PathBuf>,
    /// Dial this peer at start (repeatable)
    #[arg(long, value_name = "HOST:PORT")]
    pub connect: Vec<String>,
    /// Tell peers they can also reach this node at IP:PORT (repeatable; e.g. a port
    /// forwarded on a router). Every non-loopback interface address is told anyway
    #[arg(long, value_name = "IP:PORT", value_parser = parse_advertise)]
    pub advertise: Vec<std::net::SocketAddr>,
    /// The data directory (from the global `--data-dir`).
    #[arg(skip)]
    pub data_dir: Option<PathBuf>,
    /// No multicast beacons (send or listen)
    #[arg(long)]
    pub no_discovery: bool,
    /// Seconds between discovery beacons
    #[arg(long, value_name = "SECS", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub beacon_interval: u64,
    /// Open the UI in the default browser
    #[arg(long)]
    pub open: bool,
    /// Serve the UI without the token (single-user boxes)
    #[arg(long)]
    pub no_ui_auth: bool,
    /// Where received files are saved [default: <data-dir>/files]
    #[arg(long, value_name = "DIR")]
    pub downloads: Option<PathBuf>,
    /// Accept images (PNG, JPEG, GIF, WebP by their offered type) up to this many MiB
    /// from verified contacts without asking; 0 always asks
    #[arg(long, value_name = "MIB", default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=1024))]
    pub auto_accept_images: u64,
    /// Maximum simultaneous connections of all kinds
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_CONNECTIONS, value_parser = parse_max_connections)]
    pub max_connections: usize,
    /// Handshake deadline in milliseconds (SPEC §7: 10 s); for tests
    #[arg(long, hide = true, value_name = "MS", default_value_t = 10_000)]
    pub handshake_timeout_ms: u64,
    /// Sleep before each database commit, in milliseconds: a slow disk for benchmarks
    #[arg(long, hide = true, value_name = "MS", default_value_t = 0)]
    pub store_commit_delay_ms: u64,
    /// Database commits without fsync: benchmarks only (measures what durability costs)
    #[arg(long, hide = true)]
    pub bench_no_fsync: bool,
    /// Added to the wall clock for message timestamps, in milliseconds (may be negative):
    /// a clock that is off, for tests (the machine's clock cannot be changed for one process)
    #[arg(
        long,
        hide = true,
        value_name = "MS",
        default_value_t = 0,
        allow_negative_numbers = true
    )]
    pub clock_offset_ms: i64,
    /// Fault injection for tests: this thread panics (`state` at its first tick,
    /// `store-writer` at its first batch), to show that the node then exits non-zero
    #[arg(long, hide = true, value_name = "THREAD")]
    pub fault_panic: Option<FaultPanic>,
    /// New stranger identities admitted per source network (/24, /64) per minute; tests
    /// raise it to flood a node with minted identities from loopback
    #[arg(long, hide = true, value_name = "N", default_value_t = crate::state::peers::DEFAULT_STRANGERS_PER_MINUTE)]
    pub strangers_per_minute: u32,
    /// Seconds an on-demand session (a peer only nearby, not a contact) stays up
    /// without traffic; tests shorten it
    #[arg(long, hide = true, value_name = "SECS", default_value_t = crate::state::sessions::DEFAULT_IDLE_SESSION.as_secs(), value_parser = clap::value_parser!(u64).range(1..=86400))]
    pub idle_session_secs: u64,
}

/// Threads `--fault-panic` can make panic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FaultPanic {
    /// The state thread, at its first tick.
    State,
    /// The store writer, at its first batch.
    StoreWriter,
}

/// Client subcommands. Each takes the global `--data-dir` and `--port`.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print this node's id (64 hex chars) and fingerprint (the node need not run)
    Id {
        /// One JSON object: {"id", "fingerprint"}
        #[arg(long)]
        json: bool,
    },
    /// Print the UI address of the running node, with its token
    Url,
    /// List peers of the running node (via the local API)
    Peers {
        /// The API's JSON array instead of lines
        #[arg(long)]
        json: bool,
    },
    /// Send a message via the running node (PEER = id, id prefix or name of a contact or
    /// a group; TEXT `-` = stdin)
    Send {
        /// Contact or group: full id, unique id prefix (4+ hex) or exact name; a contact
        /// and a group both matching is an error (exit 2) listing both
        peer: String,
        /// Message text, or `-` to read it from stdin (one trailing newline is dropped)
        text: String,
        /// Wait until the peer has stored it (delivered); exit 1 if it has not within
        /// --timeout
        #[arg(long)]
        wait: bool,
        /// Seconds --wait waits
        #[arg(long, value_name = "SECS", default_value_t = 30, requires = "wait")]
        timeout: u64,
    },
    /// Offer a file to PEER via the running node (which reads it from PATH while it is sent)
    SendFile {
        /// Peer: full id, unique id prefix (4+ hex) or exact name
        peer: String,
        /// The file
        path: PathBuf,
        /// Words shown under the file (at most 1,024 characters; line breaks allowed)
        #[arg(long, value_name = "TEXT")]
        caption: Option<String>,
        /// Wait until the peer has the whole file, showing progress on a terminal; exit 1
        /// with the reason if the transfer ends without it
        #[arg(long)]
        wait: bool,
        /// Seconds --wait waits
        #[arg(long, value_name = "SECS", default_value_t = 3600, requires = "wait")]
        timeout: u64,
    },
    /// List file transfers, one line each: id, in/out, state, progress, size, name
    Files {
        /// The API's JSON array instead of lines
        #[arg(long)]
        json: bool,
    },
    /// Accept a file offered to this node (ID: the transfer id or a unique prefix)
    Accept {
        /// Transfer id (see: purr files)
        id: String,
    },
    /// Decline a file offered to this node
    Decline {
        /// Transfer id (see: purr files)
        id: String,
    },
    /// Print the conversation with PEER (a contact or a group), oldest first
    History {
        /// Contact or group: full id, unique id prefix (4+ hex) or exact name
        peer: String,
        /// How many of the newest messages (1..=500)
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=500))]
        limit: u32,
        /// One JSON object per message
        #[arg(long)]
        json: bool,
    },
    /// List groups, one line each: id, phase, name, members, unread
    Groups {
        /// The API's JSON array instead of lines
        #[arg(long)]
        json: bool,
    },
    /// Create a group and invite contacts (MEMBER: id, id prefix or name, as for send)
    GroupCreate {
        /// The group's name (1 to 64 characters)
        name: String,
        /// Contacts to invite
        members: Vec<String>,
    },
    /// Accept an invitation to GROUP (id, id prefix or name, as for send)
    GroupAccept {
        /// The group: full id, unique id prefix (4+ hex) or exact name
        group: String,
    },
    /// Decline an invitation to GROUP
    GroupDecline {
        /// The group: full id, unique id prefix (4+ hex) or exact name
        group: String,
    },
    /// Leave GROUP (its owner cannot)
    GroupLeave {
        /// The group: full id, unique id prefix (4+ hex) or exact name
        group: String,
    },
    /// Invite a contact to GROUP (owner only)
    GroupInvite {
        /// The group: full id, unique id prefix (4+ hex) or exact name
        group: String,
        /// The contact: id, id prefix or name, as for send
        member: String,
    },
    /// Remove a member from GROUP (owner only)
    GroupRemove {
        /// The group: full id, unique id prefix (4+ hex) or exact name
        group: String,
        /// The member: a contact as for send, or a member's id, id prefix or name
        member: String,
    },
    /// Ask the running node to connect to HOST:PORT; prints the peer that answered
    Connect {
        /// host:port of another node
        addr: String,
    },
    /// Print incoming messages and status changes as they happen, until interrupted
    Follow {
        /// One JSON object per line (the UI's events)
        #[arg(long)]
        json: bool,
    },
    /// Copy the message database (contacts, history, outbox) into FILE, a new file; works
    /// while the node runs. Keep identity.key too: it is who you are
    Backup {
        /// The file to write (must not exist)
        file: PathBuf,
    },
    /// Replace the message database with FILE (made by `purr backup`); the node must be
    /// stopped. The database that was there is moved aside, not deleted
    Restore {
        /// A file made by `purr backup`
        file: PathBuf,
    },
    /// Why can't I see my peer? Checks the running node, its network and its data dir,
    /// one line each: OK, WARN or FAIL and the next step (exit 0: no FAIL, 1: a FAIL)
    Doctor {
        /// The whole report as JSON (GET /api/v1/diag), for scripts
        #[arg(long)]
        json: bool,
        /// Instead: what answers at HOST:PORT (purr with its id and fingerprint, an HTTP
        /// server, something else, nothing), with connect and handshake times, within 5 s
        /// (exit 0 only if purr answered)
        #[arg(long, value_name = "HOST:PORT")]
        peer: Option<String>,
    },
}

/// Where a client subcommand finds the data dir and the running node.
#[derive(Debug, Clone, Default)]
pub struct ClientArgs {
    /// Port of the running node [default: from <data-dir>/node.json]
    pub port: Option<u16>,
    /// Data directory [default: $XDG_DATA_HOME/purr, else ~/.local/share/purr]
    pub data_dir: Option<PathBuf>,
}

impl Cli {
    /// Parses the process's arguments; on a usage error prints clap's message and exits 2.
    pub fn from_env() -> Self {
        Self::try_from_args(std::env::args_os()).unwrap_or_else(|e| e.exit())
    }

    /// Parses `args` (the first is the program name). A node option together with a
    /// subcommand is a usage error naming the option.
    pub fn try_from_args<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let mut cmd = Self::command();
        let matches = cmd.try_get_matches_from_mut(args)?;
        if let Some((sub, _)) = matches.subcommand() {
            if let Some(option) = node_option_given(&cmd, &matches) {
                return Err(cmd.error(
                    clap::error::ErrorKind::ArgumentConflict,
                    format!(
                        "{option} is an option of the node (`purr` without a subcommand); \
                         `purr {sub}` takes only --data-dir and --port"
                    ),
                ));
            }
        }
        let mut cli = Self::from_arg_matches(&matches).map_err(|e| e.format(&mut cmd))?;
        cli.node.port = cli.global.port.unwrap_or(DEFAULT_PORT);
        cli.node.data_dir = cli.global.data_dir.clone();
        Ok(cli)
    }

    /// Where a client subcommand looks for the node.
    pub fn client_args(&self) -> ClientArgs {
        ClientArgs {
            port: self.global.port,
            data_dir: self.global.data_dir.clone(),
        }
    }
}

/// The first node-only option given on the command line, as `--long`.
fn node_option_given(cmd: &clap::Command, matches: &ArgMatches) -> Option<String> {
    cmd.get_arguments()
        .filter(|a| !a.is_global_set())
        .find(|a| matches.value_source(a.get_id().as_str()) == Some(ValueSource::CommandLine))
        .map(|a| match a.get_long() {
            Some(long) => format!("--{long}"),
            None => a.get_id().to_string(),
        })
}

/// `--advertise`: an IP address and a port a peer could dial (no host name: peers never
/// resolve names, docs/PROTOCOL.md §6); the first 16 are announced (one `ADDR`).
fn parse_advertise(s: &str) -> Result<std::net::SocketAddr, String> {
    let addr: std::net::SocketAddr = s
        .parse()
        .map_err(|_| "expected IP:PORT, e.g. 203.0.113.7:35035 or [2001:db8::7]:35035")?;
    if !crate::peer::addrs::usable(&addr, false) {
        return Err(
            "not an address a peer could dial (port 0, unspecified, multicast, broadcast, \
             loopback or IPv6 link-local)"
                .into(),
        );
    }
    Ok(addr)
}

/// `--max-connections`: at least room for the loopback reserve plus a few peers.
fn parse_max_connections(s: &str) -> Result<usize, String> {
    let n: usize = s.parse().map_err(|e| format!("{e}"))?;
    if (32..=65536).contains(&n) {
        Ok(n)
    } else {
        Err("must be between 32 and 65536".into())
    }
}

/// `$XDG_DATA_HOME/purr`, else `~/.local/share/purr`, else `./purr-data`.
pub fn default_data_dir() -> PathBuf {
    if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(x).join("purr");
    }
    if let Some(h) = std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(h).join(".local/share/purr");
    }
    PathBuf::from("purr-data")
}

/// Longest directory-name suffix kept in a default name.
const MAX_DIR_SUFFIX_CHARS: usize = 24;

/// The default display name of a node on `data_dir`: `$USER@$HOSTNAME` (SPEC §1), and
/// `/<dir name>` after it when `data_dir` is not [`default_data_dir`]. Two nodes on one
/// machine and account must have different data dirs, so they get different names
/// (sending by name works); the usual single node keeps the plain SPEC name.
pub fn default_name(data_dir: &Path) -> String {
    let base = format!("{}@{}", user_name(), host_name());
    let suffix = if data_dir == default_data_dir() {
        String::new()
    } else {
        data_dir
            .file_name()
            .map(|n| {
                let n: String = n
                    .to_string_lossy()
                    .chars()
                    .take(MAX_DIR_SUFFIX_CHARS)
                    .collect();
                format!("/{n}")
            })
            .unwrap_or_default()
    };
    // Keep within the 64-char name limit, cutting the host rather than the suffix that
    // tells two nodes apart (and never splitting a UTF-8 character).
    let room = crate::rules::MAX_NAME_CHARS - suffix.chars().count();
    let mut name: String = base.chars().take(room).collect();
    name.push_str(&suffix);
    // A name is never blank nor holds control characters (a directory name might).
    name.retain(|c| !c.is_control());
    name
}

/// `$USER`, else `$LOGNAME`, else our uid's name in /etc/passwd, else `purr`.
fn user_name() -> String {
    let from_env = ["USER", "LOGNAME"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .find(|u| !u.is_empty());
    from_env
        .or_else(passwd_name)
        .unwrap_or_else(|| "purr".to_string())
}

/// Our uid's login name from /etc/passwd (services often run without `$USER`).
fn passwd_name() -> Option<String> {
    let uid = rustix::process::getuid().as_raw().to_string();
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        (fields.nth(1)? == uid && !name.is_empty()).then(|| name.to_string())
    })
}

/// `$HOSTNAME`, else the kernel's host name, else `localhost`.
fn host_name() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.trim().is_empty())
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_from_args(args)
    }

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn parses_node_options() {
        let c = parse(&[
            "purr",
            "--port",
            "0",
            "--no-discovery",
            "--connect",
            "127.0.0.1:1",
            "--connect",
            "[::1]:2",
        ])
        .unwrap();
        assert!(c.command.is_none());
        assert_eq!(c.node.port, 0);
        assert!(c.node.no_discovery);
        assert_eq!(c.node.connect.len(), 2);
        assert_eq!(c.node.max_connections, 512);
        assert_eq!(parse(&["purr"]).unwrap().node.port, DEFAULT_PORT);
    }

    #[test]
    fn parses_subcommands() {
        let c = parse(&["purr", "send", "--port", "9", "abcd", "hi"]).unwrap();
        assert_eq!(c.client_args().port, Some(9));
        match c.command {
            Some(Command::Send { peer, text, .. }) => {
                assert_eq!(peer, "abcd");
                assert_eq!(text, "hi");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn global_options_go_before_or_after_the_subcommand() {
        for args in [
            &["purr", "--data-dir", "/x", "-p", "7", "peers"][..],
            &["purr", "peers", "--data-dir", "/x", "--port", "7"],
            &["purr", "--data-dir", "/x", "peers", "-p", "7"],
        ] {
            let c = parse(args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
            assert!(
                matches!(c.command, Some(Command::Peers { json: false })),
                "{args:?}"
            );
            let client = c.client_args();
            assert_eq!(
                client.data_dir.as_deref(),
                Some(Path::new("/x")),
                "{args:?}"
            );
            assert_eq!(client.port, Some(7), "{args:?}");
        }
        let c = parse(&["purr", "--data-dir", "/x", "--no-discovery"]).unwrap();
        assert_eq!(c.node.data_dir.as_deref(), Some(Path::new("/x")));
    }

    #[test]
    fn node_options_with_a_subcommand_are_usage_errors_naming_the_option() {
        let e = parse(&["purr", "--no-discovery", "peers"]).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("--no-discovery"), "{e}");
        let e = parse(&["purr", "--name", "x", "url"]).unwrap_err();
        assert!(e.to_string().contains("--name"), "{e}");
    }

    #[test]
    fn help_says_no_subcommand_runs_a_node_and_documents_rust_log() {
        let help = Cli::command().render_help().to_string();
        assert!(
            help.contains("without a subcommand starts a node"),
            "{help}"
        );
        assert!(
            help.contains("Without a subcommand, purr runs a node"),
            "{help}"
        );
        assert!(help.contains("RUST_LOG"), "{help}");
    }

    #[test]
    fn default_names_tell_data_dirs_apart() {
        let alice = default_name(Path::new("/tmp/alice"));
        let bob = default_name(Path::new("/tmp/bob"));
        assert_ne!(alice, bob);
        assert!(alice.ends_with("/alice"), "{alice}");
        assert!(!default_name(&default_data_dir()).contains('/'));
        let long = default_name(Path::new(&format!("/tmp/{}", "d".repeat(300))));
        assert!(crate::rules::validate_name(&long).is_ok(), "{long}");
        assert!(long.ends_with(&format!("/{}", "d".repeat(MAX_DIR_SUFFIX_CHARS))));
    }

    #[test]
    fn clock_offset_may_be_negative_and_is_hidden() {
        let c = parse(&["purr", "--clock-offset-ms", "-3600000"]).unwrap();
        assert_eq!(c.node.clock_offset_ms, -3_600_000);
        let help = Cli::command().render_help().to_string();
        assert!(!help.contains("clock-offset"), "{help}");
    }

    #[test]
    fn advertise_takes_dialable_ip_and_port_only() {
        let c = parse(&[
            "purr",
            "--advertise",
            "203.0.113.7:4000",
            "--advertise",
            "[2001:db8::7]:1",
        ])
        .unwrap();
        assert_eq!(c.node.advertise.len(), 2);
        for bad in [
            "host.example:1",
            "10.0.0.1",
            "10.0.0.1:0",
            "0.0.0.0:1",
            "127.0.0.1:1",
            "224.0.0.1:1",
        ] {
            let e = parse(&["purr", "--advertise", bad]).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{bad}");
        }
    }

    #[test]
    fn bad_arguments_are_usage_errors() {
        let e = parse(&["purr", "--port", "70000"]).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        let e = parse(&["purr", "--bogus"]).unwrap_err();
        assert_eq!(e.exit_code(), 2);
    }
}
