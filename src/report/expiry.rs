//! `nacos-sim report expiry`: Monte Carlo of the 15 s / 30 s expiry behaviour.
//!
//! Every run is an ordinary scenario file (written next to the report) run under one seed, so
//! any row of `runs.csv` can be replayed with `nacos-sim run FILE --seed S`. Runs are spread over
//! threads; each thread builds its own world (worlds are single-threaded by design), and results
//! are stored by run index, so the output does not depend on the number of threads.

use super::stats::{ecdf, mean_ci95, rate_ci95, summarize, Summary};
use super::svg::{Plot, Series};
use super::theory::{LossTheory, Model};
use crate::naming::wire::Observation;
use crate::scenario::{self, world, Scenario};
use serde::Serialize;
use serde_json::json;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Check period of `ClientBeatCheckTask` (R2.13): not configurable, whatever the timeouts.
const CHECK_MS: f64 = 5000.0;
/// One-way latency of the default link, so a round trip is 2 ms.
const LATENCY_MS: f64 = 1.0;
/// Tries per call with one configured server (`namingRequestDomainMaxRetryCount`, R2.7).
const TRIES_PER_CALL: i32 = 3;
/// Observations before this are registration noise, not steady state.
const LOSS_WARMUP_S: f64 = 10.0;

pub struct Options {
    /// `(k, n)`: only every n-th run from the k-th (`--shard`); a shard writes its rows only,
    /// and [`merge`] makes the report from every shard's.
    pub shard: (u64, u64),
    pub runs: usize,
    pub loss: Vec<f64>,
    /// Instance-hours simulated per loss probability (main table).
    pub loss_instance_hours: f64,
    pub jobs: usize,
    pub out: PathBuf,
    pub seed: u64,
    pub progress: bool,
}

/// Heartbeat settings through instance metadata, in seconds.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Setting {
    pub interval_s: f64,
    pub unhealthy_s: f64,
    pub delete_s: f64,
    pub jitter_ms: f64,
}

impl Setting {
    const DEFAULT: Setting = Setting { interval_s: 5.0, unhealthy_s: 15.0, delete_s: 30.0, jitter_ms: 0.0 };

    fn label(&self) -> String {
        let mut s = format!("{}/{}/{} s", self.interval_s, self.unhealthy_s, self.delete_s);
        if self.jitter_ms > 0.0 {
            let _ = write!(s, ", jitter {} ms", self.jitter_ms);
        }
        s
    }

    fn slug(&self) -> String {
        let mut s = format!("{}-{}-{}", self.interval_s, self.unhealthy_s, self.delete_s);
        if self.jitter_ms > 0.0 {
            let _ = write!(s, "-jitter{}ms", self.jitter_ms);
        }
        s
    }

    fn metadata(&self) -> serde_json::Value {
        if self.interval_s == 5.0 && self.unhealthy_s == 15.0 && self.delete_s == 30.0 {
            return json!({});
        }
        let ms = |s: f64| format!("{}", (s * 1000.0) as i64);
        json!({
            "preserved.heart.beat.interval": ms(self.interval_s),
            "preserved.heart.beat.timeout": ms(self.unhealthy_s),
            "preserved.ip.delete.timeout": ms(self.delete_s),
        })
    }

    fn network(&self) -> serde_json::Value {
        if self.jitter_ms > 0.0 {
            json!({"defaults": {"jitter": format!("{}ms", self.jitter_ms)}})
        } else {
            json!({})
        }
    }

    /// The simple model; jitter adds its mean to each one-way trip.
    fn model(&self) -> Model {
        let rtt = 2.0 * (LATENCY_MS + self.jitter_ms / 2.0);
        Model {
            cycle: self.interval_s * 1000.0 + rtt,
            failed_cycle: self.interval_s * 1000.0 + TRIES_PER_CALL as f64 * rtt,
            unhealthy: self.unhealthy_s * 1000.0,
            delete: self.delete_s * 1000.0,
            check: CHECK_MS,
        }
    }
}

/// One crash-detection experiment.
struct CrashCase {
    name: String,
    setting: Setting,
    push: bool,
    /// Three servers: provider and witness talk to s1, the consumer to s3, s2 is responsible.
    cluster: bool,
    scenario: Scenario,
    json: String,
}

/// One false-expiry experiment at loss probability `p`.
struct LossCase {
    name: String,
    setting: Setting,
    p: f64,
    instances: u32,
    runs: usize,
    scenario: Scenario,
    json: String,
}

const PROVIDER_IP: &str = "10.1.0.10";
const PROVIDER_PORT: u16 = 8080;

/// The server whose view of the provider is measured: the responsible one. `DEFAULT_GROUP@@demo`
/// hashes to index 1 of 3, so in the cluster it is s2, reached through s1's forwarding.
fn responsible_server(cluster: bool) -> &'static str {
    if cluster {
        "s2"
    } else {
        "s1"
    }
}

