//! Extreme and malformed scenario files: a valid one runs to its end without overflow, an
//! invalid one is rejected at the JSON path of the offending field itself, with what it takes.

use nacos_sim::scenario::{self, expect, world};
use serde_json::{json, Value};
use std::process::{Command, Stdio};

const BASE: &str = r#"{
  "name": "t", "seed": 1, "duration": "30s",
  "servers": [{"id": "s1"}],
  "clients": [{"id": "c1", "register": [{"at": "1s", "service": "demo", "port": 1}]},
              {"id": "c2", "subscribe": [{"at": "2s", "service": "demo"}]}]
}"#;

fn base() -> Value {
    serde_json::from_str(BASE).unwrap()
}

/// Rejected at `path`, with `needle` in the message.
fn rejects_text(text: &str, path: &str, needle: &str) {
    let err = scenario::parse("broken.json", text).expect_err("must be rejected");
    assert_eq!((err.file.as_str(), err.path.as_str()), ("broken.json", path), "{err}");
    assert!(err.message.contains(needle), "message {:?} should mention {needle:?}", err.message);
}

fn rejects(edit: impl Fn(&mut Value), path: &str, needle: &str) {
    let mut v = base();
    edit(&mut v);
    rejects_text(&serde_json::to_string_pretty(&v).unwrap(), path, needle);
}

/// Runs to the scenario's end and returns the time reached and the trace hash.
fn runs_to_the_end(edit: impl Fn(&mut Value)) -> u64 {
    let mut v = base();
    edit(&mut v);
    let sc = scenario::parse("extreme.json", &v.to_string()).unwrap_or_else(|e| panic!("{e}"));
    let mut w = world::build(&sc, sc.seed);
    w.run_until(w.duration);
    assert_eq!(w.engine.now(), w.duration, "the run reached its end");
    w.engine.trace_hash()
}

#[test]
fn heavy_tailed_latency_is_clamped_and_the_run_ends() {
    // exp(30 z) overflows: the sample is clamped to the longest span, past the end of the run.
    runs_to_the_end(|v| {
        v["network"] = json!({"defaults": {"latency": {"lognormal": {"median": "1ms", "sigma": 30}}, "jitter": "1ms"}})
    });
    runs_to_the_end(|v| {
        v["network"] =
            json!({"defaults": {"latency": {"normal": {"mean": "87600h", "stddev": "87600h"}}, "jitter": "87600h"}})
    });
    rejects(
        |v| v["network"] = json!({"defaults": {"latency": {"normal": {"mean": "1280000h", "stddev": "1ms"}}}}),
        "network.defaults.latency.normal.mean",
        "too large: at most 3650 days",
    );
}

#[test]
fn durations_out_of_bounds_say_why() {
    rejects(|v| v["duration"] = json!("87601h"), "duration", "too large");
    rejects(|v| v["clients"][0]["register"][0]["at"] = json!("1 s"), "clients[0].register[0].at", "\"1 s\"");
    rejects(|v| v["clients"][0]["register"][0]["at"] = json!("1parsec"), "clients[0].register[0].at", "like \"15s\"");
    rejects(
        |v| {
            v["faults"] = json!([{"kind": "crash", "node": "c1", "at": "5s", "until": {"uniform": ["6s", "1000000h"]}}])
        },
        "faults[0].until.uniform[1]",
        "too large",
    );
}

#[test]
fn beat_metadata_past_the_longest_span_is_rejected_and_never_overflows_the_cores() {
    rejects(
        |v| {
            v["clients"][0]["register"][0]["metadata"] = json!({"preserved.heart.beat.interval": "9223372036854775807"})
        },
        "clients[0].register[0].metadata.preserved.heart.beat.interval",
        "at most 315360000000 ms",
    );
    // What the cores compute from a Java long of milliseconds saturates ("never").
    assert_eq!(nacos_sim::time::Dur::from_millis(i64::MAX).0, i64::MAX);
    assert_eq!(nacos_sim::time::Time::from_millis(i64::MIN).0, i64::MIN);
}

