//! Swarm fuzzing (VOPR-style): every seed draws a whole scenario — servers, clients, services
//! and a random mix of faults — runs it, heals everything, waits a quiet period and checks that
//! the registry converged. A failing seed is written out as an ordinary scenario file, so
//! `nacos-sim run FILE` reproduces it exactly.

use crate::naming::wire::Observation;
use crate::scenario::{self, expect, world, Scenario};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// When every fault has healed.
pub const HEAL_AT_S: u64 = 150;

/// A generated case: the scenario, and the clients no fault touches (their instances must
/// never be expired: they beat all along).
pub struct Case {
    pub json: Value,
    pub untouched_clients: Vec<String>,
}

/// A node a fault names, by role and index within that role (taken modulo the role's count),
/// so that shrinking a list never turns a fault on a client into a fault on a server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeRef {
    Server(usize),
    App(usize),
    Consumer(usize),
}

/// One fault of a plan. Times are whole seconds; a window ends at `at + len`, but never after
/// the heal.
#[derive(Clone, Debug, PartialEq)]
pub enum FaultPlan {
    /// UDP loss (percent) on the link between two nodes, both ways, until the heal.
    UdpLoss { at: u64, a: NodeRef, b: NodeRef, percent: u32 },
    /// Delay jitter on every link until the heal.
    Jitter { at: u64, ms: u64 },
    /// One node cut off from everyone.
    CutOff { at: u64, len: u64, node: NodeRef },
    /// Packets from `from` to `to` are dropped (the other way still works).
    OneWay { at: u64, len: u64, from: NodeRef, to: NodeRef },
    /// Crash, then restart.
    Crash { at: u64, len: u64, node: NodeRef },
    /// Stop-the-world pause.
    Pause { at: u64, len: u64, node: NodeRef },
    /// The server's clock jumps by `by_ms`.
    ClockJump { at: u64, server: usize, by_ms: i64 },
}

/// An application that registers instances: the servers it knows (indices, modulo the server
/// count) and its registrations (time in ms, service index modulo the service count).
#[derive(Clone, Debug, PartialEq)]
pub struct AppPlan {
    pub known: Vec<usize>,
    pub registrations: Vec<(u64, usize)>,
}

/// Everything a fuzz case is made of, before it becomes a scenario file. Seeds draw plans
/// ([`Plan::draw`]); the property tests generate and shrink them with proptest.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub servers: usize,
    pub services: usize,
    pub apps: Vec<AppPlan>,
    /// Each consumer's server (index modulo the server count); it subscribes to every service.
    pub consumers: Vec<usize>,
    pub faults: Vec<FaultPlan>,
    /// Each server's `boot_at` in ms (missing ones boot at 0), so the servers' periodic tasks
    /// (probes, verification, status) do not all tick at the same instants.
    pub boot_ms: Vec<u64>,
    /// Per app, which of its registrations are persistent (missing ones are ephemeral): their
    /// writes go through the CP store.
    pub persistent: Vec<Vec<bool>>,
    /// Per fault, whether a server crash also loses the disk (RaftStore, JRaft's log): drawn
    /// with the persistent registrations and kept only with them.
    pub wipe_disk: Vec<bool>,
}

fn pick<T: Copy>(rng: &mut ChaCha8Rng, v: &[T]) -> T {
    *v.choose(rng).expect("non-empty")
}

/// Draws the scenario of `seed` over every fault class, every server booting at 0. `quiet_s` is the fault-free time after
/// the heal.
pub fn generate(seed: u64, quiet_s: u64) -> Case {
    let mut plan = Plan::draw(seed, false);
    plan.boot_ms.clear();
    plan.persistent.clear();
    plan.wipe_disk.clear();
    plan.case(seed, quiet_s)
}

