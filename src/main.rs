//! The `purr` binary: parse the command line, run, map errors to exit codes.
//!
//! Exit codes (SPEC §1): 0 clean shutdown, 2 bad arguments (clap), 1 any fatal error,
//! printed as one line on stderr. A closed stdout (`purr peers | head -1`) is not an
//! error: like ripgrep, purr stops quietly with 0.

use std::io::Write;
use std::process::ExitCode;

use purr::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::from_env();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let client = cli.client_args();
    let result: Result<Option<String>, Box<dyn std::error::Error>> = match &cli.command {
        None => purr::node::run(cli.node).map(|()| None).map_err(Into::into),
        Some(Command::Id { json }) => purr::client::id(&client.data_dir, *json)
            .map(Some)
            .map_err(Into::into),
        Some(Command::Url) => purr::client::url(&client).map(Some).map_err(Into::into),
        Some(Command::Peers { json }) => {
            let header = !*json && std::io::IsTerminal::is_terminal(&std::io::stdout());
            purr::client::peers(&client, *json, header)
                .map(Some)
                .map_err(Into::into)
        }
        Some(Command::Send {
            peer,
            text,
            wait,
            timeout,
        }) => {
            let wait = wait.then_some(std::time::Duration::from_secs(*timeout));
            purr::client::send(&client, peer, text, wait)
                .map(Some)
                .map_err(Into::into)
        }
        Some(Command::SendFile {
            peer,
            path,
            caption,
            wait,
            timeout,
        }) => {
            let wait = wait.then_some(std::time::Duration::from_secs(*timeout));
            let progress = std::io::IsTerminal::is_terminal(&std::io::stderr());
            let file = purr::client::files::Offer {
                path,
                caption: caption.as_deref(),
            };
            purr::client::files::send_file(&client, peer, file, wait, progress)
                .map(Some)
                .map_err(Into::into)
        }
        Some(Command::Files { json }) => purr::client::files::list(&client, *json)
            .map(Some)
            .map_err(Into::into),
        Some(Command::Accept { id }) => purr::client::files::act(&client, id, "accept")
            .map(Some)
            .map_err(Into::into),
        Some(Command::Decline { id }) => purr::client::files::act(&client, id, "decline")
            .map(Some)
            .map_err(Into::into),
        Some(Command::History { peer, limit, json }) => {
            purr::client::history(&client, peer, *limit, *json)
                .map(Some)
                .map_err(Into::into)
        }
        Some(Command::Groups { json }) => purr::client::groups::groups(&client, *json)
            .map(Some)
            .map_err(Into::into),
        Some(Command::GroupCreate { name, members }) => {
            purr::client::groups::create(&client, name, members)
                .map(Some)
                .map_err(Into::into)
        }
        Some(Command::GroupAccept { group }) => {
            purr::client::groups::answer(&client, group, "accept")
                .map(Some)
                .map_err(Into::into)
        }
        Some(Command::GroupDecline { group }) => {
            purr::client::groups::answer(&client, group, "decline")
                .map(Some)
                .map_err(Into::into)
        }
        Some(Command::GroupLeave { group }) => {
            purr::client::groups::answer(&client, group, "leave")
                .map(Some)
                .map_err(Into::into)
        }
        Some(Command::GroupInvite { group, member }) => {
            purr::client::groups::invite(&client, group, member)
                .map(Some)
                .map_err(Into::into)
        }
        Some(Command::GroupRemove { group, member }) => {
            purr::client::groups::remove(&client, group, member)
                .map(Some)
                .map_err(Into::into)
        }
        Some(Command::Connect { addr }) => purr::follow::connect(&client, addr)
            .map(Some)
            .map_err(Into::into),
        Some(Command::Follow { json }) => purr::follow::follow(&client, *json)
            .map(|()| None)
            .map_err(Into::into),
        Some(Command::AvahiService) => purr::client::avahi_service(&client)
            .map(|xml| {
                // The file on stdout, so it can be redirected; where it goes on stderr.
                let _ = writeln!(
                    std::io::stderr(),
                    "purr: {}",
                    purr::client::AVAHI_SERVICE_HINT
                );
                Some(xml)
            })
            .map_err(Into::into),
        Some(Command::Backup { file }) => purr::client::backup(&client.data_dir, file)
            .map(Some)
            .map_err(Into::into),
        Some(Command::Restore { file }) => purr::client::restore(&client.data_dir, file)
            .map(Some)
            .map_err(Into::into),
        Some(Command::Doctor {
            json,
            peer: Some(target),
        }) => {
            let probe = purr::conn::probe::probe(target);
            let purr_answered =
                probe.answer == purr::conn::probe::Answer::Purr && probe.id.is_some();
            let out = if *json {
                match serde_json::to_string_pretty(&probe) {
                    Ok(s) => s,
                    Err(e) => e.to_string(),
                }
            } else {
                probe.to_string()
            };
            let printed = print_out(&out);
            // Exit 1 unless a purr node completed the handshake there.
            return if purr_answered {
                printed
            } else {
                ExitCode::FAILURE
            };
        }
        Some(Command::Doctor { json, peer: None }) => match purr::client::doctor(&client, *json) {
            // Exit 1 when a check failed, after printing every check.
            Ok((out, worst)) => {
                let printed = print_out(&out);
                return if worst == purr::diag::Verdict::Fail {
                    ExitCode::FAILURE
                } else {
                    printed
                };
            }
            Err(e) => Err(e.into()),
        },
    };
    match result {
        Ok(Some(out)) => print_out(&out),
        Ok(None) => ExitCode::SUCCESS,
        Err(e) => {
            // Nowhere to say it if stderr is closed too.
            let _ = writeln!(std::io::stderr(), "purr: {e}");
            // An ambiguous PEER is a usage problem, like a bad argument (exit 2).
            let usage = matches!(
                e.downcast_ref::<purr::client::ClientError>(),
                Some(purr::client::ClientError::Ambiguous { .. })
            );
            ExitCode::from(if usage { 2 } else { 1 })
        }
    }
}

/// Prints a subcommand's output. A reader that has gone away (EPIPE: `| head -1`, `| true`)
/// has all it wanted: exit 0 without a word. Any other write error is reported (exit 1).
fn print_out(out: &str) -> ExitCode {
    if out.is_empty() {
        return ExitCode::SUCCESS;
    }
    let mut stdout = std::io::stdout().lock();
    match writeln!(stdout, "{out}").and_then(|()| stdout.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "purr: cannot write the output: {e}");
            ExitCode::FAILURE
        }
    }
}
