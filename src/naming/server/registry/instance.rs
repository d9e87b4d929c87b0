//! `Instance` (spec R1.6–R1.11): one registered address, its preserved metadata parsed once,
//! and the `toString()` equality that decides whether an update keeps local health.

use crate::naming::wire::{push_decimal, InstanceData, Metadata, Str, Weight};
use std::cell::Cell;
use std::rc::Rc;

/// Defaults of the preserved metadata keys (R1.11).
pub const DEFAULT_HEART_BEAT_INTERVAL: i64 = 5000;
pub const DEFAULT_HEART_BEAT_TIMEOUT: i64 = 15000;
pub const DEFAULT_IP_DELETE_TIMEOUT: i64 = 30000;

/// The naming core `Instance` (R1.6). Mutable fields are `Cell`s because Nacos mutates the
/// shared object in place.
#[derive(Debug)]
#[repr(C)]
pub struct Instance {
    // What beats and health checks read comes first, next to the reference count, where
    // the beat path's cache hints point (`crate::naming::cache_hints`).
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

/// An instance for tests: `ip:port` in cluster DEFAULT of `DEFAULT_GROUP@@a`, weight 1.
#[cfg(test)]
pub(crate) fn inst(ip: &str, port: u16, healthy: bool) -> Instance {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::naming::server::key_builder::instance_list_key;
    use crate::naming::wire::ServiceKey;

    #[test]
    fn what_a_beat_reads_of_an_instance_is_where_its_hint_points() {
        // The beat path's hint (`cache_hints::rc_head`) covers 16 bytes in front of the value and 48 bytes of it.
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
}