fn crash_case(name: String, setting: Setting, push: bool, cluster: bool) -> CrashCase {
    let md = setting.metadata();
    // The witness creates the service at a random time, which fixes the phase of its check task
    // against the server's own periodic tasks (status reporter, scans); the provider registers at
    // a random point of the next 5 s, so beat and check phases are independent; the crash
    // falls at a random point of one check period (which spans at least one beat cycle). In a
    // cluster the crash comes after 100 s, when the status channel (from 60 s) is running, and
    // the servers boot up to 3 s apart (so their probe, verification and status tasks do not
    // tick together); the clients start once all three are up.
    let window = (CHECK_MS / 1000.0).max(setting.interval_s);
    let crash_at = if cluster { 100.0 } else { 40.0 };
    let duration = crash_at + window + setting.delete_s + 30.0;
    let consumer_server = if cluster { "s3" } else { "s1" };
    let mut faults = vec![json!({"kind": "crash", "node": "provider",
        "at": {"uniform": [format!("{crash_at}s"), format!("{}s", crash_at + window)]}})];
    if !push {
        faults.push(json!({"kind": "link", "at": "0s", "from": [consumer_server], "to": ["consumer"], "set": {"udp_loss": 1.0}}));
    }
    let boot = json!({"uniform": ["0s", "3s"]});
    let servers = if cluster {
        json!([{"id": "s1", "boot_at": boot}, {"id": "s2", "boot_at": boot}, {"id": "s3", "boot_at": boot}])
    } else {
        json!([{"id": "s1"}])
    };
    let t0 = if cluster { 3.0 } else { 0.0 };
    let window_s = |a: f64, b: f64| json!({"uniform": [format!("{}s", a + t0), format!("{}s", b + t0)]});
    let v = json!({
        "name": name,
        "description": format!(
            "Crash detection, {}, {} ({}). A witness instance keeps the service non-empty \
             so that the protect threshold does not hide the unhealthy provider from the consumer.{}",
            if cluster { "three servers" } else { "one server" },
            setting.label(),
            if push { "UDP push working" } else { "every UDP push to the consumer lost: poll only" },
            if cluster {
                " Provider and witness know only s1, which forwards their writes and beats to s2 (responsible \
                 for demo); the consumer knows only s3, which learns health through the status channel and \
                 deletions through Distro sync."
            } else {
                ""
            }
        ),
        "seed": 1,
        "duration": format!("{duration}s"),
        "network": setting.network(),
        "servers": servers,
        "clients": [
            {"id": "witness", "ip": "10.1.0.11", "servers": ["s1"],
             "register": [{"at": window_s(0.5, 5.5), "service": "demo", "port": 8081, "metadata": md}]},
            {"id": "provider", "ip": PROVIDER_IP, "servers": ["s1"],
             "register": [{"at": window_s(6.0, 11.0), "service": "demo", "port": PROVIDER_PORT, "metadata": md}]},
            {"id": "consumer", "ip": "10.1.0.20", "servers": [consumer_server],
             "subscribe": [{"at": window_s(12.0, 22.0), "service": "demo"}]}
        ],
        "faults": faults,
    });
    let json = serde_json::to_string_pretty(&v).expect("json");
    let scenario = scenario::parse(&format!("{name}.json"), &json).expect("generated scenario is valid");
    CrashCase { name, setting, push, cluster, scenario, json }
}

fn loss_case(name: String, setting: Setting, p: f64, instance_hours: f64) -> LossCase {
    let instances = 50u32;
    let hours = 2.0f64;
    let runs = ((instance_hours / (instances as f64 * hours)).ceil() as usize).max(1);
    let mut links = vec![];
    if p > 0.0 {
        links.push(json!({"from": ["providers"], "to": ["s1"],
            "set": {"http_loss": p, "http_loss_mode": "fail_fast"}}));
    }
    let mut network = setting.network();
    network["links"] = json!(links);
    let v = json!({
        "name": name,
        "description": format!(
            "False expiry: {instances} live instances, each HTTP exchange from them to the server \
             fails fast with probability {p} (the request never arrives; the error comes back one \
             round trip later), {}.", setting.label()),
        "seed": 1,
        "duration": format!("{}s", hours * 3600.0 + LOSS_WARMUP_S),
        "network": network,
        "servers": [{"id": "s1"}],
        "clients": [{"id": "providers", "ip": "10.1.0.30", "register_many": {
            "services": 1, "per_service": instances, "service_prefix": "lossy-",
            "spread": format!("{}s", setting.interval_s), "metadata": setting.metadata()}}],
    });
    let json = serde_json::to_string_pretty(&v).expect("json");
    let scenario = scenario::parse(&format!("{name}.json"), &json).expect("generated scenario is valid");
    LossCase { name, setting, p, instances, runs, scenario, json }
}

/// One row of `runs.csv` (and of a shard's rows file).
#[derive(Clone, Debug, Default, PartialEq, Serialize, serde::Deserialize)]
struct Row {
    experiment: String,
    case: String,
    seed: u64,
    crash_s: Option<f64>,
    unhealthy_s: Option<f64>,
    deleted_s: Option<f64>,
    subscriber_unhealthy_s: Option<f64>,
    subscriber_removed_s: Option<f64>,
    p: Option<f64>,
    instance_hours: Option<f64>,
    false_unhealthy: Option<u64>,
    false_delete: Option<u64>,
    false_unhealthy_time_s: Option<f64>,
}

fn run_crash(case: &CrashCase, seed: u64) -> Row {
    let mut w = world::build(&case.scenario, seed);
    w.run_until(w.duration);
    let crash = w.fault_times[0].as_secs_f64();
    let node = |name: &str| w.names.iter().position(|n| n == name).expect("node") as u32;
    let (s1, consumer) = (node(responsible_server(case.cluster)), node("consumer"));
    let is_provider = |ip: &str, port: u16| ip == PROVIDER_IP && port == PROVIDER_PORT;
    let mut row =
        Row { experiment: "crash".into(), case: case.name.clone(), seed, crash_s: Some(crash), ..Row::default() };
    for r in &w.engine.records {
        let t = r.at.as_secs_f64();
        if t <= crash {
            continue;
        }
        let since = Some(t - crash);
        match &r.obs {
            Observation::InstanceUnhealthy { ip, port, .. } if r.node == s1 && is_provider(ip, *port) => {
                row.unhealthy_s = row.unhealthy_s.or(since);
            }
            Observation::InstanceRemoved { ip, port, .. } if r.node == s1 && is_provider(ip, *port) => {
                row.deleted_s = row.deleted_s.or(since);
            }
            Observation::SubscriberViewChanged { hosts, .. } if r.node == consumer => {
                let seen = hosts.iter().find(|h| is_provider(&h.ip, h.port));
                match seen {
                    Some(h) if !h.healthy => row.subscriber_unhealthy_s = row.subscriber_unhealthy_s.or(since),
                    None => row.subscriber_removed_s = row.subscriber_removed_s.or(since),
                    Some(_) => {}
                }
            }
            _ => {}
        }
    }
    row
}

