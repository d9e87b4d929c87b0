//! `Cluster` (spec R1.16, R1.27): a cluster's ephemeral and persistent instance sets, and
//! `updateIps`, where local health wins over an incoming list.

use super::instance::{Instance, InstanceRef};
use crate::naming::wire::{Addr, AddrKey};
use std::rc::Rc;

/// A `Cluster` (R1.16). The Java sets are `HashSet`s; here they are vectors sorted by
/// `(ip, port)` so iteration order is deterministic and look-ups are binary searches.
#[derive(Debug, Default)]
pub struct Cluster {
    pub(super) ephemeral: Instances,
    pub(super) persistent: Instances,
    /// When `Cluster.init()` ran: its `HealthCheckTask` runs on this phase.
    pub created_ms: i64,
}

/// Instances sorted by `(ip, port)`, with their [`AddrKey`]s alongside and a hash index over
/// the keys: one probe of the index plus one key compare touches two cache lines where a
/// binary search touches about seven.
#[derive(Debug, Default)]
pub(crate) struct Instances {
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

    pub(crate) fn find(&self, a: Addr) -> Option<&InstanceRef> {
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

    pub(crate) fn set_ref(&self, ephemeral: bool) -> &Instances {
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
pub(crate) fn addr(i: &Instance) -> (&str, u16) {
    (&i.ip, i.port)
}

/// Compares the addresses of two listed instances. A new list mostly holds the very instances
/// of the one it replaces (R1.27), so the same object answers without reading its ip.
pub(crate) fn addr_cmp(a: &InstanceRef, b: &InstanceRef) -> std::cmp::Ordering {
    if Rc::ptr_eq(a, b) {
        std::cmp::Ordering::Equal
    } else {
        addr(a).cmp(&addr(b))
    }
}

fn find_sorted<'a>(v: &'a [InstanceRef], ip: &str, port: u16) -> Option<&'a InstanceRef> {
    v.binary_search_by(|x| (&*x.ip, x.port).cmp(&(ip, port))).ok().map(|i| &v[i])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::naming::server::registry::inst;

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
}
