//! `PushService` state (spec §3): subscribers that polled this server, the 1 s debounce, and the
//! ack map with its two-sends-then-give-up retransmission.
//!
//! Building the data needs the registry, so the round itself is driven from the server
//! (`NamingServer::push_round`); this module owns the bookkeeping and its exact comparisons.

use crate::naming::wire::{AckKey, Agent, Msg, ServiceKey, Str};
use std::collections::{BTreeMap, BTreeSet};

/// `ACK_TIMEOUT_NANOS` = 10 s: retransmission delay.
pub const ACK_TIMEOUT_MS: i64 = 10_000;
/// `MAX_RETRY_TIMES` = 1: a push is sent at most twice.
pub const MAX_RETRY_TIMES: u32 = 1;
/// The debounce of `serviceChanged` (R3.4).
pub const PUSH_DELAY_MS: i64 = 1000;
/// `removeClientIfZombie` period (R3.3).
pub const ZOMBIE_SWEEP_MS: i64 = 20_000;

/// A `PushClient` (R3.1).
#[derive(Clone, Debug)]
pub struct PushClient {
    pub clusters: Str,
    pub agent: Agent,
    pub client_ip: Str,
    pub udp_port: u16,
    pub last_ref_time: i64,
}

impl PushClient {
    /// `PushClient.toString()` minus the service name: the clientMap key (R3.2).
    pub fn label(&self) -> String {
        let agent = match &self.agent {
            Agent::JavaClient(v) => format!("Nacos-Java-Client:v{v}"),
            Agent::Server => "Nacos-Server".into(),
            Agent::Other(a) => a.to_string(),
        };
        format!("clusters: {}, address: {}:{}, agent: {agent}", self.clusters, self.client_ip, self.udp_port)
    }

    /// R3.3: strict `>` against `pushCacheMillis`.
    pub fn is_zombie(&self, now_ms: i64, push_cache_millis: i64) -> bool {
        now_ms - self.last_ref_time > push_cache_millis
    }
}

/// An `ackMap` entry: the exact datagram, re-sent unchanged on retransmission (R3.10).
#[derive(Clone, Debug)]
pub struct AckEntry {
    pub service: Str,
    pub label: String,
    pub msg: Msg,
    pub retry_times: u32,
}

#[derive(Default)]
pub struct PushService {
    pub clients: BTreeMap<ServiceKey, BTreeMap<String, PushClient>>,
    /// `futureMap`: services with a push round scheduled and not yet finished.
    pub pending_rounds: BTreeSet<ServiceKey>,
    pub acks: BTreeMap<AckKey, AckEntry>,
    pub total_push: u64,
    pub failed_push: u64,
}

impl PushService {
    /// `addClient` (R3.2): refresh an existing client or insert it. True if new.
    pub fn add_client(&mut self, service: &ServiceKey, client: PushClient) -> bool {
        let map = self.clients.entry(service.clone()).or_default();
        let label = client.label();
        match map.get_mut(&label) {
            Some(c) => {
                c.last_ref_time = client.last_ref_time;
                false
            }
            None => {
                map.insert(label, client);
                true
            }
        }
    }

    /// `udpPush` step 1 (R3.9): should this entry be given up instead of sent?
    pub fn exhausted(entry: &AckEntry) -> bool {
        entry.retry_times > MAX_RETRY_TIMES
    }

    /// Removes zombies of every service; returns (service, label) of each removed client.
    pub fn remove_zombies(&mut self, now_ms: i64, push_cache_millis: i64) -> Vec<(Str, String)> {
        let mut gone = Vec::new();
        for (svc, map) in self.clients.iter_mut() {
            map.retain(|label, c| {
                let zombie = c.is_zombie(now_ms, push_cache_millis);
                if zombie {
                    gone.push((svc.name.clone(), label.clone()));
                }
                !zombie
            });
        }
        gone
    }
}

/// `canEnablePush(agent)` (R3.12) for the agents the simulator models.
pub fn can_enable_push(agent: &Agent, push_enabled: bool) -> bool {
    if !push_enabled {
        return false;
    }
    match agent {
        Agent::JavaClient(v) => version_at_least(v, "0.1.0"),
        _ => false,
    }
}

fn version_at_least(v: &str, min: &str) -> bool {
    let parse = |s: &str| -> Vec<u32> { s.split('.').map(|p| p.parse().unwrap_or(0)).collect() };
    parse(v) >= parse(min)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zombie_is_strictly_older_than_push_cache_millis() {
        let c = PushClient {
            clusters: "".into(),
            agent: Agent::JavaClient("1.4.1".into()),
            client_ip: "10.0.0.9".into(),
            udp_port: 54321,
            last_ref_time: 1000,
        };
        assert!(!c.is_zombie(11_000, 10_000));
        assert!(c.is_zombie(11_001, 10_000));
    }

    #[test]
    fn push_is_enabled_for_java_clients_only() {
        assert!(can_enable_push(&Agent::JavaClient("1.4.1".into()), true));
        assert!(!can_enable_push(&Agent::JavaClient("1.4.1".into()), false));
        assert!(!can_enable_push(&Agent::Other("Nacos-SDK-Java".into()), true));
        assert!(!can_enable_push(&Agent::JavaClient("0.0.9".into()), true));
    }
}
