//! The running invariant checks: quiet on a correct run, and they do catch a broken state.

use nacos_sim::engine::Record;
use nacos_sim::engine::{Dispatched, InputKind};
use nacos_sim::naming::invariants::{
    Invariants, JRAFT_ONE_LEADER_PER_TERM, SERVICE_EQUALS_DATUM, VIEW_CHANGES_BY_PULL_OR_ACKED_PUSH,
};
use nacos_sim::naming::wire::Observation;
use nacos_sim::naming::Process;
use nacos_sim::scenario::{self, world};
use nacos_sim::time::Time;
use std::rc::Rc;

fn world_at(json: &str, until_ms: i64) -> world::World {
    let sc = scenario::parse("inline.json", json).unwrap();
    let mut w = world::build(&sc, sc.seed);
    w.run_until(Time::from_millis(until_ms));
    w
}

const TWO_PROVIDERS: &str = r#"{"name": "inv", "seed": 1, "duration": "60s",
    "servers": [{"id": "s1"}, {"id": "s2"}, {"id": "s3"}],
    "clients": [{"id": "p", "register": [{"at": "1s", "service": "demo", "port": 1}, {"at": "1s", "service": "demo", "port": 2}]},
                {"id": "c", "subscribe": [{"at": "2s", "service": "demo"}]}],
    "faults": [{"kind": "crash", "node": "p", "at": "20s"}]}"#;

fn input(node: u32, input: InputKind, replies: u32) -> Dispatched {
    Dispatched { node, input, replies }
}

#[test]
fn committed_scenarios_violate_no_invariant() {
    let mut files: Vec<_> = ["scenarios", "scenarios/incidents"]
        .iter()
        .flat_map(|d| std::fs::read_dir(d).unwrap())
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    for f in files {
        let sc = scenario::load(f.to_str().unwrap()).unwrap();
        let instances: u32 =
            sc.clients.iter().filter_map(|c| c.register_many.as_ref()).map(|m| m.services * m.per_service).sum();
        if instances > 10_000 {
            // The checker compares every datum with its Service after every input: O(state) per
            // event, hours at 300k instances. The fuzzer's small clusters are where it earns its keep.
            continue;
        }
        let mut w = world::build(&sc, sc.seed);
        if let Some(v) = {
            let end = w.duration;
            world::run_checked(&mut w, end)
        } {
            panic!("{}: {} at {} on {}\n{}", f.display(), v.what, v.at, v.node, v.history.join("\n"));
        }
    }
}

/// A datum that no longer matches its Service, with the notifier idle, is reported.
#[test]
fn a_service_that_lags_its_datum_is_caught() {
    let mut w = world_at(TWO_PROVIDERS, 10_000);
    let server = (0..3u32)
        .find(|&i| matches!(w.engine.node(i), Process::Server(s) if !s.store.data.is_empty()))
        .expect("a server holds the datum");
    let timer = [input(server, InputKind::Timer, 0)];
    let mut inv = Invariants::default();
    assert_eq!(inv.check(&w.engine, &timer, w.engine.records.len()), None, "consistent before tampering");
    if let Process::Server(s) = w.engine.node_mut(server) {
        let datum = s.store.data.values_mut().next().unwrap();
        let mut fewer = (*datum.instances).clone();
        fewer.pop();
        datum.instances = Rc::new(fewer);
    }
    let v = inv.check(&w.engine, &timer, w.engine.records.len()).expect("violation");
    assert!(v.starts_with(SERVICE_EQUALS_DATUM), "{v}");
}

/// A subscriber's view whose first host flips health in a timer event is caught; the same
/// change in a pull answer, or in a push the client acked, is allowed.
#[test]
fn a_view_changed_outside_a_pull_or_an_acked_push_is_caught() {
    let mut w = world_at(TWO_PROVIDERS, 10_000);
    let consumer = 4u32;
    let flip_a_host = |w: &mut world::World| {
        let Process::Client(c) = w.engine.node_mut(consumer) else { panic!("consumer is a client") };
        let info = c.cache.values_mut().next().expect("the consumer has a view");
        assert!(!info.hosts.is_empty(), "the consumer sees the providers");
        let mut changed = (**info).clone();
        let mut hosts = changed.hosts.to_vec();
        hosts[0].healthy = !hosts[0].healthy;
        changed.hosts = hosts.into();
        *info = Rc::new(changed);
    };
    let n = w.engine.records.len();
    for (kind, replies, allowed) in [
        (InputKind::Response, 0, true),
        (InputKind::Datagram { from: 0 }, 1, true),
        (InputKind::Datagram { from: 0 }, 0, false),
        (InputKind::Timer, 0, false),
    ] {
        let mut inv = Invariants::default();
        let event = [input(consumer, kind, replies)];
        assert_eq!(inv.check(&w.engine, &[input(consumer, InputKind::Timer, 0)], n), None, "first look");
        flip_a_host(&mut w);
        let v = inv.check(&w.engine, &event, n);
        if allowed {
            assert_eq!(v, None, "{kind:?} may change the view");
        } else {
            assert!(v.as_deref().is_some_and(|v| v.starts_with(VIEW_CHANGES_BY_PULL_OR_ACKED_PUSH)), "{kind:?}: {v:?}");
        }
    }
}

/// JRaft keeps election safety: a second leader reported for a term it already had is caught.
#[test]
fn two_jraft_leaders_in_one_term_are_caught() {
    let three = r#"{"name": "j", "seed": 1, "duration": "30s", "servers": [{"id": "s1"}, {"id": "s2"}, {"id": "s3"}]}"#;
    let mut w = world_at(three, 20_000);
    let mut inv = Invariants::default();
    let timer = [input(0, InputKind::Timer, 0)];
    assert_eq!(inv.check(&w.engine, &timer, 0), None, "the real elections agree");
    let (term, leader) = w
        .engine
        .records
        .iter()
        .find_map(|r| match &r.obs {
            Observation::JraftLeader { leader, term } => Some((*term, leader.clone())),
            _ => None,
        })
        .expect("a JRaft leader within 20 s");
    let other = if &*leader == "10.0.0.1:8848" { "10.0.0.2:8848" } else { "10.0.0.1:8848" };
    let n = w.engine.records.len();
    let at = w.engine.now();
    w.engine.records.push(Record { at, node: 2, obs: Observation::JraftLeader { leader: other.into(), term } });
    let v = inv.check(&w.engine, &timer, n).expect("violation");
    assert!(v.starts_with(JRAFT_ONE_LEADER_PER_TERM), "{v}");
}
