//! The server registry (spec §1): `ServiceManager`'s services, their clusters and instances,
//! and the read-modify-write of instance lists.
//!
//! Instances are shared (`Rc`) between a Service's cluster sets and the Distro datum that was
//! applied to it, exactly as the Java objects are: a heartbeat's in-place `lastBeat`/`healthy`
//! update is visible through both (R1.27), which is what makes the datum-vs-Service lag and the
//! local-health-wins rule behave as in Nacos.

use crate::engine::trace::StableHasher;
use crate::naming::wire::{
    push_decimal, Addr, AddrKey, BeatReq, Hosts, InstanceData, Metadata, ServiceKey, Str, Weight,
};
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasherDefault;
use std::rc::Rc;

pub const EPHEMERAL_PREFIX: &str = "com.alibaba.nacos.naming.iplist.ephemeral.";
pub const PERSISTENT_PREFIX: &str = "com.alibaba.nacos.naming.iplist.";

/// Defaults of the preserved metadata keys (R1.11).
pub const DEFAULT_HEART_BEAT_INTERVAL: i64 = 5000;
pub const DEFAULT_HEART_BEAT_TIMEOUT: i64 = 15000;
pub const DEFAULT_IP_DELETE_TIMEOUT: i64 = 30000;

/// The naming core `Instance` (R1.6). Mutable fields are `Cell`s because Nacos mutates the
/// shared object in place.
#[derive(Debug)]
#[repr(C)]
pub struct Instance {
    // What beats and health checks read comes first, next to the reference count
    // ([`Instance::prefetch`]).
    pub last_beat: Cell<i64>,
    pub preserved: Preserved,
    pub healthy: Cell<bool>,
    pub marked: bool,
    pub enabled: bool,
    pub ephemeral: bool,
    pub port: u16,
    pub weight: Cell<f64>,
    pub ip: Str,
    pub cluster: Str,
    /// Never replaced on an instance (an update makes a new one), so the preserved keys are
    /// read once, into `preserved`.
    pub metadata: Metadata,
    pub instance_id: Str,
}

/// The preserved metadata keys of an instance (R1.11), parsed once: every beat and every check
/// run reads them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Preserved {
    /// `preserved.heart.beat.interval` when set to a number: it overrides the beat reply's
    /// `clientBeatInterval`.
    pub beat_interval: Option<i64>,
    pub beat_timeout: i64,
    pub delete_timeout: i64,
}

impl Preserved {
    pub fn of(md: &Metadata) -> Preserved {
        Preserved {
            beat_interval: metadata_number(md, "preserved.heart.beat.interval"),
            beat_timeout: metadata_millis(md, "preserved.heart.beat.timeout", DEFAULT_HEART_BEAT_TIMEOUT),
            delete_timeout: metadata_millis(md, "preserved.ip.delete.timeout", DEFAULT_IP_DELETE_TIMEOUT),
        }
    }
}

/// Reads a numeric preserved metadata key: only a value that parses as a number counts (R1.11).
pub fn metadata_millis(md: &Metadata, key: &str, default: i64) -> i64 {
    metadata_number(md, key).unwrap_or(default)
}

fn metadata_number(md: &Metadata, key: &str) -> Option<i64> {
    md.get(key).and_then(|v| v.trim().parse::<i64>().ok())
}

impl Instance {
    pub fn from_data(d: &InstanceData) -> Instance {
        Instance {
            ip: d.ip.clone(),
            port: d.port,
            cluster: d.cluster.clone(),
            weight: Cell::new(d.weight.0),
            healthy: Cell::new(d.healthy),
            enabled: d.enabled,
            ephemeral: d.ephemeral,
            marked: d.marked,
            metadata: d.metadata.clone(),
            preserved: Preserved::of(&d.metadata),
            instance_id: d.instance_id.clone(),
            last_beat: Cell::new(d.last_beat),
        }
    }

