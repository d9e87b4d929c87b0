//! `run --timeline`: the page's data says what the run did, and a real browser draws it (one
//! lane per node, the partition shaded, membership and view changes at their times).

use nacos_sim::scenario::{self, world};
use nacos_sim::timeline::Timeline;
use serde_json::Value;
use std::process::Command;

const FILE: &str = "scenarios/distro-partition-20s.json";

/// The run of `file` drawn as `run --timeline` draws it: its observations streamed in, its
/// messages kept.
fn drawn(file: &str, services: &[String]) -> (Timeline, nacos_sim::time::Time) {
    let sc = scenario::load(file).unwrap();
    let mut w = world::build(&sc, sc.seed);
    w.engine.record_deliveries(nacos_sim::timeline::MESSAGES_KEPT);
    let mut t = Timeline::new(&sc.name, &w.names, sc.servers.len(), services, &w.faults);
    let end = w.duration;
    world::run_streaming(&mut w, end, |r, _| t.observe(r));
    t.messages(&w.engine.deliveries, w.engine.deliveries_dropped, 0);
    (t, end)
}

fn page(services: &[String]) -> String {
    let (mut t, end) = drawn(FILE, services);
    t.html(end)
}

fn data(html: &str) -> Value {
    let open = r#"<script type="application/json" id="data">"#;
    let start = html.find(open).expect("data block") + open.len();
    let len = html[start..].find("</script>").expect("end of data");
    serde_json::from_str(&html[start..start + len]).expect("data is JSON")
}

/// `(node, row label, from, to, state)` of every band.
fn bands(d: &Value) -> Vec<(String, String, f64, f64, String)> {
    d["bands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            let node = d["nodes"][b[0].as_u64().unwrap() as usize]["id"].as_str().unwrap().to_string();
            let row = d["rows"][b[1].as_u64().unwrap() as usize]["label"].as_str().unwrap().to_string();
            (node, row, b[2].as_f64().unwrap(), b[3].as_f64().unwrap(), b[4].as_str().unwrap().to_string())
        })
        .collect()
}

#[test]
fn the_data_holds_lanes_faults_and_state_bands_at_their_times() {
    let html = page(&[]);
    assert!(!html.contains("src=\"http") && !html.contains("href=\"http"), "no network access");
    let d = data(&html);
    let nodes: Vec<&str> = d["nodes"].as_array().unwrap().iter().map(|n| n["id"].as_str().unwrap()).collect();
    assert_eq!(nodes, ["s1", "s2", "s3", "p1", "p2", "consumer"]);
    let f = &d["faults"][0];
    assert_eq!(
        (f["kind"].as_str(), f["from_ms"].as_f64(), f["to_ms"].as_f64()),
        (Some("partition"), Some(40000.0), Some(60000.0))
    );
    assert_eq!(f["nodes"], serde_json::json!([1]));
    let b = bands(&d);
    let has = |node: &str, row: &str, from: f64, to: f64, state: &str| {
        b.iter().any(|x| x.0 == node && x.1 == row && x.2 == from && x.3 == to && x.4 == state)
    };
    // s1 probes s2 every 4 s with a 5 s connect timeout: SUSPICIOUS at the first failure, DOWN
    // at the fourth, UP when a probe answers after the heal.
    assert!(has("s1", "member 10.0.0.2:8848", 0.0, 48000.0, "UP"), "{b:?}");
    assert!(has("s1", "member 10.0.0.2:8848", 48000.0, 60000.0, "SUSPICIOUS"), "{b:?}");
    assert!(has("s1", "member 10.0.0.2:8848", 60000.0, 60002.0, "DOWN"), "{b:?}");
    // s2, cut off, stops getting p1's beats: demo's instance goes unhealthy there and back.
    let unhealthy = b.iter().find(|x| x.0 == "s2" && x.1 == "DEFAULT_GROUP@@demo 10.1.0.2:8080" && x.4 == "unhealthy");
    let (_, _, from, to, _) = unhealthy.expect("an unhealthy band on s2");
    assert!(*from > 55000.0 && *from <= 60000.0 && *to > 60000.0, "{from} {to}");
    // The consumer keeps seeing demo's instance all along (R5.19 step 3 is ignored in 1.4.1).
    assert!(b
        .iter()
        .any(|x| x.0 == "consumer" && x.1 == "view DEFAULT_GROUP@@demo" && x.4 == "1 host" && x.3 == 150000.0));
    // Picking a service leaves the others' rows out.
    let only = bands(&data(&page(&["orders".into()])));
    assert!(only.iter().all(|x| !x.1.contains("demo")) && only.iter().any(|x| x.1.contains("orders")));
}