impl Plan {
    /// The plan of `seed`: 1–5 servers, 1–4 applications on random subsets of them, 1–4
    /// services, 1–2 consumers, 0–4 faults, servers booting within 3 s of each other. `benign`: only fault classes under which Nacos
    /// 1.4.1 is expected to converge — UDP loss, jitter, client crashes, and client→server
    /// partitions short enough (≤ 3 s) that no membership view changes.
    pub fn draw(seed: u64, benign: bool) -> Plan {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x6675_7a7a);
        let servers = rng.gen_range(1..=5usize);
        let n_apps = rng.gen_range(1..=4usize);
        let services = rng.gen_range(1..=4usize);
        let apps: Vec<AppPlan> = (0..n_apps)
            .map(|_| {
                let mut known: Vec<usize> = (0..servers).collect();
                known.shuffle(&mut rng);
                known.truncate(rng.gen_range(1..=servers));
                let registrations = (0..rng.gen_range(1..=3))
                    .map(|_| (rng.gen_range(1000..6000i32) as u64, rng.gen_range(0..services)))
                    .collect();
                AppPlan { known, registrations }
            })
            .collect();
        let indices: Vec<usize> = (0..servers).collect();
        let consumers: Vec<usize> = (0..rng.gen_range(1..=2)).map(|_| pick(&mut rng, &indices)).collect();
        let servers_r: Vec<NodeRef> = (0..servers).map(NodeRef::Server).collect();
        let clients_r: Vec<NodeRef> =
            (0..n_apps).map(NodeRef::App).chain((0..consumers.len()).map(NodeRef::Consumer)).collect();
        let everyone: Vec<NodeRef> = servers_r.iter().chain(&clients_r).copied().collect();
        let faults: Vec<FaultPlan> = (0..rng.gen_range(0..=4))
            .map(|_| {
                let at = rng.gen_range(20..120u64);
                let len = rng.gen_range(1..=30u64);
                let kind = if benign { pick(&mut rng, &[0, 1, 3, 4]) } else { rng.gen_range(0..7) };
                match kind {
                    0 => {
                        let (a, b) = (pick(&mut rng, &everyone), pick(&mut rng, &everyone));
                        FaultPlan::UdpLoss { at, a, b, percent: rng.gen_range(0..=50i32) as u32 }
                    }
                    1 => FaultPlan::Jitter { at, ms: rng.gen_range(1..500i32) as u64 },
                    2 => FaultPlan::CutOff { at, len, node: pick(&mut rng, &everyone) },
                    3 if benign => {
                        let (from, to) = (pick(&mut rng, &clients_r), pick(&mut rng, &servers_r));
                        FaultPlan::OneWay { at, len: rng.gen_range(1..=3), from, to }
                    }
                    3 => {
                        let (from, to) = (pick(&mut rng, &everyone), pick(&mut rng, &everyone));
                        FaultPlan::OneWay { at, len, from, to }
                    }
                    4 => {
                        FaultPlan::Crash { at, len, node: pick(&mut rng, if benign { &clients_r } else { &everyone }) }
                    }
                    5 => FaultPlan::Pause { at, len, node: pick(&mut rng, &everyone) },
                    _ => {
                        FaultPlan::ClockJump { at, server: pick(&mut rng, &indices), by_ms: rng.gen_range(-5000..5000) }
                    }
                }
            })
            .collect();
        // Drawn last, so the rest of a seed's plan is what it was before boot offsets existed;
        // then, for the same reason, which registrations are persistent (one in three).
        let boot_ms = (0..servers).map(|_| rng.gen_range(0..3000u64)).collect();
        let persistent =
            apps.iter().map(|a| a.registrations.iter().map(|_| rng.gen_bool(1.0 / 3.0)).collect()).collect();
        let wipe_disk = faults.iter().map(|_| rng.gen_bool(0.5)).collect();
        Plan { servers, services, apps, consumers, faults, boot_ms, persistent, wipe_disk }
    }

    /// The scenario file of this plan: every fault heals at [`HEAL_AT_S`], then `quiet_s`
    /// seconds of quiet, then the convergence check.
    pub fn case(&self, seed: u64, quiet_s: u64) -> Case {
        let servers: Vec<String> = (1..=self.servers.max(1)).map(|i| format!("s{i}")).collect();
        let app_ids: Vec<String> = (0..self.apps.len()).map(|a| format!("app{a}")).collect();
        let consumer_ids: Vec<String> = (0..self.consumers.len()).map(|c| format!("consumer{c}")).collect();
        let n_services = self.services.max(1);
        let server = |i: usize| servers[i % servers.len()].clone();
        let name = |r: NodeRef| -> Option<String> {
            let at = |ids: &[String], i: usize| (!ids.is_empty()).then(|| ids[i % ids.len()].clone());
            match r {
                NodeRef::Server(i) => Some(server(i)),
                NodeRef::App(i) => at(&app_ids, i),
                NodeRef::Consumer(i) => at(&consumer_ids, i),
            }
        };
        let mut clients = Vec::new();
        for (a, (id, app)) in app_ids.iter().zip(&self.apps).enumerate() {
            let mut known: Vec<String> = Vec::new();
            for &k in &app.known {
                if !known.contains(&server(k)) {
                    known.push(server(k));
                }
            }
            if known.is_empty() {
                known.push(server(0));
            }
            let regs: Vec<Value> = app
                .registrations
                .iter()
                .enumerate()
                .map(|(k, (at_ms, svc))| {
                    let mut r = json!({"at": format!("{at_ms}ms"), "service": format!("svc{}", svc % n_services), "port": 8000 + k});
                    if self.persistent.get(a).and_then(|p| p.get(k)).copied().unwrap_or(false) {
                        r["ephemeral"] = json!(false);
                    }
                    r
                })
                .collect();
            clients.push(json!({"id": id, "servers": known, "register": regs}));
        }
        for (id, &srv) in consumer_ids.iter().zip(&self.consumers) {
            let subs: Vec<Value> = (0..n_services).map(|s| json!({"at": "2s", "service": format!("svc{s}")})).collect();
            clients.push(json!({"id": id, "servers": [server(srv)], "subscribe": subs}));
        }
        let everyone: Vec<String> = servers.iter().chain(&app_ids).chain(&consumer_ids).cloned().collect();
        let mut touched: BTreeSet<String> = BTreeSet::new();
        let mut faults = Vec::new();
        let mut link_changed = false;
        let until = |at: u64, len: u64| format!("{}s", (at + len).min(HEAL_AT_S - 1));
        for (i, f) in self.faults.iter().enumerate() {
            let (fault, involved): (Value, Vec<String>) = match *f {
                FaultPlan::UdpLoss { at, a, b, percent } => {
                    let (Some(from), Some(to)) = (name(a), name(b)) else { continue };
                    link_changed = true;
                    let f = json!({"kind": "link", "at": format!("{at}s"), "from": [from], "to": [to],
                                   "both_ways": true, "set": {"udp_loss": (percent as f64) / 100.0}});
                    (f, vec![from, to])
                }
                FaultPlan::Jitter { at, ms } => {
                    link_changed = true;
                    let f = json!({"kind": "link", "at": format!("{at}s"), "from": everyone, "to": everyone,
                                   "set": {"jitter": format!("{ms}ms")}});
                    (f, everyone.clone())
                }
                FaultPlan::CutOff { at, len, node } => {
                    let Some(cut) = name(node) else { continue };
                    // Cut off from everyone: whoever talks to it is involved too.
                    let f = json!({"kind": "partition", "at": format!("{at}s"), "until": until(at, len),
                                   "groups": [[cut]]});
                    (f, everyone.clone())
                }
                FaultPlan::OneWay { at, len, from, to } => {
                    let (Some(from), Some(to)) = (name(from), name(to)) else { continue };
                    let f = json!({"kind": "partition", "at": format!("{at}s"), "until": until(at, len),
                                   "from": [from], "to": [to]});
                    (f, vec![from, to])
                }
                FaultPlan::Crash { at, len, node: r } => {
                    let Some(node) = name(r) else { continue };
                    let mut f = json!({"kind": "crash", "node": node, "at": format!("{at}s"), "until": until(at, len)});
                    if matches!(r, NodeRef::Server(_)) && self.wipe_disk.get(i).copied().unwrap_or(false) {
                        f["wipe_disk"] = json!(true);
                    }
                    (f, vec![node])
                }
                FaultPlan::Pause { at, len, node } => {
                    let Some(node) = name(node) else { continue };
                    let f = json!({"kind": "pause", "node": node, "at": format!("{at}s"), "until": until(at, len)});
                    (f, vec![node])
                }
                FaultPlan::ClockJump { at, server: i, by_ms } => {
                    let node = server(i);
                    let f =
                        json!({"kind": "clock_jump", "node": node, "at": format!("{at}s"), "by": format!("{by_ms}ms")});
                    (f, vec![node])
                }
            };
            // Anything that touches a server touches every client's instances: it can stop their
            // beats from arriving, or move responsibility for them.
            if involved.iter().any(|n| servers.contains(n)) {
                touched.extend(app_ids.iter().cloned());
            }
            touched.extend(involved);
            faults.push(fault);
        }
        faults.push(json!({"kind": "heal", "at": format!("{HEAL_AT_S}s")}));
        if link_changed {
            faults.push(json!({"kind": "link", "at": format!("{HEAL_AT_S}s"), "from": everyone, "to": everyone,
                               "set": {"udp_loss": 0.0, "jitter": "0ms"}}));
        }
        let untouched_clients: Vec<String> = app_ids.iter().filter(|a| !touched.contains(*a)).cloned().collect();
        let json = json!({
            "name": format!("fuzz-{seed}"),
            "description": format!(
                "Generated by `nacos-sim fuzz` from seed {seed}: every fault heals at {HEAL_AT_S} s, then {quiet_s} s \
                 of quiet; the registry must have converged."),
            "seed": seed,
            "duration": format!("{}s", HEAL_AT_S + quiet_s),
            "servers": servers
                .iter()
                .enumerate()
                .map(|(i, s)| match self.boot_ms.get(i) {
                    Some(&ms) if ms > 0 => json!({"id": s, "boot_at": format!("{ms}ms")}),
                    _ => json!({"id": s}),
                })
                .collect::<Vec<_>>(),
            "clients": clients,
            "faults": faults,
            "converge": true,
        });
        Case { json, untouched_clients }
    }
}

