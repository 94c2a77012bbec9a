//! The file subcommands (issue 17): `purr send-file`, `files`, `accept`, `decline`, as
//! clients of the local JSON API (docs/HTTP.md, "Files").
//!
//! `send-file --wait` polls the transfer (every 200 ms) and, on a terminal, keeps one
//! line of progress up to date on stderr: the percentage, the speed over the last
//! seconds and what the transfer waits for.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use super::{api_call, api_call_within, find_peer, ClientError, Target};
use crate::api::Transfer;
use crate::cli::ClientArgs;

/// How often `--wait` looks at the transfer.
const POLL: Duration = Duration::from_millis(200);
/// The speed shown is over about this long.
const SPEED_WINDOW: Duration = Duration::from_secs(3);

/// What `send-file` offers: a path, and words to go with it.
#[derive(Debug, Clone, Copy)]
pub struct Offer<'a> {
    pub path: &'a Path,
    pub caption: Option<&'a str>,
}

/// `purr send-file PEER PATH [--caption TEXT]`: offers the file; with `wait`, returns
/// once the peer has it (or fails with the reason the transfer ended, or after `wait`).
pub fn send_file(
    args: &ClientArgs,
    peer: &str,
    Offer { path, caption }: Offer<'_>,
    wait: Option<Duration>,
    progress: bool,
) -> Result<String, ClientError> {
    if let Some(Err(why)) = caption.map(crate::rules::validate_caption) {
        return Err(ClientError::File {
            path: "--caption".into(),
            why,
        });
    }
    let (target, _) = Target::find(args)?;
    let to = find_peer(&target, peer)?;
    let abs = std::path::absolute(path).map_err(|e| ClientError::File {
        path: path.display().to_string(),
        why: e.to_string(),
    })?;
    let size = std::fs::metadata(&abs)
        .map_err(|e| ClientError::File {
            path: path.display().to_string(),
            why: e.to_string(),
        })?
        .len();
    let mut body = serde_json::json!({ "to": to.id, "path": abs.display().to_string() });
    if let Some(caption) = caption {
        body["caption"] = caption.into();
    }
    let body = body.to_string();
    // The node reads the whole file once before it answers (its root hash).
    let patience = Duration::from_secs(10) + Duration::from_secs(size / (20 << 20));
    let answer = api_call_within(
        &target,
        "POST",
        "/api/v1/files",
        Some(body.as_bytes()),
        patience,
    )?;
    let t = parse::<Transfer>(&answer)?;
    let Some(patience) = wait else {
        return Ok(format!("{} offered to {}: {}", t.id, to.name, t.name));
    };
    let done = wait_done(&target, &t, patience, progress)?;
    Ok(format!(
        "{} done: {} ({}) sent to {}",
        done.id,
        done.name,
        human_bytes(done.size),
        to.name
    ))
}

/// Polls until `done`, `ended` (an error with the reason) or `patience` has passed.
fn wait_done(
    target: &Target,
    t: &Transfer,
    patience: Duration,
    progress: bool,
) -> Result<Transfer, ClientError> {
    let start = Instant::now();
    let path = format!("/api/v1/files/{}", t.id);
    let mut samples: std::collections::VecDeque<(Instant, u64)> = Default::default();
    let mut shown = false;
    let result = loop {
        let now = Instant::now();
        let t: Transfer = parse(&api_call(target, "GET", &path, None)?)?;
        match t.state.as_str() {
            "done" => break Ok(t),
            "ended" => {
                break Err(ClientError::TransferEnded {
                    name: t.name,
                    reason: t.reason.unwrap_or_else(|| "no reason given".into()),
                })
            }
            _ => {}
        }
        if now.duration_since(start) >= patience {
            break Err(ClientError::TransferTimeout {
                id: t.id,
                state: t.state,
                secs: patience.as_secs(),
            });
        }
        // Only moving time counts: a wait for the peer is no slowness.
        if t.state != "sending" && t.state != "receiving" {
            samples.clear();
        }
        samples.push_back((now, t.bytes));
        while samples
            .front()
            .is_some_and(|(at, _)| now.duration_since(*at) > SPEED_WINDOW)
        {
            samples.pop_front();
        }
        if progress {
            let line = progress_line(&t, speed(&samples));
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K{line}");
            let _ = err.flush();
            shown = true;
        }
        std::thread::sleep(POLL);
    };
    if shown {
        let _ = write!(std::io::stderr(), "\r\x1b[2K");
    }
    result
}

/// Bytes a second over the samples, if they span any time.
fn speed(samples: &std::collections::VecDeque<(Instant, u64)>) -> Option<f64> {
    let ((t0, b0), (t1, b1)) = (samples.front()?, samples.back()?);
    let secs = t1.duration_since(*t0).as_secs_f64();
    (secs > 0.2).then(|| b1.saturating_sub(*b0) as f64 / secs)
}

