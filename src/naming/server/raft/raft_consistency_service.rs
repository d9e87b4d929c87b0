//! `RaftConsistencyServiceImpl` and `RaftCore`'s write paths (spec R7.12–R7.18): how a
//! persistent write reaches every node.
//!
//! A node that is not the leader proxies the write to the leader and waits for its answer (no
//! leader: the Java NullPointerException). The leader takes `OPERATE_LOCK`, stamps the datum
//! with the key's next timestamp, applies it, sends it to every other peer, and holds the lock
//! until a majority has answered or 5 s have passed: then the caller gets an error, and the
//! datum stays applied wherever it arrived (no rollback). Writes on the leader therefore run one
//! at a time. A delete is applied by the leader and sent to the peers without waiting.
//!
//! Every change reaches the listeners at once (Java hands it to a notifier thread, a sub-ms
//! difference): a service meta key creates or removes its Service on every node
//! (`ServiceManager.onChange/onDelete`), an instance list reaches its Service.

use super::raft_core::{RaftDatum, RaftValue, STOPPED};
use super::RaftPeer;
use crate::engine::{ExchangeId, HttpError, NodeId};
use crate::naming::server::key_builder::{
    instance_list_key, service_key_of, service_meta_key, service_of_meta_key, SERVICE_META_PREFIX,
};
use crate::naming::server::registry::{Instance, InstanceRef};
use crate::naming::server::{error, Call, NamingServer, Out, Rejected, SERVER_HTTP_TIMEOUTS};
use crate::naming::wire::*;
use crate::time::Dur;
use rand_chacha::ChaCha8Rng;
use std::collections::VecDeque;
use std::rc::Rc;

/// What a follower's write meets while it knows no leader (`getLeader().ip` on null).
const NO_LEADER: &str = "java.lang.NullPointerException";

/// `RAFT_PUBLISH_TIMEOUT`: how long the leader waits for a majority (R7.12).
const PUBLISH_TIMEOUT_MS: i64 = 5000;

/// A request whose answer waits for a Raft write.
#[derive(Clone)]
pub struct Waiter {
    pub id: ExchangeId,
    pub from: NodeId,
    /// Its Open API endpoint, when the scenario observes what servers answer.
    pub api: Option<&'static str>,
    /// What to record when the write succeeds.
    pub on_ok: Option<Observation>,
}

/// What follows a Raft write.
#[derive(Clone)]
pub enum Then {
    /// Answer this request: `ok`, or HTTP 500 with the reason.
    Answer(Waiter),
    /// A persistent registration created its service: the meta key is written first, then the
    /// instance list (`createServiceIfAbsent(local=false)`, then `addInstance`).
    Register { service: ServiceKey, instance: Box<InstanceData>, waiter: Waiter },
    /// Nobody waits (`EmptyServiceAutoClean` retries at its next pass, a metadata batch
    /// has answered).
    Nothing,
}

/// A write proxied to the leader; a proxied delete holds the lock until the answer.
#[derive(Clone)]
pub struct Proxied {
    key: Str,
    then: Then,
    delete: bool,
}

/// What waits for `OPERATE_LOCK` (a `ReentrantLock`: waiters get it in arrival order).
#[derive(Clone)]
enum Locked {
    Publish {
        key: Str,
        value: RaftValue,
        then: Then,
    },
    Delete {
        key: Str,
        then: Then,
    },
    /// Datums a catch-up fetched, applied one by one under the lock.
    Apply {
        datums: Rc<Vec<RaftDatum>>,
        leader_term: i64,
    },
}

/// `OPERATE_LOCK`, who waits for it, and the leader's publish that holds it.
#[derive(Default)]
pub struct OperateLock {
    held: bool,
    waiting: VecDeque<Locked>,
    publishing: Option<Publishing>,
    seq: u64,
}

/// The leader's publish waiting for its majority: `latch.await(5000)`.
struct Publishing {
    seq: u64,
    key: Str,
    /// The datum's timestamp, reported when the majority acknowledges it.
    timestamp: i64,
    /// Acknowledgements still missing for a majority.
    missing: usize,
    then: Then,
}