#[test]
fn clock_jumps_are_bounded_per_node() {
    rejects(
        |v| v["faults"] = json!([{"kind": "clock_jump", "node": "s1", "at": "1s", "by": "1000000h"}]),
        "faults[0].by",
        "too large",
    );
    let jump = |by: &str| json!({"kind": "clock_jump", "node": "s1", "at": "1s", "by": by});
    rejects(
        |v| v["faults"] = json!([jump("87600h"), jump("-87600h"), jump("1h")]),
        "faults[1].by",
        "more than 3650 days",
    );
    // Jumps that stay within the bound run; a forward and a backward jump differ in the trace.
    let fwd = runs_to_the_end(|v| v["faults"] = json!([jump("40000h"), jump("40000h")]));
    let back = runs_to_the_end(|v| v["faults"] = json!([jump("-40000h"), jump("-40000h")]));
    assert_ne!(fwd, back);
}

#[test]
fn counts_and_node_lists_are_bounded() {
    rejects(|v| v["switches"] = json!({"cpu_cores": 4294967295u64}), "switches.cpu_cores", "at most 1024");
    let twice: Vec<&str> = std::iter::repeat_n("s1", 65_536).collect();
    rejects(
        |v| v["faults"] = json!([{"kind": "partition", "at": "1s", "until": "5s", "groups": [twice, ["c1"]]}]),
        "faults[0].groups[0][1]",
        "listed twice",
    );
    rejects(
        |v| v["faults"] = json!([{"kind": "partition", "at": "1s", "groups": [["s1"], ["c1", "s1"]]}]),
        "faults[0].groups[1][1]",
        "in two groups",
    );
    rejects(
        |v| v["faults"] = json!([{"kind": "partition", "at": "1s", "from": ["c1"], "to": ["s1", "s1"]}]),
        "faults[0].to[1]",
        "listed twice",
    );
    rejects(
        |v| v["network"] = json!({"links": [{"from": ["c1", "c1"], "to": ["s1"], "set": {}}]}),
        "network.links[0].from[1]",
        "listed twice",
    );
}

#[test]
fn only_one_json_object_document_is_accepted() {
    rejects_text(&format!("{BASE} junk"), "$", "content after the end");
    rejects_text(&format!("{BASE} {{}}"), "$", "content after the end");
    rejects(|v| v["servers"] = json!([["s1"]]), "servers[0]", "expected object, found an array");
    let whole: Vec<Value> = base().as_object().unwrap().values().cloned().collect();
    rejects_text(&serde_json::to_string(&whole).unwrap(), "$", "expected object, found an array");
    rejects(
        |v| v["clients"][0]["register"][0]["at"] = json!({"uniform": ["1s", "2s"], "extra": 1}),
        "clients[0].register[0].at.extra",
        "unknown field `extra`",
    );
    rejects(
        |v| v["clients"][0]["register"][0]["at"] = json!({"uniform": ["1s"]}),
        "clients[0].register[0].at.uniform",
        "expected 2 items",
    );
}

#[test]
fn duplicate_keys_are_rejected_where_they_are() {
    rejects_text(&BASE.replace("\"seed\": 1,", "\"seed\": 1, \"seed\": 2,"), "seed", "duplicate key \"seed\"");
    let md = BASE.replace(
        "\"port\": 1}",
        "\"port\": 1, \"metadata\": {\"preserved.heart.beat.timeout\": \"20000\", \"preserved.heart.beat.timeout\": \"1\"}}",
    );
    rejects_text(&md, "clients[0].register[0].metadata.preserved.heart.beat.timeout", "duplicate key");
    let expect = BASE.replace(
        "\"duration\": \"30s\",",
        "\"duration\": \"30s\", \"expect\": [{\"observation\": \"instance_added\", \"where\": {\"port\": 1, \"port\": 2}}],",
    );
    rejects_text(&expect, "expect[0].where.port", "duplicate key");
}

#[test]
fn errors_inside_faults_name_the_field() {
    rejects(
        |v| {
            v["faults"] =
                json!([{"kind": "link", "at": "1s", "from": ["s1"], "to": ["c1"], "set": {"udp_loss": "NaN"}}])
        },
        "faults[0].set.udp_loss",
        "expected number or null, found the string \"NaN\"",
    );
    rejects(
        |v| v["faults"] = json!([{"kind": "crash", "node": "c1", "at": "5s", "colour": 1}]),
        "faults[0].colour",
        "unknown field `colour`",
    );
    rejects(|v| v["faults"] = json!([{"kind": "crash", "node": 7, "at": "5s"}]), "faults[0].node", "expected string");
    rejects(
        |v| v["faults"] = json!([{"kind": "pause", "node": "c1", "at": "5s", "until": 9}]),
        "faults[0].until",
        "expected a duration",
    );
}

