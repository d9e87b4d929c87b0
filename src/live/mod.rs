//! `nacos-sim live`: the same server cores serve real Nacos clients. The engine runs on the
//! wall clock; servers talk to each other through the simulated network (so the scenario's
//! partitions, loss and crashes between them are exact), and real clients reach them through
//! sockets on loopback and the [`gateway::Gateway`] node, which stands for everything outside
//! the simulation. The sockets' threads only move bytes: every Nacos decision is taken by the
//! cores on the loop's thread, and the inputs they get are recorded, so `nacos-sim replay`
//! of a live record re-runs the servers' side bit for bit.

pub mod gateway;
pub mod http;
pub mod open_api;

use crate::engine::NodeId;
use crate::naming::{Command, Process};
use crate::scenario::{self, world, Scenario};
use crate::time::{Dur, Time};
use gateway::{Outbound, OutsideInput};
use http::{Incoming, Reply};
use std::collections::BTreeMap;
use std::io::{BufRead, BufWriter, Write};
use std::net::{TcpListener, UdpSocket};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

/// The scenario of `nacos-sim live` without a file: one standalone server, default switches,
/// for an hour.
const DEFAULT_DURATION: Dur = Dur::from_millis(3_600_000);

/// What the sockets' threads hand the loop.
pub enum Event {
    Http(Incoming),
    Udp { server: usize, ip: String, port: u16, payload: String },
}

pub struct Options {
    pub file: Option<String>,
    /// The first server's HTTP port; server `i` listens on `port + i`.
    pub port: u16,
    /// Without a file: how many servers (a cluster of them, `s1`…).
    pub servers: Option<usize>,
    pub duration: Option<Dur>,
    pub trace: Option<String>,
    pub record: Option<String>,
}

