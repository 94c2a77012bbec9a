//! Group benchmarks (issue 18), on release nodes:
//!
//! 1. Convergence after a heal: five nodes, each in its own network namespace on one
//!    bridge (discovery on), one group of five. The bridge is split ({A, B, C} | {D, E}),
//!    every member writes its share of 1,000 messages, the bridge heals; the figure is
//!    the time from the heal until every member's history holds all of them in one
//!    order (the ordered ids compared, polled every 50 ms).
//! 2. Screen to screens: ten nodes on loopback, one group of ten. A message sent on one
//!    UI WebSocket (`group_send`) until its `group_message` event has reached the UI of
//!    every other member; alternated in the same run with 1:1 messages (`send` on A's
//!    UI until B's UI gets its `message` event): p50 of each, and the ratio. Then what
//!    each kind costs in CPU time, summed over every thread of the nodes and of this
//!    program (`/proc/<pid>/task/<tid>/schedstat`), by role: the "What limits us".
//!
//! `cargo bench --bench groups -- [--quick] [--latency]` prints a Markdown section and
//! `@summary` lines for `scripts/bench.sh`; `--quick` (the `make test` smoke run) uses
//! tiny counts; `--latency` runs part 2 alone (its rows only: for profiling and repeats).
//! The nodes and namespaces come from the integration tests' support code.

#[path = "support/report.rs"]
#[allow(dead_code)]
mod report;
#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::group_lan::{make_group, Member, Watch};
use support::lan::Lan;
use support::{eventually, files::post, Node};

/// A figure as the report prints it.
fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn cpu_sum(roles: &[(String, Duration)]) -> Duration {
    roles.iter().map(|(_, t)| *t).sum()
}

