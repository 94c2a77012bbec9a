//! The driver loop of the soak's load phase, the settle phase after it, and the final
//! stop. One thread (the test's) owns the cluster and the driver clients; every action
//! is chosen by the seeded [`Rng`] and every wait is bounded.
//!
//! Per 20 ms tick: reap nodes that died on their own; restart nodes whose downtime is
//! over; reopen driver clients the node dropped; then, when due, stop a churning node
//! (SIGTERM or `kill -9`, down 0–5 s), rename a node, mark a conversation read, and send
//! `SEND_RATE` messages a second on average between random pairs (now and then a burst
//! of up to 50 to one peer), whether or not the receiver is up.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::check;
use crate::clients::{Shared, UiClient};
use crate::cluster::{self, Cluster};
use crate::rng::Rng;

/// Driver sends per second, on average (the flood comes on top).
const SEND_RATE: f64 = 20.0;
const TICK: Duration = Duration::from_millis(20);

/// What the load phase did.
#[derive(Default, Debug)]
pub struct Load {
    pub sends: u64,
    pub renames: u64,
    pub reads: u64,
    pub graceful: u64,
    pub kills: u64,
    /// Driver clients a live node closed (reason → count).
    pub ui_drops: BTreeMap<String, u64>,
    /// Set when the run had to stop early (a node that would not start).
    pub aborted: Option<String>,
}

/// How the settle phase ended.
#[derive(Default, Debug)]
pub struct Settled {
    pub after: Duration,
    pub meshed: bool,
    pub pending: u64,
}

pub struct Driver {
    cluster: Cluster,
    clients: Vec<Option<UiClient>>,
    shared: Arc<Shared>,
    rng: Rng,
    restart_at: Vec<Option<Instant>>,
    /// Names asked of each node, in order (they are unique).
    asked_names: Vec<Vec<String>>,
    next_tag: u64,
    load: Load,
}

impl Driver {
    pub fn new(cluster: Cluster, shared: Arc<Shared>, rng: Rng) -> Driver {
        let n = cluster.slots.len();
        Driver {
            cluster,
            clients: (0..n).map(|_| None).collect(),
            shared,
            rng,
            restart_at: vec![None; n],
            asked_names: vec![Vec::new(); n],
            next_tag: 0,
            load: Load::default(),
        }
    }

    /// The load phase, for `length`.
    pub fn run(&mut self, length: Duration) -> Load {
        let start = Instant::now();
        let end = start + length;
        let mut next_churn = start + self.after(5.0, 15.0);
        let mut next_rename = start + self.after(1.0, 5.0);
        let mut next_read = start + self.after(1.0, 5.0);
        let mut credit = 0.0;
        let mut last = start;
        while Instant::now() < end && self.load.aborted.is_none() {
            let now = Instant::now();
            self.keep_up(now);
            if now >= next_churn {
                self.churn(now);
                next_churn = now + self.after(5.0, 15.0);
            }
            if now >= next_rename {
                self.rename();
                next_rename = now + self.after(2.0, 8.0);
            }
            if now >= next_read {
                self.read();
                next_read = now + self.after(1.0, 5.0);
            }
            credit += (now - last).as_secs_f64() * SEND_RATE;
            last = now;
            while credit >= 1.0 {
                credit -= 1.0;
                let burst = if self.rng.chance(0.01) {
                    1 + self.rng.below(50)
                } else {
                    1
                };
                self.send(burst);
            }
            std::thread::sleep(TICK);
        }
        self.load.graceful = self.cluster.churn.graceful;
        self.load.kills = self.cluster.churn.kills;
        std::mem::take(&mut self.load)
    }

    fn after(&mut self, lo: f64, hi: f64) -> Duration {
        Duration::from_secs_f64(self.rng.secs(lo, hi))
    }

    /// Crashed nodes, due restarts, dropped clients.
    fn keep_up(&mut self, now: Instant) {
        for i in self.cluster.reap() {
            self.clients[i] = None;
            self.restart_at[i] = Some(now);
        }
        for i in 0..self.restart_at.len() {
            if self.restart_at[i].is_some_and(|t| t <= now) {
                self.restart_at[i] = None;
                if let Err(e) = self.cluster.start(i) {
                    self.load.aborted = Some(e);
                    return;
                }
            }
        }
        for i in 0..self.clients.len() {
            if let Some(c) = &self.clients[i] {
                if c.alive() {
                    continue;
                }
                let why: String = c
                    .why()
                    .chars()
                    .map(|c| if c.is_ascii_digit() { '#' } else { c })
                    .take(120)
                    .collect();
                *self.load.ui_drops.entry(why).or_default() += 1;
                self.clients[i] = None;
            }
            if let Some(node) = self.cluster.node(i) {
                self.clients[i] = UiClient::open(node, i as u8, self.shared.clone()).ok();
            }
        }
    }

    /// Up nodes that have a client.
    fn reachable(&self) -> Vec<usize> {
        (0..self.clients.len())
            .filter(|&i| self.clients[i].is_some() && self.cluster.is_up(i))
            .collect()
    }

    fn pick(&mut self, from: &[usize]) -> Option<usize> {
        (!from.is_empty()).then(|| from[self.rng.below(from.len() as u64) as usize])
    }

    fn churn(&mut self, now: Instant) {
        let up: Vec<usize> = (0..self.cluster.slots.len())
            .filter(|&i| !self.cluster.slots[i].long_lived && self.cluster.is_up(i))
            .collect();
        let Some(i) = self.pick(&up) else { return };
        // The client goes first, so its end is not counted as the node dropping it.
        self.clients[i] = None;
        let graceful = self.rng.chance(0.5);
        self.cluster.stop(i, graceful);
        self.restart_at[i] = Some(now + self.after(0.0, 5.0));
    }