    pub fn to_data(&self) -> InstanceData {
        InstanceData {
            ip: self.ip.clone(),
            port: self.port,
            cluster: self.cluster.clone(),
            weight: Weight(self.weight.get()),
            healthy: self.healthy.get(),
            enabled: self.enabled,
            ephemeral: self.ephemeral,
            marked: self.marked,
            metadata: self.metadata.clone(),
            instance_id: self.instance_id.clone(),
            last_beat: self.last_beat.get(),
        }
    }

    /// Hints the lines a beat reads into the cache: from the reference count (16 bytes in
    /// front of the value) to `port`, at most 64 bytes from a 16-byte aligned allocation, so
    /// two lines, and a point in each is 64 bytes apart.
    pub fn prefetch(this: &InstanceRef) {
        let p = Rc::as_ptr(this) as *const u8;
        crate::engine::prefetch(p.wrapping_sub(16));
        crate::engine::prefetch(p.wrapping_add(48));
    }

    pub fn heart_beat_timeout(&self) -> i64 {
        self.preserved.beat_timeout
    }
    pub fn ip_delete_timeout(&self) -> i64 {
        self.preserved.delete_timeout
    }

    /// `toString()` equality without building the strings. The strings differ exactly when a
    /// field differs: weight as Java prints it (distinct doubles print differently, except
    /// NaNs, which all print `NaN`), health, `marked`, or the address and cluster.
    pub fn same_java_string(&self, o: &Instance) -> bool {
        let (a, b) = (self.weight.get(), o.weight.get());
        let same_weight = a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan());
        same_weight
            && self.healthy.get() == o.healthy.get()
            && self.marked == o.marked
            && self.port == o.port
            && self.ip == o.ip
            && self.cluster == o.cluster
    }

    /// `Instance.toString()` (R1.9), the reference for [`same_java_string`](Self::same_java_string).
    #[cfg(test)]
    pub fn java_string(&self) -> String {
        format!(
            "{}:{}:unknown:{}_{}_{}_{}_{}",
            self.ip,
            self.port,
            self.cluster,
            Weight(self.weight.get()).java_string(),
            self.healthy.get(),
            self.marked,
            self.cluster
        )
    }
}

/// The default `simple` instance id generator (R1.10).
pub fn simple_instance_id(ip: &str, port: u16, cluster: &str, service: &str) -> Str {
    // `ip#port#cluster#service`, built by hand: every registration makes one.
    let mut id = String::with_capacity(ip.len() + cluster.len() + service.len() + 8);
    id.push_str(ip);
    id.push('#');
    push_decimal(&mut id, port as i64);
    id.push('#');
    id.push_str(cluster);
    id.push('#');
    id.push_str(service);
    id.into()
}

pub type InstanceRef = Rc<Instance>;

/// A `Cluster` (R1.16). The Java sets are `HashSet`s; here they are vectors sorted by
/// `(ip, port)` so iteration order is deterministic and look-ups are binary searches.
#[derive(Debug, Default)]
pub struct Cluster {
    ephemeral: Instances,
    persistent: Instances,
}

/// Instances sorted by `(ip, port)`, with their [`AddrKey`]s alongside and a hash index over
/// the keys: one probe of the index plus one key compare touches two cache lines where a
/// binary search touches about seven.
#[derive(Debug, Default)]
struct Instances {
    list: Vec<InstanceRef>,
    keys: Vec<AddrKey>,
    /// Open addressing, linear probing: `position + 1` in `keys`, 0 for an empty slot. Its
    /// length is a power of two above twice the number of keys, so a probe always ends.
    /// Empty unless `keyed`.
    index: Vec<u32>,
    /// Every ip fits a key exactly, so the index can find every instance.
    keyed: bool,
}

