//! The running invariant checks: quiet on a correct run, and they do catch a broken state.

use nacos_sim::naming::invariants::{check, SERVICE_EQUALS_DATUM};
use nacos_sim::naming::Process;
use nacos_sim::scenario::{self, world};
use nacos_sim::time::Time;
use std::rc::Rc;

fn world_at(json: &str, until_ms: i64) -> world::World {
    let sc = scenario::parse("inline.json", json).unwrap();
    let mut w = world::build(&sc, sc.seed);
    w.engine.run_until(Time::from_millis(until_ms));
    w
}

const TWO_PROVIDERS: &str = r#"{"name": "inv", "seed": 1, "duration": "60s",
    "servers": [{"id": "s1"}, {"id": "s2"}, {"id": "s3"}],
    "clients": [{"id": "p", "register": [{"at": "1s", "service": "demo", "port": 1}, {"at": "1s", "service": "demo", "port": 2}]},
                {"id": "c", "subscribe": [{"at": "2s", "service": "demo"}]}],
    "faults": [{"kind": "crash", "node": "p", "at": "20s"}]}"#;

#[test]
fn committed_scenarios_violate_no_invariant() {
    let mut files: Vec<_> = std::fs::read_dir("scenarios").unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    for f in files {
        let sc = scenario::load(f.to_str().unwrap()).unwrap();
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
    assert_eq!(check(&w.engine, server, w.engine.records.len()), None, "consistent before tampering");
    if let Process::Server(s) = w.engine.node_mut(server) {
        let datum = s.store.data.values_mut().next().unwrap();
        let mut fewer = (*datum.instances).clone();
        fewer.pop();
        datum.instances = Rc::new(fewer);
    }
    let v = check(&w.engine, server, w.engine.records.len()).expect("violation");
    assert!(v.starts_with(SERVICE_EQUALS_DATUM), "{v}");
}