fn run_loss(case: &LossCase, seed: u64) -> Row {
    let mut w = world::build(&case.scenario, seed);
    w.run_until(w.duration);
    let end = w.duration.as_secs_f64();
    let mut marks = 0u64;
    let mut deletes = 0u64;
    let mut open: std::collections::BTreeMap<(String, u16), f64> = Default::default();
    let mut marked_time = 0.0;
    for r in &w.engine.records {
        let t = r.at.as_secs_f64();
        if t < LOSS_WARMUP_S {
            continue;
        }
        match &r.obs {
            Observation::InstanceUnhealthy { ip, port, .. } => {
                marks += 1;
                open.insert((ip.to_string(), *port), t);
            }
            Observation::InstanceHealthy { ip, port, .. } => {
                if let Some(t0) = open.remove(&(ip.to_string(), *port)) {
                    marked_time += t - t0;
                }
            }
            Observation::InstanceRemoved { ip, port, .. } => {
                deletes += 1;
                if let Some(t0) = open.remove(&(ip.to_string(), *port)) {
                    marked_time += t - t0;
                }
            }
            _ => {}
        }
    }
    marked_time += open.values().map(|t0| end - t0).sum::<f64>();
    Row {
        experiment: "loss".into(),
        case: case.name.clone(),
        seed,
        p: Some(case.p),
        instance_hours: Some(case.instances as f64 * (end - LOSS_WARMUP_S) / 3600.0),
        false_unhealthy: Some(marks),
        false_delete: Some(deletes),
        false_unhealthy_time_s: Some(marked_time),
        ..Row::default()
    }
}

