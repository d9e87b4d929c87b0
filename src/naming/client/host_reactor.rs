//! `HostReactor` (spec §4, R4.1–R4.12): subscriptions, the `UpdateTask` that polls each one
//! with its back-off, and `processServiceJson`, which every pull and push goes through.

use super::naming_proxy::Then;
use super::{NamingClient, Out};
use crate::naming::server::registry::{metadata_millis, DEFAULT_HEART_BEAT_INTERVAL};
use crate::naming::wire::*;
use crate::time::{Dur, Time};
use std::collections::BTreeMap;
use std::rc::Rc;

/// `UpdateTask` first delay and the unit of its back-off (R4.5).
const UPDATE_DEFAULT_DELAY_MS: i64 = 1000;
const UPDATE_MAX_DELAY_MS: i64 = 60_000;
const MAX_FAIL_COUNT: u32 = 6;

/// `UpdateTask` state (R4.5).
struct UpdateTask {
    last_ref_time: i64,
    fail_count: u32,
    /// Still in `futureMap`: from client 1.4.4 an unsubscribe that leaves no listener takes it
    /// out, and the task stops at its next run (C3).
    in_future_map: bool,
}

/// The running `UpdateTask` of each service key (`futureMap`), and the listeners of each
/// (`InstancesChangeNotifier`). The `serviceInfoMap` itself is the client's
/// [`cache`](NamingClient::cache).
#[derive(Default)]
pub(super) struct HostReactor {
    update_tasks: BTreeMap<Str, UpdateTask>,
    listeners: BTreeMap<Str, u32>,
}

impl HostReactor {
    /// The subscribed service keys (`name@@clusters`).
    pub(super) fn subscribed(&self) -> impl Iterator<Item = &Str> {
        self.update_tasks.keys()
    }
}

impl NamingClient {
    /// `subscribe` → `getServiceInfo` (R4.2): a placeholder and a synchronous pull
    /// (`updateServiceNow`); the `UpdateTask` is scheduled, 1 s ahead, once that call returned,
    /// so a pull that blocks (connect timeouts, a paused server) delays the first poll.
    pub(super) fn subscribe(&mut self, now: Time, svc: &ServiceKey, clusters: &Str, out: &mut Out) {
        if self.failover.is_on() {
            // getServiceInfo serves the failover copy and schedules no polling (R4.2 step 1):
            // this subscription never updates, even after failover is switched off.
            return;
        }
        let key = service_info_key(&svc.name, clusters);
        *self.host_reactor.listeners.entry(key.clone()).or_default() += 1;
        if !self.cache.contains_key(&key) {
            self.cache.insert(key.clone(), Rc::new(placeholder(&svc.name, clusters)));
            let msg = self.list_msg(svc, clusters);
            self.req_api(now, "queryList", msg, Then::PullNow { key }, out);
            return;
        }
        self.schedule_update_if_absent(key, out);
    }

    /// `scheduleUpdateIfAbsent`: the key's `UpdateTask`, 1 s from now, unless it has one. A
    /// task taken out of `futureMap` but not yet stopped is put back instead (Nacos 1.4.4
    /// would start a second task beside it; one poller per key is kept here).
    pub(super) fn schedule_update_if_absent(&mut self, key: Str, out: &mut Out) {
        match self.host_reactor.update_tasks.get_mut(&key) {
            Some(task) => task.in_future_map = true,
            None => {
                let task = UpdateTask { last_ref_time: i64::MAX, fail_count: 0, in_future_map: true };
                self.host_reactor.update_tasks.insert(key.clone(), task);
                out.set_timer(Dur::from_millis(UPDATE_DEFAULT_DELAY_MS), Timer::Client(ClientTimer::Update(key)));
            }
        }
    }

    /// `unSubscribe`: the listener goes. Up to client 1.4.3 nothing else happens (the
    /// `UpdateTask` keeps polling and pushes keep coming); from 1.4.4 the last listener's
    /// removal takes the key out of `futureMap` (C3).
    pub(super) fn unsubscribe(&mut self, svc: &ServiceKey, clusters: &Str, out: &mut Out) {
        let key = service_info_key(&svc.name, clusters);
        let left = self.host_reactor.listeners.get_mut(&key).map(|n| {
            *n = n.saturating_sub(1);
            *n
        });
        out.observe(Observation::Unsubscribed { service: svc.name.clone() });
        if left == Some(0) && self.behaviour.unsubscribe_stops_polling {
            if let Some(task) = self.host_reactor.update_tasks.get_mut(&key) {
                task.in_future_map = false;
            }
        }
    }