impl NamingServer {
    /// `RaftConsistencyServiceImpl.put` (R7.12): `signalPublish`.
    pub(crate) fn raft_put(
        &mut self,
        now_ms: i64,
        key: Str,
        value: RaftValue,
        then: Then,
        rng: &mut ChaCha8Rng,
        out: &mut Out,
    ) {
        if self.jraft_in_force() {
            return self.jraft_write(now_ms, key, Some(value), then, rng, out);
        }
        let Some(raft) = self.raft.as_ref() else { return };
        if raft.stopped {
            return self.raft_write_failed(now_ms, &key, then, STOPPED, rng, out);
        }
        if !raft.is_leader() {
            let Some(leader) = raft.peers.leader().and_then(|l| self.member_node(l)) else {
                return self.raft_write_failed(now_ms, &key, then, NO_LEADER, rng, out);
            };
            let x = out.request(leader, Msg::RaftPublish(Rc::new((key.clone(), value))), SERVER_HTTP_TIMEOUTS);
            self.calls.insert(x, Call::RaftProxy(Box::new(Proxied { key, then, delete: false })));
            return;
        }
        self.lock_or_wait(now_ms, Locked::Publish { key, value, then }, rng, out);
    }

    /// `RaftConsistencyServiceImpl.remove` (R7.17): an instance list on a follower is deleted
    /// locally as if the leader had sent it; anything else goes through `signalDelete`.
    pub(crate) fn raft_remove(&mut self, now_ms: i64, key: Str, then: Then, rng: &mut ChaCha8Rng, out: &mut Out) {
        if self.jraft_in_force() {
            return self.jraft_write(now_ms, key, None, then, rng, out);
        }
        let Some(raft) = self.raft.as_mut() else { return };
        if raft.stopped {
            return self.raft_write_failed(now_ms, &key, then, STOPPED, rng, out);
        }
        if !key.starts_with(SERVICE_META_PREFIX) && !raft.is_leader() {
            let result = match raft.peers.leader_peer() {
                Some(leader) => raft.on_delete(&key, &leader, rng),
                None => Err(NO_LEADER.into()),
            };
            if result.is_ok() {
                self.raft_deleted(now_ms, &key, DeletedVia::Local, rng, out);
            }
            return self.raft_write_done(now_ms, &key, then, result, rng, out);
        }
        self.lock_or_wait(now_ms, Locked::Delete { key, then }, rng, out);
    }

    fn lock_or_wait(&mut self, now_ms: i64, op: Locked, rng: &mut ChaCha8Rng, out: &mut Out) {
        let lock = &mut self.raft_lock;
        if lock.held {
            lock.waiting.push_back(op);
            return;
        }
        lock.held = true;
        self.run_locked(now_ms, op, rng, out);
    }

    /// Runs what holds the lock; the lock is released here unless the operation waits for an
    /// answer (a publish's majority, a proxied delete). A write's outcome is reported before
    /// the lock is released, as Java throws inside `try` and unlocks in `finally`.
    fn run_locked(&mut self, now_ms: i64, op: Locked, rng: &mut ChaCha8Rng, out: &mut Out) {
        match op {
            Locked::Publish { key, value, then } => self.leader_publish(now_ms, key, value, then, rng, out),
            Locked::Delete { key, then } => self.signal_delete(now_ms, key, then, rng, out),
            Locked::Apply { datums, leader_term } => {
                for d in datums.iter() {
                    let Some(raft) = self.raft.as_mut() else { break };
                    if let Some(term) = raft.apply_fetched(d.clone(), leader_term, rng) {
                        let (key, timestamp) = (d.key.clone(), d.timestamp);
                        out.observe(Observation::RaftPublishApplied { key, term, timestamp, via: "fetch" });
                        self.raft_changed(now_ms, &d.key, out);
                    }
                }
                self.release_lock(now_ms, rng, out);
            }
        }
    }

