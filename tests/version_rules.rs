//! Behaviour that differs by Nacos release (`../shared/spec/versions.md`), with exact times:
//! `switches.server_version` selects the server's bundle, `clients[].version` the client's.

use nacos_sim::naming::Process;
use nacos_sim::scenario::{self, world};
use nacos_sim::time::{Dur, Time};

fn run(json: &str) -> world::World {
    let sc = scenario::parse("inline.json", json).unwrap_or_else(|e| panic!("{e}"));
    let mut w = world::build(&sc, sc.seed);
    w.run_until(w.duration);
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
        w.run_until(w.duration);
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

/// `member_state_changed` of `member` as `node` sees it: (ms, new state).
fn member_states(w: &world::World, node: &str) -> Vec<(i64, String)> {
    let id = w.names.iter().position(|n| n == node).unwrap() as u32;
    w.engine
        .records
        .iter()
        .filter(|r| r.node == id && r.obs.kind() == "member_state_changed")
        .map(|r| (r.at.as_millis(), serde_json::to_value(&r.obs).unwrap()["to"].as_str().unwrap().to_string()))
        .collect()
}

fn peer_dies(version: &str, host_down: bool) -> world::World {
    run(&format!(
        r#"{{"name": "m", "seed": 1, "duration": "60s",
        "servers": [{{"id": "s1"}}, {{"id": "s2"}}],
        "switches": {{"server_version": "{version}"}},
        "faults": [{{"kind": "crash", "node": "s2", "at": "8s", "host_down": {host_down}}}]}}"#
    ))
}

/// V9: s1 probes s2 every 2 s; with s2's host down each probe fails at its 5 s connect timeout,
/// the first at 14 s. From 1.3.1 to 1.4.0 the failure count never passes 1, so s2 stays
/// SUSPICIOUS for good; 1.3.0 and 1.4.1 count to four and mark it DOWN at 20 s. A refused
/// connection is DOWN at once on every release (the 9 s probe, answered at 9.002 s).
#[test]
fn a_dead_host_stays_suspicious_forever_from_1_3_1_to_1_4_0() {
    let suspicious = vec![(14_000, "SUSPICIOUS".to_string())];
    let down = vec![(14_000, "SUSPICIOUS".to_string()), (20_000, "DOWN".to_string())];
    for (version, want) in [("1.3.0", &down), ("1.3.2", &suspicious), ("1.4.0", &suspicious), ("1.4.1", &down)] {
        assert_eq!(&member_states(&peer_dies(version, true), "s1"), want, "{version}");
    }
    for version in ["1.3.2", "1.4.0", "1.4.1"] {
        assert_eq!(member_states(&peer_dies(version, false), "s1"), [(9_002, "DOWN".to_string())], "{version}");
    }
}

/// V8: on 1.3.0 the DistroMapper keeps a DOWN member, so beats for its services are still
/// forwarded to it and fail for as long as it is dead; from 1.3.1 the survivor takes them over.
#[test]
fn on_1_3_0_a_dead_member_keeps_its_services() {
    let members = ["10.0.0.1:8848", "10.0.0.2:8848"];
    let on_s2 = (0..20)
        .map(|n| format!("svc{n}"))
        .find(|s| {
            let name = format!("DEFAULT_GROUP@@{s}");
            members[nacos_sim::naming::server::distro::distro_hash(&name) as usize % 2] == members[1]
        })
        .expect("a service s2 owns");
    for (version, keeps) in [("1.3.0", true), ("1.3.2", false)] {
        let w = run(&format!(
            r#"{{"name": "v8", "seed": 1, "duration": "60s",
            "servers": [{{"id": "s1"}}, {{"id": "s2"}}],
            "switches": {{"server_version": "{version}"}},
            "clients": [{{"id": "p", "servers": ["s1"], "register": [{{"at": "1s", "service": "{on_s2}", "port": 1}}]}}],
            "faults": [{{"kind": "crash", "node": "s2", "at": "8s"}}]}}"#
        ));
        assert_eq!(member_states(&w, "s1"), [(9_002, "DOWN".to_string())], "{version}");
        let late_failures = times(&w, "s1", "forward_failed").iter().filter(|&&t| t > 10_000).count();
        assert_eq!(late_failures > 0, keeps, "{version}: beats forwarded to the dead member after 10 s");
        let nacos_sim::naming::Process::Server(s1) = w.engine.node(0) else { panic!("s1 is a server") };
        assert_eq!(s1.mapper.healthy.len(), if keeps { 2 } else { 1 }, "{version}");
    }
}

