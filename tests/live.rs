//! `nacos-sim live` against the real third-party Nacos clients: the npm `nacos-naming@2.6.3`
//! (HTTP, beats, UDP push and ack) and `nacos-sdk-python==2.0.11` (HTTP, beats, polling), on
//! loopback, ports chosen free at run time, every wait bounded. The clients are installed
//! from the npm and PyPI registries into the target directory on first use.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const NPM_CLIENT: &str = "nacos-naming@2.6.3";
const PYPI_CLIENT: &str = "nacos-sdk-python==2.0.11";

struct Clients {
    node_path: PathBuf,
    python_path: PathBuf,
}

/// The two real clients, installed once per target directory.
fn clients() -> &'static Clients {
    static CLIENTS: OnceLock<Clients> = OnceLock::new();
    CLIENTS.get_or_init(|| {
        let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("live-clients");
        let js = root.join("js");
        let py = root.join("py");
        if !js.join("node_modules/nacos-naming/package.json").exists() {
            let ok = Command::new("npm")
                .args(["install", "--no-audit", "--no-fund", "--loglevel=error", "--prefix"])
                .arg(&js)
                .arg(NPM_CLIENT)
                .status()
                .expect("npm runs");
            assert!(ok.success(), "npm install {NPM_CLIENT} failed");
        }
        if !py.join("nacos/client.py").exists() {
            let ok = Command::new("python3")
                .args(["-m", "pip", "install", "-q", "--no-deps", "--disable-pip-version-check", "--target"])
                .arg(&py)
                .arg(PYPI_CLIENT)
                .status()
                .expect("pip runs");
            assert!(ok.success(), "pip install {PYPI_CLIENT} failed");
        }
        Clients { node_path: js.join("node_modules"), python_path: py }
    })
}

/// A base port with `n` free ports from it.
fn free_ports(n: u16) -> u16 {
    loop {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let base = l.local_addr().unwrap().port();
        if base.checked_add(n).is_none() {
            continue;
        }
        let rest: Vec<_> = (1..n).map(|i| std::net::TcpListener::bind(("127.0.0.1", base + i))).collect();
        if rest.iter().all(Result::is_ok) {
            return base;
        }
    }
}

/// A child process whose stdout lines are collected; killed when dropped.
struct Proc {
    child: Child,
    lines: std::sync::mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Proc {
    fn spawn(cmd: &mut Command) -> Proc {
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().expect("spawns");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Proc { child, lines: rx, seen: Vec::new() }
    }

    /// Waits (at most `within`) for a line satisfying `f`; returns it.
    fn wait_for(&mut self, within: Duration, what: &str, f: impl Fn(&str) -> bool) -> String {
        if let Some(l) = self.seen.iter().find(|l| f(l)) {
            return l.clone();
        }
        let deadline = Instant::now() + within;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    self.seen.push(l.clone());
                    if f(&l) {
                        return l;
                    }
                }
                Err(_) => break,
            }
        }
        panic!("no {what} within {within:?}; saw:\n{}", self.seen.join("\n"));
    }

    /// Waits (at most `within`) for the process to exit; returns every line it printed.
    fn finish(&mut self, within: Duration) -> Vec<String> {
        let deadline = Instant::now() + within;
        loop {
            if self.child.try_wait().expect("waits").is_some() {
                break;
            }
            assert!(Instant::now() < deadline, "still running after {within:?}; saw:\n{}", self.seen.join("\n"));
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(100));
        self.seen.extend(self.lines.try_iter());
        self.seen.clone()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.0 GET on loopback; the status code and the body.
fn get(port: u16, target: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connects");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {target} HTTP/1.0\r\nUser-Agent: curl/8\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).expect("an answer");
    let (head, body) = text.split_once("\r\n\r\n").expect("a header");
    let status = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).expect("a status code");
    (status, body.to_string())
}

