//! `DataStore` (spec R1.24): the datums Distro holds, one instance list per key, and their
//! checksums as verification compares them.

use crate::naming::server::registry::InstanceRef;
use crate::naming::wire::*;
use std::collections::BTreeMap;
use std::rc::Rc;

/// A `Datum`: the instance list of one key. `timestamp` is always 1 for local puts (R1.24).
#[derive(Clone, Debug)]
pub struct Datum {
    pub instances: Rc<Vec<InstanceRef>>,
    pub timestamp: i64,
    /// The list is known to be sorted and unique by (ip, port, cluster), as `updateIpAddresses`
    /// builds it; a list from a peer or a snapshot is not, until a registration rebuilds it.
    /// Knowing it skips a string-comparing pass over the list per registration: 50k
    /// registrations into one service (`benches/one-service-50k.json`) take 4.8–5.0 s with it,
    /// 28–30 s without.
    pub key_ordered: bool,
}

#[derive(Default)]
pub struct DataStore {
    pub data: BTreeMap<Str, Datum>,
}

/// `Instances.getChecksum()` (R1.31): what Nacos hashes (per instance ip, port, weight, healthy,
/// enabled, cluster and metadata), in sorted order; a stable digest stands in for MD5.
pub fn datum_checksum(d: &Datum) -> u64 {
    type Part<'a> = (&'a str, u16, String, bool, bool, &'a str, &'a BTreeMap<String, String>);
    let mut parts: Vec<Part> = d
        .instances
        .iter()
        .map(|i| {
            (
                &*i.ip,
                i.port,
                Weight(i.weight.get()).java_string(),
                i.healthy.get(),
                i.enabled,
                &*i.cluster,
                &*i.metadata,
            )
        })
        .collect();
    parts.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    crate::engine::trace::StableHasher::digest(&parts)
}