/// The browser to draw with: `$CHROMIUM`, else Debian's `chromium`.
fn browser() -> Option<String> {
    let path = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    std::path::Path::new(&path).exists().then_some(path)
}

#[test]
fn a_headless_browser_draws_the_lanes_the_partition_and_the_changes() {
    let Some(chromium) = browser() else {
        // `.ci/run` installs it, so CI always draws; a developer machine without it says so.
        assert!(std::env::var("CI").is_err(), "CI must have chromium (.ci/run installs it)");
        eprintln!("skipped: no chromium (apt-get install chromium, or set CHROMIUM)");
        return;
    };
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    let file = dir.join("distro-partition-20s.html");
    std::fs::write(&file, page(&[])).unwrap();
    let url = format!("file://{}", file.display());
    let args = ["--headless", "--no-sandbox", "--disable-gpu", "--window-size=1400,600"];
    let out = Command::new(&chromium).args(args).arg("--dump-dom").arg(&url).output().expect("chromium runs");
    let dom = String::from_utf8_lossy(&out.stdout);
    for node in ["s1", "s2", "s3", "p1", "p2", "consumer"] {
        assert_eq!(dom.matches(&format!(r#"<g class="lane" data-node="{node}""#)).count(), 1, "lane {node}");
    }
    let fault = r#"<rect class="fault" data-node="s2""#;
    let shade = dom.split(fault).nth(1).expect("the partition shades s2's lane");
    assert!(shade.split('>').next().unwrap().contains(r#"data-from-ms="40000" data-to-ms="60000""#));
    let member = r#"class="band member" data-node="s1" data-row="member 10.0.0.2:8848" data-service="" data-state="SUSPICIOUS" data-from-ms="48000" data-to-ms="60000""#;
    assert!(dom.contains(member), "s1's view of s2 drawn SUSPICIOUS from 48 s to 60 s");
    let view = r#"class="band view" data-node="consumer" data-row="view DEFAULT_GROUP@@demo""#;
    assert!(dom.contains(view), "the consumer's view of demo drawn");
    assert!(dom.matches(r#"<line class="event""#).count() > 50, "observation ticks drawn");
    assert!(!dom.contains(r#"<line class="message"#), "messages are drawn on demand only");
    // Asked for in the address: the beats, s1's forwards to s2 failing while it is cut off.
    let asked = format!("{url}#messages=PUT%20/instance/beat");
    let out = Command::new(&chromium).args(args).arg("--dump-dom").arg(&asked).output().expect("chromium runs");
    let beats = String::from_utf8_lossy(&out.stdout);
    assert!(beats.matches(r#"<line class="message" data-what="PUT /instance/beat""#).count() > 20, "beats drawn");
    let failed = r#"<line class="message failed" data-what="PUT /instance/beat" data-outcome="failed: connect_timeout" data-from="s1" data-to="s2""#;
    assert!(beats.matches(failed).count() >= 3, "failed forwards drawn dashed");
    assert!(!beats.contains(r#"data-what="UDP push""#), "only the messages asked for");
    let shot = dir.join("timeline.png");
    let status = Command::new(&chromium).args(args).arg(format!("--screenshot={}", shot.display())).arg(&url).output();
    assert!(status.is_ok() && std::fs::metadata(&shot).map(|m| m.len() > 10_000).unwrap_or(false), "screenshot saved");
}

#[test]
fn the_perfetto_file_is_trace_event_json_with_a_track_per_node_and_row() {
    let (mut t, end) = drawn(FILE, &[]);
    let observations = data(&t.html(end))["events"].as_array().unwrap().len();
    let v: Value = serde_json::from_str(&t.perfetto(end)).expect("valid JSON");
    let ev = v["traceEvents"].as_array().expect("traceEvents");
    let named = |what: &str| -> Vec<(u64, Option<u64>, String)> {
        ev.iter()
            .filter(|e| e["ph"] == "M" && e["name"] == what)
            .map(|e| (e["pid"].as_u64().unwrap(), e["tid"].as_u64(), e["args"]["name"].as_str().unwrap().to_string()))
            .collect()
    };
    let processes: Vec<String> = named("process_name").into_iter().map(|p| p.2).collect();
    assert_eq!(
        processes,
        ["s1 (server)", "s2 (server)", "s3 (server)", "p1 (client)", "p2 (client)", "consumer (client)", "faults"]
    );
    let (pid, tid, _) =
        named("thread_name").into_iter().find(|t| t.0 == 0 && t.2 == "member 10.0.0.2:8848").expect("s1's row");
    let slice =
        ev.iter().find(|e| e["ph"] == "X" && e["pid"] == pid && e["tid"] == tid.unwrap() && e["name"] == "SUSPICIOUS");
    let slice = slice.expect("s1's view of s2 as a slice");
    assert_eq!((slice["ts"].as_u64(), slice["dur"].as_u64()), (Some(48_000_000), Some(12_000_000)));
    let fault = ev.iter().find(|e| e["ph"] == "X" && e["pid"] == 6).expect("the partition");
    assert_eq!(
        (fault["name"].as_str(), fault["ts"].as_u64(), fault["dur"].as_u64()),
        (Some("partition"), Some(40_000_000), Some(20_000_000))
    );
    assert_eq!(fault["args"]["nodes"], serde_json::json!(["s2"]));
    // Every message is a flow from a slice on its sender's `messages` track to one on its
    // receiver's.
    let (starts, ends): (Vec<&Value>, Vec<&Value>) =
        ev.iter().filter(|e| e["ph"] == "s" || e["ph"] == "f").partition(|e| e["ph"] == "s");
    assert!(starts.len() > 1000 && starts.len() == ends.len(), "{} {}", starts.len(), ends.len());
    let tracks = named("thread_name");
    for (s, f) in starts.iter().zip(&ends).take(200) {
        assert_eq!(
            (s["id"].clone(), s["cat"].clone(), f["bp"].clone()),
            (f["id"].clone(), "message".into(), "e".into())
        );
        for e in [s, f] {
            let (pid, tid, ts) = (&e["pid"], &e["tid"], e["ts"].as_u64().unwrap());
            assert!(tracks.iter().any(|t| pid.as_u64() == Some(t.0) && t.1 == tid.as_u64() && t.2 == "messages"));
            assert!(ev
                .iter()
                .any(|x| x["ph"] == "X" && x["pid"] == *pid && x["tid"] == *tid && x["ts"].as_u64() == Some(ts)));
        }
        assert!(f["ts"].as_u64() > s["ts"].as_u64());
    }
    let instants: Vec<&Value> = ev.iter().filter(|e| e["ph"] == "i").collect();
    assert_eq!(instants.len(), observations, "one instant event per observation");
    assert!(instants.iter().all(|e| e["tid"] == 0 && e["args"]["kind"] == e["name"]));
}

#[test]
fn two_runs_stack_with_their_first_divergence_marked() {
    let run = |sets: &[String]| {
        let sc = scenario::load_with(FILE, sets).unwrap();
        let mut w = world::build(&sc, sc.seed);
        w.run_until(w.duration);
        w
    };
    let (a, b) = (run(&[]), run(&["switches.server_version=\"1.3.2\"".into()]));
    let d = data(&Timeline::stacked("t", [&a, &b], Some(nacos_sim::time::Time::from_millis(1234))));
    let nodes: Vec<&str> = d["nodes"].as_array().unwrap().iter().map(|n| n["id"].as_str().unwrap()).collect();
    assert_eq!(nodes[..3], ["A:s1", "A:s2", "A:s3"]);
    assert_eq!(nodes[6..9], ["B:s1", "B:s2", "B:s3"]);
    let faults = d["faults"].as_array().unwrap();
    assert_eq!(faults.len(), 3, "each run's partition and the divergence");
    assert_eq!(faults[1]["nodes"], serde_json::json!([7]), "B's partition on B:s2");
    assert_eq!((faults[2]["kind"].as_str(), faults[2]["from_ms"].as_f64()), (Some("divergence"), Some(1234.0)));
    // 1.4.1 marks the cut-off s2 DOWN on s3; 1.3.2 never gets past SUSPICIOUS.
    let b = bands(&d);
    assert!(b.iter().any(|x| x.0 == "A:s3" && x.1 == "member 10.0.0.2:8848" && x.4 == "DOWN"));
    assert!(!b.iter().any(|x| x.0 == "B:s3" && x.1 == "member 10.0.0.2:8848" && x.4 == "DOWN"));
}

/// `(from, to, sent, at, what, outcome)` of every message on the page.
fn messages(d: &Value) -> Vec<(String, String, f64, f64, String, String)> {
    let s = |v: &Value| d["strings"][v.as_u64().unwrap() as usize].as_str().unwrap().to_string();
    let node = |v: &Value| d["nodes"][v.as_u64().unwrap() as usize]["id"].as_str().unwrap().to_string();
    d["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (node(&m[0]), node(&m[1]), m[2].as_f64().unwrap(), m[3].as_f64().unwrap(), s(&m[4]), s(&m[5])))
        .collect()
}

/// s1 forwards p1's beats to s2 (responsible for demo): delivered in 1 ms before the
/// partition, each failing at its 2 s connect timeout while s2 is cut off, delivered again
/// after the heal.
#[test]
fn the_page_holds_the_messages_between_nodes() {
    let m = messages(&data(&page(&[])));
    let beats = |outcome: &str, from: f64, to: f64| {
        m.iter()
            .filter(|x| x.0 == "s1" && x.1 == "s2" && x.4 == "PUT /instance/beat" && x.5 == outcome)
            .filter(|x| x.2 >= from && x.2 < to)
            .map(|x| x.3 - x.2)
            .collect::<Vec<f64>>()
    };
    let before = beats("request", 30000.0, 40000.0);
    assert!(!before.is_empty() && before.iter().all(|&d| d == 1.0), "{before:?}");
    assert!(beats("request", 40000.0, 60000.0).is_empty(), "nothing reaches s2 while it is cut off");
    let failed = beats("failed: connect_timeout", 40000.0, 58000.0);
    assert!(failed.len() >= 3 && failed.iter().all(|&d| d == 2000.0), "{failed:?}");
    assert!(!beats("request", 60000.0, 150000.0).is_empty());
    // Each delivered forward is answered by s2 on the same exchange.
    assert!(m
        .iter()
        .any(|x| x.0 == "s2" && x.1 == "s1" && x.4 == "PUT /instance/beat" && x.5 == "answer 200 beat reply"));
    // Pushes are datagrams to the consumer.
    assert!(m.iter().any(|x| x.1 == "consumer" && x.4 == "UDP push" && x.5 == "datagram"));
}

/// A server that crashes holds nothing until it restarts: s2 of
/// `distro-responsible-crash-restart` is down from 40 s to 60 s; every state drawn on its lane
/// ends at the crash, and its status after the restart starts at the restart.
#[test]
fn a_crash_ends_every_state_of_its_node_until_the_restart() {
    let (mut t, end) = drawn("scenarios/distro-responsible-crash-restart.json", &[]);
    let b = bands(&data(&t.html(end)));
    let s2: Vec<_> = b.iter().filter(|x| x.0 == "s2").collect();
    assert!(s2.iter().all(|x| x.3 <= 40000.0 || x.2 >= 60000.0), "a state across the crash: {s2:?}");
    assert!(s2.iter().any(|x| x.1 == "instances held" && x.3 == 40000.0), "{s2:?}");
    assert!(s2.iter().any(|x| x.1 == "server status" && x.4 == "UP" && x.3 == 40000.0));
    let end_ms = end.0 as f64 / 1e6;
    assert!(s2.iter().any(|x| x.1 == "server status" && x.4 == "UP" && x.2 == 60000.0 && x.3 == end_ms), "{s2:?}");
    assert!(s2.iter().any(|x| x.1.contains("busy0") && x.2 > 60000.0), "instances again after the snapshot load");
}
