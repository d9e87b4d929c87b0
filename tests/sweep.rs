//! `nacos-sim sweep` and `merge`: a scenario over many seeds, its times as distributions with
//! confidence intervals, and shards merged into exactly what one run writes.

use nacos_sim::scenario;
use nacos_sim::sweep;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

const STUDY: &str = "scenarios/client-crash-random-phase.json";

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_nacos-sim"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

fn tmp(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn summary(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap()
}

/// The closed form of crash detection (R2.14): with the last beat and the check task's phase
/// uniform, crash -> unhealthy is in (10, 20] s with mean 15 s, crash -> deleted in (25, 35] s
/// with mean 30 s; both means inside the sweep's 95 % intervals.
#[test]
fn a_sweep_reproduces_the_closed_form_of_crash_detection() {
    let out = tmp("sweep-study");
    let status = bin().args(["sweep", STUDY, "--seeds", "800", "--no-progress", "--out"]).arg(&out).status().unwrap();
    assert!(status.success());
    let s = summary(&out);
    assert_eq!((s["seeds"].as_u64(), s["all_passed"]["count"].as_u64()), (Some(800), Some(800)));
    let measure =
        |name: &str| s["measure"].as_array().unwrap().iter().find(|m| m["name"] == name).unwrap()["time_s"].clone();
    for (name, lo, hi, mean) in [("crash_to_unhealthy", 10.0, 20.0, 15.0), ("crash_to_deleted", 25.0, 35.0, 30.0)] {
        let t = measure(name);
        assert_eq!(t["reached"].as_u64(), Some(800), "{name}");
        let (min, max) = (t["s"]["min"].as_f64().unwrap(), t["s"]["max"].as_f64().unwrap());
        assert!(min > lo && max <= hi, "{name}: [{min}, {max}]");
        let ci = &t["ci95"]["mean"];
        let (a, b) = (ci[0].as_f64().unwrap(), ci[1].as_f64().unwrap());
        assert!(a < mean && mean < b && b - a < 0.5, "{name}: mean CI [{a}, {b}]");
        let p50 = &t["ci95"]["p50"];
        assert!(p50[0].as_f64() <= t["s"]["p50"].as_f64() && t["s"]["p50"].as_f64() <= p50[1].as_f64());
    }
    // A `total` measure: the consumer sees the dead provider unhealthy from one push after it
    // turns unhealthy until one push after it is deleted, 15 s (+1 ms: the delete's hop).
    let total = measure("consumer_sees_it_unhealthy");
    assert!((total["s"]["min"].as_f64().unwrap() - 15.001).abs() < 1e-3, "{total}");
    assert!((total["s"]["max"].as_f64().unwrap() - 15.001).abs() < 1e-3, "{total}");
    // Every expectation also has its time, and runs.csv a row per seed.
    assert_eq!(s["expect"][0]["time_s"]["s"], measure("crash_to_unhealthy")["s"]);
    let csv = std::fs::read_to_string(out.join("runs.csv")).unwrap();
    assert_eq!(csv.lines().count(), 801);
    assert!(csv.lines().next().unwrap().ends_with(",crash_to_unhealthy_s,crash_to_deleted_s,crash_to_consumer_sees_unhealthy_s,crash_to_consumer_sees_it_gone_s,consumer_sees_it_unhealthy_s"));
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.matches("<svg").count() >= 2 * 9, "a CDF and a histogram per time");
}

/// Four shards merged give byte for byte what one unsharded sweep writes.
#[test]
fn four_shards_merged_equal_one_sweep() {
    let args = ["sweep", STUDY, "--seeds", "203", "--first-seed", "7", "--no-progress", "--set", "faults.0.at=45s"];
    let whole = tmp("sweep-whole");
    assert!(bin().args(args).arg("--out").arg(&whole).status().unwrap().success());
    let mut dirs = Vec::new();
    for k in 0..4 {
        let d = tmp(&format!("sweep-shard-{k}"));
        let out = bin().args(args).args(["--shard", &format!("{k}/4"), "--out"]).arg(&d).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(!d.join("summary.json").exists(), "a shard writes only its rows");
        dirs.push(d);
    }
    let merged = tmp("sweep-merged");
    let out = bin().arg("merge").args(&dirs).arg("--out").arg(&merged).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for f in ["summary.json", "runs.csv", "report.md", "report.html", "scenario.json"] {
        let (a, b) = (std::fs::read(whole.join(f)).unwrap(), std::fs::read(merged.join(f)).unwrap());
        assert!(a == b, "{f} differs between the merged shards and the whole sweep");
    }
    // --set applied before the seeds ran: the written scenario crashes at 45 s, every seed.
    assert_eq!(summary(&whole)["seeds"].as_u64(), Some(203));
    let sc: Value = serde_json::from_str(&std::fs::read_to_string(whole.join("scenario.json")).unwrap()).unwrap();
    assert_eq!(sc["faults"][0]["at"], "45s");
    // A missing or repeated shard is refused.
    let out = bin().arg("merge").args(&dirs[..3]).arg("--out").arg(tmp("sweep-bad")).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("shard 3/4 is missing"));
    let out = bin().arg("merge").args(&dirs).arg(&dirs[0]).arg("--out").arg(tmp("sweep-bad")).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("given twice"));
}

