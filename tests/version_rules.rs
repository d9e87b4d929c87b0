//! Behaviour that differs by Nacos release (`../shared/spec/versions.md`), with exact times:
//! `switches.server_version` selects the server's bundle, `clients[].version` the client's.

use nacos_sim::scenario::{self, world};

fn run(json: &str) -> world::World {
    let sc = scenario::parse("inline.json", json).unwrap_or_else(|e| panic!("{e}"));
    let mut w = world::build(&sc, sc.seed);
    w.engine.run_until(w.duration);
    w
}

fn times(w: &world::World, node: &str, kind: &str) -> Vec<i64> {
    let id = w.names.iter().position(|n| n == node).unwrap() as u32;
    w.engine.records.iter().filter(|r| r.node == id && r.obs.kind() == kind).map(|r| r.at.as_millis()).collect()
}

fn cluster(version: &str) -> world::World {
    run(&format!(
        r#"{{"name": "v", "seed": 1, "duration": "12s",
        "servers": [{{"id": "s1"}}, {{"id": "s2"}}],
        "switches": {{"server_version": "{version}", "cpu_cores": 1}},
        "clients": [{{"id": "p1", "servers": ["s1"], "register": [{{"at": "1s", "service": "demo", "port": 1}}]}}]}}"#
    ))
}

/// V1–V3, V5, V7: the sync pipeline and the membership of each release range. demo maps to s1
/// of two, which writes at 1.001 s.
#[test]
fn each_release_syncs_and_watches_members_its_own_way() {
    // 1.4.x: two 1 s stages of the delay engine, the first ending at the 2.1 s scan; member
    // probes from 5 s, no status beats.
    let w = cluster("1.4.1");
    assert_eq!(times(&w, "s1", "distro_sync_sent"), vec![3_100]);
    assert!(times(&w, "s1", "healthy_list_changed").is_empty());
    // 1.3.x: TaskDispatcher (2 s period) flushes its first key at once; member probes still.
    let w = cluster("1.3.2");
    assert_eq!(times(&w, "s1", "distro_sync_sent"), vec![1_001]);
    assert!(times(&w, "s1", "healthy_list_changed").is_empty());
    // 1.2.x: the same dispatcher, but ServerListManager status beats every 2 s decide who is
    // healthy, and the list's first change switches health checks off.
    let w = cluster("1.2.1");
    assert_eq!(times(&w, "s1", "distro_sync_sent"), vec![1_001]);
    assert_eq!(times(&w, "s1", "healthy_list_changed"), vec![2_000, 2_001]);
    assert_eq!(times(&w, "s1", "health_check_switched"), vec![2_000]);
    // 1.1.x: a 200 ms dispatch period with ServerListManager too.
    let w = cluster("1.1.4");
    assert_eq!(times(&w, "s1", "distro_sync_sent"), vec![1_001]);
    assert_eq!(times(&w, "s1", "health_check_switched"), vec![2_000]);
}

/// V11: from 1.4.2 a datum that Distro removes (here by verification under divergent views)
/// empties the Service on that node at once; up to 1.4.1 the instances stay served.
#[test]
fn a_distro_removal_empties_the_service_from_1_4_2_only() {
    for (version, empties) in [("1.4.1", false), ("1.4.2", true)] {
        let set = format!("switches.server_version=\"{version}\"");
        let sc = scenario::load_with("scenarios/anomaly-responsible-datum-lost.json", &[set]).unwrap();
        let mut w = world::build(&sc, sc.seed);
        w.engine.run_until(w.duration);
        let removal = w.engine.records.iter().find(|r| r.obs.kind() == "verify_removed_key").expect("a removal");
        let (node, at) = (removal.node, removal.at);
        let emptied =
            w.engine.records.iter().any(|r| r.node == node && r.at == at && r.obs.kind() == "instance_removed");
        assert_eq!(emptied, empties, "{version}: instance_removed on the removing node at {at}");
    }
}

/// C1: a client before 1.2.0 never sends light beats and has no 20404 branch. After the server
/// restarts empty, a 1.4.1 client's light beat gets 20404 and re-registers; a 1.1.4 client's
/// full beat makes the server re-create the instance itself.
#[test]
fn old_clients_beat_in_full_and_never_reregister() {
    for (version, reregisters, back_at) in [("1.4.1", true, 26_015), ("1.1.4", false, 26_013)] {
        let w = run(&format!(
            r#"{{"name": "c1", "seed": 1, "duration": "40s",
            "servers": [{{"id": "s1"}}],
            "clients": [{{"id": "p", "version": "{version}", "register": [{{"at": "1s", "service": "demo", "port": 1}}]}}],
            "faults": [{{"kind": "crash", "node": "s1", "at": "20s", "until": "22s"}}]}}"#
        ));
        // The beat due at 21.006 s is refused three times (2 ms apart), so the next one leaves
        // at 26.012 s and reaches the restarted, empty server at 26.013 s. On 1.4.1 it is light:
        // 20404, re-registration at 26.014 s, applied at 26.015 s. On 1.1.4 it carries the
        // body and the server re-creates the instance on the spot.
        assert_eq!(times(&w, "p", "reregister").len(), usize::from(reregisters), "{version}");
        let unknown: Vec<bool> = w
            .engine
            .records
            .iter()
            .filter(|r| r.obs.kind() == "beat_for_unknown_instance")
            .map(|r| serde_json::to_value(&r.obs).unwrap()["light"].as_bool().unwrap())
            .collect();
        assert_eq!(unknown, [reregisters], "{version}: the first beat after the restart is light only on 1.4.1");
        assert_eq!(times(&w, "s1", "instance_registered"), [1_001, back_at], "{version}");
    }
}

#[test]
fn an_unknown_release_is_rejected_with_the_field_path() {
    let err = scenario::parse(
        "v.json",
        r#"{"name": "v", "seed": 1, "duration": "1s", "servers": [{"id": "s1"}], "switches": {"server_version": "2.0.3"}}"#,
    )
    .unwrap_err();
    assert_eq!(err.path, "switches.server_version");
    assert!(err.message.contains("1.4.1"), "{}", err.message);
}
