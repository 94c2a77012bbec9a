//! UI commands (SPEC §5) as the state thread handles them.

use std::time::Instant;

use crate::api::{ClientCmd, Event};
use crate::bus::{ApiReply, ApiRequest, FileAction, GroupAction};
use crate::identity;
use crate::peer::inner::Inner;
use crate::rules::{valid_target, validate_name};

use super::dialer::Source;
use super::{State, SubId};

impl State {
    pub(super) fn on_ui(&mut self, sub: SubId, cmd: ClientCmd, now: Instant) {
        match cmd {
            ClientCmd::Hello => {
                self.subs.send(sub, &Event::Me(self.me()));
                self.send_peers(sub);
            }
            ClientCmd::Peers => self.send_peers(sub),
            ClientCmd::Rename { name } => self.rename(sub, name),
            ClientCmd::Connect { addr } => self.ui_connect(sub, addr, now),
            ClientCmd::Open { peer } => {
                if let Some(id) = self.contact_id(sub, &peer, "open", now) {
                    if !self.open_session(&id, now) {
                        let text = "no address to dial it, or it was tried moments ago";
                        self.subs
                            .send(sub, &Event::error(text.to_string(), Some("open".into())));
                    }
                }
            }
            ClientCmd::Verify { peer, verified } => self.verify(sub, &peer, verified, now),
            ClientCmd::Send { to, text } => {
                let Some(id) = self.contact_id(sub, &to, "send", now) else {
                    return;
                };
                if let Err(e) = self.send_message(id, text, None, now) {
                    self.subs
                        .send(sub, &Event::error(e.to_string(), Some("send".into())));
                }
            }
            ClientCmd::History {
                peer,
                before,
                limit,
            } => {
                if let Some(id) = self.contact_id(sub, &peer, "history", now) {
                    self.ui_history(sub, id, before, limit);
                }
            }
            ClientCmd::Files => {
                if let crate::bus::ApiReply::Files(files) = self.files_api() {
                    self.subs.send(sub, &Event::Files { files });
                }
            }
            ClientCmd::AcceptFile { id } => self.ui_file(sub, &id, FileAction::Accept),
            ClientCmd::DeclineFile { id } => self.ui_file(sub, &id, FileAction::Decline),
            ClientCmd::CancelFile { id } => self.ui_file(sub, &id, FileAction::Cancel),
            ClientCmd::PauseFile { id } => self.ui_file(sub, &id, FileAction::Pause),
            ClientCmd::ResumeFile { id } => self.ui_file(sub, &id, FileAction::Resume),
            ClientCmd::Groups => {
                let groups = self.groups_list();
                self.subs.send(sub, &Event::Groups { groups });
            }
            ClientCmd::GroupCreate { .. }
            | ClientCmd::GroupInvite { .. }
            | ClientCmd::GroupRemove { .. }
            | ClientCmd::GroupAccept { .. }
            | ClientCmd::GroupDecline { .. }
            | ClientCmd::GroupLeave { .. }
            | ClientCmd::GroupRename { .. }
            | ClientCmd::GroupSend { .. }
            | ClientCmd::GroupHistory { .. }
            | ClientCmd::GroupRead { .. } => self.ui_group(sub, cmd),
            ClientCmd::Read { peer } => {
                if let Some(id) = self.contact_id(sub, &peer, "read", now) {
                    self.mark_read(id);
                }
            }
        }
    }

    /// A group command of a UI: what it changes reaches every UI as a `group` or
    /// `group_message` event; a refusal only this one, as an `error` naming the command.
    fn ui_group(&mut self, sub: SubId, cmd: ClientCmd) {
        let name = cmd.name();
        let act = |group, action| ApiRequest::GroupAct { group, action };
        let history_of = match &cmd {
            ClientCmd::GroupHistory { group, .. } => group.clone(),
            _ => String::new(),
        };
        let req = match cmd {
            ClientCmd::GroupCreate { name, members } => ApiRequest::GroupCreate { name, members },
            ClientCmd::GroupInvite { group, member } => act(group, GroupAction::Invite(member)),
            ClientCmd::GroupRemove { group, member } => act(group, GroupAction::Remove(member)),
            ClientCmd::GroupAccept { group } => act(group, GroupAction::Accept),
            ClientCmd::GroupDecline { group } => act(group, GroupAction::Decline),
            ClientCmd::GroupLeave { group } => act(group, GroupAction::Leave),
            ClientCmd::GroupRename { group, name } => act(group, GroupAction::Rename(name)),
            ClientCmd::GroupSend { group, text } => ApiRequest::GroupSend { group, text },
            ClientCmd::GroupRead { group, upto } => ApiRequest::GroupRead { group, upto },
            ClientCmd::GroupHistory {
                group,
                before,
                limit,
            } => ApiRequest::GroupMessages {
                group,
                before,
                limit,
            },
            _ => return,
        };
        match self.group_request(req, None) {
            Some(ApiReply::Refused(why)) => self
                .subs
                .send(sub, &Event::error(why.to_string(), Some(name.into()))),
            Some(ApiReply::GroupMessages(page)) => self.subs.send(
                sub,
                &Event::GroupHistory {
                    group: history_of,
                    messages: page.messages,
                    truncated: page.truncated,
                },
            ),
            // A created group reaches every UI as a `group` event already.
            _ => {}
        }
    }

