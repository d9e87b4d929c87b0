//! Scenario files: every committed scenario holds its `expect` block and is deterministic; broken
//! files are rejected with the field path.

use nacos_sim::scenario::{self, expect, world};

/// Every committed scenario: the examples and the incident catalogue's files.
fn scenario_files() -> Vec<String> {
    let mut v: Vec<String> = ["scenarios", "scenarios/incidents"]
        .iter()
        .flat_map(|d| std::fs::read_dir(d).expect("scenario directory exists"))
        .map(|e| e.expect("dir entry").path().display().to_string())
        .filter(|p| p.ends_with(".json"))
        .collect();
    v.sort();
    assert!(!v.is_empty());
    v
}

fn run(file: &str, seed: Option<u64>) -> (u64, Vec<expect::ExpectOutcome>) {
    let sc = scenario::load(file).unwrap_or_else(|e| panic!("{e}"));
    let mut w = world::build(&sc, seed.unwrap_or(sc.seed));
    w.run_until(w.duration);
    let outcomes = expect::check_expectations(&sc.expect, &w);
    (w.engine.trace_hash(), outcomes)
}

#[test]
fn every_scenario_holds_its_expectations_and_replays_identically() {
    for f in scenario_files() {
        let (h1, outcomes) = run(&f, None);
        for o in &outcomes {
            assert!(o.ok, "{f}: expect[{}]: {}", o.index, o.message);
        }
        let (h2, _) = run(&f, None);
        assert_eq!(h1, h2, "{f} is not deterministic");
    }
}

#[test]
fn client_crash_holds_for_many_seeds() {
    // The crash time is drawn per seed: the (10, 20] s / (25, 35] s windows must hold at every
    // phase of the beat cycle, not only the committed seed.
    let mut hashes = std::collections::BTreeSet::new();
    for seed in 0..40 {
        let (h, outcomes) = run("scenarios/client-crash.json", Some(seed));
        for o in &outcomes {
            assert!(o.ok, "seed {seed}: expect[{}]: {}", o.index, o.message);
        }
        hashes.insert(h);
    }
    // With fixed latency the only random input is the crash time, and what it changes is which
    // beat was the last one: both phases must have been exercised.
    assert!(hashes.len() >= 2, "seeds exercised {} distinct outcomes", hashes.len());
}

const BASE: &str = r#"{
  "name": "t", "seed": 1, "duration": "60s",
  "servers": [{"id": "s1"}],
  "clients": [{"id": "c1", "register": [{"service": "demo", "port": 1}]}]
}"#;

/// Applies an edit to the base scenario (as JSON) and expects rejection at `path`.
fn rejects(edit: impl Fn(&mut serde_json::Value), path: &str, needle: &str) {
    let mut v: serde_json::Value = serde_json::from_str(BASE).unwrap();
    edit(&mut v);
    let text = serde_json::to_string(&v).unwrap();
    let err = scenario::parse("broken.json", &text).expect_err("must be rejected");
    assert_eq!(err.file, "broken.json");
    assert_eq!(err.path, path, "{err}");
    assert!(err.message.contains(needle), "message {:?} should mention {needle:?}", err.message);
}

#[test]
fn base_scenario_is_valid() {
    scenario::parse("base.json", BASE).unwrap();
}