/// What-if fix `issue-7697` (commit c45762ed): in distro-responsible-crash-restart, the
/// responsible server dies and its services move to s1, whose copies carry stale lastBeats
/// (R2.17): 1.4.1 expires the live instances and their client re-registers them. With the
/// fix, every verification round from the owner refreshed them, so nothing is expired.
#[test]
fn fix_7697_keeps_live_instances_when_their_owner_moves() {
    let count = |sets: &[String]| {
        let sc = scenario::load_with("scenarios/distro-responsible-crash-restart.json", sets).unwrap();
        let mut w = world::build(&sc, sc.seed);
        w.run_until(w.duration);
        let n = |kind: &str| w.engine.records.iter().filter(|r| r.obs.kind() == kind).count();
        (n("delete_requested"), n("reregister"))
    };
    let (deleted, reregistered) = count(&[]);
    assert!(deleted > 0 && reregistered > 0, "1.4.1 expires live instances: {deleted}, {reregistered}");
    assert_eq!(count(&[r#"switches.fixes=["issue-7697"]"#.to_string()]), (0, 0));
}

/// What-if fix `pr-8437`: `DistroVerifyTask` is scheduled when the snapshot load finishes
/// (5 s later), not at start.
#[test]
fn fix_8437_starts_verification_after_the_snapshot_load() {
    use nacos_sim::engine::{Input, Node, Outputs, Wish};
    use nacos_sim::naming::server::{AddressBook, NamingServer, ServerConfig, Switches};
    use nacos_sim::naming::wire::{Msg, ServerTimer, Timer};
    use nacos_sim::time::Time;
    use rand::SeedableRng;
    use std::rc::Rc;
    for fixed in [false, true] {
        let mut switches = Switches::default();
        switches.behaviour.verify_after_load = fixed;
        let members = vec![("10.0.0.1:8848".into(), 0), ("10.0.0.2:8848".into(), 1)];
        let mut s = NamingServer::new(ServerConfig {
            id: 0,
            address: "10.0.0.1:8848".into(),
            members,
            address_book: Rc::new(AddressBook::default()),
            switches,
            empty_service_clean: None,
            observe_requests: Default::default(),
            work: Default::default(),
        });
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        let mut out = Outputs::default();
        let verify_after = |out: &Outputs<_, _, _>| {
            out.wishes().find_map(|w| match w {
                Wish::SetTimer { after, timer: Timer::Server(ServerTimer::DistroVerify), .. } => {
                    Some(after.as_millis())
                }
                _ => None,
            })
        };
        s.handle(Time::ZERO, Input::Start, &mut rng, &mut out);
        assert_eq!(verify_after(&out), (!fixed).then_some(5000), "at start, fixed: {fixed}");
        let load = out.wishes().find_map(|w| match w {
            Wish::Request { id, .. } => Some(id),
            _ => None,
        });
        out.clear();
        let result = Ok(Msg::DistroData(Rc::new(Vec::new())));
        s.handle(Time::from_millis(2), Input::Response { id: load.unwrap(), result }, &mut rng, &mut out);
        assert_eq!(verify_after(&out), fixed.then_some(5000), "after the load, fixed: {fixed}");
    }
}

/// `servers[].boot_at`: a server's process, and every periodic task with it, starts at its own
/// time; before that its host refuses connections.
#[test]
fn servers_boot_at_their_own_times() {
    let w = run(r#"{"name": "boot", "seed": 1, "duration": "10s",
        "servers": [{"id": "s1"}, {"id": "s2", "boot_at": "1.3s"}, {"id": "s3", "boot_at": "2.7s"}],
        "clients": [{"id": "p", "servers": ["s3"], "register": [{"at": "1s", "service": "demo", "port": 1}]}]}"#);
    assert_eq!(times(&w, "s1", "snapshot_load_started"), [0]);
    assert_eq!(times(&w, "s2", "snapshot_load_started"), [1_300]);
    assert_eq!(times(&w, "s3", "snapshot_load_started"), [2_700]);
    assert_eq!(times(&w, "s3", "server_status_changed"), [2_700]);
    // The registration at 1 s finds s3 not running: refused three times, one round trip each.
    assert_eq!(times(&w, "p", "request_failed"), [1_002, 1_004, 1_006]);
    assert_eq!(times(&w, "p", "request_gave_up"), [1_006]);
}

/// V4: up to 1.1.0 a peer is alive while `now - the timestamp it wrote into its beat` is under
/// 30 s (beats every 15 s), so s2, whose clock lags by 40 s, is never alive for s1 although no
/// packet is lost; from 1.1.3 the beat's arrival time counts, and s2 is alive from its first
/// beat (15.001 s on 1.1.3, 2.001 s on 1.1.4 with its 2 s beats).
#[test]
fn on_1_1_0_a_peer_whose_clock_lags_is_dropped_without_a_lost_packet() {
    for (version, joins) in [("1.1.0", None), ("1.1.3", Some(15_001)), ("1.1.4", Some(2_001))] {
        let w = run(&format!(
            r#"{{"name": "v4", "seed": 1, "duration": "60s",
            "servers": [{{"id": "s1"}}, {{"id": "s2", "clock": {{"offset": "-40s"}}}}],
            "switches": {{"server_version": "{version}"}}}}"#
        ));
        let s1_sees_both: Vec<i64> = w
            .engine
            .records
            .iter()
            .filter(|r| r.node == 0 && r.obs.kind() == "healthy_list_changed")
            .filter(|r| serde_json::to_value(&r.obs).unwrap()["members"].as_array().unwrap().len() == 2)
            .map(|r| r.at.as_millis())
            .collect();
        assert_eq!(s1_sees_both.first().copied(), joins, "{version}");
        assert_eq!(w.engine.stats.http_failed, 0, "{version}: no exchange failed");
    }
}

/// s3's host dies at 10 s; s1 probes it every 4 s, each probe failing at its 5 s connect
/// timeout: SUSPICIOUS at 18 s, DOWN at 30 s. At 51 s s1's `cluster.conf` is re-read.
fn member_reread(version: &str) -> world::World {
    run(&member_reread_json(version))
}

fn member_reread_json(version: &str) -> String {
    format!(
        r#"{{"name": "v10", "seed": 1, "duration": "80s",
        "servers": [{{"id": "s1"}}, {{"id": "s2"}}, {{"id": "s3"}}],
        "switches": {{"server_version": "{version}"}},
        "faults": [{{"kind": "crash", "node": "s3", "at": "10s", "host_down": true}}],
        "operations": [{{"op": "touch_cluster_conf", "at": "51s", "via": "s1"}}]}}"#
    )
}

