//! `ServiceManager` (spec §1.D–E, §1.H): registering an instance (the service created if
//! absent, then `addInstance` as a read-modify-write of the datum through `updateIpAddresses`),
//! removing one, instance ids, and `EmptyServiceAutoClean`.

use super::key_builder::{instance_list_key, service_meta_key};
use super::raft::Then;
use super::registry::{addr, addr_cmp, simple_instance_id, Instance, InstanceRef, Service};
use super::{NamingServer, Out, Rejected, CLIENT_BEAT_CHECK_MS};
use crate::naming::wire::*;
use crate::time::{Dur, Time};
use rand_chacha::ChaCha8Rng;
use std::rc::Rc;

impl NamingServer {
    /// `EmptyServiceAutoClean`'s run and, fixed-rate, its next one.
    pub(super) fn empty_service_clean_task(&mut self, now_ms: i64, rng: &mut ChaCha8Rng, out: &mut Out) {
        self.empty_service_clean(now_ms, rng, out);
        if let Some((_, period)) = self.config.empty_service_clean {
            out.set_timer(Dur::from_millis(period), Timer::Server(ServerTimer::EmptyServiceClean));
        }
    }

    /// `ServiceManager.registerInstance` (R1.18): create the service if absent, then add.
    pub(super) fn register_instance(
        &mut self,
        now: Time,
        svc: &ServiceKey,
        inst: Instance,
        out: &mut Out,
    ) -> Result<(), Rejected> {
        let now_ms = now.as_millis();
        self.create_service_racing(now, svc, out);
        let (ip, port) = (inst.ip.clone(), inst.port);
        self.update_instances(now_ms, svc, false, inst.ephemeral, vec![inst], out)?;
        out.observe(Observation::InstanceRegistered { service: svc.name.clone(), ip, port });
        Ok(())
    }

    pub(super) fn create_service_if_absent(&mut self, now_ms: i64, svc: &ServiceKey, out: &mut Out) {
        if !self.services.contains_key(svc) {
            self.put_service_and_init(Service::new(svc.clone(), now_ms), out);
        }
    }

    /// `createServiceIfAbsent` on a registration's request thread. Up to 1.4.1 (V12) a
    /// registration arriving while another request is still creating the service (for
    /// `WorkCost::service_init`) finds no service either and creates a second one: it
    /// replaces the first in the map, holds nothing until the datum reaches it, and schedules
    /// its own check task, which `futureMap` does not keep. The first goes on listening to
    /// its datum and running its task, out of the map.
    fn create_service_racing(&mut self, now: Time, svc: &ServiceKey, out: &mut Out) {
        if !self.switches.behaviour.service_init_race {
            return self.create_service_if_absent(now.as_millis(), svc, out);
        }
        self.initialising.retain(|(_, until)| *until > now);
        let racing = self.initialising.iter().any(|(k, _)| k == svc);
        if self.services.contains_key(svc) && !racing {
            return;
        }
        let mut service = Service::new(svc.clone(), now.as_millis());
        service.in_future_map = !self.task_in_future_map(svc);
        if let Some(first) = self.services.remove(svc) {
            self.orphans.push(OrphanService { service: first, listening: true });
        }
        self.initialising.push((svc.clone(), now + self.config.work.service_init()));
        self.put_service_and_init(service, out);
    }

    /// `HealthCheckReactor.futureMap` holds a task for this name.
    fn task_in_future_map(&self, svc: &ServiceKey) -> bool {
        self.services.get(svc).is_some_and(|s| s.in_future_map)
            || self.orphans.iter().any(|o| o.service.key == *svc && o.service.in_future_map)
    }

    /// `putServiceAndInit`: into the map, and `Service.init()` schedules its
    /// `ClientBeatCheckTask`, fixed-delay 5 s from creation (R2.13).
    fn put_service_and_init(&mut self, service: Service, out: &mut Out) {
        let (key, task) = (service.key.clone(), service.check_task.clone());
        self.services.insert(key.clone(), service);
        out.observe(Observation::ServiceCreated { service: key.name.clone() });
        out.set_timer(Dur::from_millis(CLIENT_BEAT_CHECK_MS), Timer::Server(ServerTimer::ClientBeatCheck(task)));
    }