#[test]
fn broken_scenarios_are_rejected_with_field_paths() {
    use serde_json::json;
    rejects(|v| v["sead"] = json!(1), "sead", "unknown field `sead`, expected one of");
    rejects(
        |v| v["expect_anomalies"] = json!(["split_brain"]),
        "expect_anomalies[0]",
        "unknown anomaly \"split_brain\"",
    );
    rejects(
        |v| v["expect_anomalies"] = json!(["two_raft_leaders", "two_raft_leaders"]),
        "expect_anomalies[1]",
        "listed twice",
    );
    rejects(|v| v["duration"] = json!("-5s"), "duration", "positive");
    rejects(|v| v["duration"] = json!("15 parsecs"), "duration", "expected a duration");
    rejects(|v| v["duration"] = json!(60), "duration", "duration");
    rejects(|v| v["servers"] = json!([]), "servers", "at least one server");
    rejects(|v| v["servers"][0]["colour"] = json!("red"), "servers[0].colour", "unknown field `colour`");
    rejects(|v| v["network"] = json!({"defaults": {"udp_loss": 1.5}}), "network.defaults.udp_loss", "[0, 1]");
    rejects(|v| v["network"] = json!({"defaults": {"tcp_loss": -0.1}}), "network.defaults.tcp_loss", "[0, 1]");
    rejects(
        |v| v["network"] = json!({"defaults": {"latency": {"uniform": ["5ms", "1ms"]}}}),
        "network.defaults.latency",
        "lo <= hi",
    );
    rejects(
        |v| v["network"] = json!({"defaults": {"latency": {"gaussian": "1ms"}}}),
        "network.defaults.latency.gaussian",
        "unknown variant",
    );
    rejects(
        |v| v["faults"] = json!([{"kind": "crash", "node": "s9", "at": "5s"}]),
        "faults[0].node",
        "unknown node \"s9\"",
    );
    rejects(
        |v| v["faults"] = json!([{"kind": "partition", "at": "20s", "until": "10s", "groups": [["s1"]]}]),
        "faults[0].until",
        "after `at`",
    );
    rejects(|v| v["faults"] = json!([{"kind": "meteor", "at": "5s"}]), "faults[0].kind", "unknown variant `meteor`");
    rejects(
        |v| v["faults"] = json!([{"kind": "pause", "node": "s1", "at": "5s"}]),
        "faults[0].until",
        "missing field `until`",
    );
    rejects(
        |v| v["faults"] = json!([{"kind": "partition", "at": "5s", "from": ["c1"], "to": ["nobody"]}]),
        "faults[0].to[0]",
        "unknown node",
    );
    rejects(|v| v["clients"][0]["servers"] = json!(["s2"]), "clients[0].servers[0]", "unknown server");
    rejects(
        |v| v["clients"][0]["register"][0]["weight"] = json!(20000.0),
        "clients[0].register[0].weight",
        "[0, 10000]",
    );
    rejects(|v| v["clients"][0]["register"][0]["port"] = json!(70000), "clients[0].register[0].port", "u16");
    rejects(
        |v| v["clients"][0]["register"][0]["metadata"] = json!({"preserved.heart.beat.timeout": "1000"}),
        "clients[0].register[0].metadata",
        "INVALID_PARAM",
    );
    rejects(
        |v| v["clients"][0]["register"][0]["service"] = json!("bad name!"),
        "clients[0].register[0].service",
        "must match",
    );
    rejects(|v| v["clients"][0]["id"] = json!("s1"), "clients[0].id", "duplicate node id");
    rejects(
        |v| v["expect"] = json!([{"observation": "instance_exploded"}]),
        "expect[0].observation",
        "unknown observation kind",
    );
    rejects(
        |v| v["expect"] = json!([{"observation": "instance_added", "after_fault": 3}]),
        "expect[0].after_fault",
        "no fault number 3",
    );
    rejects(|v| v["clients"][0]["clock"] = json!({"drift_ppm": 1e9}), "clients[0].clock.drift_ppm", "drift");
}

#[test]
fn syntax_errors_name_the_file() {
    let err = scenario::parse("oops.json", "{\"name\": ").expect_err("must fail");
    assert_eq!(err.file, "oops.json");
    assert!(err.message.contains("invalid JSON"), "{}", err.message);
}

/// The same hash in every build profile and on every machine: pinned, so `cargo test` (debug)
/// and `cargo test --release` both check it. A deliberate behaviour change updates this value (so
/// does a change of what the trace digests: beat requests and host lists hash through their
/// cached digests).
#[test]
fn client_crash_hash_is_pinned_across_builds() {
    let (h, _) = run("scenarios/client-crash.json", None);
    assert_eq!(format!("{h:016x}"), "d2455eb315d5f91f");
}

#[test]
fn every_benchmark_file_loads() {
    // The benchmark files are too big to run in a test; they must still be valid scenarios, so
    // the figures in docs/benchmarks.md can be reproduced with the commands given there.
    let mut n = 0;
    for e in std::fs::read_dir("benches").expect("benches directory exists") {
        let p = e.expect("dir entry").path();
        if p.extension().is_some_and(|x| x == "json") {
            scenario::load(p.to_str().unwrap()).unwrap_or_else(|e| panic!("{e}"));
            n += 1;
        }
    }
    assert!(n >= 5, "{n} benchmark files");
}