/// `(time, to)` of s1's view of s3.
fn s3_states(w: &world::World) -> Vec<(i64, String)> {
    let s1 = w.names.iter().position(|n| n == "s1").unwrap() as u32;
    w.engine
        .records
        .iter()
        .filter(|r| r.node == s1 && r.obs.kind() == "member_state_changed")
        .map(|r| {
            let v = serde_json::to_value(&r.obs).unwrap();
            (r.at.as_millis(), v["to"].as_str().unwrap().to_string())
        })
        .collect()
}

/// V10: up to 1.4.1 a member re-read puts every member back UP (a fresh `Member`), so a dead
/// one is UP until the next failed probe, then SUSPICIOUS, both of which the DistroMapper
/// counts: services hash to the dead node again until it is DOWN four failures later. From
/// 1.4.2 the re-read keeps each member's state.
#[test]
fn a_member_reread_revives_a_dead_member_up_to_1_4_1() {
    let states = |v: &[(i64, &str)]| v.iter().map(|(t, s)| (*t, s.to_string())).collect::<Vec<_>>();
    let w = member_reread("1.4.1");
    assert_eq!(
        s3_states(&w),
        states(&[(18_000, "SUSPICIOUS"), (30_000, "DOWN"), (51_000, "UP"), (54_000, "SUSPICIOUS"), (66_000, "DOWN")])
    );
    let w = member_reread("1.4.2");
    assert_eq!(s3_states(&w), states(&[(18_000, "SUSPICIOUS"), (30_000, "DOWN")]));
    // The re-read publishes no event, but the fresh members lack the `version` their reports
    // add, so s2's next report to s1 (by 52 s) is a basic-info change: the DistroMapper then
    // lists the dead s3 (UP, later SUSPICIOUS) until it is DOWN.
    let sc = scenario::parse("inline.json", &member_reread_json("1.4.1")).unwrap();
    let mut w = world::build(&sc, sc.seed);
    let mut seen = Vec::new();
    for t in [50, 52, 55, 67] {
        w.run_until(Time::ZERO + Dur::from_secs(t));
        let Process::Server(s1) = w.engine.node(0) else { panic!("s1 is a server") };
        seen.push((t, s1.mapper.healthy.iter().any(|m| &**m == "10.0.0.3:8848")));
    }
    assert_eq!(seen, [(50, false), (52, true), (55, true), (67, false)]);
}

