//! `Service` (spec R1.15, R1.25–R1.26, R1.29–R1.30): clusters by name, `onChange`/`updateIPs`
//! applying a datum, the checksum, and the host list a query last built.

use super::cluster::Cluster;
use super::instance::{Instance, InstanceRef};
use crate::engine::trace::StableHasher;
use crate::naming::wire::{push_decimal, Hosts, ServiceKey, Str, Weight};
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;

/// A `Service` (R1.15).
#[derive(Debug)]
pub struct Service {
    pub key: ServiceKey,
    pub protect_threshold: f32,
    pub clusters: BTreeMap<Str, Cluster>,
    pub finalize_count: Cell<u32>,
    pub last_modified: i64,
    /// Cached `checksum` (R1.30): recomputed when a datum is applied, not on health flips.
    /// A cell, like `finalize_count`: bookkeeping updated in place, so neither needs mutable
    /// access to the service (which would invalidate the [`BeatMemo`]).
    checksum: RefCell<Checksum>,
    /// The last host list built for `/instance/list` or a push, reused while it would come out
    /// the same ([`HostsCache::get`]).
    pub hosts_cache: RefCell<Option<HostsCache>>,
    /// The key its `ClientBeatCheckTask` timer carries: the task runs only while it is this very
    /// one, so the task of a removed service stops even if the service is created again.
    pub check_task: Rc<ServiceKey>,
}

/// The cached service checksum (R1.30). Registering a service's instances one by one applies
/// a datum per instance, and each recomputes over every instance: formatting and sorting
/// them all would make registration quadratic in strings. What a recompute hashes is taken
/// when Nacos takes it, and formatted when first read, so the value is the same.
#[derive(Debug)]
enum Checksum {
    Ready(Str),
    /// Every instance as it stood at the recompute, with its health and weight then (both
    /// can change in place later; the rest of an instance cannot).
    Due(Vec<(InstanceRef, bool, f64)>),
}

/// A built host list and everything it was built from. The hosts of a service JSON depend only
/// on the query, the protect threshold, and the served instances with their health and weight
/// (the only mutable fields of an `Instance`; an update makes a new one). The cache holds the
/// instances themselves, so an address it compares cannot be reused by another instance.
#[derive(Debug)]
pub struct HostsCache {
    pub clusters: Str,
    pub healthy_only: bool,
    pub protect_threshold: f32,
    pub served: Vec<(InstanceRef, (bool, u64))>,
    pub hosts: Hosts,
}

impl HostsCache {
    /// Remembers `hosts` as built for this query from these instances in their current state.
    pub fn new(clusters: &Str, healthy_only: bool, threshold: f32, served: &[&InstanceRef], hosts: Hosts) -> Self {
        let served = served.iter().map(|&i| (i.clone(), Self::state(i))).collect();
        HostsCache { clusters: clusters.clone(), healthy_only, protect_threshold: threshold, served, hosts }
    }

    /// The state of a served instance that a host list depends on.
    fn state(i: &Instance) -> (bool, u64) {
        (i.healthy.get(), i.weight.get().to_bits())
    }

    /// The cached hosts, if they were built for this query from these very instances in this
    /// state.
    pub fn get(&self, clusters: &str, healthy_only: bool, threshold: f32, served: &[&InstanceRef]) -> Option<Hosts> {
        let same = *self.clusters == *clusters
            && self.healthy_only == healthy_only
            && self.protect_threshold.to_bits() == threshold.to_bits()
            && self.served.len() == served.len()
            && self.served.iter().zip(served).all(|((c, state), i)| Rc::ptr_eq(c, i) && *state == Self::state(i));
        same.then(|| self.hosts.clone())
    }
}

impl Service {
    pub fn new(key: ServiceKey, now_ms: i64) -> Service {
        Service {
            protect_threshold: 0.0,
            clusters: BTreeMap::new(),
            finalize_count: Cell::new(0),
            last_modified: now_ms,
            checksum: RefCell::new(Checksum::Ready("".into())),
            hosts_cache: RefCell::new(None),
            check_task: Rc::new(key.clone()),
            key,
        }
    }

    /// `Service.allIPs(ephemeral)`: every instance of that flag across clusters.
    pub fn all_ips(&self, ephemeral: bool) -> impl Iterator<Item = &InstanceRef> {
        self.clusters.values().flat_map(move |c| c.set(ephemeral).iter())
    }

    /// `getChecksum()`: the value of the last recompute.
    pub fn checksum(&self) -> Str {
        let mut cached = self.checksum.borrow_mut();
        let sum = match &*cached {
            Checksum::Ready(sum) => return sum.clone(),
            Checksum::Due(state) => checksum_of(&self.key.name, state.iter().map(|(i, h, w)| (&**i, *h, *w))),
        };
        *cached = Checksum::Ready(sum.clone());
        sum
    }

    /// `recalculateChecksum()`, when the value is read at once.
    pub fn recalculate_checksum(&self) -> Str {
        let sum = checksum_of(&self.key.name, self.instances_now().map(|(i, h, w)| (&**i, h, w)));
        *self.checksum.borrow_mut() = Checksum::Ready(sum.clone());
        sum
    }

    /// `recalculateChecksum()` after a datum is applied: the value may never be read before
    /// the next recompute, so it is formatted on first read ([`Checksum`]).
    pub fn recalculate_checksum_later(&self) {
        *self.checksum.borrow_mut() = Checksum::Due(self.instances_now().map(|(i, h, w)| (i.clone(), h, w)).collect());
    }

    /// Every instance, ephemeral then persistent, with its health and weight now.
    fn instances_now(&self) -> impl Iterator<Item = (&InstanceRef, bool, f64)> {
        self.all_ips(true).chain(self.all_ips(false)).map(|i| (i, i.healthy.get(), i.weight.get()))
    }