    /// The lock is free: the next waiter takes it.
    fn release_lock(&mut self, now_ms: i64, rng: &mut ChaCha8Rng, out: &mut Out) {
        self.raft_lock.held = false;
        if let Some(op) = self.raft_lock.waiting.pop_front() {
            self.raft_lock.held = true;
            self.run_locked(now_ms, op, rng, out);
        }
    }

    /// The leader's half of `signalPublish`, under the lock (R7.12).
    fn leader_publish(
        &mut self,
        now_ms: i64,
        key: Str,
        value: RaftValue,
        then: Then,
        rng: &mut ChaCha8Rng,
        out: &mut Out,
    ) {
        let Some(raft) = self.raft.as_mut() else { return };
        let timestamp = raft.next_timestamp(&key);
        let datum = RaftDatum { key: key.clone(), value, timestamp };
        // The commit carries the leader's peer as it was before its own term moves.
        let source = raft.peers.local().clone();
        let missing = raft.peers.majority() - 1;
        match raft.on_publish(datum.clone(), &source, rng) {
            Err(reason) => {
                self.raft_write_done(now_ms, &key, then, Err(reason), rng, out);
                self.release_lock(now_ms, rng, out);
            }
            Ok(term) => {
                out.observe(Observation::RaftPublishApplied { key: key.clone(), term, timestamp, via: "publish" });
                self.raft_changed(now_ms, &key, out);
                if missing == 0 {
                    out.observe(Observation::RaftPublishCommitted { key: key.clone(), timestamp });
                    self.raft_write_done(now_ms, &key, then, Ok(()), rng, out);
                    return self.release_lock(now_ms, rng, out);
                }
                self.raft_lock.seq += 1;
                let seq = self.raft_lock.seq;
                let commit = Msg::RaftCommit(Rc::new((datum, source)));
                self.tell_raft_peers(commit, Call::RaftCommit { seq }, out);
                out.set_timer(
                    Dur::from_millis(PUBLISH_TIMEOUT_MS),
                    Timer::Server(ServerTimer::RaftPublishTimeout(seq)),
                );
                self.raft_lock.publishing = Some(Publishing { seq, key, timestamp, missing, then });
            }
        }
    }

    /// A peer answered a commit: one more acknowledgement if it is for the publish waiting.
    pub(crate) fn on_commit_answer(
        &mut self,
        now_ms: i64,
        seq: u64,
        result: Result<Msg, HttpError>,
        rng: &mut ChaCha8Rng,
        out: &mut Out,
    ) {
        let Some(p) = self.raft_lock.publishing.as_mut().filter(|p| p.seq == seq) else { return };
        if !matches!(result, Ok(Msg::Ok)) {
            return;
        }
        p.missing -= 1;
        if p.missing == 0 {
            let p = self.raft_lock.publishing.take().expect("checked above");
            out.observe(Observation::RaftPublishCommitted { key: p.key.clone(), timestamp: p.timestamp });
            self.raft_write_done(now_ms, &p.key, p.then, Ok(()), rng, out);
            self.release_lock(now_ms, rng, out);
        }
    }

    /// 5 s without a majority: the caller gets the error, the datum stays applied (R7.12).
    pub(crate) fn publish_timeout(&mut self, now_ms: i64, seq: u64, rng: &mut ChaCha8Rng, out: &mut Out) {
        if self.raft_lock.publishing.as_ref().is_none_or(|p| p.seq != seq) {
            return;
        }
        let p = self.raft_lock.publishing.take().expect("checked above");
        let reason = format!("data publish failed, caused failed to notify majority, key={}", p.key);
        self.raft_write_done(now_ms, &p.key, p.then, Err(reason), rng, out);
        self.release_lock(now_ms, rng, out);
    }

