//! `KeyBuilder` (spec R1.4): the consistency keys of instance lists and service metas, and back.

use crate::naming::wire::{ServiceKey, Str};

pub const EPHEMERAL_PREFIX: &str = "com.alibaba.nacos.naming.iplist.ephemeral.";
pub const PERSISTENT_PREFIX: &str = "com.alibaba.nacos.naming.iplist.";
pub const SERVICE_META_PREFIX: &str = "com.alibaba.nacos.naming.domains.meta.";
/// `KeyBuilder.getSwitchDomainKey`: the CP key of the cluster's `SwitchDomain`.
pub const SWITCH_DOMAIN_KEY: &str = "com.alibaba.nacos.naming.domains.meta.00-00---000-NACOS_SWITCH_DOMAIN-000---00-00";

/// Consistency keys (R1.4).
pub fn instance_list_key(svc: &ServiceKey, ephemeral: bool) -> Str {
    let prefix = if ephemeral { EPHEMERAL_PREFIX } else { PERSISTENT_PREFIX };
    [prefix, &svc.namespace, "##", &svc.name].concat().into()
}

/// `buildServiceMetaKey`: the CP key of a service's own fields (R1.34).
pub fn service_meta_key(svc: &ServiceKey) -> Str {
    [SERVICE_META_PREFIX, &svc.namespace, "##", &svc.name].concat().into()
}

/// The service of a service-meta key.
pub fn service_of_meta_key(key: &str) -> Option<ServiceKey> {
    let (ns, name) = key.strip_prefix(SERVICE_META_PREFIX)?.split_once("##")?;
    Some(ServiceKey { namespace: ns.into(), name: name.into() })
}

/// `KeyBuilder.getNamespace/getServiceName` of an instance-list key (R1.4).
pub fn service_key_of(key: &str) -> Option<ServiceKey> {
    let rest = key.strip_prefix(EPHEMERAL_PREFIX).or_else(|| key.strip_prefix(PERSISTENT_PREFIX))?;
    let (ns, name) = rest.split_once("##")?;
    Some(ServiceKey { namespace: ns.into(), name: name.into() })
}

/// Whether a key is an ephemeral instance list: the only keys Distro holds.
pub fn is_distro_key(key: &str) -> bool {
    key.starts_with(EPHEMERAL_PREFIX)
}