    /// The answer to a one-shot query, filtered as `selectInstances` does (healthy as asked,
    /// enabled, weight above 0) or whole for `getAllInstances`; a failure is the exception the
    /// application gets.
    pub(super) fn query_done(&mut self, service: Str, healthy: Option<bool>, result: Result<Msg, ()>, out: &mut Out) {
        let (hosts, ok) = match result {
            Ok(Msg::Service(info)) => {
                let wanted =
                    |h: &&HostJson| healthy.is_none_or(|want| h.healthy == want && h.enabled && h.weight.0 > 0.0);
                let hosts = info.hosts.iter().filter(wanted).map(SeenHost::of);
                (hosts.collect(), true)
            }
            _ => (Vec::new(), false),
        };
        out.observe(Observation::QueryAnswered { service, hosts, ok });
    }

    /// `UpdateTask.run` (R4.5), first half: pull, or only refresh when a push updated the
    /// cache since the last run.
    pub(super) fn update_task(&mut self, now: Time, key: Str, out: &mut Out) {
        let Some(task) = self.host_reactor.update_tasks.get(&key) else { return };
        let Some(cached) = self.cache.get(&key) else { return };
        let refresh_only = cached.last_ref_time > task.last_ref_time;
        let svc = ServiceKey { namespace: self.config.namespace.clone(), name: cached.name.clone() };
        let msg = self.list_msg(&svc, &cached.clusters.clone());
        self.req_api(now, "queryList", msg, Then::Update { key, refresh_only }, out);
    }

    /// `UpdateTask.run`, second half, and its `finally`: delay `cacheMillis` on success,
    /// `1000 << failCount` (capped at 60 s) on an empty answer or an error.
    pub(super) fn update_done(&mut self, key: Str, refresh_only: bool, result: Result<Msg, ()>, out: &mut Out) {
        let mut delay = UPDATE_DEFAULT_DELAY_MS;
        let mut failed = false;
        match result {
            Ok(Msg::Service(info)) if !refresh_only => self.process_service_json(info, out),
            // The body does not parse: UpdateTask catches the Throwable and counts a failure.
            Ok(Msg::Garbled) => failed = !refresh_only,
            Ok(_) => {}
            // refreshOnly swallows its exception; updateService lets it reach UpdateTask.
            Err(()) => failed = !refresh_only,
        }
        if let Some(info) = self.cache.get(&key).filter(|_| failed) {
            self.log("WARN", format!("[NA] failed to update serviceName: {}", info.name), out);
        }
        let Some(task) = self.host_reactor.update_tasks.get_mut(&key) else { return };
        let listened = self.host_reactor.listeners.get(&key).is_some_and(|n| *n > 0);
        if !failed && !listened && !task.in_future_map {
            // C3 (client 1.4.4): "update task is stopped", and the cache entry goes with it.
            self.host_reactor.update_tasks.remove(&key);
            if let Some(info) = self.cache.remove(&key) {
                let message = format!("update task is stopped, service:{}, clusters:{}", info.name, info.clusters);
                self.log("INFO", message, out);
            }
            out.observe(Observation::UpdateTaskStopped { service: key });
            return;
        }
        if failed {
            task.fail_count = (task.fail_count + 1).min(MAX_FAIL_COUNT);
        } else if let Some(cached) = self.cache.get(&key) {
            task.last_ref_time = cached.last_ref_time;
            if cached.hosts.is_empty() {
                task.fail_count = (task.fail_count + 1).min(MAX_FAIL_COUNT);
            } else {
                delay = cached.cache_millis;
                task.fail_count = 0;
            }
        }
        let next = (delay << task.fail_count).min(UPDATE_MAX_DELAY_MS);
        out.set_timer(Dur::from_millis(next), Timer::Client(ClientTimer::Update(key)));
    }