    fn rename(&mut self) {
        let Some(i) = self.pick(&self.reachable()) else {
            return;
        };
        let k = self.asked_names[i].len();
        let label = &self.cluster.slots[i].label;
        // Multi-byte names too; at most 64 characters (HTTP.md).
        let name = match self.rng.below(3) {
            0 => format!("{label} #{k}"),
            1 => format!("Kätzchen {label} {k} 🐈"),
            _ => format!("{label} {k} {}", "ñ".repeat(40)),
        };
        self.asked_names[i].push(name.clone());
        self.load.renames += 1;
        if let Some(c) = &self.clients[i] {
            c.send(json!({"cmd": "rename", "name": name}));
        }
    }

    fn read(&mut self) {
        let Some(i) = self.pick(&self.reachable()) else {
            return;
        };
        let j = self.other_than(i);
        let peer = self.cluster.slots[j].id.clone();
        self.load.reads += 1;
        if let Some(c) = &self.clients[i] {
            c.send(json!({"cmd": "read", "peer": peer}));
        }
    }

    fn other_than(&mut self, i: usize) -> usize {
        let n = self.cluster.slots.len() as u64;
        (i + 1 + self.rng.below(n - 1) as usize) % n as usize
    }

    fn send(&mut self, count: u64) {
        let Some(i) = self.pick(&self.reachable()) else {
            return;
        };
        let j = self.other_than(i);
        let to = self.cluster.slots[j].id.clone();
        for _ in 0..count {
            self.next_tag += 1;
            let text = self.text(i, j);
            self.load.sends += 1;
            if let Some(c) = &self.clients[i] {
                c.send(json!({"cmd": "send", "to": to, "text": text}));
            }
        }
    }

    /// `s<n> <from>><to> ` and a body: mostly short, some long with multi-byte
    /// characters, now and then the largest allowed (65,536 bytes).
    fn text(&mut self, i: usize, j: usize) -> String {
        let s = &self.cluster.slots;
        let mut t = format!("s{} {}>{} ", self.next_tag, s[i].label, s[j].label);
        let target = match self.rng.below(100) {
            0..=69 => self.rng.below(100) as usize,
            70..=97 => 100 + self.rng.below(3000) as usize,
            _ => 65_536,
        };
        const PIECES: [&str; 6] = ["meow ", "purr ", "é", "猫", "🐈", "ordinary words "];
        while t.len() < target {
            t.push_str(PIECES[self.rng.below(PIECES.len() as u64) as usize]);
        }
        while t.len() > 65_536 {
            t.pop();
        }
        t
    }

    /// All nodes up, meshed, and no outgoing message pending anywhere; at most `max`.
    pub fn settle(&mut self, max: Duration) -> Settled {
        let start = Instant::now();
        for i in 0..self.cluster.slots.len() {
            // Started here, so a restart still due from the load must not start it a
            // second time (the data dir's lock refuses it, and the run aborted).
            self.restart_at[i] = None;
            if !self.cluster.is_up(i) {
                if let Err(e) = self.cluster.start(i) {
                    self.load.aborted = Some(e);
                }
            }
        }
        let mut s = Settled::default();
        loop {
            self.keep_up(Instant::now());
            s.meshed = self.cluster.meshed();
            s.pending = self
                .cluster
                .slots
                .iter()
                .map(|sl| check::pending_out(&sl.dir.join("purr.db")).unwrap_or(u64::MAX / 8))
                .sum();
            s.after = start.elapsed();
            if (s.meshed && s.pending == 0) || s.after >= max {
                return s;
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    }

    /// Name problems: a node whose name is not the last it confirmed (or one asked of
    /// it after), or a peer that shows another name for it.
    pub fn name_check(&self) -> Vec<String> {
        let mut bad = Vec::new();
        let confirmed = self.shared.tracker().names.clone();
        for (i, slot) in self.cluster.slots.iter().enumerate() {
            let Some(me) = self.cluster.node(i).and_then(|n| cluster::api(n, "me")) else {
                bad.push(format!("{}: no answer to /api/v1/me", slot.label));
                continue;
            };
            let name = me["name"].as_str().unwrap_or("").to_string();
            let asked = &self.asked_names[i];
            if let Some(c) = &confirmed[i] {
                // A rename answered by `me` is saved; one asked later may or may not
                // have been carried out before a kill.
                let ok = match asked.iter().position(|a| a == c) {
                    Some(p) => asked[p..].contains(&name),
                    None => name == *c || asked.contains(&name),
                };
                if !ok {
                    bad.push(format!(
                        "{}: name {name:?}, last confirmed {c:?}",
                        slot.label
                    ));
                }
            }
            for (j, other) in self.cluster.slots.iter().enumerate() {
                let Some(peers) = self.cluster.node(j).and_then(cluster::peers_of) else {
                    continue;
                };
                let seen = peers.iter().find(|p| p["id"] == slot.id.as_str());
                if j != i && seen.is_none_or(|p| p["name"] != name.as_str()) {
                    bad.push(format!(
                        "{} shows {} as {:?}, its name is {name:?}",
                        other.label,
                        slot.label,
                        seen.map(|p| p["name"].clone())
                    ));
                }
            }
        }
        bad
    }

    /// Closes the clients and stops every node with SIGTERM.
    pub fn stop_all(mut self) -> Cluster {
        self.clients.clear();
        for i in 0..self.cluster.slots.len() {
            self.cluster.stop(i, true);
        }
        self.cluster
    }

    /// Load figures gathered after [`Driver::run`] returned (settle may abort).
    pub fn aborted(&self) -> Option<String> {
        self.load.aborted.clone()
    }
}
