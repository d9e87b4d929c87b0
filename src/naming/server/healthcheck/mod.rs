//! Server-side health checks of persistent instances (spec §8): one `HealthCheckTask` per
//! cluster, probing with `TcpSuperSenseProcessor`, counting with `HealthCheckCommon`.

pub mod health_check_common;
pub mod health_check_task;
pub mod tcp_super_sense_processor;

pub use health_check_common::CheckStatus;
pub use health_check_task::{ClusterKey, HealthCheckTask};

use crate::naming::wire::{ServiceKey, Str};
use std::collections::BTreeMap;

/// A server's health-check state.
#[derive(Default)]
pub struct HealthChecks {
    /// The tasks of clusters that hold (or held) persistent instances.
    pub tasks: BTreeMap<(ServiceKey, Str), HealthCheckTask>,
    /// Clusters waiting for their task (created at the next step, with the RNG).
    pub pending: Vec<(ServiceKey, Str)>,
    /// `HealthCheckStatus` by cluster and address.
    pub status: BTreeMap<(ClusterKey, Str, u16), CheckStatus>,
}