    /// `processServiceJson` (R4.10), shared by pulls and pushes.
    pub(super) fn process_service_json(&mut self, info: Rc<ServiceInfo>, out: &mut Out) {
        if self.config.push_empty_protection && !info.hosts.iter().any(|h| h.healthy && h.weight.0 > 0.0) {
            return;
        }
        let key = service_info_key(&info.name, &info.clusters);
        // An older lastRefTime is only logged in 1.4.x: the older data still replaces the cache.
        let old = self.cache.insert(key, info.clone());
        if let Some(old) = old.as_ref().filter(|o| o.last_ref_time > info.last_ref_time) {
            let message =
                format!("out of date data received, old-t: {}, new-t: {}", old.last_ref_time, info.last_ref_time);
            self.log("WARN", message, out);
        }
        let changed = match &old {
            None => true,
            // The usual poll answer: the same hosts in the same order. The diff below would find
            // every host unmodified; this pass reaches that without sorting.
            Some(old) if same_hosts(&old.hosts, &info.hosts) => false,
            Some(old) => {
                let (before, after) = (by_address(&old.hosts), by_address(&info.hosts));
                let mut changed = before.len() != after.len()
                    || before.iter().any(|(k, _)| after.binary_search_by(|(a, _)| a.cmp(k)).is_err());
                for (k, h) in &after {
                    match before.binary_search_by(|(b, _)| b.cmp(k)) {
                        Ok(i) if !same_api_instance(before[i].1, h) => {
                            changed = true;
                            self.rebuild_beat_info(h, out);
                        }
                        Ok(_) => {}
                        Err(_) => changed = true,
                    }
                }
                changed
            }
        };
        if changed {
            let hosts = info.hosts.iter().map(SeenHost::of).collect();
            out.observe(Observation::SubscriberViewChanged { service: info.name.clone(), hosts });
        }
    }

    /// A modified ephemeral host that this client beats for gets a fresh BeatInfo built from
    /// the server's view, which restarts its beat timer (R4.10 step 3).
    fn rebuild_beat_info(&mut self, h: &HostJson, out: &mut Out) {
        let key = BeatKey { service: h.service.clone(), ip: h.ip.clone(), port: h.port };
        if !h.ephemeral || !self.beat_reactor.contains(&key) {
            return;
        }
        let period = metadata_millis(&h.metadata, "preserved.heart.beat.interval", DEFAULT_HEART_BEAT_INTERVAL);
        let info = BeatInfo {
            ip: h.ip.clone(),
            port: h.port,
            weight: h.weight,
            service: h.service.clone(),
            cluster: h.cluster.clone(),
            metadata: h.metadata.clone(),
            period,
        };
        self.add_beat_info(info, out);
    }
}

/// `ServiceInfo.getKey` (R4.1).
pub fn service_info_key(name: &str, clusters: &str) -> Str {
    if clusters.is_empty() {
        name.into()
    } else {
        format!("{name}@@{clusters}").into()
    }
}

fn placeholder(name: &Str, clusters: &Str) -> ServiceInfo {
    ServiceInfo {
        name: name.clone(),
        clusters: clusters.clone(),
        cache_millis: 1000,
        last_ref_time: 0,
        checksum: "".into(),
        hosts: Hosts::default(),
        metadata: Default::default(),
    }
}

/// Hosts keyed by `ip:port` in key order, as the Java `Map` the diff builds (R4.10): for a
/// repeated address the last host wins.
fn by_address(hosts: &[HostJson]) -> Vec<((&str, u16), &HostJson)> {
    let mut v: Vec<_> = hosts.iter().map(|h| ((&*h.ip, h.port), h)).collect();
    crate::naming::sorted_map_order(&mut v, |a, b| a.0.cmp(&b.0));
    v
}

/// Whether two host lists hold the same hosts (by address and `toString()`) in the same order.
fn same_hosts(a: &Hosts, b: &Hosts) -> bool {
    a.same_list(b)
        || a.len() == b.len()
            && a.iter().zip(b.iter()).all(|(x, y)| x.port == y.port && x.ip == y.ip && same_api_instance(x, y))
}

/// Equality of the api `Instance.toString()`: every field but `valid` and `marked`.
fn same_api_instance(a: &HostJson, b: &HostJson) -> bool {
    a.instance_id == b.instance_id
        && a.weight == b.weight
        && a.healthy == b.healthy
        && a.enabled == b.enabled
        && a.ephemeral == b.ephemeral
        && a.cluster == b.cluster
        && a.service == b.service
        && a.metadata == b.metadata
}