impl Instances {
    fn new(list: Vec<InstanceRef>) -> Instances {
        let mut keys = Vec::with_capacity(list.len());
        keys.extend(list.iter().map_while(|i| AddrKey::of(&i.ip, i.port)));
        let keyed = keys.len() == list.len();
        let mut index = Vec::new();
        if keyed {
            index = vec![0u32; (2 * keys.len() + 1).next_power_of_two()];
            let mask = index.len() - 1;
            for (at, k) in keys.iter().enumerate() {
                let mut slot = k.hash_bits() as usize & mask;
                while index[slot] != 0 {
                    slot = (slot + 1) & mask;
                }
                index[slot] = at as u32 + 1;
            }
        }
        Instances { list, keys, index, keyed }
    }

    fn find(&self, a: Addr) -> Option<&InstanceRef> {
        match a.key() {
            Some(k) if self.keyed => {
                let mask = self.index.len() - 1;
                let mut slot = k.hash_bits() as usize & mask;
                loop {
                    let at = self.index[slot] as usize;
                    if at == 0 {
                        return None;
                    }
                    if self.keys[at - 1] == k {
                        return Some(&self.list[at - 1]);
                    }
                    slot = (slot + 1) & mask;
                }
            }
            // A long ip is in neither an all-short list nor its keys: search by string.
            _ => find_sorted(&self.list, a.ip(), a.port()),
        }
    }
}

impl Cluster {
    pub fn set(&self, ephemeral: bool) -> &Vec<InstanceRef> {
        &self.set_ref(ephemeral).list
    }

    fn set_ref(&self, ephemeral: bool) -> &Instances {
        if ephemeral {
            &self.ephemeral
        } else {
            &self.persistent
        }
    }

    /// `Cluster.updateIps(ips, ephemeral)` (R1.27): the new list replaces the set, but an
    /// instance that already existed locally and whose `toString()` changed keeps its LOCAL
    /// health. Returns (added, removed) addresses for observations.
    pub fn update_ips(&mut self, mut ips: Vec<InstanceRef>, ephemeral: bool) -> (Vec<InstanceRef>, Vec<InstanceRef>) {
        // A list built by `updateIpAddresses` is sorted and unique by address already.
        if !ips.windows(2).all(|w| addr(&w[0]) < addr(&w[1])) {
            ips.sort_by(|a, b| addr(a).cmp(&addr(b)));
            ips.dedup_by(|a, b| a.ip == b.ip && a.port == b.port);
        }
        let old = if ephemeral { &mut self.ephemeral } else { &mut self.persistent };
        // Both lists are sorted by address: one merge pass pairs them up.
        let (mut added, mut removed) = (Vec::new(), Vec::new());
        let mut olds = old.list.iter().peekable();
        for ip in &ips {
            while let Some(o) = olds.next_if(|o| addr_cmp(o, ip).is_lt()) {
                removed.push(o.clone());
            }
            match olds.next_if(|o| addr_cmp(o, ip).is_eq()) {
                Some(o) => {
                    if !Rc::ptr_eq(o, ip) && !ip.marked && !o.same_java_string(ip) {
                        ip.healthy.set(o.healthy.get());
                    }
                }
                None => added.push(ip.clone()),
            }
        }
        removed.extend(olds.cloned());
        *old = Instances::new(ips);
        (added, removed)
    }
}

/// The `(ip, port)` an instance list is sorted and unique by.
fn addr(i: &Instance) -> (&str, u16) {
    (&i.ip, i.port)
}

/// Compares the addresses of two listed instances. A new list mostly holds the very instances
/// of the one it replaces (R1.27), so the same object answers without reading its ip.
fn addr_cmp(a: &InstanceRef, b: &InstanceRef) -> std::cmp::Ordering {
    if Rc::ptr_eq(a, b) {
        std::cmp::Ordering::Equal
    } else {
        addr(a).cmp(&addr(b))
    }
}