#[test]
fn syntax_errors_say_where() {
    let cut = &BASE[..BASE.find("\"register\"").unwrap() + 14];
    let err = scenario::parse("cut.json", cut).expect_err("truncated");
    assert_eq!(err.path, "clients[0].register[0]", "{err}");
    assert!(err.message.contains("ends inside"), "{err}");
    rejects_text(&BASE.replace("\"seed\": 1", "\"seed\": 1e400"), "seed", "too large for a 64-bit float");
}

fn nacos_sim(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_nacos-sim")).args(args).output().expect("binary runs");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}

#[test]
fn command_line_values_are_checked_before_anything_runs() {
    let (code, out, err) = nacos_sim(&["run", "scenarios/client-crash.json", "--until=-5s"]);
    assert_eq!(code, 2, "{out}");
    assert!(err.contains("non-negative"), "{err}");
    let (code, out, err) = nacos_sim(&["run", "scenarios/client-crash.json", "--trace", "/nonexistent-dir/t.jsonl"]);
    assert_eq!(code, 2);
    assert!(out.is_empty() && err.contains("cannot write trace"), "nothing ran: {out} {err}");
    let (code, _, err) = nacos_sim(&["fuzz", "--first-seed", "18446744073709551615", "--seeds", "2"]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = nacos_sim(&["fuzz", "--quiet", "18446744073709551615"]);
    assert_eq!(code, 2, "{err}");
}

/// `nacos-sim fuzz | head -1`: the pipe closes after the first line, and the results are on
/// disk all the same.
#[test]
fn a_fuzz_campaign_writes_its_results_before_its_output_pipe_closes() {
    let dir = std::env::temp_dir().join(format!("nacos-sim-pipe-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut child = Command::new(env!("CARGO_BIN_EXE_nacos-sim"))
        .args(["fuzz", "--seeds", "3", "--no-progress", "--out", dir.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // the reader is gone before anything is printed
    child.wait().unwrap();
    let results = std::fs::read_to_string(dir.join("results-shard-0-of-1.jsonl")).expect("results written");
    assert_eq!(results.lines().count(), 3);
    assert!(dir.join("fuzz-1.json").exists(), "the failing seed's scenario is written");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `run` streams: every observation reaches the sink once, in order, none is kept, and the
/// expectations checked on the stream are those checked on a recorded run.
#[test]
fn observations_stream_through_and_are_not_kept() {
    let sc = scenario::load("scenarios/distro-partition-20s.json").unwrap();
    let mut recorded = world::build(&sc, sc.seed);
    recorded.run_until(recorded.duration);
    let mut w = world::build(&sc, sc.seed);
    let mut checker = expect::ExpectChecker::new(&sc.expect, &w.fault_times);
    let mut lines = Vec::new();
    let end = w.duration;
    world::run_streaming(&mut w, end, |r, names| {
        checker.observe(r, names);
        lines.push(world::trace_line(r, names));
    });
    assert!(w.engine.records.is_empty(), "nothing kept");
    let want: Vec<String> = recorded.engine.records.iter().map(|r| world::trace_line(r, &recorded.names)).collect();
    assert_eq!(lines, want);
    assert_eq!(w.engine.trace_hash(), recorded.engine.trace_hash());
    let (a, b) = (checker.outcomes(&w), expect::check_expectations(&sc.expect, &recorded));
    assert_eq!(
        a.iter().map(|o| (o.ok, &o.message)).collect::<Vec<_>>(),
        b.iter().map(|o| (o.ok, &o.message)).collect::<Vec<_>>()
    );
    assert!(a.iter().all(|o| o.ok));
}

/// A fault without its `kind`, or not an object at all, is named at the field itself.
#[test]
fn a_fault_needs_its_kind() {
    rejects(|v| v["faults"] = json!([{"node": "c1", "at": "5s"}]), "faults[0].kind", "missing field `kind`");
    rejects(|v| v["faults"] = json!([7]), "faults[0]", "expected object");
}
