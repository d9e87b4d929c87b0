//! Distro and membership rules (spec §5–6) with exact times.

use nacos_sim::engine::{ExchangeId, Input, Node, Outputs, TimerId, Wish};
use nacos_sim::naming::server::{AddressBook, NamingServer, ServerConfig, Switches};
use nacos_sim::naming::wire::*;
use nacos_sim::scenario::{self, world};
use nacos_sim::time::{Dur, Time};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::rc::Rc;

fn run(json: &str) -> world::World {
    let sc = scenario::parse("inline.json", json).expect("valid scenario");
    let mut w = world::build(&sc, sc.seed);
    w.run_until(w.duration);
    w
}

fn times(w: &world::World, node: &str, kind: &str) -> Vec<i64> {
    let id = w.names.iter().position(|n| n == node).unwrap() as u32;
    w.engine.records.iter().filter(|r| r.node == id && r.obs.kind() == kind).map(|r| r.at.as_millis()).collect()
}

/// R5.8–R5.15: a put at t is sent to every peer after two 1 s stages, each ending at a 100 ms
/// scan: registered at 1.002 s → stage 1 due at the 2.1 s scan → stage 2 due at 3.1 s.
#[test]
fn a_put_reaches_peers_after_two_stages() {
    let w = run(r#"{"name": "sync", "seed": 1, "duration": "10s",
        "servers": [{"id": "s1"}, {"id": "s2"}, {"id": "s3"}],
        "clients": [{"id": "p", "servers": ["s1"], "register": [{"at": "1s", "service": "demo", "port": 1}]}]}"#);
    // s2 is responsible for demo; s1 forwards (1 ms hop), s2 writes at 1.002 s.
    assert_eq!(times(&w, "s2", "instance_registered"), vec![1_002]);
    assert_eq!(times(&w, "s2", "distro_sync_sent"), vec![3_100, 3_100]);
    assert_eq!(times(&w, "s1", "distro_sync_applied"), vec![3_101]);
    assert_eq!(times(&w, "s3", "distro_sync_applied"), vec![3_101]);
}

/// R5.14: a failed sync is retried after `syncRetryDelay` (5 s) and both stages again.
#[test]
fn a_failed_sync_is_retried() {
    let w = run(r#"{"name": "retry", "seed": 1, "duration": "20s",
        "servers": [{"id": "s1"}, {"id": "s2"}],
        "clients": [{"id": "p", "servers": ["s1"], "register": [{"at": "1s", "service": "demo", "port": 1}]}],
        "faults": [{"kind": "partition", "at": "0s", "until": "9s", "from": ["s1"], "to": ["s2"]}]}"#);
    // demo maps to s1 of two. The sync leaves at 3.1 s; its SYN, resent at 4.1 s and 6.1 s, is
    // lost until the 5 s connect timeout (8.1 s); the retry's stage 1 is due 5 s later (13.1 s scan), stage 2 at 14.1 s.
    assert_eq!(times(&w, "s1", "distro_sync_sent"), vec![3_100, 14_100]);
    assert_eq!(times(&w, "s1", "distro_sync_failed"), vec![8_100]);
    assert_eq!(times(&w, "s2", "distro_sync_applied"), vec![14_101]);
}

fn server(id: u32) -> NamingServer {
    let members: Vec<(Str, u32)> = (0..3).map(|i| (format!("10.0.0.{}:8848", i + 1).into(), i)).collect();
    NamingServer::new(ServerConfig {
        id,
        address: members[id as usize].0.clone(),
        members,
        address_book: Rc::new(AddressBook::default()),
        switches: Switches::default(),
        empty_service_clean: None,
        observe_requests: Default::default(),
        work: Default::default(),
    })
}

