//! What an operator asks of a server (the console, or curl against the Open API): each
//! operation is the HTTP request the console sends, made from the server's own host to the
//! server it was opened on, so it goes through the same filters, forwarding and consistency
//! path as a client's call.

use super::{DeregisterReq, Metadata, Msg, RegisterReq, ServiceKey, Str};
use std::rc::Rc;

/// The User-Agent of the console's requests: a browser, so no Java-client rule applies.
pub const CONSOLE_AGENT: &str = "Mozilla/5.0 (Nacos console)";

#[derive(Clone, Debug, PartialEq, Hash)]
pub enum Operation {
    /// PUT `/instance`. The console's form sends every field (weight, enabled, healthy,
    /// metadata), and `InstanceController.update` answers a non-Java agent with
    /// `registerInstance`: the instance is replaced whole, metadata and all.
    UpdateInstance(Rc<RegisterReq>),
    /// DELETE `/instance`.
    Deregister(Rc<DeregisterReq>),
    /// PUT (`remove: false`) or DELETE `/instance/metadata/batch` (from 1.4.0).
    Metadata(Rc<MetadataBatchReq>),
    /// PUT `/operator/switches?debug=true`: this server's `SwitchDomain` only.
    SetSwitch(Rc<SwitchReq>),
    /// PUT `/operator/switches` without `debug`: the cluster's `SwitchDomain`, through the CP
    /// store.
    SetSwitchPersistent(Rc<SwitchReq>),
    /// `cluster.conf` rewritten with the same members: `FileConfigMemberLookup` re-reads it.
    TouchClusterConf,
    /// PUT `/service`.
    UpdateService(Rc<ServiceUpdateReq>),
    /// DELETE `/service`.
    DeleteService(Rc<ServiceDeleteReq>),
}

impl Operation {
    /// The name a scenario gives it (and `operation_answered` reports).
    pub fn name(&self) -> &'static str {
        match self {
            Operation::UpdateInstance(_) => "update_instance",
            Operation::Deregister(_) => "deregister",
            Operation::Metadata(m) if m.remove => "remove_metadata",
            Operation::Metadata(_) => "update_metadata",
            Operation::SetSwitch(_) | Operation::SetSwitchPersistent(_) => "set_switch",
            Operation::TouchClusterConf => "touch_cluster_conf",
            Operation::UpdateService(_) => "update_service",
            Operation::DeleteService(_) => "delete_service",
        }
    }

    /// The HTTP request it is, if it is one.
    pub fn request(&self) -> Option<Msg> {
        Some(match self {
            Operation::UpdateInstance(r) => Msg::Update(r.clone()),
            Operation::Deregister(r) => Msg::Deregister(r.clone()),
            Operation::Metadata(r) => Msg::MetadataBatch(r.clone()),
            Operation::SetSwitch(r) => Msg::UpdateSwitch(r.clone()),
            Operation::SetSwitchPersistent(r) => Msg::UpdateSwitchPersistent(r.clone()),
            Operation::UpdateService(r) => Msg::UpdateService(r.clone()),
            Operation::DeleteService(r) => Msg::DeleteService(r.clone()),
            Operation::TouchClusterConf => return None,
        })
    }
}

/// One entry of the `instances` parameter of the metadata batch API.
#[derive(Clone, Debug, PartialEq, Hash)]
pub struct MetadataTarget {
    pub ip: Str,
    pub port: u16,
    pub cluster: Str,
    pub ephemeral: bool,
}

/// `/instance/metadata/batch`: `consistencyType` (empty, `ephemeral` or `persist`: every
/// instance of that kind), `instances`, `metadata`; `remove` for the DELETE.
#[derive(Clone, Debug, PartialEq, Hash)]
pub struct MetadataBatchReq {
    pub service: ServiceKey,
    pub consistency_type: Str,
    pub instances: Vec<MetadataTarget>,
    pub metadata: Metadata,
    pub remove: bool,
    pub agent: super::Agent,
}

/// PUT `/operator/switches`: `entry` and `value` as the form sends them.
#[derive(Clone, Debug, PartialEq, Hash)]
pub struct SwitchReq {
    pub entry: Str,
    pub value: Str,
}

/// PUT `/service` (`ServiceController.update`): `protectThreshold` as the form sends it (read
/// with `NumberUtils.toFloat`: 0 when it does not parse) and the service's metadata.
#[derive(Clone, Debug, PartialEq, Hash)]
pub struct ServiceUpdateReq {
    pub service: ServiceKey,
    pub protect_threshold: Str,
    pub metadata: Metadata,
    pub agent: super::Agent,
}

/// DELETE `/service` (`ServiceController.remove`).
#[derive(Clone, Debug, PartialEq, Hash)]
pub struct ServiceDeleteReq {
    pub service: ServiceKey,
    pub agent: super::Agent,
}