    /// `addInstance`/`removeInstance` (R1.19) of ephemeral instances: read-modify-write of the
    /// Distro datum, then put. Persistent ones go through `publish_instances`.
    pub(super) fn update_instances(
        &mut self,
        now_ms: i64,
        svc: &ServiceKey,
        remove: bool,
        ephemeral: bool,
        ips: Vec<Instance>,
        out: &mut Out,
    ) -> Result<(), Rejected> {
        let key = instance_list_key(svc, ephemeral);
        // The datum's list is taken out and rebuilt in place; it is copied only while another
        // holder (the notifier's change in hand) still shares it.
        let (mut list, key_ordered) = match self.store.data.get_mut(&key) {
            Some(d) => {
                (Rc::try_unwrap(std::mem::take(&mut d.instances)).unwrap_or_else(|rc| (*rc).clone()), d.key_ordered)
            }
            None => (Vec::new(), true),
        };
        if let Err(e) = self.next_list(svc, remove, ephemeral, &mut list, key_ordered, ips) {
            if let Some(d) = self.store.data.get_mut(&key) {
                d.instances = Rc::new(list);
            }
            return Err(e);
        }
        self.put(key, list, now_ms, out);
        Ok(())
    }

    /// The list `addInstance`/`removeInstance` writes: the current datum `list` with `ips` added
    /// or removed (`updateIpAddresses`), new instances given their ids.
    pub(super) fn next_list(
        &self,
        svc: &ServiceKey,
        remove: bool,
        ephemeral: bool,
        list: &mut Vec<InstanceRef>,
        key_ordered: bool,
        mut ips: Vec<Instance>,
    ) -> Result<(), Rejected> {
        let service = self.services.get(svc).ok_or_else(|| Rejected(500, "service not found".into()))?;
        if !remove {
            for ip in ips.iter_mut() {
                ip.instance_id = self.generate_instance_id(service, ip, ephemeral);
            }
        }
        if update_ip_addresses(list, key_ordered, service, remove, ephemeral, ips) {
            Ok(())
        } else {
            Err(Rejected(500, format!("ip list can not be empty, service: {}, ip list: []", svc.name)))
        }
    }

    /// `ServiceManager.updateMetadata` (from 1.4.0): the instances located in the datum (all of
    /// them, or those `targets` name) get the metadata merged in (or its keys removed), then go
    /// back through `addInstance`. Returns the instances changed; an error is only logged by
    /// the caller (`batchOperate`), which answers the rest.
    pub(super) fn update_metadata(
        &mut self,
        now_ms: i64,
        r: &MetadataBatchReq,
        ephemeral: bool,
        targets: Option<&[&MetadataTarget]>,
        out: &mut Out,
    ) -> Result<Vec<InstanceRef>, Rejected> {
        let svc = &r.service;
        if !self.services.contains_key(svc) {
            let msg = format!("service not found, namespace: {}, service: {}", svc.namespace, svc.name);
            return Err(Rejected(400, msg));
        }
        // Persistent instances never reach here: the batch API exists from 1.4.0, where they
        // would be JRaft's, which scenarios cannot select yet.
        let key = instance_list_key(svc, ephemeral);
        let Some(datum) = self.store.data.get_mut(&key) else {
            let msg = format!(
                "instances from consistencyService not exist, namespace: {}, service: {}, ephemeral: {ephemeral}",
                svc.namespace, svc.name
            );
            return Err(Rejected(404, msg));
        };
        let located: Vec<InstanceRef> = match targets {
            None => datum.instances.to_vec(),
            Some(targets) if self.switches.behaviour.locate_instance_removes_others => {
                // V13: the search runs on the datum's own list and removes what it passes over.
                let mut list = datum.instances.to_vec();
                let before = list.len();
                let found: Vec<InstanceRef> = targets.iter().filter_map(|t| locate_removing(&mut list, t)).collect();
                if list.len() != before {
                    datum.instances = Rc::new(list);
                }
                found
            }
            Some(targets) => targets
                .iter()
                .filter_map(|t| datum.instances.iter().find(|e| located_by(e, t) && e.cluster == t.cluster).cloned())
                .collect(),
        };
        if located.is_empty() {
            return Err(Rejected(400, "not locate instances".into()));
        }
        let changed: Vec<Instance> = located
            .iter()
            .map(|i| {
                let mut md = (*i.metadata).clone();
                if r.remove {
                    md.retain(|k, _| !r.metadata.contains_key(k));
                } else {
                    md.extend(r.metadata.iter().map(|(k, v)| (k.clone(), v.clone())));
                }
                let mut d = i.to_data();
                d.metadata = Rc::new(md);
                Instance::from_data(&d)
            })
            .collect();
        self.update_instances(now_ms, svc, false, ephemeral, changed, out)?;
        Ok(located)
    }