fn json_lines(lines: &[String]) -> Vec<Value> {
    lines.iter().filter_map(|l| serde_json::from_str(l).ok()).collect()
}

fn live(args: &[&str]) -> Proc {
    let mut p = Proc::spawn(Command::new(env!("CARGO_BIN_EXE_nacos-sim")).arg("live").args(args));
    p.wait_for(Duration::from_secs(10), "live banner", |l| l.starts_with("running"));
    p
}

fn js(server: &str, service: &str, port: u16, seconds: u32) -> Proc {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/live/js_client.js");
    Proc::spawn(Command::new("node").env("NODE_PATH", &clients().node_path).arg(script).args([
        server,
        service,
        &port.to_string(),
        &seconds.to_string(),
    ]))
}

fn py(server: &str, service: &str, args: &[&str]) -> Proc {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/live/py_client.py");
    Proc::spawn(
        Command::new("python3")
            .env("PYTHONPATH", &clients().python_path)
            .arg(script)
            .args([server, service])
            .args(args),
    )
}

/// An observation's time in microseconds (the trace prints milliseconds to three places).
fn micros(o: &Value) -> i64 {
    (o["t_ms"].as_f64().unwrap() * 1000.0).round() as i64
}

/// The trace's observations of `kind` naming `port`, as (time in µs, observation).
fn observed(trace: &[Value], kind: &str, port: u16) -> Vec<(i64, Value)> {
    trace.iter().filter(|o| o["kind"] == kind && o["port"] == port).map(|o| (micros(o), o.clone())).collect()
}