/// The outcome of one seed.
#[derive(Debug, serde::Serialize)]
pub struct Outcome {
    pub seed: u64,
    pub ok: bool,
    pub problems: Vec<String>,
    pub hash: String,
    pub servers: usize,
    pub faults: usize,
    /// Set when the seed was run twice and the hashes differed.
    pub nondeterministic: bool,
    /// Known Nacos anomalies the run showed (`naming::anomalies`): reported, never failing.
    pub anomalies: Vec<String>,
}

/// Runs a scenario with the invariants checked after every event, then its expectations and
/// the untouched-clients rule: the trace hash, every problem found and the anomalies seen.
fn evaluate(sc: &Scenario, untouched: &[String]) -> (u64, Vec<String>, Vec<String>) {
    let mut w = world::build(sc, sc.seed);
    let end = w.duration;
    let violation = world::run_checked(&mut w, end);
    let anomalies =
        w.anomalies.found().iter().map(|a| format!("{} at {} on {}", a.name, a.at, w.names[a.node as usize])).collect();
    if let Some(v) = violation {
        let problem = format!("invariant violated at {} on {}: {}", v.at, v.node, v.what);
        return (w.engine.trace_hash(), vec![problem], anomalies);
    }
    let mut problems: Vec<String> =
        expect::check_expectations(&sc.expect, &w).into_iter().filter(|o| !o.ok).map(|o| o.message).collect();
    problems.extend(untouched_never_expired(&w, untouched));
    (w.engine.trace_hash(), problems, anomalies)
}

