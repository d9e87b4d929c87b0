//! `PushService` (spec §3): subscribers that polled this server, `serviceChanged` with its 1 s
//! debounce, the push round, the ack map with its two-sends-then-give-up retransmission, and
//! the zombie sweep.

use super::{NamingServer, Out};
use crate::engine::NodeId;
use crate::naming::wire::*;
use crate::time::{Dur, Time};
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

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
    /// The `udpSender` thread runs one round at a time: busy until then (on this node's clock,
    /// which a skewed node may read as negative, hence no zero default).
    pub sender_busy_until: Option<Time>,
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

/// Whether release `v` is `min` or later, compared part by part as numbers.
pub(crate) fn version_at_least(v: &str, min: &str) -> bool {
    let parse = |s: &str| -> Vec<u32> { s.split('.').map(|p| p.parse().unwrap_or(0)).collect() };
    parse(v) >= parse(min)
}

impl NamingServer {
    /// `Retransmitter` (R3.10): send again unless the ack came.
    pub(super) fn retransmit(&mut self, key: Rc<AckKey>, out: &mut Out) {
        if self.push.acks.contains_key(&*key) {
            self.udp_push(Rc::unwrap_or_clone(key), out);
        }
    }

    /// `removeClientIfZombie` (R3.3), every 20 s.
    pub(super) fn zombie_sweep(&mut self, now_ms: i64, out: &mut Out) {
        for (service, client) in self.push.remove_zombies(now_ms, self.switches.push_cache_millis) {
            out.observe(Observation::PushZombieRemoved { service, client });
        }
        out.set_timer(Dur::from_millis(ZOMBIE_SWEEP_MS), Timer::Server(ServerTimer::ZombieSweep));
    }

    /// `serviceChanged` (R3.4): a round 1 s after the first change; later changes are absorbed.
    pub(super) fn service_changed(&mut self, svc: &ServiceKey, out: &mut Out) {
        if self.push.pending_rounds.insert(svc.clone()) {
            out.set_timer(Dur::from_millis(PUSH_DELAY_MS), Timer::Server(ServerTimer::PushRound(Rc::new(svc.clone()))));
        }
    }

    /// One push round (R3.5): every non-zombie subscriber of the service gets the current data.
    /// The round's sends go out when it starts; building and sending each subscriber's data
    /// keeps the one sender thread busy, and the service's `futureMap` entry set, for that long
    /// (`WorkCost::push`), so a change in that window is absorbed and never pushed (R3.4), and
    /// a round due meanwhile waits for the thread.
    pub(super) fn push_round(&mut self, now: Time, svc: Rc<ServiceKey>, out: &mut Out) {
        if let Some(busy) = self.push.sender_busy_until.filter(|&busy| now < busy) {
            out.set_timer(busy - now, Timer::Server(ServerTimer::PushRound(svc)));
            return;
        }
        let now_ms = now.as_millis();
        // System.nanoTime(): the node's monotonic nanos; one value for the whole round.
        let last_ref_time = now.0;
        let clients: Vec<(String, PushClient)> = match self.push.clients.get(&*svc) {
            Some(m) if !m.is_empty() => m.iter().map(|(l, c)| (l.clone(), c.clone())).collect(),
            _ => {
                self.push.pending_rounds.remove(&*svc);
                return;
            }
        };
        out.observe(Observation::PushRoundStarted { service: svc.name.clone(), clients: clients.len() as u32 });
        let push_cache_millis = self.switches.push_cache_millis;
        let mut work = Dur::ZERO;
        for (label, c) in clients {
            if c.is_zombie(now_ms, push_cache_millis) {
                if let Some(m) = self.push.clients.get_mut(&*svc) {
                    m.remove(&label);
                }
                out.observe(Observation::PushZombieRemoved { service: svc.name.clone(), client: label });
                continue;
            }
            let mut data = self.service_info(now_ms, &svc, &c.clusters, false, push_cache_millis);
            data.cache_millis = push_cache_millis;
            work = work + self.config.work.push(data.hosts.len());
            let size = 40 + data.json_size();
            let gzipped = size >= 1024;
            // Size accounting only: JSON of this shape compresses about 5:1.
            let bytes = if gzipped { (size / 5) as u32 } else { size as u32 };
            let msg = Msg::Push(Rc::new(PushPacket {
                last_ref_time,
                data: Rc::new(data),
                bytes,
                gzipped,
                to_ip: c.client_ip.clone(),
                to_port: c.udp_port,
            }));
            let key = AckKey { ip: c.client_ip.clone(), port: c.udp_port, last_ref_time };
            self.push.acks.insert(key.clone(), AckEntry { service: svc.name.clone(), label, msg, retry_times: 0 });
            self.push.total_push += 1;
            self.udp_push(key, out);
        }
        if work == Dur::ZERO {
            self.push.pending_rounds.remove(&*svc);
        } else {
            self.push.sender_busy_until = Some(now + work);
            out.set_timer(work, Timer::Server(ServerTimer::PushRoundDone(svc)));
        }
    }

    /// `udpPush` (R3.9): send (again) or give up after the second send.
    pub(super) fn udp_push(&mut self, key: AckKey, out: &mut Out) {
        let Some(entry) = self.push.acks.get_mut(&key) else { return };
        if PushService::exhausted(entry) {
            let entry = self.push.acks.remove(&key).expect("present");
            self.push.failed_push += 1;
            out.observe(Observation::PushGivenUp { service: entry.service, client: entry.label });
            return;
        }
        entry.retry_times += 1;
        let (bytes, gzipped) = match &entry.msg {
            Msg::Push(p) => (p.bytes, p.gzipped),
            _ => (0, false),
        };
        out.observe(Observation::PushSent {
            service: entry.service.clone(),
            client: entry.label.clone(),
            attempt: entry.retry_times,
            bytes,
            gzipped,
        });
        let Some(to) = self.config.address_book.route(&key.ip) else { return };
        out.send_udp(to, entry.msg.clone());
        out.set_timer(Dur::from_millis(ACK_TIMEOUT_MS), Timer::Server(ServerTimer::Retransmit(Rc::new(key))));
    }

    /// The ack receiver (R3.11): matched by source address and `lastRefTime`.
    pub(super) fn on_ack(&mut self, from: NodeId, last_ref_time: i64, out: &mut Out) {
        let Some(ip) = self.config.address_book.source.get(from as usize) else { return };
        let matching = self.push.acks.range(
            AckKey { ip: ip.clone(), port: 0, last_ref_time }..=AckKey {
                ip: ip.clone(),
                port: u16::MAX,
                last_ref_time,
            },
        );
        let keys: Vec<AckKey> =
            matching.filter(|(k, _)| k.last_ref_time == last_ref_time).map(|(k, _)| k.clone()).collect();
        for k in keys {
            self.acked(&k, out);
        }
    }

    /// An ack from a known source address and port (a real socket): the whole key must match.
    pub(super) fn on_ack_from(&mut self, key: &AckKey, out: &mut Out) {
        self.acked(key, out);
    }

    fn acked(&mut self, key: &AckKey, out: &mut Out) {
        if let Some(e) = self.push.acks.remove(key) {
            out.observe(Observation::PushAcked { service: e.service, client: e.label });
        }
    }
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
