//! The expiry report: reproducible output and sane numbers on a small run.

use nacos_sim::report::expiry::{run, Options};
use std::path::PathBuf;

fn small(out: PathBuf, jobs: usize) -> Options {
    Options {
        shard: (0, 1),
        runs: 40,
        loss: vec![0.0, 0.5],
        loss_instance_hours: 100.0,
        jobs,
        out,
        seed: 11,
        progress: false,
    }
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("nacos-sim-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Same seeds → byte-identical summary.json and runs.csv, whatever the number of threads.
#[test]
fn small_report_is_reproducible_across_thread_counts() {
    let (a, b) = (temp("a"), temp("b"));
    run(&small(a.clone(), 1)).expect("report a");
    run(&small(b.clone(), 2)).expect("report b");
    for f in ["summary.json", "runs.csv", "report.md", "crash-cdf.svg", "scenarios/single-server-push.json"] {
        let (x, y) = (std::fs::read(a.join(f)).unwrap(), std::fs::read(b.join(f)).unwrap());
        assert!(x == y, "{f} differs between runs");
    }
    let summary: serde_json::Value = serde_json::from_slice(&std::fs::read(a.join("summary.json")).unwrap()).unwrap();
    let push = &summary["crash"][0];
    assert_eq!(push["scenario"], "single-server-push");
    assert_eq!(push["runs"], 40);
    // The 15 s timeout checked every 5 s after a last beat up to one cycle before the crash.
    let u = &push["crash_to_unhealthy_s"];
    assert!(u["min"].as_f64().unwrap() > 10.0 - 0.01 && u["max"].as_f64().unwrap() <= 20.0 + 0.01, "{u}");
    let d = &push["crash_to_deleted_s"];
    assert!(d["min"].as_f64().unwrap() > 25.0 - 0.01 && d["max"].as_f64().unwrap() <= 35.0 + 0.01, "{d}");
    // No loss, no false expiry; heavy loss, some.
    assert_eq!(summary["loss"][0]["false_unhealthy"], 0);
    assert!(summary["loss"][1]["false_unhealthy"].as_u64().unwrap() > 0);
    let _ = std::fs::remove_dir_all(&a);
    let _ = std::fs::remove_dir_all(&b);
}

/// Every generated scenario file is valid input for `nacos-sim run`.
#[test]
fn written_scenarios_load() {
    let dir = temp("scenarios");
    run(&Options { runs: 2, loss: vec![0.1], loss_instance_hours: 100.0, ..small(dir.clone(), 2) }).unwrap();
    let mut n = 0;
    for e in std::fs::read_dir(dir.join("scenarios")).unwrap() {
        let path = e.unwrap().path();
        nacos_sim::scenario::load(path.to_str().unwrap()).expect("valid scenario");
        n += 1;
    }
    assert!(n >= 8, "{n} scenario files");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Four shards (`report expiry --shard K/4`) merged give byte for byte the unsharded report.
#[test]
fn four_shards_merged_equal_one_report() {
    let whole = temp("whole");
    run(&small(whole.clone(), 2)).unwrap();
    let mut dirs = Vec::new();
    for k in 0..4 {
        let d = temp(&format!("shard-{k}"));
        let o = run(&Options { shard: (k, 4), ..small(d.clone(), 1) }).unwrap();
        assert!(o.runs > 0 && !d.join("summary.json").exists(), "a shard writes only its rows");
        dirs.push(d.display().to_string());
    }
    let merged = temp("merged");
    nacos_sim::report::expiry::merge(&dirs, &merged).unwrap();
    let mut files = vec!["summary.json".to_string(), "runs.csv".into(), "report.md".into()];
    for e in std::fs::read_dir(&whole).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        if name.ends_with(".svg") {
            files.push(name);
        }
    }
    assert!(files.len() >= 6, "{files:?}");
    for f in &files {
        assert!(std::fs::read(whole.join(f)).unwrap() == std::fs::read(merged.join(f)).unwrap(), "{f} differs");
    }
    let err = nacos_sim::report::expiry::merge(&dirs[1..], &temp("bad")).unwrap_err();
    assert!(err.contains("shard 0/4 is missing"), "{err}");
    for d in dirs.iter().map(PathBuf::from).chain([whole, merged]) {
        let _ = std::fs::remove_dir_all(d);
    }
}