/// Instances of clients that no fault touched must never be expired by any server.
fn untouched_never_expired(w: &world::World, untouched: &[String]) -> Option<String> {
    let ips: Vec<(String, String)> = untouched
        .iter()
        .filter_map(|c| {
            let i = w.names.iter().position(|n| n == c)?;
            match w.engine.node(i as u32) {
                crate::naming::Process::Client(cl) => Some((c.clone(), cl.config.ip.to_string())),
                _ => None,
            }
        })
        .collect();
    w.engine.records.iter().find_map(|r| match &r.obs {
        Observation::DeleteRequested { service, ip, port }
        | Observation::InstanceUnhealthy { service, ip, port, .. } => {
            let (client, _) = ips.iter().find(|(_, cip)| cip == &**ip)?;
            Some(format!(
                "live instance {ip}:{port} of {service} (client {client}, untouched by every fault) was {} by {} at {}",
                r.obs.kind(),
                w.names[r.node as usize],
                r.at
            ))
        }
        _ => None,
    })
}

/// Generates, runs and checks one seed of a campaign; `twice` re-runs it to compare trace hashes.
/// Checks one seed of a campaign. A seed whose run panics is a failure like any other (its
/// problem is the panic message, its scenario is kept), so one bad seed cannot end a campaign.
pub fn check_seed(c: &Campaign, seed: u64, twice: bool) -> (Outcome, String) {
    let case = c.case(seed);
    let json = case.json.clone();
    guarded(seed, &json, || check_case(seed, case, twice))
}

