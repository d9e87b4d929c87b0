//! The eventual-consistency check: quiet on a converged cluster, and each clause catches the
//! state it is about, alone, with a counterexample naming the nodes.

use nacos_sim::engine::Fault;
use nacos_sim::naming::server::NamingServer;
use nacos_sim::naming::Process;
use nacos_sim::scenario::world::{self, *};
use nacos_sim::scenario::{self, expect::check_expectations};
use nacos_sim::time::Time;

const CLUSTER: &str = r#"{"name": "conv", "seed": 7, "duration": "100s", "converge": true,
    "servers": [{"id": "s1"}, {"id": "s2"}, {"id": "s3"}],
    "clients": [{"id": "p", "servers": ["s1"], "register": [{"at": "1s", "service": "demo", "port": 1}, {"at": "1s", "service": "demo", "port": 2}]},
                {"id": "c", "servers": ["s2"], "subscribe": [{"at": "2s", "service": "demo"}]}]}"#;

/// The cluster after 100 s: converged.
fn converged() -> world::World {
    let sc = scenario::parse("conv.json", CLUSTER).unwrap();
    let mut w = world::build(&sc, sc.seed);
    w.run_until(w.duration);
    assert_eq!(convergence_problems(&w), vec![], "the untouched cluster converges");
    w
}

fn server(w: &mut world::World, i: u32) -> &mut NamingServer {
    match w.engine.node_mut(i) {
        Process::Server(s) => s,
        Process::Client(_) | Process::Outside(_) => panic!("node {i} is not a server"),
    }
}

fn responsible(w: &world::World) -> u32 {
    (0..3)
        .find(|&i| matches!(w.engine.node(i), Process::Server(s) if s.mapper.responsible("DEFAULT_GROUP@@demo")))
        .unwrap()
}

fn clauses(w: &world::World) -> Vec<&'static str> {
    convergence_problems(w).iter().map(|d| d.clause).collect()
}

fn mark_unhealthy(w: &mut world::World, node: u32) {
    let s = server(w, node);
    let svc = s.services.keys().next().unwrap().clone();
    s.services[&svc].all_ips(true).next().unwrap().healthy.set(false);
}

#[test]
fn a_missing_datum_fails_only_the_datum_clause() {
    let mut w = converged();
    server(&mut w, 2).store.data.clear();
    let p = convergence_problems(&w);
    assert_eq!(p.iter().map(|d| d.clause).collect::<Vec<_>>(), vec![SAME_DATUMS]);
    assert!(p[0].example.contains("s3 has missing"), "{}", p[0]);
}

#[test]
fn a_service_missing_on_a_server_fails_presence_and_the_subscriber_clause() {
    let mut w = converged();
    server(&mut w, 1).services.clear();
    let p = convergence_problems(&w);
    assert_eq!(
        p.iter().map(|d| d.clause).collect::<Vec<_>>(),
        vec![LIVE_INSTANCES_EVERYWHERE, SUBSCRIBERS_SEE_SERVER_ANSWER]
    );
    assert!(p[0].example.contains("missing on s2") && p[0].example.contains("client p"), "{}", p[0]);
    assert!(p[1].example.starts_with("c sees DEFAULT_GROUP@@demo"), "{}", p[1]);
}

#[test]
fn an_unhealthy_instance_on_its_responsible_server_is_reported() {
    let mut w = converged();
    let r = responsible(&w);
    mark_unhealthy(&mut w, r);
    // The datum shares its instance objects with the Service, so its checksum moves too.
    let got = clauses(&w);
    let mut want = vec![SAME_DATUMS, HEALTHY_ON_RESPONSIBLE];
    if r == 1 {
        // s2 is the consumer's server: its answer now differs from what the consumer saw.
        want.push(SUBSCRIBERS_SEE_SERVER_ANSWER);
    }
    assert_eq!(got, want);
}

#[test]
fn an_unhealthy_instance_on_another_server_is_reported_once_the_status_channel_ran() {
    let mut w = converged();
    let other = (0..3).find(|&i| i != responsible(&w)).unwrap();
    mark_unhealthy(&mut w, other);
    let got = clauses(&w);
    assert!(got.contains(&HEALTHY_AFTER_STATUS_CHANNEL) && !got.contains(&HEALTHY_ON_RESPONSIBLE), "{got:?}");
    // Before the responsible server has run its ServiceReporter for 70 s, it is not expected.
    let sc = scenario::parse("conv.json", CLUSTER).unwrap();
    let mut early = world::build(&sc, sc.seed);
    early.run_until(Time::from_millis(65_000));
    mark_unhealthy(&mut early, other);
    assert!(!clauses(&early).contains(&HEALTHY_AFTER_STATUS_CHANNEL));
}

#[test]
fn instances_of_a_crashed_client_are_stale() {
    let mut w = converged();
    let now = w.engine.now();
    w.engine.schedule_fault(now, Fault::Crash { node: 3, host_down: false, wipe_disk: false });
    w.run_until(now + nacos_sim::time::Dur::from_millis(1));
    let p = convergence_problems(&w);
    assert_eq!(p.iter().map(|d| d.clause).collect::<Vec<_>>(), vec![NO_STALE_INSTANCES]);
    assert!(p[0].example.contains("which no live client registers"), "{}", p[0]);
}

#[test]
fn a_subscriber_view_that_differs_from_its_server_is_reported() {
    let mut w = converged();
    let Process::Client(c) = w.engine.node_mut(4) else { panic!() };
    let info = c.cache.values_mut().next().unwrap();
    let mut changed = (**info).clone();
    let mut hosts = changed.hosts.to_vec();
    hosts.pop();
    changed.hosts = hosts.into();
    *info = std::rc::Rc::new(changed);
    assert_eq!(clauses(&w), vec![SUBSCRIBERS_SEE_SERVER_ANSWER]);
}

/// A converged `expect` run reports one passing outcome naming every clause.
#[test]
fn a_converged_run_names_every_clause() {
    let w = converged();
    let out = check_expectations(&[], &w);
    assert_eq!(out.len(), 1);
    assert!(out[0].ok);
    for c in CONVERGENCE_CLAUSES {
        assert!(out[0].message.contains(c), "{}", out[0].message);
    }
}

/// A server that lost its disk holds no persistent data until the leader's next beat brings
/// it back: in between only the CP clause fails, naming the key; after it, all hold.
#[test]
fn a_wiped_raft_store_diverges_until_the_next_beat() {
    let text = r#"{"name": "cp", "seed": 1, "duration": "66s", "switches": {"server_version": "1.3.2"},
        "servers": [{"id": "s1"}, {"id": "s2"}, {"id": "s3"}],
        "clients": [{"id": "app", "servers": ["s1"], "register": [{"at": "20s", "service": "db", "port": 3306, "ephemeral": false}]}],
        "faults": [{"kind": "crash", "node": "s2", "at": "60s", "until": "65s", "wipe_disk": true}]}"#;
    let sc = scenario::parse("cp.json", text).unwrap();
    let mut w = world::build(&sc, sc.seed);
    w.run_until(Time::from_millis(66_000));
    let problems = convergence_problems(&w);
    assert_eq!(problems.iter().map(|d| d.clause).collect::<Vec<_>>(), vec![SAME_PERSISTENT_DATA]);
    assert!(problems[0].example.contains("s2 holds nothing"), "{}", problems[0].example);
    w.run_until(Time::from_millis(71_000));
    assert_eq!(clauses(&w), Vec::<&str>::new(), "fetched after the leader's beat at 68 s");
}
