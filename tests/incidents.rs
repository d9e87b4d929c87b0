//! The incident catalogue: it lists every file under `scenarios/incidents/` once, each
//! incident has a file where the failure happens and one that shows the other side, and the
//! command runs them. (Every file holding its expectations, twice with the same trace hash, is
//! checked with the other committed scenarios in tests/scenarios.rs.)

use nacos_sim::incidents::CATALOGUE;
use std::collections::BTreeSet;
use std::process::Command;

#[test]
fn the_catalogue_lists_every_incident_file_once() {
    let on_disk: BTreeSet<String> = std::fs::read_dir("scenarios/incidents")
        .unwrap()
        .map(|e| e.unwrap().path().display().to_string())
        .filter(|p| p.ends_with(".json"))
        .collect();
    let listed: Vec<&str> = CATALOGUE.iter().flat_map(|i| i.files.iter().map(|f| f.path)).collect();
    let unique: BTreeSet<String> = listed.iter().map(|p| p.to_string()).collect();
    assert_eq!(listed.len(), unique.len(), "a file is listed twice");
    assert_eq!(unique, on_disk);
    assert_eq!(CATALOGUE.len(), 12);
    for i in CATALOGUE {
        assert!(i.files.len() >= 2, "{}: a release where it happens and one that shows otherwise", i.name);
        let stems: Vec<&str> = i
            .files
            .iter()
            .map(|f| f.path.trim_start_matches("scenarios/incidents/").trim_end_matches(".json"))
            .collect();
        for f in i.files {
            // The compiled-in text is the file's (a stale build would disagree).
            assert_eq!(std::fs::read_to_string(f.path).unwrap(), f.text, "{}", f.path);
            let v: serde_json::Value = serde_json::from_str(f.text).unwrap();
            let description = v["description"].as_str().unwrap_or_default();
            let cites = description
                .match_indices('#')
                .any(|(at, _)| description[at + 1..].starts_with(|c: char| c.is_ascii_digit()));
            let names_its_pair = stems.iter().any(|s| !f.path.contains(s) && description.contains(s));
            assert!(cites || names_its_pair, "{}: the description cites the Nacos issue or names its pair", f.path);
        }
    }
}

#[test]
fn incidents_run_says_which_files_hold() {
    let bin = env!("CARGO_BIN_EXE_nacos-sim");
    let out = Command::new(bin)
        .args(["incidents", "run", "crashed-node-keeps-its-services", "ghost-instances"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert_eq!(text.matches("    holds  ").count(), 8, "{text}");
    assert!(text.contains("8 files hold, 0 fail"), "{text}");
    // The release where it happens and the fixed one run differently.
    let hashes: BTreeSet<&str> = text.lines().filter_map(|l| l.split("trace hash ").nth(1)).collect();
    assert_eq!(hashes.len(), 8, "{text}");

    let list = Command::new(bin).arg("incidents").output().unwrap();
    let listed = String::from_utf8_lossy(&list.stdout);
    assert!(list.status.success());
    for i in CATALOGUE {
        assert!(listed.contains(i.name) && listed.contains(i.source), "{listed}");
    }
    let unknown = Command::new(bin).args(["incidents", "run", "no-such-incident"]).output().unwrap();
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("the catalogue has: crashed-node-keeps-its-services"));
}