    /// R1.10: `simple` ids, or the smallest free integer with the `snowflake` generator.
    fn generate_instance_id(&self, service: &Service, ip: &Instance, ephemeral: bool) -> Str {
        let gen = ip.metadata.get("preserved.instance.id.generator").map(|s| s.to_ascii_lowercase());
        if gen.as_deref() == Some("snowflake") {
            let used: std::collections::BTreeSet<&str> = service.all_ips(ephemeral).map(|i| &*i.instance_id).collect();
            let free = (0u64..).find(|n| !used.contains(n.to_string().as_str())).unwrap_or(0);
            return free.to_string().into();
        }
        simple_instance_id(&ip.ip, ip.port, &ip.cluster, &service.key.name)
    }

    /// `EmptyServiceAutoClean` (R1.34): removal on the 5th consecutive empty sighting.
    pub(super) fn empty_service_clean(&mut self, now_ms: i64, rng: &mut ChaCha8Rng, out: &mut Out) {
        let mut doomed = Vec::new();
        for (key, s) in self.services.iter() {
            if !self.mapper.responsible(&key.name) {
                continue;
            }
            if s.is_empty() {
                if s.finalize_count.get() > 3 {
                    doomed.push(key.clone());
                }
                s.finalize_count.set(s.finalize_count.get() + 1);
            } else {
                s.finalize_count.set(0);
            }
        }
        for key in doomed {
            // easyRemoveService: the meta key's removal goes through the CP store, which
            // removes the service on every node; while Raft has no leader it fails, and the
            // next pass tries again. Once 1.4 switched to JRaft (not modelled) it applies here.
            match self.raft.as_ref() {
                Some(raft) if !raft.stopped => {
                    self.raft_remove(now_ms, service_meta_key(&key), Then::Nothing, rng, out)
                }
                _ => self.remove_service(&key, out),
            }
        }
    }

    /// `ServiceManager.onDelete`'s end: the service and its Distro datum leave this node.
    /// `Service.destroy()` cancels the task `futureMap` holds for the name: up to 1.4.1 (V12)
    /// that may be another Service's, and this one's task then runs on for ever over the
    /// instances it held. Removing the datum drops every listener of the key, so an orphan
    /// (V12) stops taking changes too. An orphan whose task no longer runs, or that holds
    /// nothing, can do nothing more and is not kept.
    pub(crate) fn remove_service(&mut self, key: &ServiceKey, out: &mut Out) {
        let Some(service) = self.services.remove(key) else { return };
        let runs_on = |s: &Service| !s.in_future_map && s.all_ips(true).next().is_some();
        self.orphans.retain_mut(|o| {
            o.listening &= o.service.key != *key;
            o.service.key != *key || runs_on(&o.service)
        });
        if runs_on(&service) {
            self.orphans.push(OrphanService { service, listening: false });
        }
        self.store.data.remove(&instance_list_key(key, true));
        self.push.pending_rounds.remove(key);
        // Cluster.destroy: their health-check tasks are cancelled.
        self.health.tasks.retain(|(svc, _), _| svc != key);
        out.observe(Observation::ServiceRemoved { service: key.name.clone() });
    }
}

