//! Property tests over the swarm generator: eventual consistency must hold under the fault
//! classes where Nacos 1.4.1 converges, and the anomalies the fuzzer found stay reproducible.

use nacos_sim::fuzz::{check_case, generate_with};
use nacos_sim::scenario::{self, world};

/// Seeds per run; raise with NACOS_SIM_FUZZ_CASES for a longer campaign.
fn cases() -> u64 {
    std::env::var("NACOS_SIM_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(300)
}

/// UDP loss, jitter, client crashes and short client↔server partitions: every seed converges
/// and never expires a client that no fault touched. Every tenth seed is run twice and must
/// give the same trace hash.
#[test]
fn eventual_consistency_holds_under_benign_faults() {
    for seed in 1..=cases() {
        let (outcome, text) = check_case(seed, generate_with(seed, 60, true), seed.is_multiple_of(10));
        assert!(outcome.ok, "seed {seed}: {:?}\nscenario:\n{text}", outcome.problems);
    }
}

/// Found by `nacos-sim fuzz` (seed 1, shrunk by `--shrink` to 3 servers, 2 clients, 2 faults):
/// servers lose a datum for good. With s1 restarting and s2 paused, s1 and s3 map svc1 to each
/// other and remove the datum because the other's checksums lack it (R5.19 step 3); @1.4.1 the
/// Service ignores the DELETE (R1.28). When views agree, s3 is responsible but has no datum, so
/// no verification or beat ever restores it: only s2 still holds it at the end.
#[test]
fn fuzz_found_responsible_server_keeps_a_removed_datum_missing() {
    let sc = scenario::load("scenarios/anomaly-responsible-datum-lost.json").unwrap();
    let mut w = world::build(&sc, sc.seed);
    w.engine.run_until(w.duration);
    for o in world::check_expectations(&sc.expect, &w) {
        assert!(o.ok, "expect[{}]: {}", o.index, o.message);
    }
    let problems = world::convergence_problems(&w);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].clause, world::SAME_DATUMS);
    assert!(problems[0].example.contains("svc1") && problems[0].example.contains("s1 has missing"), "{}", problems[0]);
    let key = "com.alibaba.nacos.naming.iplist.ephemeral.public##DEFAULT_GROUP@@svc1";
    let holders: Vec<&str> = (0..3)
        .filter(|&i| match w.engine.node(i) {
            nacos_sim::naming::Process::Server(s) => s.store.data.contains_key(key),
            _ => false,
        })
        .map(|i| w.names[i as usize].as_str())
        .collect();
    assert_eq!(holders, vec!["s2"]);
}

/// The shrinker keeps the failure class and never grows the scenario.
#[test]
fn shrinking_keeps_the_failure_and_drops_what_does_not_matter() {
    let case = nacos_sim::fuzz::generate(1, 60);
    let before = (case.json["clients"].as_array().unwrap().len(), case.json["faults"].as_array().unwrap().len());
    let (small, _) = nacos_sim::fuzz::shrink(&case.json, &case.untouched_clients);
    let after = (small["clients"].as_array().unwrap().len(), small["faults"].as_array().unwrap().len());
    assert!(after.0 < before.0 && after.1 < before.1, "{before:?} -> {after:?}");
    let problems = nacos_sim::fuzz::problems_of(&small, &case.untouched_clients).unwrap();
    assert!(problems[0].starts_with("not converged"), "{problems:?}");
}