fn find_sorted<'a>(v: &'a [InstanceRef], ip: &str, port: u16) -> Option<&'a InstanceRef> {
    v.binary_search_by(|x| (&*x.ip, x.port).cmp(&(ip, port))).ok().map(|i| &v[i])
}

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
            key,
            protect_threshold: 0.0,
            clusters: BTreeMap::new(),
            finalize_count: Cell::new(0),
            last_modified: now_ms,
            checksum: RefCell::new(Checksum::Ready("".into())),
            hosts_cache: RefCell::new(None),
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
            self.clusters.entry(name.clone()).or_default();
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

/// `ServiceManager.serviceMap`: services by key. Walking an ordered map compares string keys
/// at every step, so look-ups go through a hash table (and beats through a memo); iteration is always in key order (sorted on the way
/// out), so the table's layout never reaches an observation or a message.
#[derive(Debug, Default)]
pub struct ServiceMap {
    map: HashMap<ServiceKey, Service, BuildHasherDefault<StableHasher>>,
    /// Bumped by every access that can change a service: mutable access is the only way to
    /// add or remove a service, a cluster or an instance, so an answer looked up at this epoch
    /// is still the answer while it holds.
    epoch: u64,
    beats: BeatMemo,
}

/// Where recent beat requests found their instance. A client re-sends the same request
/// object every period, so a look-up is remembered by what the request names, for as long as
/// the epoch holds: the next beat then reads one slot (usually one cache line) instead of
/// hashing and comparing the service name, the cluster name and the address, each a cold
/// string, twice per beat.
///
/// Open addressing with linear probing. An answer from an earlier epoch counts as an empty
/// slot: the epoch changes for all answers at once, so every answer of the current epoch was
/// placed when the slots before it on its probe path held current answers, and probing stays
/// exact without ever deleting.
#[derive(Debug, Default)]
struct BeatMemo {
    /// A power of two long, at least twice the answers of the current epoch.
    slots: Vec<Option<BeatTarget>>,
    /// How many slots hold answers of `epoch`.
    live: usize,
    epoch: u64,
}

/// The slot count a memo starts with; it doubles when half its slots hold current answers.
const BEAT_MEMO_MIN: usize = 64;

impl BeatMemo {
    /// Where `req`'s answer is, or the free slot it would go to.
    fn probe(&self, req: &Rc<BeatReq>) -> (usize, bool) {
        let mask = self.slots.len() - 1;
        let mut at = req.target_digest() as usize & mask;
        let target = req.target_digest();
        while let Some(t) = self.slots[at].as_ref().filter(|t| t.epoch == self.epoch) {
            // The digest first: it is in the slot, the request it was made for is not.
            if t.target == target && (Rc::ptr_eq(&t.req, req) || t.req.names_same(req)) {
                return (at, true);
            }
            at = (at + 1) & mask;
        }
        (at, false)
    }

    /// Doubles the slots, keeping the current answers.
    fn grow(&mut self) {
        let n = (2 * self.slots.len()).max(BEAT_MEMO_MIN);
        let old = std::mem::replace(&mut self.slots, std::iter::repeat_with(|| None).take(n).collect());
        for t in old.into_iter().flatten().filter(|t| t.epoch == self.epoch) {
            let (at, _) = self.probe(&t.req);
            self.slots[at] = Some(t);
        }
    }
}

/// What a beat request's `(service, cluster, ip, port)` finds: the instance in the cluster's
/// ephemeral set (what `ClientBeatProcessor` updates) and in its persistent set.
#[derive(Debug)]
pub struct BeatTarget {
    req: Rc<BeatReq>,
    target: u64,
    epoch: u64,
    pub ephemeral: Option<InstanceRef>,
    pub persistent: Option<InstanceRef>,
}

impl BeatTarget {
    /// The instance a beat finds: the ephemeral one, else the persistent one.
    pub fn any(&self) -> Option<&InstanceRef> {
        self.ephemeral.as_ref().or(self.persistent.as_ref())
    }
}