/// V13: the metadata batch API (from 1.4.0; 404 before). Up to 1.4.1 locating the instance of
/// cluster B removes the same address's instance of cluster A from the datum on the way; from
/// 1.4.2 nothing else changes. One server, the provider registered in A and B at 1 s.
#[test]
fn a_metadata_update_drops_the_same_address_in_another_cluster_up_to_1_4_1() {
    let run_on = |version: &str| {
        run(&format!(
            r#"{{"name": "v13", "seed": 1, "duration": "20s", "servers": [{{"id": "s1"}}],
            "switches": {{"server_version": "{version}"}},
            "clients": [{{"id": "provider", "register": [
                {{"at": "1s", "service": "demo", "port": 8080, "cluster": "A"}},
                {{"at": "1s", "service": "demo", "port": 8080, "cluster": "B"}}]}}],
            "operations": [{{"op": "update_metadata", "at": "10s", "via": "s1", "service": "demo",
                "instances": [{{"ip": "10.1.0.2", "port": 8080, "cluster": "B"}}], "metadata": {{"k": "v"}}}}]}}"#
        ))
    };
    let answer = |w: &world::World| {
        let r = w.engine.records.iter().find(|r| r.obs.kind() == "operation_answered").unwrap();
        let v = serde_json::to_value(&r.obs).unwrap();
        (r.at.as_millis(), v["status"].as_u64().unwrap(), v["body"].as_str().unwrap().to_string())
    };
    let updated = r#"{"updated":["10.1.0.2:8080:unknown:B:ephemeral"]}"#.to_string();
    let w = run_on("1.4.1");
    assert_eq!(times(&w, "s1", "instance_removed"), vec![10_001]);
    assert_eq!(answer(&w), (10_002, 200, updated.clone()));
    let w = run_on("1.4.2");
    assert!(times(&w, "s1", "instance_removed").is_empty());
    assert_eq!(answer(&w), (10_002, 200, updated));
    let w = run_on("1.3.2");
    assert_eq!(answer(&w), (10_002, 404, "Not Found".to_string()));
}

/// V15 (R7.21): from 1.4.0 `ClusterVersionJudgement` (5 s after start, then every 5 s) stops
/// the legacy Raft once every other member has reported; s2 first reports to s1 at 5 s, so the
/// 5 s judgement misses it and the 10 s one stops it. Up to 1.3.x the Raft runs on.
#[test]
fn the_legacy_raft_stops_once_every_member_reported_from_1_4_0() {
    for (version, stopped) in [("1.4.0", vec![10_000]), ("1.4.1", vec![10_000]), ("1.3.2", vec![])] {
        let w = cluster(version);
        assert_eq!(times(&w, "s1", "raft_stopped"), stopped, "{version}");
        assert_eq!(times(&w, "s2", "raft_stopped"), stopped, "{version}");
    }
}