    pub fn is_empty(&self) -> bool {
        self.clusters.values().all(|c| c.set(true).is_empty() && c.set(false).is_empty())
    }

    /// `Service.onChange` + `updateIPs` (R1.25/R1.26): clamp weights, group by cluster (every
    /// existing cluster gets its list, possibly empty), and apply per cluster. Returns the
    /// addresses added and removed.
    pub fn update_ips(
        &mut self,
        list: &[InstanceRef],
        ephemeral: bool,
        now_ms: i64,
    ) -> (Vec<InstanceRef>, Vec<InstanceRef>) {
        // Instances grouped by cluster name, in the order the names first come; a list is
        // mostly one cluster, so the group of the previous instance is tried first.
        let mut by_cluster: Vec<(Str, Vec<InstanceRef>)> = Vec::new();
        let mut last = 0;
        for ip in list {
            let w = ip.weight.get();
            if w > 10000.0 {
                ip.weight.set(10000.0);
            } else if w > 0.0 && w < 0.01 {
                ip.weight.set(0.01);
            }
            let name: &str = if ip.cluster.is_empty() { "DEFAULT" } else { &ip.cluster };
            let same = |group: &(Str, Vec<InstanceRef>)| std::ptr::eq(&*group.0, name) || *group.0 == *name;
            if !by_cluster.get(last).is_some_and(same) {
                last = match by_cluster.iter().position(same) {
                    Some(at) => at,
                    None => {
                        // The instance's own string, not a copy: later instances of the
                        // cluster share it, and `same` then answers by pointer.
                        let name = if ip.cluster.is_empty() { name.into() } else { ip.cluster.clone() };
                        by_cluster.push((name, Vec::with_capacity(list.len())));
                        by_cluster.len() - 1
                    }
                };
            }
            by_cluster[last].1.push(ip.clone());
        }
        for (name, _) in &by_cluster {
            self.clusters.entry(name.clone()).or_insert_with(|| Cluster { created_ms: now_ms, ..Cluster::default() });
        }
        let (mut added, mut removed) = (Vec::new(), Vec::new());
        for (name, cluster) in self.clusters.iter_mut() {
            let ips = match by_cluster.iter_mut().find(|(n, _)| n == name) {
                Some((_, ips)) => std::mem::take(ips),
                None => Vec::new(),
            };
            let (a, r) = cluster.update_ips(ips, ephemeral);
            added.extend(a);
            removed.extend(r);
        }
        self.last_modified = now_ms;
        (added, removed)
    }
}

/// A deterministic stand-in for `Service.recalculateChecksum` (R1.29/R1.30): it hashes what
/// Nacos hashes (per instance ip, port, weight, healthy, cluster), so equal views agree.
fn checksum_of<'a>(name: &str, instances: impl Iterator<Item = (&'a Instance, bool, f64)>) -> Str {
    // Every instance's `ip:port_weight_healthy_cluster` in one buffer, then sorted as strings.
    let mut text = String::new();
    let mut ends = Vec::new();
    for (i, healthy, weight) in instances {
        text.push_str(&i.ip);
        text.push(':');
        push_decimal(&mut text, i.port as i64);
        text.push('_');
        Weight(weight).write_java(&mut text);
        text.push_str(if healthy { "_true_" } else { "_false_" });
        text.push_str(&i.cluster);
        ends.push(text.len());
    }
    let mut parts: Vec<&str> =
        ends.iter().scan(0, |start, &end| Some(&text[std::mem::replace(start, end)..end])).collect();
    parts.sort_unstable();
    format!("{:016x}", StableHasher::digest(&(name, parts))).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::naming::server::registry::inst;

    #[test]
    fn weights_are_clamped_when_applied() {
        let key = ServiceKey { namespace: "public".into(), name: "DEFAULT_GROUP@@a".into() };
        let mut s = Service::new(key, 0);
        let big = Rc::new(inst("a", 1, true));
        big.weight.set(20000.0);
        let tiny = Rc::new(inst("b", 1, true));
        tiny.weight.set(0.001);
        let neg = Rc::new(inst("c", 1, true));
        neg.weight.set(-1.0);
        s.update_ips(&[big.clone(), tiny.clone(), neg.clone()], true, 0);
        assert_eq!((big.weight.get(), tiny.weight.get(), neg.weight.get()), (10000.0, 0.01, -1.0));
    }

    #[test]
    fn a_checksum_formatted_late_is_the_one_of_its_recompute() {
        let key = ServiceKey { namespace: "public".into(), name: "DEFAULT_GROUP@@a".into() };
        let mut s = Service::new(key, 0);
        let (a, b) = (Rc::new(inst("10.0.0.1", 80, true)), Rc::new(inst("10.0.0.2", 80, true)));
        s.update_ips(&[a.clone(), b.clone()], true, 0);
        let both_healthy = s.recalculate_checksum();
        a.healthy.set(false);
        let a_unhealthy = s.recalculate_checksum();
        assert_ne!(both_healthy, a_unhealthy);
        // A health flip after the recompute does not reach the value (R1.30), even though the
        // value is formatted only when read, after the flip.
        a.healthy.set(true);
        s.recalculate_checksum_later();
        a.healthy.set(false);
        assert_eq!(s.checksum(), both_healthy);
        assert_eq!(s.checksum(), both_healthy);
        assert_eq!(s.recalculate_checksum(), a_unhealthy);
        // The instances it hashes are those of the recompute, not the ones applied since.
        s.recalculate_checksum_later();
        s.update_ips(std::slice::from_ref(&b), true, 1);
        assert_eq!(s.checksum(), a_unhealthy);
    }
}
