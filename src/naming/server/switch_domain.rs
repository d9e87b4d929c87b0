//! `SwitchDomain` and the `GlobalConfig` values the naming cores read (spec Appendix A).

use super::ServerStatus;

/// `SwitchDomain` and `GlobalConfig` values the naming cores read (Appendix A).
#[derive(Clone, Debug)]
pub struct Switches {
    pub health_check_enabled: bool,
    pub expire_instance: bool,
    pub light_beat_enabled: bool,
    pub push_enabled: bool,
    pub distro_enabled: bool,
    pub client_beat_interval: i64,
    pub default_cache_millis: i64,
    pub push_cache_millis: i64,
    /// Which Distro change-propagation pipeline runs (§5.C or §5.I).
    pub distro_version: DistroVersion,
    /// `cpuCoreCount`: the number of 1.3 `TaskDispatcher` schedulers (R5.30).
    pub cpu_cores: u32,
    /// `nacos.naming.data.warmup` (default false): stay DOWN until the snapshot load is done.
    pub data_warmup: bool,
    /// `SwitchDomain.overriddenServerStatus`, if set (R5.7).
    pub overridden_status: Option<ServerStatus>,
}

/// The Distro sync pipeline: 1.4.x delay engine, or the TaskDispatcher/DataSyncer of 1.2–1.3
/// (2 s dispatch period), or of 1.0–1.1 (200 ms period, and the 1.1 `ServerListManager`
/// membership instead of member probes, R5.33).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum DistroVersion {
    V14,
    V13,
    V11,
}

impl Default for Switches {
    fn default() -> Self {
        Switches {
            health_check_enabled: true,
            expire_instance: true,
            light_beat_enabled: true,
            push_enabled: true,
            distro_enabled: true,
            client_beat_interval: 5000,
            default_cache_millis: 3000,
            push_cache_millis: 10_000,
            distro_version: DistroVersion::V14,
            cpu_cores: 4,
            data_warmup: false,
            overridden_status: None,
        }
    }
}
