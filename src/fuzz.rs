//! Swarm fuzzing (VOPR-style): every seed draws a whole scenario — servers, clients, services
//! and a random mix of faults — runs it, heals everything, waits a quiet period and checks that
//! the registry converged. A failing seed is written out as an ordinary scenario file, so
//! `nacos-sim run FILE` reproduces it exactly.

use crate::naming::wire::Observation;
use crate::scenario::{self, world, Scenario};
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

fn pick<'a, T>(rng: &mut ChaCha8Rng, v: &'a [T]) -> &'a T {
    v.choose(rng).expect("non-empty")
}

/// Draws the scenario of `seed`. `quiet_s` is the fault-free time after the heal.
pub fn generate(seed: u64, quiet_s: u64) -> Case {
    generate_with(seed, quiet_s, false)
}

/// `benign`: only fault classes under which Nacos 1.4.1 is expected to converge — UDP loss,
/// jitter, client crashes, and partitions between clients and servers short enough (≤ 3 s)
/// that no membership view changes.
pub fn generate_with(seed: u64, quiet_s: u64, benign: bool) -> Case {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x6675_7a7a);
    let n_servers = rng.gen_range(1..=5usize);
    let servers: Vec<String> = (1..=n_servers).map(|i| format!("s{i}")).collect();
    let n_apps = rng.gen_range(1..=4usize);
    let n_services = rng.gen_range(1..=4usize);
    let mut clients = Vec::new();
    let mut app_ids = Vec::new();
    for a in 0..n_apps {
        let id = format!("app{a}");
        let mut known: Vec<String> = servers.clone();
        known.shuffle(&mut rng);
        known.truncate(rng.gen_range(1..=n_servers));
        let regs: Vec<Value> = (0..rng.gen_range(1..=3))
            .map(|k| {
                json!({"at": format!("{}ms", rng.gen_range(1000..6000)),
                       "service": format!("svc{}", rng.gen_range(0..n_services)),
                       "port": 8000 + k})
            })
            .collect();
        clients.push(json!({"id": id, "servers": known, "register": regs}));
        app_ids.push(id);
    }
    let mut consumer_ids = Vec::new();
    for c in 0..rng.gen_range(1..=2) {
        let id = format!("consumer{c}");
        let subs: Vec<Value> = (0..n_services).map(|s| json!({"at": "2s", "service": format!("svc{s}")})).collect();
        clients.push(json!({"id": id, "servers": [pick(&mut rng, &servers)], "subscribe": subs}));
        consumer_ids.push(id);
    }
    let everyone: Vec<String> = servers.iter().chain(&app_ids).chain(&consumer_ids).cloned().collect();
    let mut touched: BTreeSet<String> = BTreeSet::new();
    let mut faults = Vec::new();
    let mut link_changed = false;
    for _ in 0..rng.gen_range(0..=4) {
        let at = rng.gen_range(20..120u64);
        let until = (at + rng.gen_range(1..=30u64)).min(HEAL_AT_S - 1);
        let kind = if benign { *pick(&mut rng, &[0, 1, 3, 4]) } else { rng.gen_range(0..7) };
        let clients_only: Vec<String> = app_ids.iter().chain(&consumer_ids).cloned().collect();
        let (fault, involved): (Value, Vec<String>) = match kind {
            0 => {
                let from = pick(&mut rng, &everyone).clone();
                let to = pick(&mut rng, &everyone).clone();
                let loss = (rng.gen_range(0..=50) as f64) / 100.0;
                link_changed = true;
                let f = json!({"kind": "link", "at": format!("{at}s"), "from": [from], "to": [to],
                               "both_ways": true, "set": {"udp_loss": loss}});
                (f, vec![from, to])
            }
            1 => {
                link_changed = true;
                let f = json!({"kind": "link", "at": format!("{at}s"), "from": everyone, "to": everyone,
                               "set": {"jitter": format!("{}ms", rng.gen_range(1..500))}});
                (f, everyone.clone())
            }
            2 => {
                let cut = pick(&mut rng, &everyone).clone();
                // Cut off from everyone: whoever talks to it is involved too.
                let f = json!({"kind": "partition", "at": format!("{at}s"), "until": format!("{until}s"),
                               "groups": [[cut]]});
                (f, everyone.clone())
            }
            3 => {
                let (from, to, until) = if benign {
                    (pick(&mut rng, &clients_only).clone(), pick(&mut rng, &servers).clone(), at + rng.gen_range(1..=3))
                } else {
                    (pick(&mut rng, &everyone).clone(), pick(&mut rng, &everyone).clone(), until)
                };
                let f = json!({"kind": "partition", "at": format!("{at}s"), "until": format!("{until}s"),
                               "from": [from], "to": [to]});
                (f, vec![from, to])
            }
            4 => {
                let node = pick(&mut rng, if benign { &clients_only } else { &everyone }).clone();
                let f = json!({"kind": "crash", "node": node, "at": format!("{at}s"), "until": format!("{until}s")});
                (f, vec![node])
            }
            5 => {
                let node = pick(&mut rng, &everyone).clone();
                let f = json!({"kind": "pause", "node": node, "at": format!("{at}s"), "until": format!("{until}s")});
                (f, vec![node])
            }
            _ => {
                let node = pick(&mut rng, &servers).clone();
                let by = rng.gen_range(-5000..5000i64);
                let f = json!({"kind": "clock_jump", "node": node, "at": format!("{at}s"), "by": format!("{by}ms")});
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
        "servers": servers.iter().map(|s| json!({"id": s})).collect::<Vec<_>>(),
        "clients": clients,
        "faults": faults,
        "converge": true,
    });
    Case { json, untouched_clients }
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
}