/// The first line of a live record.
#[derive(serde::Serialize, serde::Deserialize)]
struct RecordHeader {
    nacos_sim_live_record: u32,
    /// When the live run started, in milliseconds since the Unix epoch: the wall-clock time of
    /// `t_ms` 0 (for lining the trace up with the clients' logs). Replay does not read it.
    #[serde(default)]
    started_unix_ms: u64,
    scenario: serde_json::Value,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct RecordInput {
    at_ns: i64,
    input: OutsideInput,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct RecordEnd {
    end_ns: i64,
    trace_hash: String,
}

/// The scenario a live run uses: the file's servers, switches, network between servers,
/// faults among servers and operations; its clients, and whatever names them, are left out
/// (the clients are real). Returns the scenario as JSON too, for the record, and what was left out.
fn live_scenario(o: &Options) -> Result<(Scenario, serde_json::Value, Vec<String>), String> {
    use serde_json::{json, Value};
    let (file, mut v) = match &o.file {
        Some(path) => {
            scenario::load(path).map_err(|e| e.to_string())?;
            let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
            let v: Value = serde_json::from_str(&text).map_err(|e| format!("{path}: {e}"))?;
            if o.servers.is_some() {
                return Err(format!(
                    "{path}: --servers is for a live run without a scenario file (the file lists its servers)"
                ));
            }
            (path.clone(), v)
        }
        None => {
            let n = o.servers.unwrap_or(1);
            if !(1..=64).contains(&n) {
                return Err(format!("--servers {n}: expected 1 to 64"));
            }
            let servers: Vec<Value> = (1..=n).map(|i| json!({ "id": format!("s{i}") })).collect();
            ("nacos-sim live".to_string(), json!({ "name": "live", "seed": 1, "duration": "1h", "servers": servers }))
        }
    };
    let servers: Vec<String> = v["servers"]
        .as_array()
        .map(|a| a.iter().filter_map(|s| s["id"].as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    let only_servers = |x: &Value| -> bool {
        ["node", "from", "to", "groups", "nodes"].iter().all(|k| match &x[*k] {
            Value::Null => true,
            Value::String(s) => servers.contains(s),
            Value::Array(a) => a
                .iter()
                .flat_map(|e| e.as_array().cloned().unwrap_or_else(|| vec![e.clone()]))
                .all(|e| e.as_str().is_some_and(|s| servers.iter().any(|id| id == s))),
            _ => false,
        })
    };
    let mut left_out = Vec::new();
    let obj = v.as_object_mut().ok_or_else(|| format!("{file}: not an object"))?;
    if obj.get("clients").and_then(Value::as_array).is_some_and(|c| !c.is_empty()) {
        left_out.push("clients (the clients are real)".to_string());
    }
    obj.remove("clients");
    if let Some(Value::Array(faults)) = obj.get_mut("faults") {
        let before = faults.len();
        faults.retain(only_servers);
        if faults.len() < before {
            left_out.push(format!("{} faults that name clients", before - faults.len()));
        }
    }
    if let Some(Value::Array(items)) = obj.get_mut("network").and_then(|n| n.get_mut("links")) {
        items.retain(only_servers);
    }
    for k in ["expect", "measure", "converge", "expect_anomalies"] {
        if obj.remove(k).is_some() {
            left_out.push(format!("{k} (checked by `run`, not live)"));
        }
    }
    if let Some(observe) = obj.get_mut("observe").and_then(Value::as_object_mut) {
        observe.remove("requests_from");
    }
    if let Some(d) = o.duration {
        obj.insert("duration".into(), json!(format!("{}ms", d.as_millis())));
    } else if o.file.is_none() {
        obj.insert("duration".into(), json!(format!("{}ms", DEFAULT_DURATION.as_millis())));
    }
    let sc = scenario::parse(&file, &v.to_string()).map_err(|e| e.to_string())?;
    Ok((sc, v, left_out))
}

/// What a live run ended with.
pub struct Summary {
    pub trace_hash: u64,
    pub requests: u64,
    pub datagrams_in: u64,
    pub datagrams_out: u64,
}

/// The loop's side of the sockets.
struct Sockets {
    udp: Vec<UdpSocket>,
    waiting: BTreeMap<u64, Sender<Reply>>,
    datagrams_out: u64,
}

impl Sockets {
    fn send(&mut self, out: Outbound) {
        match out {
            Outbound::Answer { token, reply } => {
                if let Some(tx) = self.waiting.remove(&token) {
                    let _ = tx.send(reply);
                }
            }
            Outbound::Datagram { server, ip, port, bytes } => {
                // A push to an address nothing listens on is lost, as in Nacos.
                self.datagrams_out += 1;
                if let Some(sock) = self.udp.get(server as usize) {
                    let _ = sock.send_to(&bytes, (&*ip, port));
                }
            }
        }
    }
}

fn drain(w: &mut world::World, outside: NodeId, sockets: Option<&mut Sockets>, trace: &mut Option<Box<dyn Write>>) {
    if let Process::Outside(g) = w.engine.node_mut(outside) {
        let outbox = std::mem::take(&mut g.outbox);
        if let Some(s) = sockets {
            outbox.into_iter().for_each(|o| s.send(o));
        }
    }
    for r in w.engine.records.drain(..) {
        if let Some(t) = trace.as_mut() {
            let _ = writeln!(t, "{}", world::trace_line(&r, &w.names));
        }
    }
}

fn since(start: Instant) -> Time {
    Time(start.elapsed().as_nanos().min(i64::MAX as u128) as i64)
}

fn open_out(path: &str) -> Result<Box<dyn Write>, String> {
    if path == "-" {
        return Ok(Box::new(std::io::stdout()));
    }
    let f = std::fs::File::create(path).map_err(|e| format!("{path}: {e}"))?;
    Ok(Box::new(BufWriter::new(f)))
}

/// Runs live until the scenario's duration has passed on the wall clock.
pub fn run(o: &Options) -> Result<Summary, String> {
    let (sc, scenario_json, left_out) = live_scenario(o)?;
    let mut trace = o.trace.as_deref().map(open_out).transpose()?;
    let mut record = o.record.as_deref().map(open_out).transpose()?;
    let nsrv = sc.servers.len();
    if o.port as usize + nsrv - 1 > u16::MAX as usize {
        return Err(format!("--port {}: {nsrv} servers need ports up to {}", o.port, o.port as usize + nsrv - 1));
    }
    let (tx, rx) = mpsc::channel::<Event>();
    let mut sockets = Sockets { udp: Vec::new(), waiting: BTreeMap::new(), datagrams_out: 0 };
    for (i, s) in sc.servers.iter().enumerate() {
        let port = o.port + i as u16;
        let listener = TcpListener::bind(("127.0.0.1", port)).map_err(|e| format!("127.0.0.1:{port}: {e}"))?;
        let udp = UdpSocket::bind("0.0.0.0:0").map_err(|e| format!("UDP socket: {e}"))?;
        let push_port = udp.local_addr().map_err(|e| e.to_string())?.port();
        let reader = udp.try_clone().map_err(|e| e.to_string())?;
        let to_loop = tx.clone();
        std::thread::spawn(move || http::serve(listener, i, to_loop));
        let to_loop = tx.clone();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 65536];
            while let Ok((n, from)) = reader.recv_from(&mut buf) {
                let payload = String::from_utf8_lossy(&buf[..n]).into_owned();
                let ev = Event::Udp { server: i, ip: from.ip().to_string(), port: from.port(), payload };
                if to_loop.send(ev).is_err() {
                    return;
                }
            }
        });
        sockets.udp.push(udp);
        println!(
            "{:<8} http://127.0.0.1:{port}/nacos   pushes from UDP port {push_port}   (member {}:{} of the cluster)",
            s.id,
            world::server_ip(i, s),
            s.port
        );
    }
    drop(tx);
    for l in &left_out {
        println!("left out  {l}");
    }
    println!("running   {} on the wall clock (Nacos {}); Ctrl-C ends it", sc.duration, sc.switches.server_version);
    // The wall clock is read once, to say when time 0 was; the engine runs on a monotonic clock.
    let started_unix_ms =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    println!("time 0    is {started_unix_ms} ms after the Unix epoch (trace times count from it)");
    if let Some(r) = record.as_mut() {
        let header = RecordHeader { nacos_sim_live_record: 1, started_unix_ms, scenario: scenario_json };
        writeln!(r, "{}", serde_json::to_string(&header).expect("serializes")).map_err(|e| e.to_string())?;
    }

    let mut w = world::build_with(&sc, sc.seed, true);
    let outside = (w.names.len() - 1) as NodeId;
    let end = Time(sc.duration.0);
    let start = Instant::now();
    let (mut requests, mut datagrams_in, mut next_token) = (0u64, 0u64, 1u64);
    loop {
        let now = since(start).min(end);
        w.engine.run_until(now);
        drain(&mut w, outside, Some(&mut sockets), &mut trace);
        if now >= end {
            break;
        }
        let next = w.engine.next_event_at().unwrap_or(end).min(end);
        let wait = Duration::from_nanos((next - since(start)).0.clamp(0, 100_000_000) as u64);
        let input = match rx.recv_timeout(wait) {
            Ok(Event::Http(inc)) => {
                requests += 1;
                let token = next_token;
                next_token += 1;
                sockets.waiting.insert(token, inc.answer);
                OutsideInput::Http { token, server: inc.server as NodeId, request: inc.request }
            }
            Ok(Event::Udp { server, ip, port, payload }) => {
                datagrams_in += 1;
                OutsideInput::Udp { server: server as NodeId, ip, port, payload }
            }
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => break,
        };
        // Inputs enter at the engine's own instant, after every event due by then: a replay
        // that does the same gets the same order.
        let at = since(start).min(end);
        w.engine.run_until(at);
        if let Some(r) = record.as_mut() {
            let line = serde_json::to_string(&RecordInput { at_ns: at.0, input: input.clone() }).expect("serializes");
            let _ = writeln!(r, "{line}");
        }
        w.engine.schedule_command(at, outside, Command::Outside(input));
    }
    w.engine.run_until(end);
    drain(&mut w, outside, Some(&mut sockets), &mut trace);
    let trace_hash = w.engine.trace_hash();
    if let Some(r) = record.as_mut() {
        let line = RecordEnd { end_ns: end.0, trace_hash: format!("{trace_hash:016x}") };
        writeln!(r, "{}", serde_json::to_string(&line).expect("serializes")).map_err(|e| e.to_string())?;
        r.flush().map_err(|e| e.to_string())?;
    }
    if let Some(t) = trace.as_mut() {
        t.flush().map_err(|e| e.to_string())?;
    }
    Ok(Summary { trace_hash, requests, datagrams_in, datagrams_out: sockets.datagrams_out })
}

/// Whether `path` is a live record (its first line says so).
pub fn is_record(path: &str) -> bool {
    let Ok(f) = std::fs::File::open(path) else { return false };
    let mut first = String::new();
    let _ = std::io::BufReader::new(f).read_line(&mut first);
    first.starts_with("{\"nacos_sim_live_record\"")
}

/// A live record re-run: the recorded trace hash and the replayed one.
pub struct Replayed {
    pub recorded: u64,
    pub replayed: u64,
    pub inputs: usize,
}

/// Re-runs the servers' side of a live record: the same scenario, each input at its recorded
/// instant, without sockets.
pub fn replay(path: &str, mut trace: Option<Box<dyn Write>>) -> Result<Replayed, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let mut lines = text.lines().enumerate();
    let err = |n: usize, e: &dyn std::fmt::Display| format!("{path}: line {}: {e}", n + 1);
    let (n, first) = lines.next().ok_or_else(|| format!("{path}: empty file"))?;
    let header: RecordHeader = serde_json::from_str(first).map_err(|e| err(n, &e))?;
    if header.nacos_sim_live_record != 1 {
        return Err(err(n, &"unknown record version (expected 1)"));
    }
    let sc = scenario::parse(path, &header.scenario.to_string()).map_err(|e| e.to_string())?;
    let mut w = world::build_with(&sc, sc.seed, true);
    let outside = (w.names.len() - 1) as NodeId;
    let mut last = Time::ZERO;
    for (inputs, (n, line)) in lines.enumerate() {
        if let Ok(end) = serde_json::from_str::<RecordEnd>(line) {
            w.engine.run_until(Time(end.end_ns));
            drain(&mut w, outside, None, &mut trace);
            let recorded = u64::from_str_radix(&end.trace_hash, 16).map_err(|e| err(n, &e))?;
            return Ok(Replayed { recorded, replayed: w.engine.trace_hash(), inputs });
        }
        let r: RecordInput = serde_json::from_str(line).map_err(|e| err(n, &e))?;
        if r.at_ns < last.0 {
            return Err(err(n, &"inputs out of time order"));
        }
        last = Time(r.at_ns);
        w.engine.run_until(last);
        drain(&mut w, outside, None, &mut trace);
        w.engine.schedule_command(last, outside, Command::Outside(r.input));
    }
    Err(format!("{path}: the record has no end line (the live run did not finish)"))
}
