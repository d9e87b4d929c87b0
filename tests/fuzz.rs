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

/// Found by `nacos-sim fuzz` (seed 1): a responsible server loses its own datum for good.
/// While s1 is restarting and s2 paused, s3 maps svc1 to s1 and removes the datum because s1's
/// checksums do not list it (R5.19 step 3); @1.4.1 the Service ignores that DELETE (R1.28), so
/// s3 keeps serving the instance. Once views agree again s3 is responsible for svc1, so nobody
/// sends it checksums for that key and beats never write a datum: the datum stays missing on s3.
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
    assert!(problems[0].contains("svc1") && problems[0].contains("s3 has missing"), "{}", problems[0]);
}
