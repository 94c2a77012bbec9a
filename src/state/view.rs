//! The one place where the node's domain values become the UI's JSON shapes (SPEC §5,
//! `crate::api`): messages, statuses and peers as the UIs and the local API see them.
//! The store and the peer table never build JSON types; handlers call these.

use crate::api;
use crate::identity::{fingerprint, NodeId};
use crate::store::{Direction, Status, StoredMessage};

use super::nearby::Heard;
use super::peers::Contact;

/// The UI's word for a stored status (the same words, by design).
pub fn status(s: Status) -> api::Status {
    match s {
        Status::Pending => api::Status::Pending,
        Status::Delivered => api::Status::Delivered,
        Status::Read => api::Status::Read,
        Status::Received => api::Status::Received,
    }
}

/// A stored message as SPEC §5 shows it; `own` is this node's id, for `from`/`to`.
pub fn message(m: &StoredMessage, own: &NodeId) -> api::Message {
    let peer = crate::hex::encode(&m.peer);
    let own = crate::hex::encode(own);
    let (from, to) = match m.direction {
        Direction::In => (peer.clone(), own),
        Direction::Out => (own, peer.clone()),
    };
    api::Message {
        id: m.id.to_string(),
        seq: m.seq,
        peer,
        from,
        to,
        text: m.text.clone(),
        ts: m.ts,
        status: status(m.status),
    }
}

/// A contact as SPEC §5 shows it; `name_conflict` is computed by the caller, which
/// sees the other contacts, and `heard` says whether its beacons are heard (nearby).
pub fn peer(c: &Contact, name_conflict: bool, heard: bool) -> api::Peer {
    let presence = if c.is_online() {
        api::PeerPresence::Online
    } else if heard {
        api::PeerPresence::Nearby
    } else {
        api::PeerPresence::Offline
    };
    api::Peer {
        id: crate::hex::encode(&c.id),
        name: c.name.clone(),
        fingerprint: fingerprint(&c.id),
        online: c.is_online(),
        addr: c.addrs.first().map(ToString::to_string),
        unread: c.unread,
        last_seen: c.last_seen,
        verified: c.verified,
        name_conflict,
        stranger: c.is_stranger(),
        path: c.link().map(|l| l.path.clone()),
        presence,
    }
}

/// A peer only heard by beacon (issue 21): no session ever, so nothing but its claimed
/// id and where the beacon came from; no name (beacons carry none), a stranger.
/// `still`: still heard (`nearby`), or its beacons stopped (`offline`).
pub fn heard_peer(id: &NodeId, heard: &Heard, still: bool) -> api::Peer {
    api::Peer {
        id: crate::hex::encode(id),
        name: String::new(),
        fingerprint: fingerprint(id),
        online: false,
        addr: Some(heard.addr.to_string()),
        unread: 0,
        last_seen: None,
        verified: false,
        name_conflict: false,
        stranger: true,
        path: None,
        presence: if still {
            api::PeerPresence::Nearby
        } else {
            api::PeerPresence::Offline
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peer::inner::MsgId;

    #[test]
    fn from_and_to_follow_the_direction() {
        let mut m = StoredMessage {
            seq: 7,
            id: MsgId([1; 16]),
            peer: [0xbb; 32],
            direction: Direction::In,
            text: "hi".into(),
            ts: 42,
            status: Status::Received,
            read_sent: false,
        };
        let (me, them) = ("aa".repeat(32), "bb".repeat(32));
        let shown = message(&m, &[0xaa; 32]);
        assert_eq!((shown.from.as_str(), shown.to.as_str()), (&*them, &*me));
        assert_eq!(
            (shown.seq, shown.ts, shown.status),
            (7, 42, api::Status::Received)
        );
        assert_eq!(shown.id, "01".repeat(16));
        m.direction = Direction::Out;
        let shown = message(&m, &[0xaa; 32]);
        assert_eq!((shown.from.as_str(), shown.to.as_str()), (&*me, &*them));
        assert_eq!(shown.peer, them);
    }

    #[test]
    fn statuses_keep_their_words() {
        for s in [
            Status::Pending,
            Status::Delivered,
            Status::Read,
            Status::Received,
        ] {
            let json = serde_json::to_string(&status(s)).expect("JSON");
            assert_eq!(json, format!("\"{}\"", crate::store::status_str(s)));
        }
    }
}