impl ServiceMap {
    pub fn get(&self, key: &ServiceKey) -> Option<&Service> {
        self.map.get(key)
    }
    pub fn get_mut(&mut self, key: &ServiceKey) -> Option<&mut Service> {
        self.epoch += 1;
        self.map.get_mut(key)
    }
    pub fn contains_key(&self, key: &ServiceKey) -> bool {
        self.map.contains_key(key)
    }
    pub fn insert(&mut self, key: ServiceKey, service: Service) {
        self.epoch += 1;
        self.map.insert(key, service);
    }
    pub fn remove(&mut self, key: &ServiceKey) -> Option<Service> {
        self.epoch += 1;
        self.map.remove(key)
    }
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
    pub fn clear(&mut self) {
        self.epoch += 1;
        self.map.clear();
        self.beats = BeatMemo::default();
    }
    /// In key order.
    pub fn iter(&self) -> std::vec::IntoIter<(&ServiceKey, &Service)> {
        let mut v: Vec<_> = self.map.iter().collect();
        v.sort_unstable_by(|a, b| a.0.cmp(b.0));
        v.into_iter()
    }
    /// In key order.
    pub fn keys(&self) -> impl Iterator<Item = &ServiceKey> {
        self.iter().map(|(k, _)| k)
    }

    /// Hints the memo slot of `req` into the cache, or with `deep` (once the slot is cached)
    /// the instance it remembers for `req`.
    pub fn prefetch_beat(&self, req: &Rc<BeatReq>, deep: bool) {
        let memo = &self.beats;
        if memo.slots.is_empty() {
            return;
        }
        if !deep {
            crate::engine::prefetch(&memo.slots[req.target_digest() as usize & (memo.slots.len() - 1)]);
            return;
        }
        if memo.epoch != self.epoch {
            return;
        }
        if let (at, true) = memo.probe(req) {
            if let Some(i) = memo.slots[at].as_ref().and_then(|t| t.ephemeral.as_ref()) {
                Instance::prefetch(i);
            }
        }
    }

    /// The instances `req` names (its service, cluster and address), remembered while no
    /// service changes.
    pub fn beat_target(&mut self, req: &Rc<BeatReq>) -> &BeatTarget {
        let memo = &mut self.beats;
        if memo.epoch != self.epoch {
            (memo.epoch, memo.live) = (self.epoch, 0);
        }
        if 2 * (memo.live + 1) > memo.slots.len() {
            memo.grow();
        }
        let (at, known) = memo.probe(req);
        if !known {
            let cluster = self.map.get(&req.service).and_then(|s| s.clusters.get(&*req.cluster));
            let (ephemeral, persistent) = match cluster {
                Some(c) => (c.ephemeral.find(req.addr()).cloned(), c.persistent.find(req.addr()).cloned()),
                None => (None, None),
            };
            let target = req.target_digest();
            memo.slots[at] = Some(BeatTarget { req: req.clone(), target, epoch: self.epoch, ephemeral, persistent });
            memo.live += 1;
        }
        memo.slots[at].as_ref().expect("a remembered answer")
    }
}