/// Runs `check` for the scenario `json` of `seed`, turning a panic into a failed outcome.
fn guarded(seed: u64, json: &Value, check: impl FnOnce() -> (Outcome, String)) -> (Outcome, String) {
    let (servers, faults) = (array_len(json, "servers"), array_len(json, "faults"));
    let text = serde_json::to_string_pretty(json).expect("json");
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(check)) {
        Ok(checked) => checked,
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic".into());
            let problems = vec![format!("panicked: {message}")];
            let outcome = Outcome {
                seed,
                ok: false,
                problems,
                hash: String::new(),
                servers,
                faults,
                nondeterministic: false,
                anomalies: Vec::new(),
            };
            (outcome, text)
        }
    }
}

fn array_len(json: &Value, key: &str) -> usize {
    json.get(key).and_then(Value::as_array).map_or(0, Vec::len)
}

pub fn check_case(seed: u64, case: Case, twice: bool) -> (Outcome, String) {
    let text = serde_json::to_string_pretty(&case.json).expect("json");
    let sc = scenario::parse(&format!("fuzz-{seed}.json"), &text).expect("generated scenarios are valid");
    let (hash, mut problems, anomalies) = evaluate(&sc, &case.untouched_clients);
    let nondeterministic = twice && evaluate(&sc, &case.untouched_clients).0 != hash;
    if nondeterministic {
        problems.push("the same seed gave two different trace hashes".into());
    }
    let outcome = Outcome {
        seed,
        ok: problems.is_empty(),
        problems,
        hash: format!("{hash:016x}"),
        servers: sc.servers.len(),
        faults: sc.faults.len(),
        nondeterministic,
        anomalies,
    };
    (outcome, text)
}

/// A fuzzing campaign: seeds `first..first + count`, this shard's share (`index % shards`).
pub struct Campaign {
    pub first: u64,
    pub count: u64,
    pub shard: (u64, u64),
    pub jobs: usize,
    pub quiet_s: u64,
    /// Fix the server count of every case (the generator draws 1–5 otherwise).
    pub servers: Option<usize>,
    /// Draw only the benign fault classes (see [`Plan::draw`]).
    pub benign: bool,
    /// Keep the drawn boot offsets (otherwise every server boots at 0).
    pub boot_offsets: bool,
    /// Keep the drawn persistent registrations and disk wipes (otherwise every instance is
    /// ephemeral and every crash keeps the disk).
    pub persistent: bool,
    /// `switches.server_version` of every case (1.4.1 when absent).
    pub server_version: Option<String>,
    /// One seed in this many is run twice and its trace hashes compared.
    pub determinism_every: u64,
    pub progress: bool,
}

impl Campaign {
    /// The case of `seed`: the drawn plan, with the server count fixed when asked. Faults and
    /// clients name servers modulo the count, so the draw stays valid.
    pub fn case(&self, seed: u64) -> Case {
        let mut plan = Plan::draw(seed, self.benign);
        if let Some(n) = self.servers {
            plan.servers = n.max(1);
        }
        if !self.boot_offsets {
            plan.boot_ms.clear();
        }
        if !self.persistent {
            plan.persistent.clear();
            plan.wipe_disk.clear();
        }
        let mut case = plan.case(seed, self.quiet_s);
        if let Some(v) = &self.server_version {
            case.json["switches"] = json!({"server_version": v});
        }
        case
    }
}

/// Runs the campaign on `jobs` threads; outcomes (with the failing scenarios' text) in seed order.
pub fn run_campaign(c: &Campaign) -> Vec<(Outcome, Option<String>)> {
    let seeds: Vec<u64> = (0..c.count).filter(|i| i % c.shard.1 == c.shard.0).map(|i| c.first + i).collect();
    let run = |&seed: &u64| {
        let twice = c.determinism_every > 0 && seed.is_multiple_of(c.determinism_every);
        let (outcome, text) = check_seed(c, seed, twice);
        let keep = (!outcome.ok).then_some(text);
        (outcome, keep)
    };
    let progress = c.progress.then_some("seeds");
    crate::parallel::map_ordered(&seeds, c.jobs, progress, run, |(o, _): &(Outcome, Option<String>)| !o.ok)
}