/// V12 (R2.13): s1 gets p1's first registration of demo at 1.001 s. Up to 1.4.1 one arriving
/// while that request is still creating the service (50 µs) creates a second Service, with its
/// own check task (first run 5 s after its creation); both tasks run, so each instance the
/// crashed providers leave is deleted twice. 1.4.2 keeps one Service and one task, and so
/// does 1.4.1 when the second registration comes 50 µs later.
#[test]
fn racing_first_registrations_leave_two_check_tasks_up_to_1_4_1() {
    let run_on = |version: &str, second_at: &str| {
        run(&format!(
            r#"{{"name": "v12", "seed": 1, "duration": "50s", "servers": [{{"id": "s1"}}],
            "switches": {{"server_version": "{version}"}},
            "clients": [
                {{"id": "p1", "register": [{{"at": "1s", "service": "demo", "port": 1}}]}},
                {{"id": "p2", "register": [{{"at": "{second_at}", "service": "demo", "port": 2}}]}}],
            "faults": [{{"kind": "crash", "node": "p1", "at": "10s"}}, {{"kind": "crash", "node": "p2", "at": "10s"}}]}}"#
        ))
    };
    let micros = |w: &world::World, kind: &str| -> Vec<i64> {
        w.engine.records.iter().filter(|r| r.obs.kind() == kind).map(|r| r.at.0 / 1000).collect()
    };
    let w = run_on("1.4.1", "1000049us");
    assert_eq!(micros(&w, "service_created"), vec![1_001_000, 1_001_049]);
    assert_eq!(micros(&w, "delete_requested"), vec![41_001_000, 41_001_000, 41_001_049, 41_001_049]);
    for (version, second_at) in [("1.4.1", "1000050us"), ("1.4.2", "1000049us")] {
        let w = run_on(version, second_at);
        assert_eq!(micros(&w, "service_created"), vec![1_001_000], "{version}");
        assert_eq!(micros(&w, "delete_requested"), vec![41_001_000, 41_001_000], "{version}");
    }
}

/// V12 after a delete: s1 created demo twice (1.001000 s, 1.001049 s); deleting it at 20 s
/// cancels the task `futureMap` holds, the first Service's, so the deleted one's task (on the
/// 1.001049 s phase) runs on over the instances it held. p1 re-registers at its next beat;
/// 30 s after the frozen instance's last beat (16.001 s) the orphan deletes its address every
/// 5 s, taking the live instance with it. On 1.4.2 nothing deletes it.
#[test]
fn a_deleted_service_keeps_the_racing_task_up_to_1_4_1() {
    let run_on = |version: &str| {
        run(&format!(
            r#"{{"name": "v12-delete", "seed": 1, "duration": "62s", "servers": [{{"id": "s1"}}],
            "switches": {{"server_version": "{version}"}},
            "clients": [
                {{"id": "p1", "register": [{{"at": "1s", "service": "demo", "port": 1}}]}},
                {{"id": "p2", "register": [{{"at": "1000049us", "service": "demo", "port": 2}}]}}],
            "operations": [{{"op": "delete_service", "at": "20s", "via": "s1", "service": "demo"}}]}}"#
        ))
    };
    let deletes = |w: &world::World| -> Vec<(i64, u64)> {
        w.engine
            .records
            .iter()
            .filter(|r| r.obs.kind() == "delete_requested")
            .map(|r| (r.at.0 / 1000, serde_json::to_value(&r.obs).unwrap()["port"].as_u64().unwrap()))
            .collect()
    };
    let w = run_on("1.4.1");
    assert_eq!(times(&w, "s1", "service_removed"), vec![20_001]);
    let p1: Vec<(i64, u64)> = deletes(&w).into_iter().filter(|d| d.1 == 1).collect();
    assert_eq!(p1, vec![(51_001_049, 1), (56_001_049, 1), (61_001_049, 1)]);
    assert!(deletes(&run_on("1.4.2")).is_empty());
}

/// What-if fix `issue-10323` (commit 23c45da6): in verification-during-a-list-change, s3 takes
/// 400 ms to compare s1's checksums (from 25.001 s), and marks s2 DOWN at 25.002 s meanwhile.
/// 1.4.1 removes the demo datum at the comparison's end under the new view; with the fix the
/// removal is dropped, because the healthy list changed since the comparison started.
#[test]
fn fix_10323_removes_no_key_when_the_list_changed_during_verification() {
    let removals = |sets: &[String]| {
        let sc = scenario::load_with("scenarios/verification-during-a-list-change.json", sets).unwrap();
        let mut w = world::build(&sc, sc.seed);
        w.run_until(w.duration);
        times(&w, "s3", "verify_removed_key")
    };
    assert_eq!(removals(&[]), vec![25_401]);
    assert!(removals(&[r#"switches.fixes=["issue-10323"]"#.to_string()]).is_empty());
    // At the default speed the comparison ends 40 us after it began, before s2 is DOWN: the
    // view it ends under is the source's, and nothing is removed, with or without the fix.
    let fast = |fix: &str| removals(&[format!("switches.fixes={fix}"), "servers.2.speed=1".into()]);
    assert!(fast("[]").is_empty() && fast(r#"["issue-10323"]"#).is_empty());
}
