//! The command line, as a user runs it.

use std::process::Command;

fn nacos_sim(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_nacos-sim")).args(args).output().expect("binary runs");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn diff_of_a_scenario_with_itself_is_identical() {
    let (code, out) = nacos_sim(&["diff", "scenarios/client-crash.json"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("identical"));
}

/// Two seeds draw different crash times: the first divergence is the unhealthy mark.
#[test]
fn diff_under_two_seeds_shows_the_first_divergence_with_context() {
    let (code, out) =
        nacos_sim(&["diff", "scenarios/client-crash.json", "--seed-a", "7", "--seed-b", "8", "--context", "2"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("first divergence at observation"), "{out}");
    let minus = out.lines().find(|l| l.starts_with("  - ")).expect("A's line");
    let plus = out.lines().find(|l| l.starts_with("  + ")).expect("B's line");
    assert!(minus.contains("instance_unhealthy") && plus.contains("instance_unhealthy"), "{out}");
    assert_eq!(out.lines().filter(|l| l.starts_with("    ")).count(), 2, "two lines of context");
}

#[test]
fn bad_input_exits_2_with_the_field_path() {
    let dir = std::env::temp_dir().join(format!("nacos-sim-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("bad.json");
    std::fs::write(
        &f,
        r#"{"name": "x", "seed": 1, "duration": "10s", "servers": [{"id": "s1"}], "switches": {"cpu_cores": 0}}"#,
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_nacos-sim")).args(["run", f.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("switches.cpu_cores") && err.contains("at least 1"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A sharded campaign with a fixed server count: each shard's JSON Lines hold its seeds, every
/// case has the asked servers, and seed 1 (a known anomaly) fails with exit 1 and a replayable file.
#[test]
fn fuzz_shards_with_fixed_servers_write_results_and_failing_scenarios() {
    let dir = std::env::temp_dir().join(format!("nacos-sim-fuzz-{}", std::process::id()));
    let out = dir.to_str().unwrap();
    let (code, stdout) =
        nacos_sim(&["fuzz", "--seeds", "4", "--servers", "3", "--shard", "0/2", "--no-progress", "--out", out]);
    assert_eq!(code, 1, "seed 1 fails: {stdout}");
    let lines = std::fs::read_to_string(dir.join("results-shard-0-of-2.jsonl")).unwrap();
    let rows: Vec<serde_json::Value> = lines.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(rows.iter().map(|r| r["seed"].as_u64().unwrap()).collect::<Vec<_>>(), vec![1, 3]);
    assert!(rows.iter().all(|r| r["servers"] == 3), "{lines}");
    assert_eq!(rows[0]["ok"], false);
    let (code, replay) = nacos_sim(&["run", dir.join("fuzz-1.json").to_str().unwrap()]);
    assert_eq!(code, 1, "{replay}");
    assert!(replay.contains("not converged, same_datum_on_every_live_server"), "{replay}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `diff` of one file under two version switches: 1.4 against 1.3 Distro first differs where
/// 1.3's TaskDispatcher sends the first key at once; a bad `--set` value names the field.
#[test]
fn diff_under_two_version_switches() {
    let (code, out) = nacos_sim(&[
        "diff",
        "scenarios/distro-partition-20s.json",
        "--set-b",
        r#"switches.distro_version="1.3""#,
        "--context",
        "1",
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(r#"with switches.distro_version="1.3""#), "{out}");
    let plus = out.lines().find(|l| l.starts_with("  + ")).expect("B's line");
    assert!(plus.contains("distro_sync_sent") && plus.contains("\"t_ms\":1002.000"), "{out}");

    let bad = Command::new(env!("CARGO_BIN_EXE_nacos-sim"))
        .args(["diff", "scenarios/client-crash.json", "--set-b", "clients.*.versio=1.4.2"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("clients[0].versio") && err.contains("unknown field"), "{err}");
}

/// `--benign` draws only the fault classes under which 1.4.1 converges: seed 1, which fails over
/// every fault class (above), passes, and so does the rest of a small campaign (exit 0).
#[test]
fn fuzz_benign_campaign_passes() {
    let dir = std::env::temp_dir().join(format!("nacos-sim-fuzz-benign-{}", std::process::id()));
    let (code, stdout) =
        nacos_sim(&["fuzz", "--seeds", "40", "--benign", "--no-progress", "--out", dir.to_str().unwrap()]);
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("40 seeds, 0 failing"), "{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `run`, `replay` and `diff` write their pages (and `run` its Perfetto file) where asked, and an
/// unwritable path is an error before the run.
#[test]
fn run_replay_and_diff_write_timelines() {
    let dir = std::env::temp_dir().join(format!("nacos-sim-timeline-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = |name: &str| dir.join(name).display().to_string();
    let (page, trace) = (path("run.html"), path("run.json"));
    let (code, out) = nacos_sim(&["run", "scenarios/client-crash.json", "--timeline", &page, "--perfetto", &trace]);
    assert_eq!(code, 0, "{out}");
    assert!(std::fs::read_to_string(&page).unwrap().contains(r#"<script type="application/json" id="data">"#));
    let events: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&trace).unwrap()).unwrap();
    assert!(events["traceEvents"].as_array().unwrap().len() > 10);
    let hash = out.lines().find_map(|l| l.strip_prefix("trace hash")).unwrap().trim().to_string();
    let replayed = path("replay.html");
    let (code, out) =
        nacos_sim(&["replay", "scenarios/client-crash.json", "--expect-hash", &hash, "--timeline", &replayed]);
    assert_eq!(code, 0, "{out}");
    assert!(std::fs::metadata(&replayed).unwrap().len() > 5000);
    let stacked = path("diff.html");
    let (code, out) = nacos_sim(&["diff", "scenarios/client-crash.json", "--seed-b", "8", "--timeline", &stacked]);
    assert_eq!(code, 1, "{out}");
    assert!(std::fs::read_to_string(&stacked).unwrap().contains("\"kind\":\"divergence\""));
    let (code, _) = nacos_sim(&["run", "scenarios/client-crash.json", "--timeline", "/nonexistent/dir/x.html"]);
    assert_eq!(code, 2);
}
