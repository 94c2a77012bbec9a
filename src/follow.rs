//! The client subcommands that speak the UI's WebSocket (`/ws`, docs/UI.md), because
//! what they want is a conversation, not one request: `purr connect HOST:PORT` (ask the
//! node to dial, wait for the peer that answers or the error) and `purr follow` (print
//! messages and status changes as they happen).

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use serde_json::Value;
use tungstenite::client::IntoClientRequest;
use tungstenite::{Message, WebSocket};

use crate::cli::ClientArgs;
use crate::client::{node_of, ClientError};

/// How long `connect` waits for the dial's outcome (a connect and a handshake).
const CONNECT_PATIENCE: Duration = Duration::from_secs(20);

/// A WebSocket to the node of `args`, with its token as the UI's cookie.
fn open(
    args: &ClientArgs,
    read_timeout: Option<Duration>,
) -> Result<WebSocket<TcpStream>, ClientError> {
    let (port, token) = node_of(args)?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
        .map_err(|e| ClientError::NoNode { port, why: e })?;
    let _ = stream.set_read_timeout(read_timeout);
    let _ = stream.set_write_timeout(Some(Duration::from_secs(10)));
    let protocol = |e: &dyn std::fmt::Display| ClientError::Protocol(format!("WebSocket: {e}"));
    let mut req = format!("ws://127.0.0.1:{port}/ws")
        .into_client_request()
        .map_err(|e| protocol(&e))?;
    let cookie = format!("{}={token}", crate::http::guard::COOKIE)
        .parse()
        .map_err(|e| protocol(&e))?;
    req.headers_mut().insert("Cookie", cookie);
    let (ws, _) = tungstenite::client::client(req, stream).map_err(|e| protocol(&e))?;
    Ok(ws)
}

fn send(ws: &mut WebSocket<TcpStream>, cmd: &Value) -> Result<(), ClientError> {
    ws.send(Message::text(cmd.to_string()))
        .map_err(|e| ClientError::Protocol(format!("WebSocket: {e}")))
}

/// The next event; `None` when the read timed out.
fn next_event(ws: &mut WebSocket<TcpStream>) -> Result<Option<Value>, ClientError> {
    loop {
        match ws.read() {
            Ok(Message::Text(t)) => {
                return serde_json::from_str(t.as_str())
                    .map(Some)
                    .map_err(|e| ClientError::Protocol(e.to_string()))
            }
            Ok(Message::Close(_)) => {
                return Err(ClientError::Protocol(
                    "the node closed the connection".into(),
                ))
            }
            Ok(_) => {} // pings are answered by tungstenite on the next write
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Ok(None)
            }
            Err(e) => return Err(ClientError::Protocol(format!("WebSocket: {e}"))),
        }
    }
}

/// `purr connect HOST:PORT`: the node dials; prints who answered, or fails with why.
pub fn connect(args: &ClientArgs, addr: &str) -> Result<String, ClientError> {
    if !crate::rules::valid_target(addr) {
        return Err(ClientError::Api(format!(
            "{addr:?} is not host:port (e.g. 192.168.1.20:35035 or [fe80::1%2]:35035)"
        )));
    }
    let mut ws = open(args, Some(Duration::from_millis(500)))?;
    send(
        &mut ws,
        &serde_json::json!({"cmd": "connect", "addr": addr}),
    )?;
    let end = Instant::now() + CONNECT_PATIENCE;
    while Instant::now() < end {
        let Some(event) = next_event(&mut ws)? else {
            continue;
        };
        match event["cmd"].as_str() {
            // The node answers a `connect` with the `peer` that answered at that address.
            Some("peer") if event["peer"]["online"] == true => {
                let peer = &event["peer"];
                return Ok(format!(
                    "connected to {} ({}, fingerprint {})",
                    peer["name"].as_str().unwrap_or("?"),
                    peer["id"].as_str().unwrap_or("?"),
                    peer["fingerprint"].as_str().unwrap_or("?")
                ));
            }
            Some("error") if event["request"] == "connect" => {
                return Err(ClientError::Api(
                    event["error"]
                        .as_str()
                        .unwrap_or("connect failed")
                        .to_string(),
                ))
            }
            _ => {}
        }
    }
    Err(ClientError::Api(format!(
        "no answer from {addr} within {} s",
        CONNECT_PATIENCE.as_secs()
    )))
}

/// `purr follow`: prints each new message and status change until the node goes away
/// or stdout is closed. With `json`, each event as the UI gets it, one per line.
pub fn follow(args: &ClientArgs, json: bool) -> Result<(), ClientError> {
    let mut ws = open(args, Some(Duration::from_secs(60)))?;
    send(&mut ws, &serde_json::json!({"cmd": "hello"}))?;
    let mut names = std::collections::HashMap::new();
    let mut out = std::io::stdout();
    loop {
        let Some(event) = next_event(&mut ws)? else {
            continue;
        };
        remember_names(&event, &mut names);
        let line = match event["cmd"].as_str() {
            Some("message" | "status") if json => event.to_string(),
            Some("message") => {
                let m = &event["message"];
                let peer = m["peer"].as_str().unwrap_or("?");
                let name = names.get(peer).map_or(peer, String::as_str);
                let who = if m["from"] == m["peer"] { name } else { "me" };
                let text = m["text"].as_str().unwrap_or("").replace('\n', " ⏎ ");
                format!("{} {who}: {text}", m["ts"])
            }
            Some("status") => format!(
                "{} is {}",
                event["id"].as_str().unwrap_or("?"),
                event["status"].as_str().unwrap_or("?")
            ),
            _ => continue,
        };
        // A reader that has gone (`| head`) ends us quietly, as for the other commands.
        if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
            return Ok(());
        }
    }
}

/// Keeps each contact's display name from `peers`/`peer` events, for human output.
fn remember_names(event: &Value, names: &mut std::collections::HashMap<String, String>) {
    let mut keep = |p: &Value| {
        if let (Some(id), Some(name)) = (p["id"].as_str(), p["name"].as_str()) {
            names.insert(id.to_string(), name.to_string());
        }
    };
    match event["cmd"].as_str() {
        Some("peers") => event["peers"]
            .as_array()
            .into_iter()
            .flatten()
            .for_each(keep),
        Some("peer") => keep(&event["peer"]),
        _ => {}
    }
}
