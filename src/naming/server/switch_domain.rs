//! `SwitchDomain` and the `GlobalConfig` values the naming cores read (spec Appendix A).

use super::ServerStatus;
use crate::naming::versions::ServerBehaviour;

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
    /// What the server's release changes (`switches.server_version`, [`crate::naming::versions`]).
    pub behaviour: ServerBehaviour,
    /// `cpuCoreCount`: the number of 1.3 `TaskDispatcher` schedulers (R5.30).
    pub cpu_cores: u32,
    /// `nacos.naming.data.warmup` (default false): stay DOWN until the snapshot load is done.
    pub data_warmup: bool,
    /// `nacos.naming.use-new-raft.first`: the legacy Raft is shut down at start (1.4.x).
    pub use_new_raft_first: bool,
    /// `SwitchDomain.overriddenServerStatus`, if set (R5.7).
    pub overridden_status: Option<ServerStatus>,
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
            behaviour: ServerBehaviour::default(),
            cpu_cores: 4,
            data_warmup: false,
            use_new_raft_first: false,
            overridden_status: None,
        }
    }
}
