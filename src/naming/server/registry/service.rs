//! `Service` (spec R1.15, R1.25–R1.26, R1.29–R1.30): clusters by name, `onChange`/`updateIPs`
//! applying a datum, the checksum, and the host list a query last built.

use super::cluster::Cluster;
use super::instance::{Instance, InstanceRef};
use crate::naming::wire::{push_decimal, Hosts, Metadata, ServiceKey, Str, Weight};
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;

/// A `Service` (R1.15).
#[derive(Debug)]
pub struct Service {
    pub key: ServiceKey,
    pub protect_threshold: f32,
    /// Set by `update_service` (`Service.update` copies it from the meta key); served in
    /// every `/instance/list` answer and push of the service.
    pub metadata: Metadata,
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
    /// `HealthCheckReactor.futureMap` holds this service's task, so destroying a service of
    /// its name cancels this task. Up to 1.4.1 (V12) a second Service initialised while the
    /// first was being created schedules its own task but is not the one the map keeps.
    pub in_future_map: bool,
}

/// The cached service checksum (R1.30). Registering a service's instances one by one applies
/// a datum per instance, and each recomputes over every instance: formatting and sorting
/// them all would make registration quadratic in strings. What a recompute hashes is taken
/// when Nacos takes it, and formatted when first read, so the value is the same.
#[derive(Debug)]
enum Checksum {
    Ready(Str),
    Due(ChecksumInput),
}

