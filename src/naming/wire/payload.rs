//! What requests, answers and pushes carry: instances, beat bodies and the service JSON.

use super::{Metadata, Str, Weight};
use crate::engine::trace::StableHasher;
use serde::Serialize;
use std::hash::{Hash, Hasher};
use std::rc::Rc;

/// An instance as it travels in requests, beat bodies and Distro data.
#[derive(Clone, Debug, PartialEq, Hash, Serialize)]
pub struct InstanceData {
    pub ip: Str,
    pub port: u16,
    pub cluster: Str,
    pub weight: Weight,
    pub healthy: bool,
    pub enabled: bool,
    pub ephemeral: bool,
    pub marked: bool,
    pub metadata: Metadata,
    pub instance_id: Str,
    pub last_beat: i64,
}

/// `BeatInfo` (client BeatReactor): the body of a full beat.
#[derive(Clone, Debug, PartialEq, Hash, Serialize)]
pub struct BeatInfo {
    pub ip: Str,
    pub port: u16,
    pub weight: Weight,
    /// Grouped service name.
    pub service: Str,
    pub cluster: Str,
    pub metadata: Metadata,
    /// `period` in ms: metadata `preserved.heart.beat.interval` or 5000.
    pub period: i64,
}

/// One host of a `/instance/list` answer or push (spec R4.9).
#[derive(Clone, Debug, PartialEq, Hash, Serialize)]
pub struct HostJson {
    pub ip: Str,
    pub port: u16,
    pub valid: bool,
    pub healthy: bool,
    pub marked: bool,
    pub instance_id: Str,
    pub metadata: Metadata,
    pub enabled: bool,
    pub weight: Weight,
    pub cluster: Str,
    pub service: Str,
    pub ephemeral: bool,
}

/// The service JSON of `/instance/list` and of pushes (spec R4.8/R4.9). `last_ref_time` is the
/// server's `currentTimeMillis`, or 0 when the service does not exist on that server.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ServiceInfo {
    pub name: Str,
    pub clusters: Str,
    pub cache_millis: i64,
    pub last_ref_time: i64,
    pub checksum: Str,
    pub hosts: Hosts,
    /// The service's own metadata (`update_service`), which `doSrvIpxt` puts in every
    /// answer of a known service; the Java client's `ServiceInfo` has no field for it.
    pub metadata: Metadata,
}

/// A service JSON's part of the trace digest: `metadata` counts only when the service has
/// some, so a service without any digests as its list, times and checksum alone.
impl Hash for ServiceInfo {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.name.hash(h);
        self.clusters.hash(h);
        self.cache_millis.hash(h);
        self.last_ref_time.hash(h);
        self.checksum.hash(h);
        self.hosts.hash(h);
        if !self.metadata.is_empty() {
            self.metadata.hash(h);
        }
    }
}

/// The hosts of a service JSON, shared and digested once. A server answers every poll of an
/// unchanged service with the same list (see `NamingServer::service_info`), so neither the
/// trace, which hashes a list by its digest, nor a subscriber comparing it with its view reads
/// the hosts again.
#[derive(Clone, Debug)]
pub struct Hosts {
    list: Rc<[HostJson]>,
    digest: u64,
}

impl Hosts {
    /// Whether both are the very same list (a cached answer): then they are equal.
    pub fn same_list(&self, o: &Hosts) -> bool {
        Rc::ptr_eq(&self.list, &o.list)
    }
}

impl From<Vec<HostJson>> for Hosts {
    fn from(v: Vec<HostJson>) -> Hosts {
        Hosts { digest: StableHasher::digest(&v[..]), list: v.into() }
    }
}

impl Default for Hosts {
    fn default() -> Hosts {
        Hosts::from(Vec::new())
    }
}

impl std::ops::Deref for Hosts {
    type Target = [HostJson];
    fn deref(&self) -> &[HostJson] {
        &self.list
    }
}

impl PartialEq for Hosts {
    fn eq(&self, o: &Hosts) -> bool {
        self.same_list(o) || (self.digest == o.digest && self.list == o.list)
    }
}

impl Hash for Hosts {
    fn hash<H: Hasher>(&self, h: &mut H) {
        h.write_u64(self.digest);
    }
}

impl Serialize for Hosts {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.list.serialize(s)
    }
}

impl ServiceInfo {
    /// Approximate size of the JSON in bytes, for the UDP gzip threshold (R3.7).
    pub fn json_size(&self) -> usize {
        let mut n = 120 + self.name.len() + self.clusters.len() + self.checksum.len() + metadata_size(&self.metadata);
        for h in self.hosts.iter() {
            n += 190 + 2 * h.ip.len() + h.instance_id.len() + h.cluster.len() + h.service.len();
            n += metadata_size(&h.metadata);
        }
        n
    }
}

/// A metadata map's share of a JSON: each `"key":"value",`.
fn metadata_size(md: &Metadata) -> usize {
    md.iter().map(|(k, v)| k.len() + v.len() + 6).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_service_metadata_counts_in_the_json_size() {
        let mut info = ServiceInfo {
            name: "DEFAULT_GROUP@@demo".into(),
            clusters: "".into(),
            cache_millis: 10_000,
            last_ref_time: 1,
            checksum: "c".into(),
            hosts: Hosts::default(),
            metadata: Metadata::default(),
        };
        let bare = info.json_size();
        info.metadata = Rc::new([("team".to_string(), "pay".to_string())].into());
        assert_eq!(info.json_size(), bare + "\"team\":\"pay\",".len());
    }
}

/// Service identity on the wire: namespace and grouped name (`group@@service`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ServiceKey {
    pub namespace: Str,
    pub name: Str,
}