/// R5.19 step 2: a verification that lists a key this server is responsible for is aborted as
/// a whole: nothing fetched, nothing removed.
#[test]
fn verification_listing_a_responsible_key_aborts_and_changes_nothing() {
    // demo (hash % 3 = 1) belongs to 10.0.0.2, node 1.
    let mut s = server(1);
    let mut out = Outputs::default();
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let svc = ServiceKey { namespace: "public".into(), name: "DEFAULT_GROUP@@demo".into() };
    let inst = InstanceData {
        ip: "10.1.0.2".into(),
        port: 1,
        cluster: "DEFAULT".into(),
        weight: Weight(1.0),
        healthy: true,
        enabled: true,
        ephemeral: true,
        marked: false,
        metadata: Rc::default(),
        instance_id: "".into(),
        last_beat: 0,
    };
    let reg = Msg::Register(Rc::new(RegisterReq { service: svc, instance: inst, agent: Agent::Server }));
    s.handle(Time::from_millis(1000), Input::Request { from: 0, id: ExchangeId(1), msg: reg }, &mut rng, &mut out);
    let key: Str = "com.alibaba.nacos.naming.iplist.ephemeral.public##DEFAULT_GROUP@@demo".into();
    let before = s.store.data.keys().cloned().collect::<Vec<_>>();
    assert_eq!(before, vec![key.clone()]);
    out.clear();
    let msg = Msg::DistroChecksums(Rc::new(Sourced { source: "10.0.0.1:8848".into(), checksums: vec![(key, 42)] }));
    s.handle(Time::from_millis(2000), Input::Request { from: 0, id: ExchangeId(2), msg }, &mut rng, &mut out);
    // Comparing the one local instance's checksum takes 2 us; the answer waits for it.
    assert!(!out.wishes().any(|w| matches!(w, Wish::Respond { .. })), "not answered yet");
    let compared = out
        .wishes()
        .find_map(|w| match w {
            Wish::SetTimer { after, timer: t @ Timer::Server(ServerTimer::ChecksumsCompared(_)), .. } => {
                Some((after, t.clone()))
            }
            _ => None,
        })
        .expect("the comparison is scheduled");
    assert_eq!(compared.0, Dur(2_000));
    out.clear();
    let at = Time(Time::from_millis(2000).0 + 2_000);
    s.handle(at, Input::Timer { id: TimerId(0), timer: compared.1 }, &mut rng, &mut out);
    assert!(out.wishes().any(|w| matches!(w, Wish::Respond { msg: Msg::Ok, .. })), "answered ok");
    assert!(!out.wishes().any(|w| matches!(w, Wish::Request { .. })), "no fetch");
    let obs = out.take_observations();
    assert!(obs.iter().any(|o| o.kind() == "verify_aborted"));
    assert_eq!(s.store.data.keys().cloned().collect::<Vec<_>>(), before);
}