fn p50(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

/// Convergence after a heal: `total` messages written during a split. `Err` says why
/// nothing was measured.
fn convergence(total: usize, hold: Duration) -> Result<(Duration, usize, Duration), String> {
    if let Some(why) = support::netns::unavailable() {
        return Err(format!("network namespaces unavailable ({why})"));
    }
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let lan = Lan::builder(5).ipv4_only().build();
    let names = ["A", "B", "C", "D", "E"];
    let members: Vec<Member> = (0..5)
        .map(|i| Member::start(&lan, i, names[i], dir.path().join(names[i])))
        .collect();
    let all: Vec<&Member> = members.iter().collect();
    support::group_lan::wait_listed(&lan, &all, Duration::from_secs(30));
    let gid = make_group(&members[0], &all[1..]);

    lan.split(&[3, 4]);
    let split_at = Instant::now();
    let each = total / members.len();
    std::thread::scope(|s| {
        for m in &members {
            let (api, gid) = (m.api(), &gid);
            s.spawn(move || {
                for i in 0..each {
                    api.say(gid, &format!("{} {i}", api.name));
                }
            });
        }
    });
    let written = each * members.len();
    // A split held longer: TCP's retransmission backoff then decides when the stuck
    // connections across it send again.
    if let Some(rest) = hold.checked_sub(split_at.elapsed()) {
        std::thread::sleep(rest);
    }
    let split_for = split_at.elapsed();
    let healed = Instant::now();
    lan.heal();
    let same = || {
        let first = members[0].ids(&gid);
        first.len() == written && members[1..].iter().all(|m| m.ids(&gid) == first)
    };
    if !eventually(Duration::from_secs(60), same) {
        let held: Vec<String> = members
            .iter()
            .map(|m| format!("{} {}", m.name, m.ids(&gid).len()))
            .collect();
        return Err(format!(
            "no convergence on {written} messages within 60 s of the heal ({})",
            held.join(", ")
        ));
    }
    Ok((healed.elapsed(), written, split_for))
}

/// Screen-to-screens latency for a group of `size`, and 1:1 in the same run.
fn latency(size: usize, samples: usize) -> Result<Latency, String> {
    let mut nodes: Vec<Node> = Vec::new();
    for _ in 0..size {
        let mut b = Node::builder();
        for n in &nodes {
            b = b.arg("--connect").arg(format!("127.0.0.1:{}", n.port));
        }
        nodes.push(b.start());
    }
    let meshed = || {
        nodes
            .iter()
            .all(|n| n.peers().iter().filter(|p| p["online"] == true).count() >= size - 1)
    };
    if !eventually(Duration::from_secs(30), meshed) {
        return Err(format!("{size} nodes on loopback did not mesh in 30 s"));
    }
    let owner = &nodes[0];
    for n in &nodes[1..] {
        for (x, y) in [(owner, n), (n, owner)] {
            // A busy machine may make a node answer late (503): asked again, bounded.
            let mut last = String::new();
            let sent = (0..20).any(|_| {
                let r = post(x, "messages", &json!({"to": y.id, "text": "hi"}));
                last = r.text();
                r.status == 201 || {
                    std::thread::sleep(Duration::from_millis(500));
                    false
                }
            });
            if !sent {
                return Err(format!("befriending: {last}"));
            }
        }
    }
    let ids: Vec<&str> = nodes[1..].iter().map(|n| n.id.as_str()).collect();
    let r = post(owner, "groups", &json!({"name": "bench", "members": ids}));
    let g: Value = serde_json::from_slice(&r.body).map_err(|e| e.to_string())?;
    let gid = g["id"].as_str().ok_or("no group id")?.to_string();
    let group = |n: &Node| -> Option<Value> {
        n.api("groups")
            .as_array()?
            .iter()
            .find(|g| g["id"] == gid.as_str())
            .cloned()
    };
    for n in &nodes[1..] {
        if !eventually(Duration::from_secs(20), || {
            group(n).is_some_and(|g| g["phase"] == "invited")
        }) {
            return Err("an invitation did not arrive".into());
        }
        post(n, &format!("groups/{gid}/accept"), &json!({}));
    }
    let complete = || {
        nodes
            .iter()
            .all(|n| group(n).is_some_and(|g| g["members"].as_array().map(Vec::len) == Some(size)))
    };
    if !eventually(Duration::from_secs(20), complete) {
        return Err(format!("the group of {size} did not form in 20 s"));
    }
    let mut watches: Vec<Watch> = nodes
        .iter()
        .map(|n| Watch::new(n.ws(), &["group_message", "message"]))
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    for w in &watches {
        while w.live.try_recv().is_ok() {}
    }
    let b_id = nodes[1].id.clone();
    let wait_for = |w: &Watch, cmd: &str, text: &str| -> Option<Instant> {
        let end = Instant::now() + Duration::from_secs(10);
        while let Some(left) = end.checked_duration_since(Instant::now()) {
            let (at, v) = w.live.recv_timeout(left).ok()?;
            // Both events carry the message under `message`.
            if v["cmd"] == cmd && v["message"]["text"] == text {
                return Some(at);
            }
        }
        None
    };
    let (mut group_times, mut direct_times) = (Vec::new(), Vec::new());
    let (mut each_times, mut fan_times) = (Vec::new(), Vec::new());
    for i in 0..samples {
        // A group message, until the last of the other members' UIs shows it.
        let text = format!("group {i}");
        let t0 = Instant::now();
        watches[0].send(&json!({"cmd": "group_send", "group": gid, "text": text}));
        let mut last = t0;
        for w in &watches[1..] {
            let at = wait_for(w, "group_message", &text)
                .ok_or_else(|| format!("group message {i} did not reach every UI"))?;
            each_times.push(at - t0);
            last = last.max(at);
        }
        group_times.push(last - t0);
        // A 1:1 message, A's UI to B's.
        let text = format!("direct {i}");
        let t0 = Instant::now();
        watches[0].send(&json!({"cmd": "send", "to": b_id, "text": text}));
        let at = wait_for(&watches[1], "message", &text)
            .ok_or_else(|| format!("1:1 message {i} did not reach B's UI"))?;
        direct_times.push(at - t0);
        // The same fan-out without a group: one 1:1 message to each other member, sent
        // back to back, until the last of their UIs shows its own.
        let t0 = Instant::now();
        for (k, n) in nodes.iter().enumerate().skip(1) {
            let text = format!("fan {i} {k}");
            watches[0].send(&json!({"cmd": "send", "to": n.id, "text": text}));
        }
        let mut last = t0;
        for (k, w) in watches.iter().enumerate().skip(1) {
            let at = wait_for(w, "message", &format!("fan {i} {k}"))
                .ok_or_else(|| format!("1:1 fan-out {i} did not reach UI {k}"))?;
            last = last.max(at);
        }
        fan_times.push(last - t0);
        for w in &watches {
            while w.live.try_recv().is_ok() {}
        }
    }
    let pids: Vec<u32> = nodes.iter().map(|n| n.pid).collect();
    let cpu_msgs = samples as u32;
    let mut cpu = |group: bool| -> Result<Option<CpuByRole>, String> {
        for w in &watches {
            while w.live.try_recv().is_ok() {}
        }
        let Some(before) = cpu_times(&pids) else {
            return Ok(None);
        };
        for i in 0..cpu_msgs {
            let text = format!("cpu {group} {i}");
            if group {
                watches[0].send(&json!({"cmd": "group_send", "group": gid, "text": text}));
                for w in &watches[1..] {
                    wait_for(w, "group_message", &text).ok_or("a group message was lost")?;
                }
            } else {
                watches[0].send(&json!({"cmd": "send", "to": b_id, "text": text}));
                wait_for(&watches[1], "message", &text).ok_or("a 1:1 message was lost")?;
            }
        }
        // Their commits and receipts are part of what they cost.
        std::thread::sleep(Duration::from_millis(300));
        let Some(after) = cpu_times(&pids) else {
            return Ok(None);
        };
        let mut roles: CpuByRole = after
            .into_iter()
            .map(|(role, t)| {
                let spent = t.saturating_sub(before.get(&role).copied().unwrap_or_default());
                (role, spent / cpu_msgs)
            })
            .filter(|(_, t)| !t.is_zero())
            .collect();
        roles.sort_by_key(|(_, t)| std::cmp::Reverse(*t));
        Ok(Some(roles))
    };
    let cpu_group = cpu(true)?;
    let cpu_direct = cpu(false)?;
    for w in watches.drain(..) {
        w.finish();
    }
    Ok(Latency {
        all: p50(group_times),
        each: p50(each_times),
        direct: p50(direct_times),
        fan: p50(fan_times),
        cpu: cpu_group.zip(cpu_direct),
    })
}

/// CPU time so far of every thread of the nodes (`pids`, the first the sender) and of
/// this process (the UI clients), by role and thread kind, from
/// `/proc/<pid>/task/<tid>/schedstat` (nanoseconds on a CPU); `None` if unreadable.
fn cpu_times(pids: &[u32]) -> Option<HashMap<String, Duration>> {
    let mut out: HashMap<String, Duration> = HashMap::new();
    let me = std::process::id();
    for (i, pid) in pids.iter().chain([&me]).enumerate() {
        let dir = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
        for task in dir.flatten() {
            let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
            let stat = std::fs::read_to_string(task.path().join("schedstat")).unwrap_or_default();
            let Some(ns) = stat.split_whitespace().next().and_then(|n| n.parse().ok()) else {
                continue;
            };
            let role = match (*pid == me, i, comm.trim()) {
                (true, ..) => "this bench's UI clients",
                (_, 0, "state") => "the sender's state thread",
                (_, 0, "peer") => "the sender's peer connections",
                (_, 0, _) => "the sender's other threads",
                (_, _, "state") => "the receivers' state threads",
                (_, _, "store-writer") => "the receivers' store writers",
                (_, _, "ws-writer") => "the receivers' WebSocket writers",
                (_, _, "peer") => "the receivers' peer connections",
                _ => "the receivers' other threads",
            };
            *out.entry(role.to_string()).or_default() += Duration::from_nanos(ns);
        }
    }
    Some(out)
}

/// CPU time per message by role (who spent it), most first.
type CpuByRole = Vec<(String, Duration)>;

/// Screen-to-screens p50s of one run.
struct Latency {
    /// Until every other member's UI showed a group message.
    all: Duration,
    /// Until one member's UI showed it (every member of every sample).
    each: Duration,
    /// A 1:1 message, until the other UI showed it.
    direct: Duration,
    /// One 1:1 message to each other member at once, until the last UI showed its own.
    fan: Duration,
    /// CPU per group message and per 1:1 message, by role, most first (`None`: no
    /// schedstat to read).
    cpu: Option<(CpuByRole, CpuByRole)>,
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let latency_only = std::env::args().any(|a| a == "--latency");
    if quick {
        check_limits_paragraph();
    }
    // The nodes' logs go to a pipe: at debug level that would slow them down.
    std::env::set_var("PURR_TEST_LOG", "warn");
    let (total, size, samples) = if quick { (50, 4, 5) } else { (1000, 10, 101) };
    // The split lasts as long as the writing, then at least 5 s (1 s in the smoke run).
    let long = Duration::from_secs(if quick { 1 } else { 5 });
    let holds = [Duration::ZERO, long];

    println!("### 7. Groups\n");
    println!(
        "Command: `cargo bench --bench groups`. Release nodes. (1) Five nodes, each in its \
         own network namespace on one bridge, discovery on, one group of five; the bridge \
         is split ({{A, B, C}} | {{D, E}}: two bridge ports moved to a second bridge, TCP \
         connections across the split stay open and lose their packets), each member \
         writes its share of {total} messages over the API, the bridge heals (at once, and \
         once the split has lasted {} s): time from \
         the heal until every member's history holds all of them in one order (ordered \
         ids compared, polled every 50 ms). (2) {size} nodes on loopback, one group of \
         {size}: {samples} group messages sent on the owner's UI WebSocket, each timed \
         until its `group_message` event reached the UI of every other member, \
         alternated with 1:1 messages from the same UI to one member's UI and with one \
         1:1 message to each other member at once, each round as soon as the last one's \
         last screen showed it. Then {samples} group and {samples} 1:1 \
         messages back to back, for the CPU time they cost: every thread of the {size} \
         nodes and of this program's UI clients (`/proc/*/task/*/schedstat`), their \
         commits and receipts included.\n",
        long.as_secs()
    );
    println!("| what | figure | baseline | target |");
    println!("|---|---|---|---|");
    let convs: Vec<_> = holds
        .iter()
        .filter(|_| !latency_only)
        .map(|hold| (*hold, convergence(total, *hold)))
        .collect();
    for (hold, conv) in &convs {
        match conv {
            Ok((took, written, split_for)) => println!(
                "| convergence after a heal, {written} messages written during a {:.1} s split | **{:.0} ms** | — | **≤2 s** |",
                split_for.as_secs_f64(),
                ms(*took)
            ),
            Err(why) => println!(
                "| convergence after a split of at least {:.0} s | not measured: {why} | — | ≤2 s |",
                hold.as_secs_f64()
            ),
        }
    }
    let lat = latency(size, samples);
    match &lat {
        Ok(l) => {
            println!(
                "| screen to screens, group of {size}: until all {} other UIs show it, p50 | **{:.2} ms** | 1:1 p50 {:.2} ms ({:.2}×) | **≤2× the 1:1 p50** |",
                size - 1,
                ms(l.all),
                ms(l.direct),
                ms(l.all) / ms(l.direct).max(0.001)
            );
            println!(
                "| screen to screens, group of {size}: each other UI, p50 | {:.2} ms | 1:1 p50 {:.2} ms ({:.2}×) | — |",
                ms(l.each),
                ms(l.direct),
                ms(l.each) / ms(l.direct).max(0.001)
            );
        }
        Err(why) => println!("| screen to screens | not measured: {why} | — | ≤2× |"),
    }
    if let Ok(l) = &lat {
        println!(
            "| the same fan-out as 1:1 messages: one to each of the {} others at once, until the last UI shows its own, p50 | {:.2} ms | 1:1 p50 {:.2} ms ({:.2}×) | — |",
            size - 1,
            ms(l.fan),
            ms(l.direct),
            ms(l.fan) / ms(l.direct).max(0.001)
        );
        if let Some((group, direct)) = &l.cpu {
            let (g, d) = (cpu_sum(group), cpu_sum(direct));
            println!(
                "| CPU time per message, all threads of the {size} nodes and of the UI clients: group of {size} | {:.0} µs | 1:1 {:.0} µs ({:.1}×) | — |",
                us(g),
                us(d),
                us(g) / us(d).max(0.001)
            );
        }
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        println!("{}", limits(size, cores, l));
    }
    println!();
    for (hold, conv) in convs {
        match conv {
            Ok((took, written, split_for)) => println!(
                "@summary | groups: convergence of {written} messages after a {:.1} s split heals, 5 nodes in namespaces | {:.0} ms | ≤2 s | {} | |",
                split_for.as_secs_f64(),
                ms(took),
                verdict(took <= Duration::from_secs(2))
            ),
            Err(why) => println!(
                "@summary | groups: convergence after a {:.0} s split | not measured: {why} | ≤2 s | n/a | |",
                hold.as_secs_f64()
            ),
        }
    }
    match lat {
        Ok(l) => println!(
            "@summary | groups: screen to screens p50, group of {size} (all other UIs) vs 1:1 | {:.2} ms vs {:.2} ms ({:.2}×) | ≤2× | {} | |",
            ms(l.all),
            ms(l.direct),
            ms(l.all) / ms(l.direct).max(0.001),
            verdict(l.all <= l.direct * 2)
        ),
        Err(why) => println!(
            "@summary | groups: screen to screens p50 | not measured: {why} | ≤2× | n/a | |"
        ),
    }
}

/// "What limits us" for the latency figures: a function of the run's measurements only
/// (checked by the `--quick` run: [`report::assert_measured_only`]).
fn limits(size: usize, cores: usize, l: &Latency) -> String {
    let ratio = ms(l.all) / ms(l.fan).max(0.001);
    let cpu = match &l.cpu {
        Some((group, direct)) => {
            let top: Vec<String> = group
                .iter()
                .take(4)
                .map(|(role, t)| format!("{role} {:.0} µs", us(*t)))
                .collect();
            format!(
                " A group message costs {:.0} µs of CPU in all (a 1:1 message {:.0} µs, \
                 {:.1}× less), most of it in {}: {} recipients each open a record, check \
                 the author's signature, store the message, push an event to a UI and \
                 send a receipt, where a 1:1 message has one.",
                us(cpu_sum(group)),
                us(cpu_sum(direct)),
                us(cpu_sum(group)) / us(cpu_sum(direct)).max(0.001),
                top.join(", "),
                size - 1
            )
        }
        None => String::new(),
    };
    format!(
        "\n**What limits us.** Here all {size} nodes and the {size} UI clients share this \
         machine's {cores} cores, and a message's way from screen to screen is a chain of \
         threads that wake each other (UI reader, state, peer writer; then on each \
         receiver its connection reader, state and WebSocket writer).{cpu} The same \
         fan-out sent as {} separate 1:1 messages takes {:.2} ms to the last screen; the \
         group message takes {ratio:.2}× that{}. On a LAN each member has its own \
         machine. After a heal, the connections across the split are the ones from before \
         it (a split shorter than the 45 s silence limit closes none): what waits in them \
         goes out at TCP's next retransmission, at most a second apart on a peer socket \
         (`conn::tcp`; the kernel's default backoff doubles to two minutes, so a longer \
         split healed later).\n",
        size - 1,
        ms(l.fan),
        if ratio <= 1.5 {
            ", so most of the wait is for the cores, not in the group code"
        } else {
            ": the group code adds the difference"
        }
    )
}

/// The `--quick` run's check that [`limits`] states only what was measured.
fn check_limits_paragraph() {
    let lat = |all: f64, fan: f64| {
        let cpu = |scale: f64| {
            vec![
                (
                    "role a".to_string(),
                    Duration::from_secs_f64(all * scale / 3.1e3),
                ),
                (
                    "role b".to_string(),
                    Duration::from_secs_f64(fan * scale / 5.3e3),
                ),
            ]
        };
        Latency {
            all: Duration::from_secs_f64(all / 1000.0),
            each: Duration::from_secs_f64(all / 2000.0),
            direct: Duration::from_secs_f64(all / 7000.0),
            fan: Duration::from_secs_f64(fan / 1000.0),
            cpu: Some((
                cpu(1.0),
                vec![("role c".to_string(), Duration::from_secs_f64(fan / 17e3))],
            )),
        }
    };
    let allowed = [
        ("10", "the group size"),
        ("9", "the other members"),
        ("2", "cores"),
        ("45", "SILENCE_LIMIT, src/conn/mod.rs"),
        ("1", "1:1, one to one"),
    ];
    let (a, b) = (
        limits(10, 2, &lat(1.11, 0.96)),
        limits(10, 2, &lat(3.3, 1.07)),
    );
    report::assert_measured_only("groups limits", &a, &b, &allowed);
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "MISSED"
    }
}