impl<'a> IntoIterator for &'a ServiceMap {
    type Item = (&'a ServiceKey, &'a Service);
    type IntoIter = std::vec::IntoIter<(&'a ServiceKey, &'a Service)>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl std::ops::Index<&ServiceKey> for ServiceMap {
    type Output = Service;
    fn index(&self, key: &ServiceKey) -> &Service {
        &self.map[key]
    }
}

/// Consistency keys (R1.4).
pub fn instance_list_key(svc: &ServiceKey, ephemeral: bool) -> Str {
    let prefix = if ephemeral { EPHEMERAL_PREFIX } else { PERSISTENT_PREFIX };
    [prefix, &svc.namespace, "##", &svc.name].concat().into()
}

/// `updateIpAddresses(service, action, ephemeral, ips)` (R1.20): builds the next instance list
/// from the local datum, with health and lastBeat copied in place from the Service (setValid).
/// Returns `None` for an `add` that would leave the list empty (the Java IllegalArgumentException).
pub fn update_ip_addresses(
    datum: Option<&[InstanceRef]>,
    service: &Service,
    remove: bool,
    ephemeral: bool,
    ips: Vec<Instance>,
) -> Option<Vec<InstanceRef>> {
    // The Java map keyed by (ip, port, cluster), as a vector sorted by that key: a datum built
    // here is already in that order, so this is a copy, not a rebuild.
    fn key(i: &Instance) -> (&str, u16, &str) {
        (&i.ip, i.port, &i.cluster)
    }
    let mut list: Vec<InstanceRef> = Vec::new();
    if let Some(datum) = datum {
        // setValid: each datum entry takes the health of the first cluster's instance at its
        // address. A datum built here is sorted by address, so cursors over the (sorted)
        // cluster sets only move forward; any other datum is searched entry by entry.
        let sets: Vec<&[InstanceRef]> = service.clusters.values().map(|c| c.set(ephemeral).as_slice()).collect();
        // Sorted and unique by key implies sorted by address; checked once for both uses.
        let by_key = datum.windows(2).all(|w| key(&w[0]) < key(&w[1]));
        let sorted = by_key || datum.windows(2).all(|w| addr(&w[0]) <= addr(&w[1]));
        let mut cursors = vec![0usize; sets.len()];
        for d in datum {
            let cur = if sorted {
                let mut cur = None;
                for (set, at) in sets.iter().zip(cursors.iter_mut()) {
                    while set.get(*at).is_some_and(|x| addr_cmp(x, d).is_lt()) {
                        *at += 1;
                    }
                    if cur.is_none() {
                        cur = set.get(*at).filter(|x| addr_cmp(x, d).is_eq());
                    }
                }
                cur
            } else {
                let a = Addr::new(&d.ip, d.port);
                service.clusters.values().find_map(|c| c.set_ref(ephemeral).find(a))
            };
            if let Some(cur) = cur {
                d.healthy.set(cur.healthy.get());
                d.last_beat.set(cur.last_beat.get());
            }
        }
        list.extend(datum.iter().cloned());
        if !by_key {
            crate::naming::sorted_map_order(&mut list, |a, b| key(a).cmp(&key(b)));
        }
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
    if list.is_empty() && !remove {
        return None;
    }
    Some(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inst(ip: &str, port: u16, healthy: bool) -> Instance {
        Instance {
            ip: ip.into(),
            port,
            cluster: "DEFAULT".into(),
            weight: Cell::new(1.0),
            healthy: Cell::new(healthy),
            enabled: true,
            ephemeral: true,
            marked: false,
            metadata: Rc::default(),
            preserved: Preserved::of(&Rc::default()),
            instance_id: simple_instance_id(ip, port, "DEFAULT", "DEFAULT_GROUP@@a"),
            last_beat: Cell::new(0),
        }
    }

    #[test]
    fn what_a_beat_reads_of_an_instance_is_where_its_hint_points() {
        // `Instance::prefetch` covers 16 bytes in front of the value and 48 bytes of it.
        use std::mem::offset_of;
        for end in [
            offset_of!(Instance, last_beat) + 8,
            offset_of!(Instance, preserved) + std::mem::size_of::<Preserved>(),
            offset_of!(Instance, healthy) + 1,
            offset_of!(Instance, marked) + 1,
            offset_of!(Instance, port) + 2,
        ] {
            assert!(end <= 48, "{end}");
        }
    }

    #[test]
    fn ids_and_keys_read_as_in_java() {
        assert_eq!(
            &*simple_instance_id("10.0.0.1", 8080, "DEFAULT", "DEFAULT_GROUP@@a"),
            "10.0.0.1#8080#DEFAULT#DEFAULT_GROUP@@a"
        );
        let svc = ServiceKey { namespace: "public".into(), name: "DEFAULT_GROUP@@a".into() };
        assert_eq!(
            &*instance_list_key(&svc, true),
            "com.alibaba.nacos.naming.iplist.ephemeral.public##DEFAULT_GROUP@@a"
        );
        assert_eq!(&*instance_list_key(&svc, false), "com.alibaba.nacos.naming.iplist.public##DEFAULT_GROUP@@a");
    }

    #[test]
    fn to_string_matches_java() {
        assert_eq!(inst("10.0.0.1", 8080, true).java_string(), "10.0.0.1:8080:unknown:DEFAULT_1.0_true_false_DEFAULT");
    }

    #[test]
    fn same_java_string_agrees_with_to_string() {
        let base = inst("10.0.0.1", 8080, true);
        let variants = [
            inst("10.0.0.1", 8080, true),
            inst("10.0.0.1", 8080, false),
            inst("10.0.0.1", 8081, true),
            inst("10.0.0.10", 8080, true),
            Instance { marked: true, ..inst("10.0.0.1", 8080, true) },
            Instance { cluster: "B".into(), ..inst("10.0.0.1", 8080, true) },
            Instance { weight: Cell::new(2.0), ..inst("10.0.0.1", 8080, true) },
            Instance { weight: Cell::new(1.5), ..inst("10.0.0.1", 8080, true) },
            Instance { weight: Cell::new(-0.0), ..inst("10.0.0.1", 8080, true) },
            Instance { last_beat: Cell::new(99), ..inst("10.0.0.1", 8080, true) },
        ];
        for v in &variants {
            assert_eq!(base.same_java_string(v), base.java_string() == v.java_string(), "{}", v.java_string());
        }
        let zero = Instance { weight: Cell::new(0.0), ..inst("a", 1, true) };
        let neg_zero = Instance { weight: Cell::new(-0.0), ..inst("a", 1, true) };
        assert_eq!(zero.same_java_string(&neg_zero), zero.java_string() == neg_zero.java_string());
    }

    /// R1.27: an incoming list cannot change the health of an instance that exists locally.
    #[test]
    fn local_health_wins_on_update() {
        let mut c = Cluster::default();
        c.update_ips(vec![Rc::new(inst("10.0.0.1", 1, false))], true);
        let incoming = Rc::new(inst("10.0.0.1", 1, true));
        let (added, removed) = c.update_ips(vec![incoming.clone()], true);
        assert!(added.is_empty() && removed.is_empty());
        assert!(!incoming.healthy.get(), "local unhealthy wins over incoming healthy");
    }

    /// The hash index finds exactly the instances of the list, with short and long ips.
    #[test]
    fn find_by_address_uses_the_index_and_falls_back_for_long_ips() {
        let addrs: Vec<(String, u16)> =
            (0..300).map(|n| (format!("10.0.{}.{}", n % 3, n % 7), 8000 + (n / 21) as u16)).collect();
        for long in [false, true] {
            let mut list: Vec<InstanceRef> = addrs.iter().map(|(ip, port)| Rc::new(inst(ip, *port, true))).collect();
            if long {
                list.push(Rc::new(inst("fd00:0000:0000:0000::1", 1, true)));
            }
            let mut c = Cluster::default();
            c.update_ips(list, true);
            assert_eq!(c.ephemeral.keyed, !long);
            for (ip, port) in &addrs {
                let found = c.ephemeral.find(Addr::new(ip, *port)).expect("registered");
                assert_eq!((&*found.ip, found.port), (ip.as_str(), *port));
            }
            assert!(c.ephemeral.find(Addr::new("10.0.0.0", 7999)).is_none());
            assert!(c.ephemeral.find(Addr::new("10.0.9.0", 8000)).is_none());
            assert_eq!(c.ephemeral.find(Addr::new("fd00:0000:0000:0000::1", 1)).is_some(), long);
        }
        assert!(Cluster::default().ephemeral.find(Addr::new("10.0.0.0", 1)).is_none());
    }

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
    fn empty_add_is_rejected_and_remove_may_empty() {
        let key = ServiceKey { namespace: "public".into(), name: "DEFAULT_GROUP@@a".into() };
        let s = Service::new(key, 0);
        let list = update_ip_addresses(None, &s, false, true, vec![inst("a", 1, true)]).unwrap();
        assert_eq!(list.len(), 1);
        let after = update_ip_addresses(Some(&list), &s, true, true, vec![inst("a", 1, true)]).unwrap();
        assert!(after.is_empty());
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
        let list = update_ip_addresses(Some(&datum), &s, false, true, vec![inst("c", 1, true)]).unwrap();
        let addrs: Vec<_> = list.iter().map(|i| (&*i.ip, i.healthy.get())).collect();
        assert_eq!(addrs, [("a", false), ("b", true), ("c", true)]);
        assert!(Rc::ptr_eq(&list[1], &datum[2]));
    }

    fn beat_req(key: &ServiceKey, ip: &str) -> Rc<BeatReq> {
        Rc::new(BeatReq::new(key.clone(), "DEFAULT".into(), ip.into(), 8080, None, crate::naming::wire::Agent::Server))
    }

    #[test]
    fn a_beat_finds_its_instance_as_the_registry_changes() {
        let key = ServiceKey { namespace: "public".into(), name: "DEFAULT_GROUP@@a".into() };
        let mut map = ServiceMap::default();
        map.insert(key.clone(), Service::new(key.clone(), 0));
        let req = beat_req(&key, "10.0.0.1");
        assert!(map.beat_target(&req).any().is_none(), "no cluster yet");
        map.get_mut(&key).unwrap().update_ips(&[Rc::new(inst("10.0.0.1", 8080, true))], true, 0);
        let first = map.beat_target(&req).ephemeral.clone().expect("registered");
        assert!(map.beat_target(&req).persistent.is_none());
        assert!(Rc::ptr_eq(map.beat_target(&req).any().unwrap(), &first), "remembered");
        assert!(map.beat_target(&beat_req(&key, "10.0.0.2")).any().is_none());
        // An update puts a new object at the same address: the next beat finds that one.
        map.get_mut(&key).unwrap().update_ips(&[Rc::new(inst("10.0.0.1", 8080, false))], true, 1);
        let second = map.beat_target(&req).ephemeral.clone().expect("still registered");
        assert!(!Rc::ptr_eq(&first, &second));
        // A persistent instance at the address is found when there is no ephemeral one.
        map.get_mut(&key).unwrap().update_ips(&[Rc::new(inst("10.0.0.1", 8080, true))], false, 2);
        map.get_mut(&key).unwrap().update_ips(&[], true, 3);
        let t = map.beat_target(&req);
        assert!(t.ephemeral.is_none() && t.persistent.is_some() && t.any().is_some());
        map.remove(&key);
        assert!(map.beat_target(&req).any().is_none(), "service gone");
    }

    #[test]
    fn the_beat_memo_grows_and_answers_like_a_fresh_look_up() {
        let key = ServiceKey { namespace: "public".into(), name: "DEFAULT_GROUP@@a".into() };
        let mut map = ServiceMap::default();
        map.insert(key.clone(), Service::new(key.clone(), 0));
        let ips: Vec<String> = (0..2000).map(|n| format!("10.0.{}.{}", n / 250, n % 250)).collect();
        // Every other address is registered.
        let list: Vec<InstanceRef> = ips.iter().step_by(2).map(|ip| Rc::new(inst(ip, 8080, true))).collect();
        map.get_mut(&key).unwrap().update_ips(&list, true, 0);
        let reqs: Vec<_> = ips.iter().map(|ip| beat_req(&key, ip)).collect();
        for _ in 0..3 {
            for (n, req) in reqs.iter().enumerate() {
                let found = map.beat_target(req).ephemeral.clone();
                match found {
                    Some(i) => assert!(n % 2 == 0 && *i.ip == *ips[n]),
                    None => assert!(n % 2 == 1),
                }
            }
        }
        let slots = map.beats.slots.len();
        assert!((4096..=8192).contains(&slots), "{slots} slots for 2000 answers");
    }
}
