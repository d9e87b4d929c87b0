//! Invariants that hold after every event in Nacos 1.4.1, checked while a run goes (`run
//! --check-invariants`, and always by `fuzz`). A check returns a description of the violation.

use super::Process;
use crate::engine::{Dispatched, Engine, InputKind, NodeId};
use crate::naming::wire::{Observation, ServiceInfo, Str};
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

/// Names of the invariants, as printed in violations.
pub const NO_DELIVERY_TO_CRASHED: &str = "no_delivery_to_crashed_process";
pub const SERVICE_EQUALS_DATUM: &str = "service_equals_datum_when_notifier_idle";
pub const AT_MOST_TWO_PUSH_SENDS: &str = "push_round_sends_at_most_twice_per_client";
pub const VIEW_CHANGES_BY_PULL_OR_ACKED_PUSH: &str = "view_changes_only_by_pull_or_acked_push";
pub const JRAFT_ONE_LEADER_PER_TERM: &str = "jraft_one_leader_per_term";

/// A client's cache as last checked, in the life (incarnation) it belongs to.
struct CachedViews {
    incarnation: u32,
    cache: BTreeMap<Str, Rc<ServiceInfo>>,
}

/// The checker of one run: it remembers each client's cache to tell which event changed it.
#[derive(Default)]
pub struct Invariants {
    views: BTreeMap<NodeId, CachedViews>,
    /// The leader each JRaft term has had, as its members reported it.
    jraft_leaders: BTreeMap<u64, Str>,
}

impl Invariants {
    /// Checks the invariants that concern the processes of one event; the observations it
    /// produced start at `first_new_record`.
    pub fn check(
        &mut self,
        engine: &Engine<Process>,
        inputs: &[Dispatched],
        first_new_record: usize,
    ) -> Option<String> {
        for (i, d) in inputs.iter().enumerate() {
            if inputs[..i].iter().any(|e| e.node == d.node) {
                continue;
            }
            // A crashed process has no threads: the engine must never hand it an input.
            if !engine.is_alive(d.node) {
                return Some(format!("{NO_DELIVERY_TO_CRASHED}: node {} handled an event while down", d.node));
            }
            let found = match engine.node(d.node) {
                Process::Server(_) => service_equals_datum(engine, d.node),
                Process::Client(_) => self.view_changes_by_pull_or_acked_push(engine, d.node, inputs),
                Process::Outside(_) => None,
            };
            if found.is_some() {
                return found;
            }
        }
        at_most_two_push_sends(engine, first_new_record)
            .or_else(|| self.jraft_one_leader_per_term(engine, first_new_record))
    }

    /// Raft's election safety, which JRaft keeps (unlike the legacy Raft, whose anomalies are
    /// reported by `anomalies`): a term has at most one leader, whoever reports it.
    fn jraft_one_leader_per_term(&mut self, engine: &Engine<Process>, first_new_record: usize) -> Option<String> {
        for r in &engine.records[first_new_record..] {
            let Observation::JraftLeader { leader, term } = &r.obs else { continue };
            let known = self.jraft_leaders.entry(*term).or_insert_with(|| leader.clone());
            if known != leader {
                return Some(format!("{JRAFT_ONE_LEADER_PER_TERM}: term {term} led by {known} and by {leader}"));
            }
        }
        None
    }

    /// R4.10/R4.13: `serviceInfoMap` is written only by `processServiceJson`, which runs for an
    /// `/instance/list` answer (`updateService`) or for a push that `PushReceiver` then acks. So
    /// the hosts a client sees change only in an event that is an HTTP response, or a datagram
    /// answered with a datagram to its sender. (`subscribe` adds an empty placeholder, which
    /// shows no host: an absent view and an empty one are the same to the application.)
    fn view_changes_by_pull_or_acked_push(
        &mut self,
        engine: &Engine<Process>,
        node: NodeId,
        inputs: &[Dispatched],
    ) -> Option<String> {
        let Process::Client(c) = engine.node(node) else { return None };
        let incarnation = engine.incarnation(node);
        // The first look at a client is the baseline.
        let entry = self.views.entry(node).or_insert_with(|| CachedViews { incarnation, cache: c.cache.clone() });
        if entry.incarnation != incarnation {
            // A crash loses the in-memory cache: the new life starts from nothing.
            *entry = CachedViews { incarnation, cache: BTreeMap::new() };
        }
        let same = entry.cache.len() == c.cache.len()
            && entry.cache.iter().zip(&c.cache).all(|((ka, a), (kb, b))| ka == kb && Rc::ptr_eq(a, b));
        if same {
            return None;
        }
        let legitimate = inputs.iter().filter(|d| d.node == node).any(|d| match d.input {
            InputKind::Response => true,
            InputKind::Datagram { .. } => d.replies > 0,
            _ => false,
        });
        let mut found = None;
        if !legitimate {
            let keys: BTreeSet<&Str> = entry.cache.keys().chain(c.cache.keys()).collect();
            for k in keys {
                let (before, after) = (hosts(entry.cache.get(k)), hosts(c.cache.get(k)));
                if before != after {
                    found = Some(format!(
                        "{VIEW_CHANGES_BY_PULL_OR_ACKED_PUSH}: node {node}'s view of {k} went from {before:?} to \
                         {after:?} in an event that was neither a pull answer nor an acked push"
                    ));
                    break;
                }
            }
        }
        entry.cache = c.cache.clone();
        found
    }
}

/// The hosts of a view as the application sees them: address and health.
fn hosts(info: Option<&Rc<ServiceInfo>>) -> BTreeSet<(&str, u16, bool)> {
    info.map(|i| i.hosts.iter().map(|h| (&*h.ip, h.port, h.healthy)).collect()).unwrap_or_default()
}

/// R3.9: `udpPush` gives up once `retryTimes > 1`, so a round's datagram is sent at most twice.
fn at_most_two_push_sends(engine: &Engine<Process>, first_new_record: usize) -> Option<String> {
    engine.records[first_new_record..].iter().find_map(|r| match &r.obs {
        Observation::PushSent { attempt, service, client, .. } if *attempt > 2 => {
            Some(format!("{AT_MOST_TWO_PUSH_SENDS}: attempt {attempt} to {client} for {service}"))
        }
        _ => None,
    })
}

/// R1.24/R5.23: the Service is the datum applied by the notifier; once its queue is drained,
/// every stored datum and its Service list the same instances. (@1.4.1 a removed datum leaves
/// the Service as it was, R1.28, so only stored datums are compared.)
fn service_equals_datum(engine: &Engine<Process>, node: NodeId) -> Option<String> {
    let Process::Server(s) = engine.node(node) else { return None };
    if !s.notifier_idle() {
        return None;
    }
    for (key, datum) in s.store.data.iter().filter(|(k, _)| k.starts_with(super::server::key_builder::EPHEMERAL_PREFIX))
    {
        let Some(svc) = super::server::service_key_of(key) else { continue };
        let Some(service) = s.services.get(&svc) else { continue };
        let stored: BTreeSet<(&str, u16)> = datum.instances.iter().map(|i| (&*i.ip, i.port)).collect();
        let served: BTreeSet<(&str, u16)> = service.all_ips(true).map(|i| (&*i.ip, i.port)).collect();
        if stored != served {
            return Some(format!("{SERVICE_EQUALS_DATUM}: {} datum has {stored:?}, Service has {served:?}", svc.name));
        }
    }
    None
}
