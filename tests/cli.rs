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