/// A Service out of the map whose `ClientBeatCheckTask` still runs (V12, up to 1.4.1).
#[derive(Debug)]
pub struct OrphanService {
    pub service: Service,
    /// Still a listener of its datum (the first of two racing inits), so it takes every
    /// change; once the datum is removed it keeps the instances it held then.
    pub listening: bool,
}

/// `element.equals(target)` (1.4.2): same ip and ephemeral, same port or a wild (0) port on the
/// element.
fn located_by(element: &Instance, t: &MetadataTarget) -> bool {
    element.ip == t.ip && (element.port == t.port || element.port == 0) && element.ephemeral == t.ephemeral
}

/// `locateInstance` up to 1.4.1 (V13): `indexOf(target)` finds the first element the target
/// equals (its port 0 is wild); one of another cluster is removed from `list` and the search
/// goes on.
fn locate_removing(list: &mut Vec<InstanceRef>, t: &MetadataTarget) -> Option<InstanceRef> {
    loop {
        let at = list
            .iter()
            .position(|e| e.ip == t.ip && (t.port == e.port || t.port == 0) && e.ephemeral == t.ephemeral)?;
        if list[at].cluster == t.cluster {
            return Some(list[at].clone());
        }
        list.remove(at);
    }
}

/// `updateIpAddresses(service, action, ephemeral, ips)` (R1.20): turns the local datum `list`
/// into the next instance list, with health and lastBeat copied in place from the Service
/// (setValid). `key_ordered` says the list is known to be sorted and unique by key, as every
/// list built here is. Returns `false`, the list untouched, for an `add` that would leave it
/// empty (the Java IllegalArgumentException).
///
/// Nacos copies the whole list on every call; this works in place and, for a list built here
/// over a Service that holds the very same instances, reads only pointers, so one registration
/// into a service of n instances costs a pass over n pointers, not n instance reads.
pub fn update_ip_addresses(
    list: &mut Vec<InstanceRef>,
    key_ordered: bool,
    service: &Service,
    remove: bool,
    ephemeral: bool,
    ips: Vec<Instance>,
) -> bool {
    // The Java map keyed by (ip, port, cluster), as a vector sorted by that key: a datum built
    // here is already in that order, so this is a copy, not a rebuild.
    fn key(i: &Instance) -> (&str, u16, &str) {
        (&i.ip, i.port, &i.cluster)
    }
    if !list.is_empty() {
        // Sorted and unique by key implies sorted by address; checked once for both uses.
        let by_key = key_ordered || list.windows(2).all(|w| key(&w[0]) < key(&w[1]));
        let sorted = by_key || list.windows(2).all(|w| addr(&w[0]) <= addr(&w[1]));
        set_valid(list, service, ephemeral, sorted);
        if !by_key {
            crate::naming::sorted_map_order(list, |a, b| key(a).cmp(&key(b)));
        }
    }
    if list.is_empty() && ips.is_empty() && !remove {
        return false;
    }
    for mut ip in ips {
        match list.binary_search_by(|x| key(x).cmp(&key(&ip))) {
            Ok(at) if remove => {
                list.remove(at);
            }
            Ok(at) => {
                ip.instance_id = list[at].instance_id.clone();
                list[at] = Rc::new(ip);
            }
            Err(at) if !remove => list.insert(at, Rc::new(ip)),
            Err(_) => {}
        }
    }
    true
}