/// The problems of a scenario given as JSON (`None` if it does not parse).
pub fn problems_of(json: &Value, untouched: &[String]) -> Option<Vec<String>> {
    let sc = scenario::parse("shrink.json", &serde_json::to_string(json).ok()?).ok()?;
    Some(evaluate(&sc, untouched).1)
}

/// The class of a problem, for shrinking: a smaller scenario must fail the same way.
fn class(problem: &str) -> &str {
    problem.split([':', '(']).next().unwrap_or(problem)
}

/// Greedy delta debugging of a failing scenario: drop faults, clients, registrations,
/// subscriptions and servers, and halve fault windows, while the first problem keeps its class.
/// Returns the smallest failing scenario found and how many runs it took.
pub fn shrink(json: &Value, untouched: &[String]) -> (Value, usize) {
    let Some(first) = problems_of(json, untouched).and_then(|p| p.into_iter().next()) else {
        return (json.clone(), 1);
    };
    let want = class(&first).to_string();
    let mut best = json.clone();
    let mut runs = 1;
    let fails = |v: &Value, runs: &mut usize| {
        *runs += 1;
        problems_of(v, untouched).and_then(|p| p.into_iter().next()).is_some_and(|p| class(&p) == want)
    };
    loop {
        let mut improved = false;
        for cand in candidates(&best) {
            if fails(&cand, &mut runs) {
                best = cand;
                improved = true;
                break;
            }
        }
        if !improved {
            return (best, runs);
        }
    }
}