/// What `recalculateChecksum` reads, as it stood at the recompute: every instance with its
/// health and weight then (both can change in place later; the rest of an instance cannot),
/// the cluster names and the protect threshold.
#[derive(Debug)]
struct ChecksumInput {
    instances: Vec<(InstanceRef, bool, f64)>,
    clusters: Vec<Str>,
    protect_threshold: f32,
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
            metadata: Metadata::default(),
            clusters: BTreeMap::new(),
            finalize_count: Cell::new(0),
            last_modified: now_ms,
            checksum: RefCell::new(Checksum::Ready("".into())),
            hosts_cache: RefCell::new(None),
            check_task: Rc::new(key.clone()),
            in_future_map: true,
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
            Checksum::Due(input) => checksum_of(&self.key.name, input),
        };
        *cached = Checksum::Ready(sum.clone());
        sum
    }

    /// `recalculateChecksum()`, when the value is read at once.
    pub fn recalculate_checksum(&self) -> Str {
        let sum = checksum_of(&self.key.name, &self.checksum_input());
        *self.checksum.borrow_mut() = Checksum::Ready(sum.clone());
        sum
    }

    /// `recalculateChecksum()` after a datum is applied: the value may never be read before
    /// the next recompute, so it is formatted on first read ([`Checksum`]).
    pub fn recalculate_checksum_later(&self) {
        *self.checksum.borrow_mut() = Checksum::Due(self.checksum_input());
    }

    fn checksum_input(&self) -> ChecksumInput {
        ChecksumInput {
            instances: self.instances_now().map(|(i, h, w)| (i.clone(), h, w)).collect(),
            clusters: self.clusters.keys().cloned().collect(),
            protect_threshold: self.protect_threshold,
        }
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

/// `Service.recalculateChecksum` (R1.29/R1.30): the MD5, in lower-case hex, of
/// `getServiceString()` followed by `ip:port_weight_healthy_cluster,` for every instance in
/// `Instance.toString` order (`ip:port:unknown:cluster_weight_healthy_marked_cluster`).
fn checksum_of(name: &str, input: &ChecksumInput) -> Str {
    use md5::{Digest, Md5};
    let invalid = input.instances.iter().filter(|(_, healthy, _)| !healthy).count();
    let mut text = service_string(name, input.instances.len(), invalid, input.protect_threshold, &input.clusters);
    // Every instance's sort key and its part of the text, in one buffer each.
    let (mut keys, mut parts) = (String::new(), String::new());
    let mut ends = Vec::with_capacity(input.instances.len());
    for (i, healthy, weight) in &input.instances {
        let weight = Weight(*weight);
        let healthy = if *healthy { "true" } else { "false" };
        keys.push_str(&i.ip);
        keys.push(':');
        if i.port > 0 {
            push_decimal(&mut keys, i.port as i64);
            keys.push(':');
        }
        keys.push_str("unknown:");
        keys.push_str(&i.cluster);
        keys.push('_');
        weight.write_java(&mut keys);
        keys.push('_');
        keys.push_str(healthy);
        keys.push_str(if i.marked { "_true_" } else { "_false_" });
        keys.push_str(&i.cluster);
        parts.push_str(&i.ip);
        parts.push(':');
        push_decimal(&mut parts, i.port as i64);
        parts.push('_');
        weight.write_java(&mut parts);
        parts.push('_');
        parts.push_str(healthy);
        parts.push('_');
        parts.push_str(&i.cluster);
        parts.push(',');
        ends.push((keys.len(), parts.len()));
    }
    let mut order: Vec<(&str, &str)> = ends
        .iter()
        .scan((0, 0), |start, &end| {
            let (k, p) = std::mem::replace(start, end);
            Some((&keys[k..end.0], &parts[p..end.1]))
        })
        .collect();
    // `Collections.sort` is stable; Java compares UTF-16 units, the same order as bytes for
    // the ASCII of addresses and cluster names.
    order.sort_by(|a, b| a.0.cmp(b.0));
    for (_, part) in order {
        text.push_str(part);
    }
    let digest = Md5::digest(text.as_bytes());
    let mut hex = String::with_capacity(32);
    for b in digest {
        hex.push(char::from_digit((b >> 4) as u32, 16).expect("a nibble"));
        hex.push(char::from_digit((b & 15) as u32, 16).expect("a nibble"));
    }
    hex.into()
}

/// `Service.getServiceString()`: a `HashMap` of the service's fields as Jackson writes it
/// (`JacksonUtils`: null values left out, so `token` never appears), in the map's iteration
/// order; each cluster a `HashMap` of its own.
fn service_string(name: &str, ip_count: usize, invalid: usize, threshold: f32, clusters: &[Str]) -> String {
    let json = |s: &str| serde_json::to_string(s).expect("a string serializes");
    let cluster = |c: &Str| {
        let fields = [
            ("name", json(c)),
            ("healthChecker", r#"{"type":"TCP"}"#.to_string()),
            ("defCkport", "80".to_string()),
            ("defIPPort", "80".to_string()),
            ("useIPPort4Check", "true".to_string()),
            ("sitegroup", "\"\"".to_string()),
        ];
        object(&fields, 10)
    };
    let list: Vec<String> = clusters.iter().map(cluster).collect();
    // clusterMap is a HashMap too: its clusters come in its iteration order.
    let names: Vec<&str> = clusters.iter().map(|c| &**c).collect();
    let in_map_order: Vec<&str> = java_hash_map_order(&names, 16).into_iter().map(|i| list[i].as_str()).collect();
    let fields = [
        ("name", json(name)),
        ("ipCount", ip_count.to_string()),
        ("invalidIPCount", invalid.to_string()),
        ("owners", "[]".to_string()),
        ("protectThreshold", java_float(threshold)),
        ("clusters", format!("[{}]", in_map_order.join(","))),
    ];
    object(&fields, 10)
}

/// A JSON object of `fields` in the iteration order of a Java `HashMap` of that initial
/// capacity filled in the given order.
fn object(fields: &[(&str, String)], capacity: usize) -> String {
    let keys: Vec<&str> = fields.iter().map(|(k, _)| *k).collect();
    let mut out = String::from("{");
    for (n, i) in java_hash_map_order(&keys, capacity).into_iter().enumerate() {
        if n > 0 {
            out.push(',');
        }
        out.push('"');
        out.push_str(fields[i].0);
        out.push_str("\":");
        out.push_str(&fields[i].1);
    }
    out.push('}');
    out
}

/// The iteration order of a `java.util.HashMap` with this initial capacity after `keys` were
/// put in order: by bucket (`(h ^ h >>> 16) & (table - 1)`, the table doubling past 3/4 full),
/// then by insertion within a bucket. Returns indices into `keys`.
fn java_hash_map_order(keys: &[&str], capacity: usize) -> Vec<usize> {
    let mut table = capacity.max(1).next_power_of_two();
    while keys.len() * 4 > table * 3 {
        table *= 2;
    }
    let bucket = |k: &str| {
        let h = crate::naming::server::distro::java_hash_code(k) as u32;
        (h ^ (h >> 16)) as usize & (table - 1)
    };
    let mut order: Vec<usize> = (0..keys.len()).collect();
    order.sort_by_key(|&i| bucket(keys[i]));
    order
}

/// Java's `Float.toString` for the values a protect threshold takes (`0.0`, `0.5`, `1.0`).
fn java_float(v: f32) -> String {
    if v.fract() == 0.0 && v.abs() < 1e7 {
        format!("{v:.1}")
    } else {
        format!("{v}")
    }
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

    #[test]
    fn the_checksum_is_nacos_md5_of_the_service_string_and_sorted_instances() {
        // The expected value was computed by a Java program (OpenJDK 17) that fills
        // java.util.HashMaps as getServiceString and clusterMap do, writes them as Jackson with
        // NON_NULL would, sorts by Instance.toString and takes MessageDigest MD5: "b" comes
        // before "DEFAULT" in a HashMap.
        let a = Rc::new(inst("10.1.0.2", 8080, true));
        let mut b = inst("10.1.0.3", 9090, false);
        b.cluster = "b".into();
        b.weight.set(2.5);
        let b = Rc::new(b);
        let input = ChecksumInput {
            // In the order allIPs gives, which the sort must not depend on.
            instances: vec![(b.clone(), false, 2.5), (a.clone(), true, 1.0)],
            clusters: vec!["DEFAULT".into(), "b".into()],
            protect_threshold: 0.0,
        };
        assert_eq!(&*checksum_of("DEFAULT_GROUP@@demo", &input), "81ecf9f912b3a8f90b26fbffc8ebc2d4");
        assert_eq!(
            service_string("DEFAULT_GROUP@@demo", 2, 1, 0.0, &input.clusters),
            r#"{"invalidIPCount":1,"name":"DEFAULT_GROUP@@demo","ipCount":2,"owners":[],"protectThreshold":0.0,"clusters":[{"healthChecker":{"type":"TCP"},"defIPPort":80,"defCkport":80,"name":"b","useIPPort4Check":true,"sitegroup":""},{"healthChecker":{"type":"TCP"},"defIPPort":80,"defCkport":80,"name":"DEFAULT","useIPPort4Check":true,"sitegroup":""}]}"#
        );
        assert_eq!((java_float(0.0), java_float(0.5), java_float(1.0)), ("0.0".into(), "0.5".into(), "1.0".into()));
    }
}