/// setValid: each datum entry takes the health of the first cluster's instance at its address.
/// A sorted datum is walked with one cursor per (sorted) cluster set, moving forward only; the
/// entry that is the set's own instance matches by pointer and needs no copy. Any other datum
/// is searched entry by entry.
fn set_valid(datum: &[InstanceRef], service: &Service, ephemeral: bool, sorted: bool) {
    if !sorted {
        for d in datum {
            let a = Addr::new(&d.ip, d.port);
            if let Some(cur) = service.clusters.values().find_map(|c| c.set_ref(ephemeral).find(a)) {
                copy_validity(d, cur);
            }
        }
        return;
    }
    // Per set: `at`, the first element not yet passed, and whether the element before it was
    // passed by a pointer match (so it may share its address with the next entry: a datum
    // holds one entry per cluster at an address).
    let sets: Vec<&[InstanceRef]> = service.clusters.values().map(|c| c.set(ephemeral).as_slice()).collect();
    let mut cursors = vec![(0usize, false); sets.len()];
    for d in datum {
        for (set, (at, back)) in sets.iter().zip(cursors.iter_mut()) {
            if set.get(*at).is_some_and(|x| Rc::ptr_eq(x, d)) {
                *at += 1;
                *back = true;
                break;
            }
            if std::mem::take(back) && addr_cmp(&set[*at - 1], d).is_eq() {
                *back = true;
                copy_validity(d, &set[*at - 1]);
                break;
            }
            while set.get(*at).is_some_and(|x| addr_cmp(x, d).is_lt()) {
                *at += 1;
            }
            if let Some(cur) = set.get(*at).filter(|x| addr_cmp(x, d).is_eq()) {
                copy_validity(d, cur);
                break;
            }
        }
    }
}

fn copy_validity(d: &Instance, cur: &Instance) {
    d.healthy.set(cur.healthy.get());
    d.last_beat.set(cur.last_beat.get());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::naming::server::registry::inst;

    #[test]
    fn empty_add_is_rejected_and_remove_may_empty() {
        let key = ServiceKey { namespace: "public".into(), name: "DEFAULT_GROUP@@a".into() };
        let s = Service::new(key, 0);
        let mut list = Vec::new();
        assert!(!update_ip_addresses(&mut list, true, &s, false, true, vec![]));
        assert!(update_ip_addresses(&mut list, true, &s, false, true, vec![inst("a", 1, true)]));
        assert_eq!(list.len(), 1);
        assert!(update_ip_addresses(&mut list, true, &s, true, true, vec![inst("a", 1, true)]));
        assert!(list.is_empty());
    }

    #[test]
    fn lists_out_of_order_take_the_slow_paths_to_the_same_rules() {
        let key = ServiceKey { namespace: "public".into(), name: "DEFAULT_GROUP@@a".into() };
        let mut s = Service::new(key, 0);
        // A cluster list out of order, with an address twice: sorted, the first one kept.
        let (b, a, a2) = (Rc::new(inst("b", 1, true)), Rc::new(inst("a", 1, true)), Rc::new(inst("a", 1, false)));
        s.update_ips(&[b.clone(), a.clone(), a2], true, 0);
        let listed: Vec<_> = s.all_ips(true).cloned().collect();
        assert!(Rc::ptr_eq(&listed[0], &a) && Rc::ptr_eq(&listed[1], &b) && listed.len() == 2);
        // A datum out of order (a peer's), with a key twice: in key order, the last one kept,
        // health copied from the service's instance at the address.
        a.healthy.set(false);
        let datum = [Rc::new(inst("b", 1, true)), Rc::new(inst("a", 1, true)), Rc::new(inst("b", 1, true))];
        let mut list = datum.to_vec();
        assert!(update_ip_addresses(&mut list, false, &s, false, true, vec![inst("c", 1, true)]));
        let addrs: Vec<_> = list.iter().map(|i| (&*i.ip, i.healthy.get())).collect();
        assert_eq!(addrs, [("a", false), ("b", true), ("c", true)]);
        assert!(Rc::ptr_eq(&list[1], &datum[2]));
    }
}