/// One-step simplifications of a scenario, most aggressive first.
fn candidates(v: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    let arr = |v: &Value, k: &str| v.get(k).and_then(Value::as_array).cloned().unwrap_or_default();
    // Drop one fault (the heal and the link reset only go when nothing else is left to heal).
    let faults = arr(v, "faults");
    for i in 0..faults.len() {
        let mut c = v.clone();
        c["faults"].as_array_mut().expect("faults").remove(i);
        out.push(c);
    }
    // Drop one client, or one of its registrations or subscriptions.
    let clients = arr(v, "clients");
    for i in 0..clients.len() {
        let id = clients[i]["id"].as_str().unwrap_or_default().to_string();
        if !faults.iter().any(|f| f.to_string().contains(&format!("\"{id}\""))) {
            let mut c = v.clone();
            c["clients"].as_array_mut().expect("clients").remove(i);
            out.push(c);
        }
        for list in ["register", "subscribe"] {
            let n = clients[i].get(list).and_then(Value::as_array).map_or(0, Vec::len);
            for j in 0..n.saturating_sub(1) {
                let mut c = v.clone();
                c["clients"][i][list].as_array_mut().expect("list").remove(j);
                out.push(c);
            }
        }
    }
    // Boot a server at time zero.
    let servers = arr(v, "servers");
    for (i, s) in servers.iter().enumerate() {
        if s.get("boot_at").is_some() {
            let mut c = v.clone();
            c["servers"][i].as_object_mut().expect("server").remove("boot_at");
            out.push(c);
        }
    }
    // Drop the last server when nothing names it.
    if servers.len() > 1 {
        let last = servers[servers.len() - 1]["id"].as_str().unwrap_or_default().to_string();
        let named = format!("\"{last}\"");
        let used = faults.iter().any(|f| f.to_string().contains(&named))
            || clients.iter().any(|c| c.get("servers").is_some_and(|s| s.to_string().contains(&named)));
        if !used {
            let mut c = v.clone();
            c["servers"].as_array_mut().expect("servers").pop();
            out.push(c);
        }
    }
    // Halve a fault window.
    for (i, f) in faults.iter().enumerate() {
        let secs = |k: &str| f.get(k).and_then(Value::as_str).and_then(|t| t.strip_suffix('s')?.parse::<u64>().ok());
        if let (Some(at), Some(until)) = (secs("at"), secs("until")) {
            if until > at + 1 {
                let mut c = v.clone();
                c["faults"][i]["until"] = json!(format!("{}s", at + (until - at) / 2));
                out.push(c);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_that_panics_is_a_failure_with_its_scenario() {
        let case = generate(3, 60);
        let (o, text) = guarded(3, &case.json, || panic!("boom in seed 3"));
        assert!(!o.ok);
        assert_eq!(o.problems, ["panicked: boom in seed 3"]);
        assert_eq!((o.servers, o.faults), (array_len(&case.json, "servers"), array_len(&case.json, "faults")));
        assert_eq!(text, serde_json::to_string_pretty(&case.json).unwrap());
        let (fine, _) = guarded(3, &case.json, || check_case(3, generate(3, 60), false));
        assert!(fine.problems.iter().all(|p| !p.starts_with("panicked")));
    }

    #[test]
    fn generation_is_deterministic_and_valid() {
        for seed in 0..50 {
            let a = serde_json::to_string(&generate(seed, 60).json).unwrap();
            let b = serde_json::to_string(&generate(seed, 60).json).unwrap();
            assert_eq!(a, b);
            scenario::parse("gen.json", &a).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        }
    }

    /// A campaign of one seed with every option off.
    fn one_seed() -> Campaign {
        Campaign {
            first: 0,
            count: 1,
            shard: (0, 1),
            jobs: 1,
            quiet_s: 60,
            servers: None,
            benign: false,
            boot_offsets: false,
            persistent: false,
            server_version: None,
            determinism_every: 20,
            progress: false,
        }
    }

    /// `--boot-offsets` keeps each server's drawn boot time (under 3 s); without it every
    /// server boots at 0 and the case is the one `generate` gives.
    #[test]
    fn boot_offsets_are_drawn_per_server_and_kept_only_when_asked() {
        let mut c = Campaign { servers: Some(3), ..one_seed() };
        let boots = |c: &Campaign| -> Vec<Option<String>> {
            let json = c.case(298).json;
            json["servers"].as_array().unwrap().iter().map(|s| s["boot_at"].as_str().map(String::from)).collect()
        };
        assert_eq!(boots(&c), vec![None, None, None]);
        c.boot_offsets = true;
        let drawn = boots(&c);
        assert!(drawn.iter().flatten().count() >= 2, "{drawn:?}");
        for b in drawn.iter().flatten() {
            let ms: u64 = b.strip_suffix("ms").unwrap().parse().unwrap();
            assert!((1..3000).contains(&ms), "{b}");
        }
    }

    /// `--persistent` marks about one registration in three persistent and changes nothing
    /// else of the case.
    #[test]
    fn persistent_registrations_are_drawn_only_when_asked() {
        let mut c = one_seed();
        let persistent = |json: &Value| json.to_string().matches("\"ephemeral\":false").count();
        let (mut marked, mut all) = (0, 0);
        for seed in 0..60 {
            let plain = c.case(seed).json;
            assert_eq!(persistent(&plain), 0);
            c.persistent = true;
            let json = c.case(seed).json;
            c.persistent = false;
            marked += persistent(&json);
            all += json.to_string().matches("\"port\":80").count();
            let stripped = json.to_string().replace(",\"ephemeral\":false", "").replace(",\"wipe_disk\":true", "");
            assert_eq!(stripped, plain.to_string(), "seed {seed}: only the flags differ");
        }
        assert!(marked * 5 > all && marked * 2 < all, "{marked} of {all}");
    }

    /// With `--persistent`, about half the server crashes also wipe the disk; client crashes
    /// never carry the flag (a client has no disk here).
    #[test]
    fn disk_wipes_come_with_persistent_and_only_on_server_crashes() {
        let c = Campaign { persistent: true, ..one_seed() };
        let (mut wiped, mut server_crashes) = (0, 0);
        for seed in 0..600 {
            let json = c.case(seed).json;
            for f in json["faults"].as_array().unwrap().iter().filter(|f| f["kind"] == "crash") {
                let server = f["node"].as_str().unwrap().starts_with('s');
                let wipe = f.get("wipe_disk").is_some();
                assert!(server || !wipe, "seed {seed}: {f}");
                server_crashes += server as usize;
                wiped += wipe as usize;
            }
        }
        assert!(
            server_crashes > 40 && wiped * 4 > server_crashes && wiped * 4 < server_crashes * 3,
            "{wiped} of {server_crashes}"
        );
    }

    /// `--server-version` sets the release of every case and nothing else.
    #[test]
    fn server_version_is_set_on_every_case() {
        let c = Campaign { server_version: Some("1.3.2".into()), ..one_seed() };
        let mut json = c.case(7).json;
        assert_eq!(json["switches"]["server_version"], "1.3.2");
        json.as_object_mut().unwrap().remove("switches");
        assert_eq!(json, one_seed().case(7).json);
    }
}