    /// `signalDelete` (R7.15), under the lock: a follower proxies to the leader and keeps the
    /// lock until it answers; the leader deletes and tells the peers without waiting.
    fn signal_delete(&mut self, now_ms: i64, key: Str, then: Then, rng: &mut ChaCha8Rng, out: &mut Out) {
        let Some(raft) = self.raft.as_ref() else { return };
        if !raft.is_leader() {
            let Some(leader) = raft.peers.leader().and_then(|l| self.member_node(l)) else {
                self.raft_write_failed(now_ms, &key, then, NO_LEADER, rng, out);
                return self.release_lock(now_ms, rng, out);
            };
            let x = out.request(leader, Msg::RaftDelete(key.clone()), SERVER_HTTP_TIMEOUTS);
            self.calls.insert(x, Call::RaftProxy(Box::new(Proxied { key, then, delete: true })));
            return;
        }
        let source = raft.peers.local().clone();
        let result = self.raft.as_mut().map_or(Ok(()), |raft| raft.on_delete(&key, &source, rng));
        if result.is_ok() {
            self.raft_deleted(now_ms, &key, DeletedVia::Delete, rng, out);
            self.tell_raft_peers(Msg::RaftDeleteCommit(Rc::new((key.clone(), source))), Call::RaftDeleteCommit, out);
        }
        self.raft_write_done(now_ms, &key, then, result, rng, out);
        self.release_lock(now_ms, rng, out);
    }

    /// The leader answered a proxied write (`RaftProxy`: any non-200 is "leader failed").
    pub(crate) fn on_proxy_answer(
        &mut self,
        now_ms: i64,
        proxied: Proxied,
        result: Result<Msg, HttpError>,
        rng: &mut ChaCha8Rng,
        out: &mut Out,
    ) {
        let Proxied { key, then, delete } = proxied;
        let result = match result {
            Ok(Msg::Ok) => Ok(()),
            Ok(Msg::Error { message, .. }) => Err(format!("leader failed, caused by: {message}")),
            Ok(other) => Err(format!("leader failed, caused by: {other:?}")),
            Err(e) => Err(format!("{e:?}")),
        };
        self.raft_write_done(now_ms, &key, then, result, rng, out);
        if delete {
            self.release_lock(now_ms, rng, out);
        }
    }

    /// A delete commit was answered: on success the leader resets its own leader due time.
    pub(crate) fn on_delete_commit_answer(&mut self, result: Result<Msg, HttpError>, rng: &mut ChaCha8Rng) {
        if let (Ok(Msg::Ok), Some(raft)) = (result, self.raft.as_mut()) {
            raft.peers.local_mut().reset_leader_due(rng);
        }
    }

    fn raft_write_failed(
        &mut self,
        now_ms: i64,
        key: &Str,
        then: Then,
        reason: &str,
        rng: &mut ChaCha8Rng,
        out: &mut Out,
    ) {
        self.raft_write_done(now_ms, key, then, Err(reason.into()), rng, out);
    }

    /// A write ended: what waits for it goes on.
    pub(crate) fn raft_write_done(
        &mut self,
        now_ms: i64,
        key: &Str,
        then: Then,
        result: Result<(), String>,
        rng: &mut ChaCha8Rng,
        out: &mut Out,
    ) {
        if let Err(reason) = &result {
            out.observe(Observation::RaftPublishFailed { key: key.clone(), reason: reason.clone() });
        }
        match (then, result) {
            (Then::Nothing, _) => {}
            (Then::Answer(w), Ok(())) => self.answer_waiter(w, Msg::Ok, out),
            (Then::Answer(w), Err(reason)) => self.answer_waiter(w, raft_error(key, &reason), out),
            (Then::Register { service, instance, waiter }, Ok(())) => {
                let inst = Instance::from_data(&instance);
                self.publish_instances(now_ms, &service, false, vec![inst], Then::Answer(waiter), rng, out);
            }
            (Then::Register { waiter, .. }, Err(reason)) => self.answer_waiter(waiter, raft_error(key, &reason), out),
        }
    }