    /// A UI's accept, decline or cancel: the change reaches every UI as a `file`
    /// event; a refusal only this one, as an `error` naming the command.
    fn ui_file(&mut self, sub: SubId, id: &str, action: FileAction) {
        if let crate::bus::ApiReply::Refused(why) = self.file_action(id, action) {
            let request = match action {
                FileAction::Accept => "accept_file",
                FileAction::Decline => "decline_file",
                FileAction::Cancel => "cancel_file",
                FileAction::Pause => "pause_file",
                FileAction::Resume => "resume_file",
            };
            self.subs
                .send(sub, &Event::error(why.to_string(), Some(request.into())));
        }
    }

    fn send_peers(&mut self, sub: SubId) {
        let (peers, strangers_left_out) = self.peers.all_api();
        self.subs.send(
            sub,
            &Event::Peers {
                peers,
                strangers_left_out,
            },
        );
    }

    /// Looks up a peer by its full id (one heard by beacon gets an entry:
    /// `sessions::adopt_nearby`); the error event names the request on failure.
    pub(super) fn contact_id(
        &mut self,
        sub: SubId,
        peer: &str,
        request: &str,
        now: Instant,
    ) -> Option<identity::NodeId> {
        let decoded = crate::hex::decode_array::<32>(peer).ok();
        if let Some(id) = &decoded {
            self.adopt_nearby(id, now);
        }
        let found = decoded.filter(|id| self.peers.get(id).is_some());
        if found.is_none() {
            self.subs.send(
                sub,
                &Event::error(format!("unknown peer {peer:?}"), Some(request.into())),
            );
        }
        found
    }

    fn rename(&mut self, sub: SubId, name: String) {
        let name = crate::rules::normalize_name(&name);
        if let Err(e) = validate_name(&name) {
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
        self.peer_ctx.name.set(&name);
        self.name = name;
        self.subs.broadcast(&Event::Me(self.me()));
        let now = self.clock.now_ms();
        for id in self.peers.online() {
            self.peers.send(&id, Inner::Name(self.name.clone()), now);
        }
    }

    fn ui_connect(&mut self, sub: SubId, addr: String, now: Instant) {
        if !valid_target(&addr) {
            self.subs.send(
                sub,
                &Event::error(
                    format!("{addr:?} is not a host:port address"),
                    Some("connect".into()),
                ),
            );
            return;
        }
        self.dialer.wait(&addr, sub);
        self.dialer.log.manual(&addr);
        if !self.dialer.in_flight(&addr) && !self.start_dial(&addr, None, Source::User, now) {
            self.dialer.take_waiters(&addr);
            self.subs.send(
                sub,
                &Event::error(
                    format!("{addr} was tried moments ago; try again in a few seconds"),
                    Some("connect".into()),
                ),
            );
        }
    }

    fn verify(&mut self, sub: SubId, peer: &str, verified: bool, now: Instant) {
        let Some(id) = self.contact_id(sub, peer, "verify", now) else {
            return;
        };
        if let Some(c) = self.peers.get_mut(&id) {
            c.verified = verified;
        }
        // A verified stranger is a contact: stored before its `verified` is.
        if verified && self.peers.promote(&id, "verified") {
            self.save_contact(&id);
        }
        self.durable.submit(
            crate::store::Op::SetVerified { peer: id, verified },
            super::durable::After::Nothing,
        );
        self.push_peer(&id);
    }
}