/// R6.3–R6.4: a crashed peer is DOWN at the first failed probe (connection refused) and UP
/// again at the first probe that succeeds.
#[test]
fn refused_probe_is_down_at_once_and_one_success_brings_it_back() {
    let w = run(r#"{"name": "members", "seed": 1, "duration": "40s",
        "servers": [{"id": "s1"}, {"id": "s2"}],
        "faults": [{"kind": "crash", "node": "s2", "at": "8s", "until": "20s"}]}"#);
    // s1 probes its only peer every 2 s from 5 s: 5, 7, 9 s; the 9 s probe is refused one
    // round trip later. s2 restarts at 20 s; s1's 21 s probe succeeds (s2's own first report
    // would only come at 25 s, 5 s after its start).
    let down_up: Vec<(i64, String)> = w
        .engine
        .records
        .iter()
        .filter(|r| r.node == 0 && r.obs.kind() == "member_state_changed")
        .map(|r| (r.at.as_millis(), serde_json::to_value(&r.obs).unwrap()["to"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(down_up, vec![(9_002, "DOWN".to_string()), (21_002, "UP".to_string())]);
}

/// R5.30 (1.2–1.3 TaskDispatcher): the first key flushes at once and is sent with no delay; a
/// key arriving within the 2 s period waits for a later key on its scheduler, and with none it
/// reaches the peer only through verification (5 s checksum round, then a fetch).
#[test]
fn v13_dispatcher_sends_at_once_then_strands_a_lone_key_until_verification() {
    let w = run(r#"{"name": "v13", "seed": 1, "duration": "12s",
        "servers": [{"id": "s1"}, {"id": "s2"}],
        "switches": {"distro_version": "1.3", "cpu_cores": 1},
        "clients": [
          {"id": "p1", "servers": ["s1"], "register": [{"at": "1s", "service": "demo", "port": 1}]},
          {"id": "p2", "servers": ["s1"], "register": [{"at": "2s", "service": "demo", "port": 2}]}]}"#);
    // demo maps to s1 of two: s1 writes at 1.001 s and 2.001 s.
    assert_eq!(times(&w, "s1", "distro_sync_sent"), vec![1_001]);
    assert_eq!(times(&w, "s2", "distro_sync_applied"), vec![1_002]);
    let added: Vec<(i64, u64)> = {
        let id = w.names.iter().position(|n| n == "s2").unwrap() as u32;
        w.engine
            .records
            .iter()
            .filter(|r| r.node == id && r.obs.kind() == "instance_added")
            .map(|r| (r.at.as_millis(), serde_json::to_value(&r.obs).unwrap()["port"].as_u64().unwrap()))
            .collect()
    };
    // Port 2 arrives with the verification fetch: checksums leave s1 at 5.000 s and reach s2
    // at 5.001 s, its fetch reaches s1 at 5.002 s and the answer is applied at 5.003 s.
    assert_eq!(added, vec![(1_002, 1), (5_003, 2)]);
    assert_eq!(times(&w, "s2", "verify_fetched"), vec![5_003]);
}

/// R5.7 with `nacos.naming.data.warmup`: a server is DOWN until its snapshot load succeeds, and
/// its TrafficReviseFilter answers clients 503 meanwhile.
#[test]
fn data_warmup_keeps_a_server_down_until_its_snapshot_load() {
    let w = run(r#"{"name": "warmup", "seed": 1, "duration": "45s",
        "servers": [{"id": "s1"}, {"id": "s2"}],
        "switches": {"data_warmup": true},
        "clients": [{"id": "c", "servers": ["s1"], "subscribe": [{"at": "1s", "service": "demo"}]}],
        "faults": [{"kind": "partition", "at": "0s", "until": "12s", "groups": [["s1"]]},
                   {"kind": "heal", "at": "12s"}]}"#);
    // The snapshot request leaves at start, just before the cut, so it fails at its 10 s read
    // timeout; the retry 30 s later succeeds at 40.002 s. Status is evaluated every 5 s from
    // 0 s: DOWN at 0, UP at 45 s.
    let statuses: Vec<(i64, String)> = w
        .engine
        .records
        .iter()
        .filter(|r| r.node == 0 && r.obs.kind() == "server_status_changed")
        .map(|r| (r.at.as_millis(), serde_json::to_value(&r.obs).unwrap()["to"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(statuses, vec![(0, "DOWN".to_string()), (45_000, "UP".to_string())]);
    let refused = w
        .engine
        .records
        .iter()
        .any(|r| r.obs.kind() == "request_failed" && serde_json::to_string(&r.obs).unwrap().contains("HTTP 503"));
    assert!(refused, "the client's list call is refused with 503");
}

/// When s1 switched health checks off and on: (ms, enabled).
fn health_checks_switched(w: &world::World) -> Vec<(i64, bool)> {
    w.engine
        .records
        .iter()
        .filter(|r| r.node == 0 && r.obs.kind() == "health_check_switched")
        .map(|r| (r.at.as_millis(), serde_json::to_value(&r.obs).unwrap()["enabled"].as_bool().unwrap()))
        .collect()
}

/// R5.33 (1.0–1.1 membership): a server is alive while its 2 s status beats are less than 10 s
/// old; any change of the healthy list switches health checks off, and they come back only
/// after more than 60 s without change with more than 70 % of the servers alive.
#[test]
fn v11_server_list_changes_suspend_health_checks() {
    let w = run(r#"{"name": "v11", "seed": 1, "duration": "130s",
        "servers": [{"id": "s1"}, {"id": "s2"}],
        "switches": {"distro_version": "1.1"},
        "faults": [{"kind": "crash", "node": "s2", "at": "100s"}]}"#);
    let switched = health_checks_switched(&w);
    // Off at the first report (2 s, only self alive yet); the list settles at 2.001 s when
    // s2's beat arrives; back on at the first report more than 60 s later (64 s). s2's last beat
    // reaches s1 at 98.001 s; s1's report at 110 s finds it 10 s stale: off again, and it stays
    // off since 1 of 2 alive is not above 70 %.
    assert_eq!(switched, vec![(2_000, false), (64_000, true), (110_000, false)]);
}

/// R5.33 / versions.md V6: the 60 s stable period starts at the list change that switches
/// health checks off, and only there. s2 dies at 100 s and comes back at 130 s: checks go off
/// at the 110 s report; the list changes again at 132.001 s while they are off, which does not
/// restart the period, so they come back at the first report more than 60 s after 110 s.
#[test]
fn only_the_change_that_switches_checks_off_starts_the_stable_period() {
    let w = run(r#"{"name": "v11", "seed": 1, "duration": "200s",
        "servers": [{"id": "s1"}, {"id": "s2"}],
        "switches": {"server_version": "1.1.4"},
        "faults": [{"kind": "crash", "node": "s2", "at": "100s", "until": "130s"}]}"#);
    assert_eq!(times(&w, "s1", "healthy_list_changed"), vec![2_000, 2_001, 110_000, 132_001]);
    let switched = health_checks_switched(&w);
    assert_eq!(switched, vec![(2_000, false), (64_000, true), (110_000, false), (172_000, true)]);
}

/// `DistroController.onSyncDatum` refuses an empty batch with Nacos's own text.
#[test]
fn an_empty_sync_batch_is_refused_as_nacos_words_it() {
    let mut s = server(1);
    let mut out = Outputs::default();
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let msg = Msg::DistroSync(Rc::new(Vec::new()));
    s.handle(Time::from_millis(1000), Input::Request { from: 0, id: ExchangeId(1), msg }, &mut rng, &mut out);
    let refused = Msg::Error { status: 400, message: "receive empty entity!".into() };
    assert!(
        out.wishes().any(|w| matches!(w, Wish::Respond { msg, .. } if *msg == refused)),
        "400 receive empty entity!"
    );
}

/// s1 serialises the snapshot (10 µs an instance), then s2's load thread parses it (40 µs an
/// instance) and applies its keys one by one (13 µs an instance): 1000 instances in 10 keys,
/// asked for at 20 s and answered at 20.012 s, are parsed by 20.052 s and applied by 20.065 s;
/// at speed 0.5 s2 takes twice as long over its part.
#[test]
fn a_snapshot_load_takes_time_per_instance_and_speed_scales_it() {
    let scenario = |speed: &str| {
        format!(
            r#"{{"name": "load", "seed": 1, "duration": "25s",
            "servers": [{{"id": "s1"}}, {{"id": "s2", "speed": {speed}}}],
            "clients": [{{"id": "p", "servers": ["s1"],
                "register_many": {{"at": "1s", "spread": "1s", "services": 10, "per_service": 100}}}}],
            "faults": [{{"kind": "crash", "node": "s2", "at": "19s", "until": "20s"}}]}}"#
        )
    };
    let done = |speed| {
        let w = run(&scenario(speed));
        let loads = w.engine.records.iter().filter(|r| r.obs.kind() == "snapshot_load_done");
        loads.map(|r| r.at.0).collect::<Vec<_>>()
    };
    // The first load, at boot, finds an empty peer.
    assert_eq!(done("1"), vec![2_000_000, 2_000_000, 20_065_000_000]);
    assert_eq!(done("0.5"), vec![2_000_000, 2_000_000, 20_118_000_000]);
}

/// R5.14 + R5.16: a retry reads the datum when it runs; if verification removed it meanwhile
/// the batch goes out empty and the peer refuses it, and the refusal is retried for ever, every
/// 6.1 s (5 s retry delay, the 1 s second stage, 100 ms scans). In ghost-never-expires-1.4.1
/// s1's sync of svc5 to the cut-off s2 is pending when s1 removes the datum at 60.001 s.
#[test]
fn a_retry_whose_datum_is_gone_sends_an_empty_batch_refused_for_ever() {
    let json = std::fs::read_to_string("scenarios/incidents/ghost-never-expires-1.4.1.json").unwrap();
    let w = run(&json);
    let s1 = w.names.iter().position(|n| n == "s1").unwrap() as u32;
    let empty_sends: Vec<i64> = w
        .engine
        .records
        .iter()
        .filter(|r| r.node == s1 && matches!(&r.obs, Observation::DistroSyncSent { keys: 0, .. }))
        .map(|r| r.at.as_millis())
        .collect();
    assert_eq!(empty_sends[..4], [65_100, 71_200, 77_300, 83_400]);
    assert_eq!(empty_sends.len(), 39, "until the end of the run at 300 s");
    let refused: Vec<i64> = w
        .engine
        .records
        .iter()
        .filter(|r| {
            r.node == s1
                && matches!(&r.obs, Observation::DistroSyncFailed { error, .. } if error.contains("receive empty entity!"))
        })
        .map(|r| r.at.as_millis())
        .collect();
    assert_eq!(refused.len(), empty_sends.len());
    assert!(refused.iter().zip(&empty_sends).all(|(f, s)| f - s == 2), "refused one round trip later");
}