/// Runs a scenario with the invariants checked after every event, then its expectations and
/// the untouched-clients rule: the trace hash and every problem found.
fn evaluate(sc: &Scenario, untouched: &[String]) -> (u64, Vec<String>) {
    let mut w = world::build(sc, sc.seed);
    let end = w.duration;
    if let Some(v) = world::run_checked(&mut w, end) {
        let problem = format!("invariant violated at {} on {}: {}", v.at, v.node, v.what);
        return (w.engine.trace_hash(), vec![problem]);
    }
    let mut problems: Vec<String> =
        world::check_expectations(&sc.expect, &w).into_iter().filter(|o| !o.ok).map(|o| o.message).collect();
    problems.extend(untouched_never_expired(&w, untouched));
    (w.engine.trace_hash(), problems)
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

/// Generates, runs and checks one seed; `twice` re-runs it to compare trace hashes.
pub fn check_seed(seed: u64, quiet_s: u64, twice: bool) -> (Outcome, String) {
    check_case(seed, generate(seed, quiet_s), twice)
}

pub fn check_case(seed: u64, case: Case, twice: bool) -> (Outcome, String) {
    let text = serde_json::to_string_pretty(&case.json).expect("json");
    let sc = scenario::parse(&format!("fuzz-{seed}.json"), &text).expect("generated scenarios are valid");
    let (hash, mut problems) = evaluate(&sc, &case.untouched_clients);
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
    /// One seed in this many is run twice and its trace hashes compared.
    pub determinism_every: u64,
    pub progress: bool,
}

/// Runs the campaign on `jobs` threads; outcomes (with the failing scenarios' text) in seed order.
pub fn run_campaign(c: &Campaign) -> Vec<(Outcome, Option<String>)> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;
    let seeds: Vec<u64> = (0..c.count).filter(|i| i % c.shard.1 == c.shard.0).map(|i| c.first + i).collect();
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let failures = AtomicUsize::new(0);
    type Slot = Option<(Outcome, Option<String>)>;
    let results: Mutex<Vec<Slot>> = Mutex::new((0..seeds.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..c.jobs.max(1) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(&seed) = seeds.get(i) else { break };
                let twice = c.determinism_every > 0 && seed.is_multiple_of(c.determinism_every);
                let (outcome, text) = check_seed(seed, c.quiet_s, twice);
                if !outcome.ok {
                    failures.fetch_add(1, Ordering::Relaxed);
                }
                let keep = (!outcome.ok).then_some(text);
                results.lock().expect("results lock")[i] = Some((outcome, keep));
                let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                if c.progress && (n.is_multiple_of(10) || n == seeds.len()) {
                    let pct = n * 100 / seeds.len().max(1);
                    let filled = pct * 30 / 100;
                    eprint!(
                        "\r[{}{}] {n}/{} seeds, {} failing",
                        "#".repeat(filled),
                        " ".repeat(30 - filled),
                        seeds.len(),
                        failures.load(Ordering::Relaxed)
                    );
                    if n == seeds.len() {
                        eprintln!();
                    }
                }
            });
        }
    });
    results.into_inner().expect("results").into_iter().map(|r| r.expect("every seed ran")).collect()
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
    // Drop the last server when nothing names it.
    let servers = arr(v, "servers");
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
    fn generation_is_deterministic_and_valid() {
        for seed in 0..50 {
            let a = serde_json::to_string(&generate(seed, 60).json).unwrap();
            let b = serde_json::to_string(&generate(seed, 60).json).unwrap();
            assert_eq!(a, b);
            scenario::parse("gen.json", &a).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        }
    }
}
