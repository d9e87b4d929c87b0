//! Invariants that hold after every event in Nacos 1.4.1, checked while a run goes (`run
//! --check-invariants`, and always by `fuzz`). Each returns a description of the violation.

use super::Process;
use crate::engine::{Engine, NodeId};
use crate::naming::wire::Observation;
use std::collections::BTreeSet;

/// Names of the invariants, as printed in violations.
pub const NO_DELIVERY_TO_CRASHED: &str = "no_delivery_to_crashed_process";
pub const SERVICE_EQUALS_DATUM: &str = "service_equals_datum_when_notifier_idle";
pub const AT_MOST_TWO_PUSH_SENDS: &str = "push_round_sends_at_most_twice_per_client";

/// Checks the invariants that concern `node`, which just handled an event; `new_records` are the
/// observations that event produced.
pub fn check(engine: &Engine<Process>, node: NodeId, first_new_record: usize) -> Option<String> {
    // A crashed process has no threads: the engine must never hand it an input.
    if !engine.is_alive(node) {
        return Some(format!("{NO_DELIVERY_TO_CRASHED}: node {node} handled an event while down"));
    }
    // R3.9: `udpPush` gives up once `retryTimes > 1`, so a round's datagram is sent at most twice.
    for r in &engine.records[first_new_record..] {
        if let Observation::PushSent { attempt, service, client, .. } = &r.obs {
            if *attempt > 2 {
                return Some(format!("{AT_MOST_TWO_PUSH_SENDS}: attempt {attempt} to {client} for {service}"));
            }
        }
    }
    // R1.24/R5.23: the Service is the datum applied by the notifier; once its queue is drained,
    // every stored datum and its Service list the same instances. (@1.4.1 a removed datum leaves
    // the Service as it was, R1.28, so only stored datums are compared.)
    if let Process::Server(s) = engine.node(node) {
        if !s.notifier_idle() {
            return None;
        }
        for (key, datum) in
            s.store.data.iter().filter(|(k, _)| k.starts_with(super::server::registry::EPHEMERAL_PREFIX))
        {
            let Some(svc) = super::server::service_key_of(key) else { continue };
            let Some(service) = s.services.get(&svc) else { continue };
            let stored: BTreeSet<(&str, u16)> = datum.instances.iter().map(|i| (&*i.ip, i.port)).collect();
            let served: BTreeSet<(&str, u16)> = service.all_ips(true).map(|i| (&*i.ip, i.port)).collect();
            if stored != served {
                return Some(format!(
                    "{SERVICE_EQUALS_DATUM}: {} datum has {stored:?}, Service has {served:?}",
                    svc.name
                ));
            }
        }
    }
    None
}