    pub(crate) fn answer_waiter(&mut self, w: Waiter, reply: Msg, out: &mut Out) {
        if matches!(reply, Msg::Ok) {
            if let Some(o) = w.on_ok {
                out.observe(o);
            }
        }
        if let Some(api) = w.api {
            self.observe_answer(w.from, api, &reply, out);
        }
        out.respond(w.id, reply);
    }

    /// `addInstance` / `removeInstance` of persistent instances: the read-modify-write on this
    /// node's copy of the datum (R7.14), then `signalPublish` of the whole list.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn publish_instances(
        &mut self,
        now_ms: i64,
        svc: &ServiceKey,
        remove: bool,
        ips: Vec<Instance>,
        then: Then,
        rng: &mut ChaCha8Rng,
        out: &mut Out,
    ) {
        let key = instance_list_key(svc, false);
        let mut list: Vec<InstanceRef> = match self.persistent_value(&key) {
            Some(RaftValue::Instances(list)) => instances_from(&list),
            _ => Vec::new(),
        };
        match self.next_list(svc, remove, false, &mut list, false, ips) {
            Ok(()) => {
                let value = RaftValue::Instances(Rc::new(list.iter().map(|i| i.to_data()).collect()));
                self.raft_put(now_ms, key, value, then, rng, out);
            }
            Err(Rejected(status, message)) => {
                if let Then::Answer(w) | Then::Register { waiter: w, .. } = then {
                    self.answer_waiter(w, Msg::Error { status, message: message.into() }, out);
                }
            }
        }
    }

    /// A persistent registration (R1.18): a new service's meta key goes first.
    pub(crate) fn register_persistent(
        &mut self,
        now_ms: i64,
        svc: ServiceKey,
        d: InstanceData,
        waiter: Waiter,
        rng: &mut ChaCha8Rng,
        out: &mut Out,
    ) {
        if self.services.contains_key(&svc) {
            return self.publish_instances(
                now_ms,
                &svc,
                false,
                vec![Instance::from_data(&d)],
                Then::Answer(waiter),
                rng,
                out,
            );
        }
        self.create_service_if_absent(now_ms, &svc, out);
        let then = Then::Register { service: svc.clone(), instance: Box::new(d), waiter };
        self.raft_put(now_ms, service_meta_key(&svc), RaftValue::Service, then, rng, out);
    }

    /// A datum changed here: its listeners run (R7.18).
    pub(crate) fn raft_changed(&mut self, now_ms: i64, key: &Str, out: &mut Out) {
        if &**key == super::super::key_builder::SWITCH_DOMAIN_KEY {
            if let Some(RaftValue::SwitchDomain(fields)) = self.persistent_value(key) {
                self.switch_domain_changed(&fields);
            }
            return;
        }
        if let Some(svc) = service_of_meta_key(key) {
            // ServiceManager.onChange: a service this node lacks is created, and its listener
            // registration replays the instance list already here; one it has takes the
            // stored fields (`Service.update`).
            if !self.services.contains_key(&svc) {
                self.create_service_if_absent(now_ms, &svc, out);
                self.replay_instances(now_ms, &svc, out);
            }
            if let Some(RaftValue::ServiceFields(fields)) = self.persistent_value(key) {
                self.apply_service_fields(&svc, &fields);
            }
            return;
        }
        let Some(RaftValue::Instances(list)) = self.persistent_value(key) else { return };
        if let Some(svc) = service_key_of(key) {
            if self.services.contains_key(&svc) {
                self.apply_list(now_ms, key, &instances_from(&list), out);
            }
        }
    }

    /// `listen(key, service)`: the persistent instance list already held reaches the Service.
    fn replay_instances(&mut self, now_ms: i64, svc: &ServiceKey, out: &mut Out) {
        let key = instance_list_key(svc, false);
        if let Some(RaftValue::Instances(list)) = self.persistent_value(&key) {
            self.apply_list(now_ms, &key, &instances_from(&list), out);
        }
    }

    /// Every persistent key this node holds, with its value (for the convergence check).
    pub fn persistent_data(&self) -> std::collections::BTreeMap<Str, RaftValue> {
        if self.jraft_in_force() {
            return self.jraft.as_ref().map(|j| j.kv.clone()).unwrap_or_default();
        }
        self.raft
            .as_ref()
            .map(|r| r.datums.iter().map(|(k, d)| (k.clone(), d.value.clone())).collect())
            .unwrap_or_default()
    }

    /// What this node holds for a persistent key (`consistencyService.get`): JRaft's storage
    /// once it is in force, else the legacy Raft's datum. Read locally (JRaft's read-index
    /// round to the leader is not modelled).
    pub(crate) fn persistent_value(&self, key: &str) -> Option<RaftValue> {
        if self.jraft_in_force() {
            return self.jraft_value(key);
        }
        self.raft.as_ref().and_then(|r| r.datums.get(key)).map(|d| d.value.clone())
    }

    /// A datum was deleted here: `ServiceManager.onDelete` for a meta key (the service goes on
    /// this node, with its instance lists), `Service.onDelete` for an instance list.
    pub(crate) fn raft_deleted(
        &mut self,
        now_ms: i64,
        key: &Str,
        via: DeletedVia,
        rng: &mut ChaCha8Rng,
        out: &mut Out,
    ) {
        out.observe(Observation::RaftDatumDeleted { key: key.clone(), via: via.name() });
        if let Some(svc) = service_of_meta_key(key) {
            if self.services.contains_key(&svc) {
                self.store.data.remove(&instance_list_key(&svc, true));
                self.raft_remove(now_ms, instance_list_key(&svc, false), Then::Nothing, rng, out);
                self.remove_service(&svc, out);
            }
        } else if self.switches.behaviour.service_on_delete_removes {
            self.service_on_delete(key, out);
        }
    }

    /// The datums on disk at boot (R7.19–R7.20): loaded, and their listeners run; the term
    /// stored with them is not applied, so the node starts at term 0.
    pub(crate) fn load_raft_store(&mut self, now_ms: i64, out: &mut Out) {
        let Some(raft) = self.raft.as_mut() else { return };
        raft.datums = std::mem::take(&mut self.raft_store);
        let metas: Vec<ServiceKey> = raft.datums.keys().filter_map(|k| service_of_meta_key(k)).collect();
        for svc in metas {
            self.create_service_if_absent(now_ms, &svc, out);
            self.replay_instances(now_ms, &svc, out);
        }
    }

    /// POST `/raft/datum` on the leader: the proxied write, answered when it ends.
    pub(crate) fn on_raft_publish(
        &mut self,
        now_ms: i64,
        id: ExchangeId,
        from: NodeId,
        req: &(Str, RaftValue),
        rng: &mut ChaCha8Rng,
        out: &mut Out,
    ) {
        let waiter = Waiter { id, from, api: None, on_ok: None };
        self.raft_put(now_ms, req.0.clone(), req.1.clone(), Then::Answer(waiter), rng, out);
    }

    /// DELETE `/raft/datum?key=` on the leader.
    pub(crate) fn on_raft_delete(
        &mut self,
        now_ms: i64,
        id: ExchangeId,
        from: NodeId,
        key: &Str,
        rng: &mut ChaCha8Rng,
        out: &mut Out,
    ) {
        let waiter = Waiter { id, from, api: None, on_ok: None };
        self.raft_remove(now_ms, key.clone(), Then::Answer(waiter), rng, out);
    }

    /// POST `/raft/datum/commit` (R7.13 on a follower).
    pub(crate) fn on_raft_commit(
        &mut self,
        now_ms: i64,
        c: &(RaftDatum, RaftPeer),
        rng: &mut ChaCha8Rng,
        out: &mut Out,
    ) -> Msg {
        let Some(raft) = self.raft.as_mut() else { return error(500, "raft not running") };
        match raft.on_publish(c.0.clone(), &c.1, rng) {
            Ok(term) => {
                let (key, timestamp) = (c.0.key.clone(), c.0.timestamp);
                out.observe(Observation::RaftPublishApplied { key, term, timestamp, via: "commit" });
                self.raft_changed(now_ms, &c.0.key, out);
                Msg::Ok
            }
            Err(reason) => error(500, &format!("Raft onPut failed, caused: {reason}")),
        }
    }

    /// DELETE `/raft/datum/commit` (R7.16 on a follower).
    pub(crate) fn on_raft_delete_commit(
        &mut self,
        now_ms: i64,
        c: &(Str, RaftPeer),
        rng: &mut ChaCha8Rng,
        out: &mut Out,
    ) -> Msg {
        let Some(raft) = self.raft.as_mut() else { return error(500, "raft not running") };
        match raft.on_delete(&c.0, &c.1, rng) {
            Ok(()) => {
                self.raft_deleted(now_ms, &c.0, DeletedVia::Commit, rng, out);
                Msg::Ok
            }
            Err(reason) => error(500, &format!("Raft onRemove failed, caused: {reason}")),
        }
    }

    /// GET `/raft/datum?keys=`: the datums held of those keys (missing ones are skipped by the
    /// caller as Java's `null` entries are).
    pub(crate) fn on_raft_fetch(&self, keys: &[Str]) -> Msg {
        let Some(raft) = self.raft.as_ref() else { return error(500, "raft not running") };
        Msg::RaftDatums(Rc::new(keys.iter().filter_map(|k| raft.datums.get(k).cloned()).collect()))
    }

    /// A catch-up fetch answered: its datums are applied under the lock.
    pub(crate) fn on_raft_fetch_answer(
        &mut self,
        now_ms: i64,
        leader_term: i64,
        result: Result<Msg, HttpError>,
        rng: &mut ChaCha8Rng,
        out: &mut Out,
    ) {
        if let Ok(Msg::RaftDatums(datums)) = result {
            self.lock_or_wait(now_ms, Locked::Apply { datums, leader_term }, rng, out);
        }
    }

    /// A catch-up after a valid beat: fetches from the leader, and the keys it lacked deleted.
    pub(crate) fn raft_catch_up(
        &mut self,
        now_ms: i64,
        leader: &Str,
        leader_term: i64,
        catch_up: super::raft_core::CatchUp,
        rng: &mut ChaCha8Rng,
        out: &mut Out,
    ) {
        if let Some(node) = self.member_node(leader) {
            for keys in catch_up.fetch {
                let x = out.request(node, Msg::RaftFetch(Rc::new(keys)), SERVER_HTTP_TIMEOUTS);
                self.calls.insert(x, Call::RaftFetch { leader_term });
            }
        }
        for key in catch_up.deleted {
            self.raft_deleted(now_ms, &key, DeletedVia::Beat, rng, out);
        }
    }
}

/// How a datum came to be deleted on a node, as `raft_datum_deleted` reports it.
#[derive(Clone, Copy)]
pub enum DeletedVia {
    /// The leader's own `signalDelete`.
    Delete,
    /// A follower applying the leader's delete commit.
    Commit,
    /// A follower's catch-up: the leader's beat lacked the key (R7.10).
    Beat,
    /// An instance list removed on a follower as if the leader had sent it (R7.17).
    Local,
    /// A JRaft log entry applied.
    Jraft,
}

impl DeletedVia {
    fn name(self) -> &'static str {
        match self {
            DeletedVia::Delete => "delete",
            DeletedVia::Commit => "commit",
            DeletedVia::Beat => "beat",
            DeletedVia::Local => "local",
            DeletedVia::Jraft => "jraft",
        }
    }
}

/// What a client sees when a persistent write fails (`NacosException` "Raft put failed").
fn raft_error(key: &str, reason: &str) -> Msg {
    error(500, &format!("caused: Raft put failed, key:{key};caused: {reason};"))
}

fn instances_from(list: &[InstanceData]) -> Vec<InstanceRef> {
    list.iter().map(|d| Rc::new(Instance::from_data(d))).collect()
}
