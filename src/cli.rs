//! Command line (SPEC §1), parsed by clap. Bad arguments exit 2 with clap's message.
//!
//! `purr` with no subcommand runs a node; `id`, `url`, `peers`, `send` are small clients
//! that read the data dir (and, for `peers`/`send`, talk to the running node).

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Default TCP port for everything (SPEC §1).
pub const DEFAULT_PORT: u16 = 35035;
/// Default cap on simultaneous connections of all kinds (SPEC §9).
pub const DEFAULT_MAX_CONNECTIONS: usize = 512;

/// purr: a peer-to-peer messenger for the local network.
#[derive(Debug, Parser)]
#[command(name = "purr", version, about, args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// A client subcommand; without one, purr runs a node.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Options of the node.
    #[command(flatten)]
    pub node: NodeArgs,
}

/// Options for running a node.
#[derive(Debug, Clone, Args)]
pub struct NodeArgs {
    /// Display name [default: the saved name, else $USER@$HOSTNAME]
    #[arg(short, long, value_name = "NAME")]
    pub name: Option<String>,
    /// TCP port for everything; 0 = any free port
    #[arg(short, long, value_name = "PORT", default_value_t = DEFAULT_PORT)]
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
    /// Data directory [default: $XDG_DATA_HOME/purr, else ~/.local/share/purr]
    #[arg(long, value_name = "DIR")]
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
}

/// Client subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print this node's id (64 hex chars) and fingerprint
    Id(DirArg),
    /// Print the UI address with its token
    Url(ClientArgs),
    /// List peers of the running node (via the local API)
    Peers(ClientArgs),
    /// Send a message via the running node (PEER = id, id prefix or name; TEXT `-` = stdin)
    Send {
        #[command(flatten)]
        client: ClientArgs,
        /// Peer: full id, unique id prefix (4+ hex) or exact name
        peer: String,
        /// Message text, or `-` to read it from stdin
        text: String,
    },
}

/// Just the data dir.
#[derive(Debug, Clone, Args)]
pub struct DirArg {
    /// Data directory [default: $XDG_DATA_HOME/purr, else ~/.local/share/purr]
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

/// Where to find a running node.
#[derive(Debug, Clone, Args)]
pub struct ClientArgs {
    /// Port of the running node [default: from <data-dir>/node.json, else 35035]
    #[arg(short, long, value_name = "PORT")]
    pub port: Option<u16>,
    /// Data directory [default: $XDG_DATA_HOME/purr, else ~/.local/share/purr]
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
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

/// `$USER@$HOSTNAME` (SPEC §1), with fallbacks when either is unknown.
pub fn default_name() -> String {
    let user = std::env::var("USER")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "purr".to_string());
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string());
    let mut name = format!("{user}@{host}");
    // Keep within the 64-char name limit without splitting a UTF-8 character.
    while name.chars().count() > crate::rules::MAX_NAME_CHARS {
        name.pop();
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn parses_node_options() {
        let c = Cli::try_parse_from([
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
    }

    #[test]
    fn parses_subcommands() {
        let c = Cli::try_parse_from(["purr", "send", "--port", "9", "abcd", "hi"]).unwrap();
        match c.command {
            Some(Command::Send { client, peer, text }) => {
                assert_eq!(client.port, Some(9));
                assert_eq!(peer, "abcd");
                assert_eq!(text, "hi");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn clock_offset_may_be_negative_and_is_hidden() {
        let c = Cli::try_parse_from(["purr", "--clock-offset-ms", "-3600000"]).unwrap();
        assert_eq!(c.node.clock_offset_ms, -3_600_000);
        let help = Cli::command().render_help().to_string();
        assert!(!help.contains("clock-offset"), "{help}");
    }

    #[test]
    fn bad_arguments_are_usage_errors() {
        let e = Cli::try_parse_from(["purr", "--port", "70000"]).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        let e = Cli::try_parse_from(["purr", "--bogus"]).unwrap_err();
        assert_eq!(e.exit_code(), 2);
    }
}