#[test]
fn real_js_and_python_clients_register_beat_get_pushes_and_see_a_killed_client_expire() {
    let _ = clients();
    let dir = tempdir("one-server");
    let (trace, record) = (dir.join("trace.jsonl"), dir.join("record.jsonl"));
    let port = free_ports(1);
    let server = format!("127.0.0.1:{port}");
    let mut live = live(&[
        "--port",
        &port.to_string(),
        "--duration",
        "28s",
        "--trace",
        trace.to_str().unwrap(),
        "--record",
        record.to_str().unwrap(),
    ]);
    // The core answers plain HTTP too: its status, and an unknown service as Nacos does.
    assert_eq!(get(port, "/nacos/v1/ns/operator/metrics"), (200, r#"{"status":"UP"}"#.to_string()));
    let (status, body) = get(port, "/nacos/v1/ns/instance/list?serviceName=nothing&clusters=DEFAULT");
    assert_eq!(
        (status, body.as_str()),
        (200, r#"{"cacheMillis":3000,"clusters":"DEFAULT","hosts":[],"name":"DEFAULT_GROUP@@nothing"}"#)
    );
    assert_eq!(get(port, "/nacos/v1/ns/instance?ip=1").0, 404);
    // The JS client: instance 18080 with the default 15 s / 30 s, subscribed by UDP push.
    let mut consumer = js(&server, "live-demo", 18080, 24);
    consumer.wait_for(Duration::from_secs(10), "JS registration", |l| l.contains("\"registered\""));
    // A Python client polling every second.
    let mut watcher = py(&server, "live-demo", &["subscribe", "1", "22"]);
    // The victim: a Python client beating every second, unhealthy after 3 s and deleted
    // after 6 s without beats.
    let meta = r#"{"preserved.heart.beat.timeout": "3000", "preserved.ip.delete.timeout": "6000"}"#;
    let mut victim = py(&server, "live-demo", &["register", "18090", "1", meta]);
    victim.wait_for(Duration::from_secs(10), "victim registration", |l| l.contains("\"registered\""));
    consumer.wait_for(Duration::from_secs(10), "a push listing the victim", |l| {
        l.contains("\"listener\"") && l.contains("18090")
    });
    std::thread::sleep(Duration::from_secs(2));
    victim.child.kill().expect("kills the victim");

    let consumer_lines = json_lines(&consumer.finish(Duration::from_secs(40)));
    let watcher_lines = json_lines(&watcher.finish(Duration::from_secs(40)));
    let live_out = live.finish(Duration::from_secs(40));
    assert!(live_out.iter().any(|l| l.starts_with("trace hash")), "live ended: {live_out:?}");
    let trace = json_lines(&std::fs::read_to_string(&trace).unwrap().lines().map(String::from).collect::<Vec<_>>());

    // JS: pushes arrive as `dom` datagrams, and the listener goes from [18080, 18090] to
    // [18080].
    let pushes: Vec<&Value> = consumer_lines.iter().filter(|l| l["kind"] == "push").collect();
    assert!(pushes.len() >= 2, "pushes: {pushes:?}");
    assert!(pushes.iter().all(|p| p["packet"]["type"] == "dom"));
    let listener: Vec<Vec<(u64, bool)>> = consumer_lines
        .iter()
        .filter(|l| l["kind"] == "listener")
        .map(|l| {
            l["hosts"].as_array().unwrap().iter().map(|h| (h["port"].as_u64().unwrap(), h["healthy"] == true)).collect()
        })
        .collect();
    let both = listener.iter().position(|h| h.contains(&(18090, true))).expect("saw the victim healthy");
    let gone = listener.iter().rposition(|h| h == &[(18080, true)]).expect("saw the victim removed");
    assert!(both < gone, "listener calls: {listener:?}");
    let saw_unhealthy = listener[both..gone].iter().any(|h| h.contains(&(18090, false)));
    // Every push the JS client received it acked over UDP, and the server matched the ack
    // (the last push, of the JS client's own deregistration, finds it gone).
    let sent = trace.iter().filter(|o| o["kind"] == "push_sent").count();
    let acked = trace.iter().filter(|o| o["kind"] == "push_acked").count();
    assert!(acked == pushes.len() && sent >= acked, "{sent} pushes sent, {} received, {acked} acked", pushes.len());

    // Python: ADDED, then DELETED, of the victim, through polling.
    let events: Vec<(String, u64)> = watcher_lines
        .iter()
        .filter(|l| l["kind"] == "event")
        .map(|l| (l["event"].as_str().unwrap().to_string(), l["port"].as_u64().unwrap()))
        .collect();
    let added = events.iter().position(|e| e == &("ADDED".into(), 18090)).expect("ADDED 18090");
    let deleted = events.iter().position(|e| e == &("DELETED".into(), 18090)).expect("DELETED 18090");
    assert!(added < deleted, "events: {events:?}");

    // The server's schedule: marked unhealthy by the first beat check at which more than 3 s
    // have passed since the victim's last beat, and deleted by the first at which more than
    // 6 s have (ClientBeatCheckTask every 5 s from the service's creation, R2.13–R2.15).
    let record_text = std::fs::read_to_string(&record).unwrap();
    let last_beat_ms = record_text
        .lines()
        .rfind(|l| l.contains("/instance/beat") && l.contains("18090"))
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["at_ns"].as_i64().unwrap() / 1_000_000)
        .expect("the victim beat");
    let created = micros(trace.iter().find(|o| o["kind"] == "service_created").expect("service created"));
    let check_after = |timeout_ms: i64| {
        let mut t = created + 5_000_000;
        while t / 1000 - last_beat_ms <= timeout_ms {
            t += 5_000_000;
        }
        t
    };
    let unhealthy = observed(&trace, "instance_unhealthy", 18090);
    let delete = observed(&trace, "delete_requested", 18090);
    let removed = observed(&trace, "instance_removed", 18090);
    assert_eq!(unhealthy.len(), 1, "{unhealthy:?}");
    assert_eq!(unhealthy[0].1["last_beat_ms"].as_i64(), Some(last_beat_ms), "the last beat the record holds");
    assert_eq!(unhealthy[0].0, check_after(3000), "unhealthy: {unhealthy:?}");
    assert_eq!(delete.first().map(|d| d.0), Some(check_after(6000)), "delete: {delete:?}");
    assert!(removed.len() == 1 && removed[0].0 >= delete[0].0, "removed: {removed:?}");
    // Marked unhealthy by an earlier check than the one that deletes it, the victim was pushed
    // as unhealthy in between (one check does both when the victim died just after a check:
    // the push round 1 s later then carries the removal only).
    assert_eq!(saw_unhealthy, unhealthy[0].0 < delete[0].0, "listener calls: {listener:?}");

    // The record replays to the same trace hash.
    let replay = Command::new(env!("CARGO_BIN_EXE_nacos-sim")).arg("replay").arg(&record).output().unwrap();
    let said = String::from_utf8_lossy(&replay.stdout);
    assert!(replay.status.success() && said.contains("as recorded"), "{said}");
}

fn tempdir(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("live-{name}"));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// `(t_ms, node, member, from, to)` of every member state change in a trace.
fn membership(trace: &[Value]) -> Vec<(f64, String, String, String, String)> {
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    trace
        .iter()
        .filter(|o| o["kind"] == "member_state_changed")
        .map(|o| (o["t_ms"].as_f64().unwrap(), s(&o["node"]), s(&o["member"]), s(&o["from"]), s(&o["to"])))
        .collect()
}

fn read_trace(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path).unwrap().lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
}

#[test]
fn three_live_servers_replicate_a_real_registration_and_keep_the_simulated_membership() {
    let _ = clients();
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/live-three-servers.json");
    let dir = tempdir("three-servers");
    let (live_trace, run_trace) = (dir.join("live.jsonl"), dir.join("run.jsonl"));
    let base = free_ports(3);
    let server = |i: u16| format!("127.0.0.1:{}", base + i);
    let mut live =
        live(&[file.to_str().unwrap(), "--port", &base.to_string(), "--trace", live_trace.to_str().unwrap()]);
    // Watched through s2 and s3, polling every second (from before the registration: the
    // Python SDK reports nothing for what its first poll finds); registered through s1 only.
    let mut on_s2 = py(&server(1), "live-three", &["subscribe", "1", "30"]);
    let mut on_s3 = py(&server(2), "live-three", &["subscribe", "1", "30"]);
    std::thread::sleep(Duration::from_millis(1500));
    let mut provider = js(&server(0), "live-three", 18080, 32);
    let registered = provider.wait_for(Duration::from_secs(10), "JS registration", |l| l.contains("\"registered\""));
    let registered_ms = serde_json::from_str::<Value>(&registered).unwrap()["t"].as_f64().unwrap();
    for w in [&mut on_s2, &mut on_s3] {
        let added = w.wait_for(Duration::from_secs(10), "ADDED through another server", |l| {
            l.contains("\"ADDED\"") && l.contains("18080")
        });
        let added_s = serde_json::from_str::<Value>(&added).unwrap()["t"].as_f64().unwrap();
        // Distro's 1 s sync delay, one Python poll (1 s) and the Python SDK's first-poll quirk
        // (it caches one host and reports the rest a poll later).
        assert!(
            added_s * 1000.0 - registered_ms < 4000.0,
            "seen {} ms after registration",
            added_s * 1000.0 - registered_ms
        );
    }
    provider.finish(Duration::from_secs(60));
    on_s2.finish(Duration::from_secs(60));
    on_s3.finish(Duration::from_secs(60));
    live.finish(Duration::from_secs(60));

    let run = Command::new(env!("CARGO_BIN_EXE_nacos-sim"))
        .args(["run", file.to_str().unwrap(), "--trace", run_trace.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stdout));
    let (in_live, in_run) = (membership(&read_trace(&live_trace)), membership(&read_trace(&run_trace)));
    // The partition of s1 drives the same member states at the same instants with real
    // clients as without (clients do not take part in membership).
    assert!(in_run.len() >= 6, "{in_run:?}");
    assert_eq!(in_live, in_run);
}