enum Job<'a> {
    Crash(&'a CrashCase, u64),
    Loss(&'a LossCase, u64),
}

/// Runs every job on `jobs` threads; results come back in job order.
fn run_all(jobs: &[(usize, &Job)], threads: usize, progress: bool) -> Vec<Row> {
    let run = |&(_, job): &(usize, &Job)| match job {
        Job::Crash(c, seed) => run_crash(c, *seed),
        Job::Loss(c, seed) => run_loss(c, *seed),
    };
    crate::parallel::map_ordered(jobs, threads, progress.then_some("runs"), run, |_: &Row| false)
}

// ------------------------------------------------------------------------------ summary.json

#[derive(Serialize)]
struct TheoryCrash {
    crash_to_unhealthy_s: Summary,
    crash_to_deleted_s: Summary,
}

#[derive(Serialize)]
struct CrashSummary {
    scenario: String,
    setting: Setting,
    push: bool,
    runs: usize,
    crash_to_unhealthy_s: Option<Summary>,
    crash_to_deleted_s: Option<Summary>,
    crash_to_subscriber_unhealthy_s: Option<Summary>,
    crash_to_subscriber_removed_s: Option<Summary>,
    /// 95 % interval of the mean crash → unhealthy and crash → deleted.
    crash_to_unhealthy_mean_ci95_s: Option<(f64, f64)>,
    crash_to_deleted_mean_ci95_s: Option<(f64, f64)>,
    /// Runs in which the event never happened before the end of the run.
    missing: Missing,
    theory: TheoryCrash,
}

#[derive(Serialize, Default)]
struct Missing {
    unhealthy: usize,
    deleted: usize,
    subscriber_unhealthy: usize,
    subscriber_removed: usize,
}

#[derive(Serialize)]
struct LossSummary {
    scenario: String,
    setting: Setting,
    p: f64,
    /// Probability that a whole beat call fails (all its tries): `p^3`.
    p_call: f64,
    runs: usize,
    instance_hours: f64,
    false_unhealthy: u64,
    false_delete: u64,
    false_unhealthy_per_instance_hour: f64,
    false_unhealthy_per_instance_hour_ci95: (f64, f64),
    false_delete_per_instance_hour: f64,
    false_delete_per_instance_hour_ci95: (f64, f64),
    mean_false_unhealthy_s: Option<f64>,
    fraction_of_time_unhealthy: f64,
    theory: TheoryLoss,
}

#[derive(Serialize)]
struct TheoryLoss {
    false_unhealthy_per_instance_hour: f64,
    false_delete_per_instance_hour: f64,
    mean_false_unhealthy_s: f64,
    fraction_of_time_unhealthy: f64,
}

impl From<LossTheory> for TheoryLoss {
    fn from(t: LossTheory) -> Self {
        TheoryLoss {
            false_unhealthy_per_instance_hour: t.false_unhealthy_per_instance_hour,
            false_delete_per_instance_hour: t.false_delete_per_instance_hour,
            mean_false_unhealthy_s: t.mean_false_unhealthy_ms / 1000.0,
            fraction_of_time_unhealthy: t.fraction_unhealthy,
        }
    }
}

#[derive(Clone, Serialize)]
struct SensitivityRow {
    setting: Setting,
    crash: String,
    loss: String,
}

#[derive(Serialize)]
struct SummaryJson {
    crash: Vec<CrashSummary>,
    loss: Vec<LossSummary>,
    /// Each setting's crash and loss experiments, by scenario name in `crash` / `loss`.
    sensitivity: Vec<SensitivityRow>,
    seeds: SeedInfo,
}

#[derive(Serialize)]
struct SeedInfo {
    /// Run `r` of every experiment uses seed `first + r`.
    first: u64,
    crash_runs: usize,
}

fn theory_summary(m: &Model, timeout: f64, shift_ms: f64) -> Summary {
    let q = |p: f64| (m.crash_quantile(timeout, p) + shift_ms) / 1000.0;
    Summary {
        min: (timeout - m.cycle + shift_ms) / 1000.0,
        p50: q(0.5),
        mean: (m.crash_mean(timeout) + shift_ms) / 1000.0,
        p90: q(0.9),
        p99: q(0.99),
        max: (timeout + m.check + shift_ms) / 1000.0,
    }
}

fn crash_summary(case: &CrashCase, rows: &[&Row]) -> CrashSummary {
    let col = |f: fn(&Row) -> Option<f64>| -> Vec<f64> { rows.iter().filter_map(|r| f(r)).collect() };
    let unhealthy = col(|r| r.unhealthy_s);
    let deleted = col(|r| r.deleted_s);
    let sub_unhealthy = col(|r| r.subscriber_unhealthy_s);
    let sub_removed = col(|r| r.subscriber_removed_s);
    let mut m = case.setting.model();
    if case.cluster {
        m.cycle += 2.0 * LATENCY_MS; // the forwarding hop, both ways
    }
    CrashSummary {
        scenario: case.name.clone(),
        setting: case.setting,
        push: case.push,
        runs: rows.len(),
        crash_to_unhealthy_mean_ci95_s: (!unhealthy.is_empty()).then(|| mean_ci95(&unhealthy)),
        crash_to_deleted_mean_ci95_s: (!deleted.is_empty()).then(|| mean_ci95(&deleted)),
        crash_to_unhealthy_s: summarize(&unhealthy),
        crash_to_deleted_s: summarize(&deleted),
        crash_to_subscriber_unhealthy_s: summarize(&sub_unhealthy),
        crash_to_subscriber_removed_s: summarize(&sub_removed),
        missing: Missing {
            unhealthy: rows.len() - unhealthy.len(),
            deleted: rows.len() - deleted.len(),
            subscriber_unhealthy: rows.len() - sub_unhealthy.len(),
            subscriber_removed: rows.len() - sub_removed.len(),
        },
        theory: TheoryCrash {
            crash_to_unhealthy_s: theory_summary(&m, m.unhealthy, 0.0),
            // The delete is a DELETE to the server itself, applied one round trip later.
            crash_to_deleted_s: theory_summary(&m, m.delete, 2.0 * LATENCY_MS),
        },
    }
}

fn loss_summary(case: &LossCase, rows: &[&Row]) -> LossSummary {
    let hours: f64 = rows.iter().filter_map(|r| r.instance_hours).sum();
    let marks: u64 = rows.iter().filter_map(|r| r.false_unhealthy).sum();
    let deletes: u64 = rows.iter().filter_map(|r| r.false_delete).sum();
    let time: f64 = rows.iter().filter_map(|r| r.false_unhealthy_time_s).sum();
    let p_call = case.p.powi(TRIES_PER_CALL);
    LossSummary {
        scenario: case.name.clone(),
        setting: case.setting,
        p: case.p,
        p_call,
        runs: rows.len(),
        instance_hours: hours,
        false_unhealthy: marks,
        false_delete: deletes,
        false_unhealthy_per_instance_hour: marks as f64 / hours,
        false_unhealthy_per_instance_hour_ci95: rate_ci95(marks, hours),
        false_delete_per_instance_hour: deletes as f64 / hours,
        false_delete_per_instance_hour_ci95: rate_ci95(deletes, hours),
        mean_false_unhealthy_s: (marks > 0).then(|| time / marks as f64),
        fraction_of_time_unhealthy: time / (hours * 3600.0),
        theory: case.setting.model().false_expiry(p_call).into(),
    }
}

// ------------------------------------------------------------------------------ the report

#[derive(Debug)]
pub struct Outcome {
    pub runs: usize,
    pub out: PathBuf,
}

/// Every experiment of a report with these options, and how the sensitivity table refers to
/// them: the same whatever the shard.
struct Plan {
    crash_cases: Vec<CrashCase>,
    loss_cases: Vec<LossCase>,
    sensitivity: Vec<SensitivityRow>,
}

/// The report's rows file of one shard: a header with the options that decide the rows, then
/// `[job index, row]` per line.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
struct ShardHeader {
    expiry: RowOptions,
    shard: (u64, u64),
}

#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
struct RowOptions {
    runs: usize,
    loss: Vec<f64>,
    loss_instance_hours: f64,
    seed: u64,
}

pub fn run(opts: &Options) -> std::io::Result<Outcome> {
    let plan = plan(opts);
    let mut jobs = Vec::new();
    for c in &plan.crash_cases {
        for r in 0..opts.runs {
            jobs.push(Job::Crash(c, opts.seed + r as u64));
        }
    }
    for c in &plan.loss_cases {
        for r in 0..c.runs {
            jobs.push(Job::Loss(c, opts.seed + r as u64));
        }
    }
    let (k, n) = opts.shard;
    let mine: Vec<(usize, &Job)> = jobs.iter().enumerate().filter(|(i, _)| *i as u64 % n == k).collect();
    let rows = run_all(&mine, opts.jobs, opts.progress);
    if n > 1 {
        let header = ShardHeader {
            expiry: RowOptions {
                runs: opts.runs,
                loss: opts.loss.clone(),
                loss_instance_hours: opts.loss_instance_hours,
                seed: opts.seed,
            },
            shard: opts.shard,
        };
        let mut text = serde_json::to_string(&header).expect("header serializes") + "\n";
        for ((i, _), row) in mine.iter().zip(&rows) {
            text += &serde_json::to_string(&(i, row)).expect("rows serialize");
            text.push('\n');
        }
        std::fs::create_dir_all(&opts.out)?;
        std::fs::write(opts.out.join(format!("rows-shard-{k}-of-{n}.jsonl")), text)?;
        return Ok(Outcome { runs: rows.len(), out: opts.out.clone() });
    }
    write_report(opts, &plan, &rows)?;
    Ok(Outcome { runs: rows.len(), out: opts.out.clone() })
}

/// Joins the rows files of every shard of one report, read from `dirs`, into the report one
/// unsharded run writes to `out`.
pub fn merge(dirs: &[String], out: &Path) -> Result<Outcome, String> {
    // Each shard: its header, its `(job index, row)`s and its file.
    type Shard = (ShardHeader, Vec<(usize, Row)>, String);
    let mut parts: Vec<Shard> = Vec::new();
    for path in crate::sweep::shard_files(dirs)? {
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
        let mut lines = text.lines();
        let header: ShardHeader = serde_json::from_str(lines.next().unwrap_or_default())
            .map_err(|e| format!("{path}:1: not an expiry report's rows: {e}"))?;
        let rows = lines
            .enumerate()
            .map(|(i, l)| serde_json::from_str(l).map_err(|e| format!("{path}:{}: {e}", i + 2)))
            .collect::<Result<Vec<(usize, Row)>, String>>()?;
        parts.push((header, rows, path));
    }
    let first = parts.first().ok_or("no rows files")?.0.clone();
    let n = first.shard.1;
    let mut seen = vec![false; n as usize];
    for (h, _, path) in &parts {
        if h.expiry != first.expiry || h.shard.1 != n {
            return Err(format!("{path}: another report than {} (options or shard count differ)", parts[0].2));
        }
        if std::mem::replace(&mut seen[h.shard.0 as usize], true) {
            return Err(format!("{path}: shard {}/{n} given twice", h.shard.0));
        }
    }
    if let Some(k) = seen.iter().position(|s| !s) {
        return Err(format!("shard {k}/{n} is missing"));
    }
    let mut rows: Vec<(usize, Row)> = parts.into_iter().flat_map(|(_, r, _)| r).collect();
    rows.sort_by_key(|(i, _)| *i);
    let o = first.expiry;
    let opts = Options {
        shard: (0, 1),
        runs: o.runs,
        loss: o.loss,
        loss_instance_hours: o.loss_instance_hours,
        jobs: 1,
        out: out.to_path_buf(),
        seed: o.seed,
        progress: false,
    };
    let rows: Vec<Row> = rows.into_iter().map(|(_, r)| r).collect();
    write_report(&opts, &plan(&opts), &rows).map_err(|e| format!("writing {}: {e}", out.display()))?;
    Ok(Outcome { runs: rows.len(), out: out.to_path_buf() })
}

fn plan(opts: &Options) -> Plan {
    let d = Setting::DEFAULT;
    let mut crash_cases = vec![
        crash_case("single-server-push".into(), d, true, false),
        crash_case("single-server-poll".into(), d, false, false),
        crash_case("three-server-push".into(), d, true, true),
        crash_case("three-server-poll".into(), d, false, true),
    ];
    let sensitivity_settings = [
        Setting { interval_s: 2.0, unhealthy_s: 6.0, delete_s: 12.0, jitter_ms: 0.0 },
        Setting { interval_s: 1.0, unhealthy_s: 3.0, delete_s: 6.0, jitter_ms: 0.0 },
        Setting { jitter_ms: 200.0, ..d },
        Setting { jitter_ms: 2000.0, ..d },
    ];
    for s in sensitivity_settings {
        crash_cases.push(crash_case(format!("sensitivity-push-{}", s.slug()), s, true, false));
    }
    let mut loss_cases: Vec<LossCase> =
        opts.loss.iter().map(|&p| loss_case(format!("loss-p{p}"), d, p, opts.loss_instance_hours)).collect();
    // Sensitivity of false expiry: one lossy level for every setting, a quarter of the exposure.
    let sens_p = 0.5;
    let sens_hours = (opts.loss_instance_hours / 4.0).max(100.0);
    for s in std::iter::once(d).chain(sensitivity_settings) {
        loss_cases.push(loss_case(format!("sensitivity-loss-p{sens_p}-{}", s.slug()), s, sens_p, sens_hours));
    }

    let sensitivity: Vec<SensitivityRow> = std::iter::once(d)
        .chain(sensitivity_settings)
        .map(|s| SensitivityRow {
            setting: s,
            crash: if s.slug() == d.slug() {
                "single-server-push".into()
            } else {
                format!("sensitivity-push-{}", s.slug())
            },
            loss: format!("sensitivity-loss-p{sens_p}-{}", s.slug()),
        })
        .collect();
    Plan { crash_cases, loss_cases, sensitivity }
}

/// Every output of the report from its rows (in job order).
fn write_report(opts: &Options, plan: &Plan, rows: &[Row]) -> std::io::Result<()> {
    let Plan { crash_cases, loss_cases, sensitivity } = plan;
    let by_case = |name: &str| -> Vec<&Row> { rows.iter().filter(|r| r.case == name).collect() };
    let crash: Vec<CrashSummary> = crash_cases.iter().map(|c| crash_summary(c, &by_case(&c.name))).collect();
    let loss: Vec<LossSummary> = loss_cases.iter().map(|c| loss_summary(c, &by_case(&c.name))).collect();
    let sensitivity = sensitivity.clone();
    let summary = SummaryJson { crash, loss, sensitivity, seeds: SeedInfo { first: opts.seed, crash_runs: opts.runs } };

    std::fs::create_dir_all(opts.out.join("scenarios"))?;
    for (name, json) in
        crash_cases.iter().map(|c| (&c.name, &c.json)).chain(loss_cases.iter().map(|c| (&c.name, &c.json)))
    {
        std::fs::write(opts.out.join("scenarios").join(format!("{name}.json")), format!("{json}\n"))?;
    }
    std::fs::write(opts.out.join("runs.csv"), csv(rows))?;
    let summary_text = serde_json::to_string_pretty(&summary).expect("summary serializes") + "\n";
    std::fs::write(opts.out.join("summary.json"), summary_text)?;
    write_plots(&opts.out, crash_cases, rows, &summary)?;
    std::fs::write(opts.out.join("report.md"), markdown(opts, &summary))?;
    Ok(())
}

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

fn csv(rows: &[Row]) -> String {
    let mut s = String::from(
        "experiment,case,seed,crash_s,unhealthy_s,deleted_s,subscriber_unhealthy_s,subscriber_removed_s,\
         p,instance_hours,false_unhealthy,false_delete,false_unhealthy_time_s\n",
    );
    let f = |v: Option<f64>| v.map(|x| format!("{x:.6}")).unwrap_or_default();
    for r in rows {
        let _ = writeln!(
            s,
            "{},{},{},{},{},{},{},{},{},{},{},{},{}",
            r.experiment,
            r.case,
            r.seed,
            f(r.crash_s),
            f(r.unhealthy_s),
            f(r.deleted_s),
            f(r.subscriber_unhealthy_s),
            f(r.subscriber_removed_s),
            opt(r.p),
            f(r.instance_hours),
            opt(r.false_unhealthy),
            opt(r.false_delete),
            f(r.false_unhealthy_time_s),
        );
    }
    s
}

fn write_plots(out: &Path, cases: &[CrashCase], rows: &[Row], summary: &SummaryJson) -> std::io::Result<()> {
    let sample = |name: &str, f: fn(&Row) -> Option<f64>| -> Vec<f64> {
        rows.iter().filter(|r| r.case == name).filter_map(f).collect()
    };
    let default = Setting::DEFAULT.model();
    let theory_curve = |timeout: f64, shift: f64| -> Vec<(f64, f64)> {
        (0..=200)
            .map(|i| {
                let x = timeout - default.cycle + (default.cycle + default.check) * i as f64 / 200.0;
                ((x + shift) / 1000.0, default.crash_cdf(timeout, x))
            })
            .collect()
    };
    let series = |label: &str, v: Vec<f64>| Series {
        label: label.into(),
        points: thin(ecdf(&v), 400),
        step: true,
        dashed: false,
        bars: vec![],
    };
    let plot = Plot {
        title: "After a provider crashes (5/15/30 s): CDF".into(),
        x_label: "seconds after the crash".into(),
        y_label: "fraction of runs".into(),
        series: vec![
            series("server: unhealthy", sample("single-server-push", |r| r.unhealthy_s)),
            series("server: deleted", sample("single-server-push", |r| r.deleted_s)),
            series("consumer (push): sees unhealthy", sample("single-server-push", |r| r.subscriber_unhealthy_s)),
            series("consumer (push): sees it gone", sample("single-server-push", |r| r.subscriber_removed_s)),
            series("consumer (poll only): sees it gone", sample("single-server-poll", |r| r.subscriber_removed_s)),
            series("3 servers, consumer (push): sees it gone", sample("three-server-push", |r| r.subscriber_removed_s)),
            Series {
                label: "theory: unhealthy".into(),
                points: theory_curve(15_000.0, 0.0),
                step: false,
                dashed: true,
                bars: vec![],
            },
            Series {
                label: "theory: deleted".into(),
                points: theory_curve(30_000.0, 2.0),
                step: false,
                dashed: true,
                bars: vec![],
            },
        ],
        log_y: false,
    };
    std::fs::write(out.join("crash-cdf.svg"), plot.render())?;

    let sens: Vec<Series> = cases
        .iter()
        .filter(|c| c.push && !c.cluster)
        .map(|c| {
            series(
                &format!("{}: consumer sees it gone", c.setting.label()),
                sample(&c.name, |r| r.subscriber_removed_s),
            )
        })
        .collect();
    let plot = Plot {
        title: "Crash → consumer stops seeing the provider, by setting (push): CDF".into(),
        x_label: "seconds after the crash".into(),
        y_label: "fraction of runs".into(),
        series: sens,
        log_y: false,
    };
    std::fs::write(out.join("sensitivity-cdf.svg"), plot.render())?;

    let main_loss: Vec<&LossSummary> = summary.loss.iter().filter(|l| !l.scenario.starts_with("sensitivity")).collect();
    let plot = Plot {
        title: "False unhealthy marks per instance-hour vs. HTTP loss (5/15/30 s)".into(),
        x_label: "probability that one HTTP exchange fails".into(),
        y_label: "false marks per instance-hour (log)".into(),
        series: vec![
            Series {
                label: "simulation (95 % CI)".into(),
                points: vec![],
                step: false,
                dashed: false,
                bars: main_loss
                    .iter()
                    .filter(|l| l.false_unhealthy > 0)
                    .map(|l| {
                        (l.p, l.false_unhealthy_per_instance_hour_ci95.0, l.false_unhealthy_per_instance_hour_ci95.1)
                    })
                    .collect(),
            },
            Series {
                label: "theory".into(),
                points: (1..=60)
                    .map(|i| {
                        let p = i as f64 / 100.0;
                        (p, default.false_expiry(p.powi(TRIES_PER_CALL)).false_unhealthy_per_instance_hour)
                    })
                    .collect(),
                step: false,
                dashed: true,
                bars: vec![],
            },
        ],
        log_y: true,
    };
    std::fs::write(out.join("loss-rate.svg"), plot.render())?;
    Ok(())
}

/// At most about `n` points of a staircase, keeping its ends (plots stay small; the full data
/// is in runs.csv).
fn thin(points: Vec<(f64, f64)>, n: usize) -> Vec<(f64, f64)> {
    if points.len() <= n {
        return points;
    }
    let step = points.len().div_ceil(n);
    let last = *points.last().expect("non-empty");
    let mut out: Vec<(f64, f64)> = points.into_iter().step_by(step).collect();
    if out.last() != Some(&last) {
        out.push(last);
    }
    out
}

fn s3(v: f64) -> String {
    format!("{v:.3}")
}

fn summary_row(label: &str, s: &Option<Summary>) -> String {
    match s {
        Some(s) => format!(
            "| {label} | {} | {} | {} | {} | {} | {} |\n",
            s3(s.min),
            s3(s.p50),
            s3(s.mean),
            s3(s.p90),
            s3(s.p99),
            s3(s.max)
        ),
        None => format!("| {label} | – | – | – | – | – | – |\n"),
    }
}

fn sci(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if v.abs() >= 0.01 {
        format!("{v:.3}")
    } else {
        format!("{v:.2e}")
    }
}

fn markdown(opts: &Options, s: &SummaryJson) -> String {
    let push = &s.crash[0];
    let poll = &s.crash[1];
    let get = |x: &Option<Summary>| {
        x.unwrap_or(Summary {
            min: f64::NAN,
            p50: f64::NAN,
            mean: f64::NAN,
            p90: f64::NAN,
            p99: f64::NAN,
            max: f64::NAN,
        })
    };
    let (pu, pr, qr) = (
        get(&push.crash_to_subscriber_unhealthy_s),
        get(&push.crash_to_subscriber_removed_s),
        get(&poll.crash_to_subscriber_removed_s),
    );
    let mut m = String::new();
    let _ = writeln!(m, "# Nacos 1.4.1 heartbeat expiry: timing report\n");
    let _ = writeln!(
        m,
        "**After a provider dies, how long until consumers stop seeing it?** With the default \
         5 s / 15 s / 30 s settings and UDP push working, a consumer sees the dead provider marked \
         unhealthy {:.1} s after the crash at the median ({:.1}–{:.1} s over {} runs), and sees it \
         disappear after {:.1} s at the median ({:.1}–{:.1} s). If pushes do not reach the consumer \
         (poll only), it disappears after {:.1} s at the median, up to {:.1} s. Until the delete, \
         a consumer that only asks for healthy instances already avoids it, but only if at least one \
         other instance of the service is healthy: with protect threshold 0 an all-unhealthy service \
         is served as all-healthy.\n",
        pu.p50, pu.min, pu.max, push.runs, pr.p50, pr.min, pr.max, qr.p50, qr.max
    );
    let _ = writeln!(
        m,
        "Why these numbers: the server marks an instance unhealthy at the first run of its 5 s \
         `ClientBeatCheckTask` with `now − lastBeat > 15 s` and deletes it at the first with \
         `> 30 s` (strict `>`); the last beat came up to one beat cycle before the crash, so \
         crash → unhealthy spans (10, 20] s and crash → delete (25, 35] s; a push follows each change \
         after the 1 s debounce; a polling consumer re-reads every 10 s.\n"
    );
    let cluster = &s.crash[2];
    let (cu, cr) = (get(&cluster.crash_to_subscriber_unhealthy_s), get(&cluster.crash_to_subscriber_removed_s));
    let _ = writeln!(
        m,
        "**In a 3-server cluster** where the consumer talks to a server that is not responsible for the \
         service, it sees the provider unhealthy after {:.1} s at the median ({:.1}–{:.1} s): health \
         reaches other servers only through the 5 s status channel (`ServiceReporter`, R5.24–R5.26), \
         not through Distro. It sees it gone after {:.1} s at the median ({:.1}–{:.1} s): the delete \
         travels by Distro sync, about 2.1 s after the responsible server removed it, then the 1 s push \
         debounce.\n",
        cu.p50, cu.min, cu.max, cr.p50, cr.min, cr.max
    );
    let loss_list: Vec<String> = opts.loss.iter().map(|p| p.to_string()).collect();
    let _ = writeln!(
        m,
        "Regenerate: `nacos-sim report expiry --runs {} --loss {} --loss-hours {} --seed {}`. The exact \
         scenario files are in [`scenarios/`](scenarios/); run `r` of every experiment uses seed {} + r, and \
         any row of [`runs.csv`](runs.csv) replays with `nacos-sim run scenarios/CASE.json --seed SEED`. \
         Machine-readable results: [`summary.json`](summary.json).\n",
        opts.runs,
        loss_list.join(","),
        opts.loss_instance_hours,
        opts.seed,
        opts.seed
    );

    let _ = writeln!(m, "## 1. Crash detection\n");
    let _ = writeln!(m, "Seconds from the crash. A witness instance keeps the service non-empty, the provider registers at a random phase and crashes at a random point of its beat cycle. `single-server-*`: one server. `three-server-*`: provider and witness know only s1, which forwards to s2 (responsible); the consumer knows only s3; \"server\" rows are s2's view, and the theory adds the forwarding hop to the beat cycle.\n");
    let _ = writeln!(m, "![crash CDF](crash-cdf.svg)\n");
    for c in s.crash.iter().filter(|c| !c.scenario.starts_with("sensitivity")) {
        let _ = writeln!(m, "### `{}` ({} runs)\n", c.scenario, c.runs);
        let _ = writeln!(
            m,
            "| from the crash to | min | p50 | mean | p90 | p99 | max |\n|---|---:|---:|---:|---:|---:|---:|"
        );
        m += &summary_row("server marks it unhealthy", &c.crash_to_unhealthy_s);
        m += &summary_row("*theory*", &Some(c.theory.crash_to_unhealthy_s));
        m += &summary_row("server deletes it", &c.crash_to_deleted_s);
        m += &summary_row("*theory*", &Some(c.theory.crash_to_deleted_s));
        m += &summary_row("consumer sees it unhealthy", &c.crash_to_subscriber_unhealthy_s);
        m += &summary_row("consumer sees it gone", &c.crash_to_subscriber_removed_s);
        if let (Some((lo, hi)), Some(t)) = (c.crash_to_unhealthy_mean_ci95_s, Some(c.theory.crash_to_unhealthy_s.mean))
        {
            let _ = writeln!(m, "\nMean crash → unhealthy: 95 % CI [{lo:.3}, {hi:.3}] s, theory {t:.3} s.");
        }
        if let (Some((lo, hi)), Some(t)) = (c.crash_to_deleted_mean_ci95_s, Some(c.theory.crash_to_deleted_s.mean)) {
            let _ = writeln!(m, "Mean crash → deleted: 95 % CI [{lo:.3}, {hi:.3}] s, theory {t:.3} s.");
        }
        let mi = &c.missing;
        if mi.unhealthy + mi.deleted + mi.subscriber_unhealthy + mi.subscriber_removed > 0 {
            let _ = writeln!(m, "Runs where an event did not happen: unhealthy {}, deleted {}, consumer saw unhealthy {}, consumer saw it gone {}.", mi.unhealthy, mi.deleted, mi.subscriber_unhealthy, mi.subscriber_removed);
        }
        m.push('\n');
    }
    let _ = writeln!(m, "With push the consumer follows the server by the 1 s push debounce plus a network hop. Poll only: the consumer's `UpdateTask` re-reads every `cacheMillis` = 10 s (the server still registers it as a push target, so it gets the push-mode cache time), and an unhealthy mark may be missed entirely when the delete comes before the next poll. The consumer subscribes at a random time, so its polls (every 10 s + RTT) have a random phase against the server's checks.\n");

    let _ = writeln!(m, "## 2. False expiry under loss\n");
    let _ = writeln!(m, "Live instances; every HTTP exchange from them to the server fails fast with probability `p` (the request never arrives, the error returns one round trip later). With one configured server, `NamingProxy.reqApi` tries 3 times per call (R2.7), so a beat call fails with `p_call = p³`: Nacos's retry is what keeps false expiry rare. Instance-hours are after a {LOSS_WARMUP_S} s warm-up.\n");
    let _ = writeln!(m, "![loss](loss-rate.svg)\n");
    let _ = writeln!(m, "| p | p_call | instance-hours | false unhealthy / inst-h (95 % CI) | theory | false deletes / inst-h (95 % CI) | theory | mean false mark (s) | theory | time wrongly unhealthy | theory |\n|---:|---:|---:|---|---:|---|---:|---:|---:|---:|---:|");
    for l in s.loss.iter().filter(|l| !l.scenario.starts_with("sensitivity")) {
        let _ = writeln!(
            m,
            "| {} | {} | {:.0} | {} [{}, {}] | {} | {} [{}, {}] | {} | {} | {:.2} | {} | {} |",
            l.p,
            sci(l.p_call),
            l.instance_hours,
            sci(l.false_unhealthy_per_instance_hour),
            sci(l.false_unhealthy_per_instance_hour_ci95.0),
            sci(l.false_unhealthy_per_instance_hour_ci95.1),
            sci(l.theory.false_unhealthy_per_instance_hour),
            sci(l.false_delete_per_instance_hour),
            sci(l.false_delete_per_instance_hour_ci95.0),
            sci(l.false_delete_per_instance_hour_ci95.1),
            sci(l.theory.false_delete_per_instance_hour),
            l.mean_false_unhealthy_s.map(|v| format!("{v:.2}")).unwrap_or("–".into()),
            l.theory.mean_false_unhealthy_s,
            sci(l.fraction_of_time_unhealthy),
            sci(l.theory.fraction_of_time_unhealthy),
        );
    }
    m.push('\n');

    let _ = writeln!(m, "## 3. Sensitivity\n");
    let _ = writeln!(m, "Timeouts set through instance metadata (`preserved.heart.beat.interval` / `.timeout` / `preserved.ip.delete.timeout`), and latency jitter (uniform extra delay per packet). The check task still runs every 5 s whatever the timeouts, so short timeouts do not detect faster than 5 s granularity. False expiry at p = 0.5.\n");
    let _ = writeln!(m, "![sensitivity](sensitivity-cdf.svg)\n");
    let _ = writeln!(m, "| setting | crash → unhealthy p50 / p99 (s) | theory p50 / p99 | crash → consumer sees it gone p50 / p99 (s) | false unhealthy / inst-h (95 % CI) | theory | false deletes / inst-h | theory |\n|---|---|---|---|---|---:|---|---:|");
    for row in &s.sensitivity {
        let c = s.crash.iter().find(|c| c.scenario == row.crash);
        let l = s.loss.iter().find(|l| l.scenario == row.loss);
        let (Some(c), Some(l)) = (c, l) else { continue };
        let u = get(&c.crash_to_unhealthy_s);
        let g = get(&c.crash_to_subscriber_removed_s);
        let t = c.theory.crash_to_unhealthy_s;
        let _ = writeln!(
            m,
            "| {} | {:.2} / {:.2} | {:.2} / {:.2} | {:.2} / {:.2} | {} [{}, {}] | {} | {} | {} |",
            row.setting.label(),
            u.p50,
            u.p99,
            t.p50,
            t.p99,
            g.p50,
            g.p99,
            sci(l.false_unhealthy_per_instance_hour),
            sci(l.false_unhealthy_per_instance_hour_ci95.0),
            sci(l.false_unhealthy_per_instance_hour_ci95.1),
            sci(l.theory.false_unhealthy_per_instance_hour),
            sci(l.false_delete_per_instance_hour),
            sci(l.theory.false_delete_per_instance_hour),
        );
    }
    m.push('\n');

    let _ = writeln!(m, "## 4. Theory\n");
    let _ = writeln!(m, "Simple model: beats are processed every `P = interval + RTT` (the next beat is scheduled one interval after the previous call returned); the check runs every `C = 5 s` at a phase independent of the beats; `T`, `D` are the unhealthy and delete timeouts.\n");
    let _ = writeln!(m, "* **Crash → unhealthy** `= T − U + V`, `U ~ U(0, P)` (age of the last processed beat at the crash), `V ~ U(0, C]` (wait for the first check past `T`). Its CDF is the trapezoid `F(x) = [G(P + y) − G(P + y − C)] / C` with `y = x − T` and `G(s) = 0` for `s ≤ 0`, `s²/2P` for `0 < s ≤ P`, `P/2 + s − P` beyond; mean `T − P/2 + C/2`, support `(T − P, T + C]`.");
    let _ = writeln!(
        m,
        "* **Crash → deleted** is the same with `D`, plus the round trip of the server's DELETE to itself."
    );
    let _ = writeln!(m, "* **False marks**: after a processed beat, `k` calls fail with probability `p_callᵏ (1 − p_call)`; the next beat is processed at `S = (k+1)P`. A mark happens when the first check after `T` comes before `S`: probability `min(1, max(0, (S − T)/C))`. Per instance-hour: `(3.6e6/P)(1 − p_call) Σₖ p_callᵏ (1 − p_call) min(1, max(0, ((k+1)P − T)/C))`. Deletes: the same with `D`. A mark lasts from the check to `min(S, delete)`; its mean and the fraction of time are the same sums weighted by that duration (evaluated over the check phase on a 2000-point grid).\n");
    let _ = writeln!(m, "Where simulation and theory differ, and why:\n");
    let _ = writeln!(m, "* The check phase is not re-drawn between intervals: beats (period `P`) and checks (period `C`) drift past each other by `P − C` per cycle, so within one run consecutive intervals are correlated. Across runs the phase is random, which is what the theory averages.");
    let _ = writeln!(m, "* Under loss a failed call takes up to three round trips before the next period starts, so `P` varies by a few ms; after a false delete the instance comes back through a light beat → 20404 → re-register (R2.5), itself subject to loss, so marks after re-registration are not independent of the previous ones.");
    let _ = writeln!(m, "* Theory uses the mean jitter per hop. The spread of the delays matters too: long runs of slow failed tries make deletes more likely than the mean predicts (the 2000 ms jitter row).");
    let _ = writeln!(m, "* A beat already in flight when the provider crashes is still processed by the server, so the last processed beat can come after the crash, by up to one one-way delay: with 2000 ms jitter crash → unhealthy is about 1 s later than the model, which counts from the last beat sent.");
    let _ = writeln!(m, "* Consumer times add the 1 s push debounce and one network hop (push) or up to 10 s of polling (poll only); the table gives theory for the server-side events only.");
    m
}