/// The scenario the sweep ran is written out, and a failing seed replays from it.
#[test]
fn failing_seeds_replay_from_the_written_scenario() {
    let out = tmp("sweep-failing");
    // Crash detection cannot be this fast: every seed fails its first expectation.
    let tight = "expect.0.within=[\"10s\",\"12s\"]";
    let o = bin()
        .args(["sweep", STUDY, "--seeds", "20", "--no-progress", "--set", tight, "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let s = summary(&out);
    let failing: Vec<u64> = s["failing_seeds"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
    assert!(!failing.is_empty() && failing.len() < 20, "{failing:?}");
    let seed = failing[0].to_string();
    let replay = bin().args(["run"]).arg(out.join("scenario.json")).args(["--seed", &seed]).output().unwrap();
    assert_eq!(replay.status.code(), Some(1), "the written scenario fails the same way with --seed {seed}");
    let rows = std::fs::read_to_string(out.join("runs.csv")).unwrap();
    let row = rows.lines().find(|l| l.starts_with(&format!("{seed},"))).unwrap();
    let hash = row.split(',').nth(2).unwrap();
    assert!(String::from_utf8_lossy(&replay.stdout).contains(&format!("trace hash    {hash}")));
}

#[test]
fn check_names_what_is_wrong_with_a_measure() {
    let with = |measure: &str| {
        format!(
            r#"{{ "name": "m", "seed": 1, "duration": "10s", "servers": [{{ "id": "s1" }}],
                 "faults": [{{ "kind": "pause", "node": "s1", "at": "1s", "for": "1s" }}],
                 "measure": [{measure}] }}"#
        )
    };
    let rejected = |measure: &str| {
        let e = scenario::parse("m.json", &with(measure)).expect_err("must be rejected");
        (e.path, e.message)
    };
    let to = r#""to": { "observation": "snapshot_load_done" }"#;
    assert!(scenario::parse("m.json", &with(&format!(r#"{{ "name": "load", {to} }}"#))).is_ok());
    let (path, msg) = rejected(&format!(r#"{{ "name": "a b", {to} }}"#));
    assert_eq!((path.as_str(), msg.contains("letters, digits")), ("measure[0].name", true));
    let (path, msg) = rejected(&format!(r#"{{ "name": "x", {to} }}, {{ "name": "x", {to} }}"#));
    assert_eq!((path.as_str(), msg.contains("another measure is named")), ("measure[1].name", true));
    let (path, msg) = rejected(r#"{ "name": "x" }"#);
    assert_eq!((path.as_str(), msg.contains("exactly one of `to` and `total`")), ("measure[0]", true));
    let (path, msg) =
        rejected(r#"{ "name": "x", "to": { "observation": "instance_removed", "where": { "prot": 1 } } }"#);
    assert_eq!((path.as_str(), msg.contains("no field \"prot\"")), ("measure[0].to.where.prot", true));
    let (path, _) = rejected(&format!(r#"{{ "name": "x", "after_fault": 1, {to} }}"#));
    assert_eq!(path, "measure[0].after_fault");
    let (path, _) = rejected(
        r#"{ "name": "x", "total": { "from": { "observation": "push_sent", "node": "s9" }, "to": { "observation": "push_acked" } } }"#,
    );
    assert_eq!(path, "measure[0].total.from.node");
}

/// Rows survive the file round trip exactly (merge reads what sweep wrote).
#[test]
fn rows_round_trip_through_their_file() {
    let sc = scenario::load(STUDY).unwrap();
    let s = sweep::Sweep { scenario: &sc, first_seed: 3, seeds: 5, shard: (0, 1), jobs: 1, progress: false };
    let (header, rows) = sweep::run(&s);
    let dir = tmp("sweep-rows");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(sweep::rows_file((0, 1))), sweep::rows_text(&header, &rows)).unwrap();
    let (h, r) = sweep::read_shards(&[dir.display().to_string()]).unwrap();
    assert_eq!((h, r), (header, rows));
}