/// `cat.png  42%  12.3 MB/s  sending` (or what it waits for).
pub fn progress_line(t: &Transfer, speed: Option<f64>) -> String {
    let pct = percent(t);
    let what = match t.state.as_str() {
        "offered" => "waiting for the peer to accept",
        "sending" | "receiving" => "",
        "paused" => "paused: the peer is away",
        other => other,
    };
    let speed = speed
        .filter(|s| *s > 0.0)
        .map(|s| format!("  {:.1} MB/s", s / 1e6))
        .unwrap_or_default();
    format!("{}  {pct:>3}%{speed}  {what}", t.name)
        .trim_end()
        .to_string()
}

/// `purr files`: every transfer the node knows, one line each (or the API's JSON).
pub fn list(args: &ClientArgs, json: bool) -> Result<String, ClientError> {
    let (target, _) = Target::find(args)?;
    let body = api_call(&target, "GET", "/api/v1/files", None)?;
    if json {
        return Ok(String::from_utf8_lossy(&body).trim().to_string());
    }
    let all: Vec<Transfer> = parse(&body)?;
    let lines: Vec<String> = all
        .iter()
        .map(|t| {
            let pct = if t.state == "done" { 100 } else { percent(t) };
            let reason = t
                .reason
                .as_deref()
                .map(|r| format!("  ({r})"))
                .unwrap_or_default();
            format!(
                "{}  {:<3}  {:<9}  {pct:>3}%  {:>9}  {}{reason}",
                t.id,
                t.direction,
                t.state,
                human_bytes(t.size),
                t.name.replace(['\n', '\r'], " ")
            )
        })
        .collect();
    Ok(lines.join("\n"))
}

/// `purr accept ID` / `purr decline ID` (ID: the full id or a unique prefix).
pub fn act(args: &ClientArgs, id: &str, action: &str) -> Result<String, ClientError> {
    let (target, _) = Target::find(args)?;
    let all: Vec<Transfer> = parse(&api_call(&target, "GET", "/api/v1/files", None)?)?;
    let id = id.to_ascii_lowercase();
    let matching: Vec<&Transfer> = all.iter().filter(|t| t.id.starts_with(&id)).collect();
    let t = match matching.as_slice() {
        [t] => *t,
        [] => return Err(ClientError::NoSuchTransfer(id)),
        many => {
            return Err(ClientError::Ambiguous {
                query: id,
                candidates: many
                    .iter()
                    .map(|t| format!("{}  {}", t.id, t.name))
                    .collect::<Vec<_>>()
                    .join("\n"),
            })
        }
    };
    let path = format!("/api/v1/files/{}/{action}", t.id);
    let t: Transfer = parse(&api_call(&target, "POST", &path, Some(b"{}"))?)?;
    Ok(format!("{} {}: {}", t.id, t.state, t.name))
}

/// How much of the file the receiver holds, 0..=100.
fn percent(t: &Transfer) -> u64 {
    t.bytes
        .saturating_mul(100)
        .checked_div(t.size)
        .unwrap_or(0)
        .min(100)
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ClientError> {
    serde_json::from_slice(body).map_err(|e| ClientError::Protocol(e.to_string()))
}

/// `1.5 MB`, `320 B` (decimal units, as the speed).
pub fn human_bytes(n: u64) -> String {
    match n {
        0..1_000 => format!("{n} B"),
        1_000..1_000_000 => format!("{:.1} kB", n as f64 / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1} MB", n as f64 / 1e6),
        _ => format!("{:.2} GB", n as f64 / 1e9),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(state: &str, bytes: u64) -> Transfer {
        Transfer {
            id: "ab".repeat(16),
            peer: "cd".repeat(32),
            direction: "out".into(),
            name: "cat.png".into(),
            size: 1000,
            mime: "image/png".into(),
            caption: None,
            thumb: false,
            created: 0,
            state: state.into(),
            bytes,
            sent_chunks: 0,
            content: false,
            paused_by_user: false,
            reason: None,
        }
    }

    #[test]
    fn progress_lines_say_percent_speed_and_what_is_awaited() {
        assert_eq!(
            progress_line(&t("sending", 420), Some(12_345_678.0)),
            "cat.png   42%  12.3 MB/s"
        );
        assert_eq!(
            progress_line(&t("offered", 0), None),
            "cat.png    0%  waiting for the peer to accept"
        );
        assert_eq!(human_bytes(1_500_000), "1.5 MB");
        assert_eq!(human_bytes(999), "999 B");
    }
}
