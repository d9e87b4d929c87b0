//! Scenario files: the JSON schema (serde, unknown fields rejected), parsing with field paths,
//! and semantic validation. A scenario describes the cluster, the workload, the network, the
//! faults and what to expect.

pub mod expect;
pub mod measure;
mod strict;
pub mod world;

pub use expect::{Anchor, Converge, Expect};

use crate::engine::network::{HttpLossMode, Latency, LinkConfig};
use crate::time::{Dur, MAX_SPAN};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Seed of every random draw (network, nodes, workload).
    pub seed: u64,
    /// How long to simulate.
    pub duration: Dur,
    pub servers: Vec<ServerSpec>,
    #[serde(default)]
    pub clients: Vec<ClientSpec>,
    #[serde(default)]
    pub network: NetworkSpec,
    #[serde(default)]
    pub switches: SwitchSpec,
    #[serde(default)]
    pub faults: Vec<FaultSpec>,
    /// Requests an operator makes to a server (the console, or curl against the Open API).
    #[serde(default)]
    pub operations: Vec<OperationSpec>,
    /// Observations that are off unless asked for (they make traces much longer).
    #[serde(default)]
    pub observe: ObserveSpec,
    #[serde(default)]
    pub expect: Vec<Expect>,
    /// At the end of the run (leave a quiet period after the last fault, 60 s is usual), check
    /// eventual consistency: every live server holds the same datum checksum for every key, and
    /// every instance a live client registered is present on every live server. `true`, or
    /// `{"expect_fail": [clause, …]}` to pin a known non-convergence.
    #[serde(default)]
    pub converge: Converge,
    /// The known Nacos anomalies this run must show, exactly (names as `run` prints them:
    /// `two_raft_leaders`, `committed_write_lost`, `committed_write_overwritten`); `[]` for
    /// none. Absent: whatever is found is printed and nothing is asserted.
    #[serde(default)]
    pub expect_anomalies: Option<Vec<String>>,
    /// Named times to report: `run` prints them, `sweep` summarizes them over seeds.
    #[serde(default)]
    pub measure: Vec<measure::Measure>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClockSpec {
    /// Local clock = global time + offset (+ drift).
    #[serde(default)]
    pub offset: Dur,
    /// Clock rate error in parts per million (positive = fast).
    #[serde(default)]
    pub drift_ppm: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServerSpec {
    pub id: String,
    /// Defaults to 10.0.0.<n>.
    #[serde(default)]
    pub ip: Option<String>,
    #[serde(default = "default_server_port")]
    pub port: u16,
    #[serde(default)]
    pub clock: ClockSpec,
    /// When the server process starts, and with it every one of its periodic tasks (default
    /// 0); fixed, or `{"uniform": [from, to]}` drawn per seed (from a stream of its own, so
    /// other draws do not move). Before it, connections to it are refused.
    #[serde(default)]
    pub boot_at: At,
    /// How fast this server does data-sized work (parsing and applying datums): 1 is the
    /// calibrated default (a 300k-instance snapshot loads in about 16 s), 0.5 takes twice as
    /// long. Greater than 0, at most 1000.
    #[serde(default = "default_speed")]
    pub speed: f64,
}

fn default_speed() -> f64 {
    1.0
}

fn default_server_port() -> u16 {
    8848
}

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientSpec {
    pub id: String,
    /// Defaults to 10.1.0.<n>.
    #[serde(default)]
    pub ip: Option<String>,
    /// The `clientIP` it reports when subscribing, if not `ip`: on a multi-homed host
    /// `NetUtils.localIP()` may pick another NIC. Pushes sent there still reach this client, but
    /// its acks leave from `ip`, so no ack ever matches (R3.11).
    #[serde(default)]
    pub reported_ip: Option<String>,
    /// Server ids this client is configured with (default: all servers, in scenario order).
    #[serde(default)]
    pub servers: Option<Vec<String>>,
    #[serde(default = "default_client_version")]
    pub version: String,
    #[serde(default = "default_namespace")]
    pub namespace: String,
    #[serde(default = "default_udp_port")]
    pub udp_port: u16,
    #[serde(default)]
    pub push_empty_protection: bool,
    #[serde(default)]
    pub clock: ClockSpec,
    #[serde(default)]
    pub register: Vec<RegisterSpec>,
    /// Many instances at once, for load: `services` × `per_service` instances.
    #[serde(default)]
    pub register_many: Option<RegisterManySpec>,
    #[serde(default)]
    pub deregister: Vec<DeregisterSpec>,
    #[serde(default)]
    pub subscribe: Vec<SubscribeSpec>,
    /// Operator writes to the failover switch file (R4.14).
    #[serde(default)]
    pub failover: Vec<FailoverSpec>,
    /// `unsubscribe` calls (client 1.4.4+ then stops polling; older clients poll on).
    #[serde(default)]
    pub unsubscribe: Vec<SubscribeSpec>,
    /// One-shot `getAllInstances` / `selectInstances` calls without subscribing.
    #[serde(default)]
    pub query: Vec<QuerySpec>,
    /// `removeBeatInfo` without deregistering: the heartbeats of that instance stop.
    #[serde(default)]
    pub stop_beat: Vec<StopBeatSpec>,
}

/// A one-shot query; its answer is observed as `query_answered`.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QuerySpec {
    #[serde(default)]
    pub at: At,
    pub service: String,
    #[serde(default = "default_group")]
    pub group: String,
    #[serde(default)]
    pub clusters: Vec<String>,
    /// `all` (`getAllInstances`, the default), or `healthy` / `unhealthy`
    /// (`selectInstances(healthy)`: also only enabled instances of weight above 0).
    #[serde(default)]
    pub select: QuerySelect,
}

#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum QuerySelect {
    #[default]
    All,
    Healthy,
    Unhealthy,
}

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StopBeatSpec {
    pub at: At,
    pub service: String,
    #[serde(default = "default_group")]
    pub group: String,
    /// Defaults to the client's IP.
    #[serde(default)]
    pub ip: Option<String>,
    pub port: u16,
}

fn default_client_version() -> String {
    "1.4.1".into()
}
fn default_namespace() -> String {
    "public".into()
}
fn default_udp_port() -> u16 {
    54321
}
fn default_group() -> String {
    "DEFAULT_GROUP".into()
}
fn default_cluster() -> String {
    "DEFAULT".into()
}
fn default_weight() -> f64 {
    1.0
}
fn default_true() -> bool {
    true
}

/// A time: fixed, or drawn uniformly from a window by the workload random stream.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(untagged, expecting = "a duration like \"30s\" or {\"uniform\": [\"30s\", \"35s\"]}")]
pub enum At {
    Fixed(Dur),
    Uniform { uniform: (Dur, Dur) },
}

impl Default for At {
    fn default() -> Self {
        At::Fixed(Dur::ZERO)
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterSpec {
    #[serde(default)]
    pub at: At,
    pub service: String,
    #[serde(default = "default_group")]
    pub group: String,
    /// Defaults to the client's IP.
    #[serde(default)]
    pub ip: Option<String>,
    pub port: u16,
    #[serde(default = "default_cluster")]
    pub cluster: String,
    #[serde(default = "default_weight")]
    pub weight: f64,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    #[serde(default = "default_true")]
    pub ephemeral: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterManySpec {
    /// Registrations are spread evenly over `[at, at + spread)`.
    #[serde(default)]
    pub at: Dur,
    #[serde(default)]
    pub spread: Dur,
    pub services: u32,
    pub per_service: u32,
    #[serde(default = "default_prefix")]
    pub service_prefix: String,
    #[serde(default = "default_port_base")]
    pub port_base: u16,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// How many of each service's instances (its last ones) are persistent.
    #[serde(default)]
    pub persistent_per_service: u32,
}

fn default_prefix() -> String {
    "service-".into()
}
fn default_port_base() -> u16 {
    10000
}

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeregisterSpec {
    pub at: At,
    pub service: String,
    #[serde(default = "default_group")]
    pub group: String,
    #[serde(default)]
    pub ip: Option<String>,
    pub port: u16,
    #[serde(default = "default_cluster")]
    pub cluster: String,
    /// What the request says. The Java client's `deregisterInstance(service, ip, port)` builds
    /// an instance with the default `true`, so a persistent one stays registered; `false` is
    /// `deregisterInstance(service, instance)` with a persistent instance.
    #[serde(default = "default_true")]
    pub ephemeral: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscribeSpec {
    #[serde(default)]
    pub at: At,
    pub service: String,
    #[serde(default = "default_group")]
    pub group: String,
    #[serde(default)]
    pub clusters: Vec<String>,
}

/// The failover switch file set to `1` (`on: true`) or `0` at `at`.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FailoverSpec {
    pub at: At,
    pub on: bool,
}

/// Link settings; every field optional so a per-link override changes only what it names.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkSpec {
    #[serde(default)]
    pub latency: Option<Latency>,
    #[serde(default)]
    pub jitter: Option<Dur>,
    #[serde(default)]
    pub udp_loss: Option<f64>,
    #[serde(default)]
    pub udp_duplicate: Option<f64>,
    #[serde(default)]
    pub tcp_loss: Option<f64>,
    /// Opt-in abstract loss of whole HTTP exchanges.
    #[serde(default)]
    pub http_loss: Option<f64>,
    #[serde(default)]
    pub http_loss_mode: Option<HttpLossMode>,
    /// Probability that an HTTP response body is unparseable (proxy error page, truncation).
    #[serde(default)]
    pub http_garble: Option<f64>,
}

impl LinkSpec {
    pub fn apply(&self, base: &LinkConfig) -> LinkConfig {
        LinkConfig {
            latency: self.latency.clone().unwrap_or_else(|| base.latency.clone()),
            jitter: self.jitter.unwrap_or(base.jitter),
            udp_loss: self.udp_loss.unwrap_or(base.udp_loss),
            udp_duplicate: self.udp_duplicate.unwrap_or(base.udp_duplicate),
            tcp_loss: self.tcp_loss.unwrap_or(base.tcp_loss),
            http_loss: self.http_loss.unwrap_or(base.http_loss),
            http_loss_mode: self.http_loss_mode.unwrap_or(base.http_loss_mode),
            http_garble: self.http_garble.unwrap_or(base.http_garble),
        }
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NetworkSpec {
    /// Settings of every directed link (latency defaults to 1 ms fixed).
    #[serde(default)]
    pub defaults: LinkSpec,
    /// Per-link overrides, applied in order.
    #[serde(default)]
    pub links: Vec<LinkOverride>,
}

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkOverride {
    pub from: Vec<String>,
    pub to: Vec<String>,
    /// Also apply to the reverse direction.
    #[serde(default)]
    pub both_ways: bool,
    pub set: LinkSpec,
}

#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EmptyServiceClean {
    /// Code default: off.
    #[default]
    Off,
    /// Shipped `application.properties` of 1.4.1: on, first run at 50 s, then every 30 s.
    Shipped,
    /// On with the code's timing: first run at 60 s, then every 20 s.
    CodeTiming,
}

/// Server switches (`SwitchDomain` / `GlobalConfig`).
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SwitchSpec {
    #[serde(default = "default_true")]
    pub health_check_enabled: bool,
    #[serde(default = "default_true")]
    pub expire_instance: bool,
    #[serde(default = "default_true")]
    pub light_beat_enabled: bool,
    #[serde(default = "default_true")]
    pub push_enabled: bool,
    #[serde(default)]
    pub empty_service_clean: EmptyServiceClean,
    /// The Nacos release of every server, `1.x.y` from 1.0.0 to 1.4.8 (default `"1.4.1"`):
    /// selects every version-dependent server behaviour that is modelled
    /// (`src/naming/versions.rs`); `run` prints the range it is modelled by.
    #[serde(default = "default_server_version")]
    pub server_version: String,
    /// Overrides the Distro pipeline and membership of `server_version` alone: `"1.4"` (delay
    /// engine, member probes), `"1.3"` (TaskDispatcher/DataSyncer with 2 s dispatch, member
    /// probes, spec §5.I) or `"1.1"` (200 ms dispatch and `ServerListManager` membership,
    /// R5.33).
    #[serde(default)]
    pub distro_version: Option<DistroVersionSpec>,
    /// What-if fixes applied on top of `server_version`, by name: `"issue-7697"` (a
    /// verification with an equal checksum refreshes the key's healthy instances' lastBeat,
    /// commit c45762ed), `"pr-8437"` (Distro verification starts only after the snapshot
    /// load) and `"issue-10323"` (a verification during which the healthy list changed
    /// removes no key, commit 23c45da6). None is in any 1.x release.
    #[serde(default)]
    pub fixes: Vec<FixSpec>,
    /// CPU cores of each server: the number of 1.3 TaskDispatcher schedulers.
    #[serde(default = "default_cpu_cores")]
    pub cpu_cores: u32,
    /// `nacos.naming.data.warmup`: a server stays DOWN (503 to clients) until its snapshot load
    /// is done.
    #[serde(default)]
    pub data_warmup: bool,
    /// `nacos.naming.use-new-raft.first` (1.4.x): no legacy Raft; persistent data is JRaft's
    /// from boot, and so is the availability gate (R7.22).
    #[serde(default)]
    pub use_new_raft_first: bool,
    /// `SwitchDomain.overriddenServerStatus`.
    #[serde(default)]
    pub overridden_server_status: Option<ServerStatusSpec>,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ServerStatusSpec {
    Up,
    Down,
    ReadOnly,
    WriteOnly,
}

fn default_cpu_cores() -> u32 {
    4
}

fn default_server_version() -> String {
    "1.4.1".into()
}

/// A what-if fix, named by its Nacos issue or PR (`crate::naming::versions::Fix`).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum FixSpec {
    #[serde(rename = "issue-7697")]
    Issue7697,
    #[serde(rename = "pr-8437")]
    Pr8437,
    #[serde(rename = "issue-10323")]
    Issue10323,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum DistroVersionSpec {
    #[serde(rename = "1.4")]
    V14,
    #[serde(rename = "1.3")]
    V13,
    /// 1.0–1.1: 200 ms dispatch period and `ServerListManager` membership (R5.33).
    #[serde(rename = "1.1")]
    V11,
}

impl FixSpec {
    pub fn fix(self) -> crate::naming::versions::Fix {
        use crate::naming::versions::Fix;
        match self {
            FixSpec::Issue7697 => Fix::Issue7697,
            FixSpec::Pr8437 => Fix::Pr8437,
            FixSpec::Issue10323 => Fix::Issue10323,
        }
    }
}

impl Default for SwitchSpec {
    fn default() -> Self {
        SwitchSpec {
            health_check_enabled: true,
            expire_instance: true,
            light_beat_enabled: true,
            push_enabled: true,
            empty_service_clean: EmptyServiceClean::Off,
            server_version: default_server_version(),
            distro_version: None,
            fixes: Vec::new(),
            cpu_cores: 4,
            data_warmup: false,
            use_new_raft_first: false,
            overridden_server_status: None,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum FaultSpec {
    /// Cut links. With `groups`, every pair across different groups both ways (nodes not
    /// listed form one more group); with `from`/`to`, only from → to (asymmetric).
    Partition {
        at: At,
        #[serde(default)]
        until: Option<At>,
        /// Instead of `until`: how long it lasts from its (possibly random) start.
        #[serde(default, rename = "for")]
        for_: Option<Dur>,
        #[serde(default)]
        groups: Vec<Vec<String>>,
        #[serde(default)]
        from: Vec<String>,
        #[serde(default)]
        to: Vec<String>,
        /// A stateful firewall instead of a cut cable: only TCP connections opened from → to
        /// fail (their connect attempt times out); connections opened the other way, their
        /// answers and UDP pass.
        #[serde(default)]
        connections_only: bool,
    },
    /// A firewall REJECT rule: connections opened from → to are refused at once ("connection
    /// refused", one round trip) while the rule stands; the other way, and UDP, pass.
    Reject {
        at: At,
        #[serde(default)]
        until: Option<At>,
        #[serde(default, rename = "for")]
        for_: Option<Dur>,
        from: Vec<String>,
        to: Vec<String>,
    },
    /// Heal every partition and lift every firewall rule.
    Heal { at: At },
    /// Change link settings from → to.
    Link {
        at: At,
        from: Vec<String>,
        to: Vec<String>,
        #[serde(default)]
        both_ways: bool,
        set: LinkSpec,
    },
    /// The process dies and loses its memory; `until` restarts it. `host_down`: the machine is
    /// gone too (peers see connect timeouts instead of "connection refused"). `wipe_disk`: its
    /// disk is lost as well (a server's Raft datums, a client's failover directory).
    Crash {
        at: At,
        node: String,
        #[serde(default)]
        until: Option<At>,
        /// Instead of `until`: how long until the restart, from the crash.
        #[serde(default, rename = "for")]
        for_: Option<Dur>,
        #[serde(default)]
        host_down: bool,
        #[serde(default)]
        wipe_disk: bool,
    },
    /// Restart a crashed node at `at` (a crash without `until` or `for` stays down until then).
    Restart { at: At, node: String },
    /// A stop-the-world pause (GC): inputs queue until `until` (or for `for`).
    Pause {
        at: At,
        node: String,
        #[serde(default)]
        until: Option<At>,
        #[serde(default, rename = "for")]
        for_: Option<Dur>,
    },
    /// The node's wall clock jumps by `by` (may be negative); timers are unaffected.
    ClockJump { at: At, node: String, by: Dur },
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ObserveSpec {
    /// `request_answered` on a server for every request of a client or the console.
    #[serde(default)]
    pub requests: bool,
    /// With `requests`: only the requests whose caller (`request_answered.from`) is one of
    /// these nodes, so a large run records what its consumers were answered and not every beat.
    #[serde(default)]
    pub requests_from: Option<Vec<String>>,
    /// `client_log` on a client for the Java client's log lines users look for: "out of date
    /// data received, old-t: …, new-t: …", "[NA] failed to update serviceName: …",
    /// "failover-mode is on" / "off", "update task is stopped, …".
    #[serde(default)]
    pub client_log: bool,
}

/// An operator's request, made at `at` to server `via` from that server's own host (the
/// console runs in a browser opened on it); it goes through the same filters, forwarding and
/// Distro path as a client's call, and `operation_answered` records the answer.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum OperationSpec {
    /// PUT `/instance` as the console sends it: every field of the form, so the instance is
    /// replaced whole (metadata not given is dropped, `healthy` and `lastBeat` reset), and
    /// created if absent (`InstanceController.update` runs `registerInstance` for a browser).
    UpdateInstance {
        at: At,
        via: String,
        service: String,
        #[serde(default = "default_group")]
        group: String,
        #[serde(default = "default_namespace")]
        namespace: String,
        ip: String,
        port: u16,
        #[serde(default = "default_cluster")]
        cluster: String,
        #[serde(default = "default_weight")]
        weight: f64,
        #[serde(default = "default_true")]
        enabled: bool,
        #[serde(default = "default_true")]
        healthy: bool,
        #[serde(default)]
        metadata: BTreeMap<String, String>,
        #[serde(default = "default_true")]
        ephemeral: bool,
    },
    /// DELETE `/instance`.
    Deregister {
        at: At,
        via: String,
        service: String,
        #[serde(default = "default_group")]
        group: String,
        #[serde(default = "default_namespace")]
        namespace: String,
        ip: String,
        port: u16,
        #[serde(default = "default_cluster")]
        cluster: String,
        #[serde(default = "default_true")]
        ephemeral: bool,
    },
    /// PUT `/instance/metadata/batch` (from 1.4.0; 404 before): `metadata` merged into each
    /// instance listed in `instances`, or into every one of `consistency_type`.
    UpdateMetadata {
        at: At,
        via: String,
        service: String,
        #[serde(default = "default_group")]
        group: String,
        #[serde(default = "default_namespace")]
        namespace: String,
        #[serde(default)]
        instances: Vec<MetadataTargetSpec>,
        #[serde(default)]
        consistency_type: Option<ConsistencyType>,
        metadata: BTreeMap<String, String>,
    },
    /// DELETE `/instance/metadata/batch`: the keys of `metadata` removed.
    RemoveMetadata {
        at: At,
        via: String,
        service: String,
        #[serde(default = "default_group")]
        group: String,
        #[serde(default = "default_namespace")]
        namespace: String,
        #[serde(default)]
        instances: Vec<MetadataTargetSpec>,
        #[serde(default)]
        consistency_type: Option<ConsistencyType>,
        metadata: BTreeMap<String, String>,
    },
    /// PUT `/operator/switches`: `entry` as Nacos names it (`check`, `pushEnabled`,
    /// `lightBeatEnabled`, `distro`, `clientBeatInterval`, `defaultCacheMillis`,
    /// `pushCacheMillis`, `overriddenServerStatus`), `value` a JSON boolean, number or string.
    /// Only `debug: true` is modelled (this server's switches; a restart forgets them):
    /// without it Nacos writes the switch through the CP store.
    SetSwitch {
        at: At,
        via: String,
        entry: String,
        value: serde_json::Value,
        #[serde(default)]
        debug: bool,
    },
    /// `cluster.conf` on `via` rewritten with the same members: the member lookup re-reads it
    /// (1.3.0–1.4.1: every member is UP again, V10).
    TouchClusterConf { at: At, via: String },
    /// PUT `/service` (`ServiceController.update`): the service's protect threshold and
    /// metadata, set at once on `via` and written through the CP store to every server.
    UpdateService {
        at: At,
        via: String,
        service: String,
        #[serde(default = "default_group")]
        group: String,
        #[serde(default = "default_namespace")]
        namespace: String,
        /// In [0, 1]: under this share of healthy instances, lists return every instance as healthy (R1.32).
        protect_threshold: f32,
        #[serde(default)]
        metadata: BTreeMap<String, String>,
    },
    /// DELETE `/service` (`ServiceController.remove`): the service removed through the CP
    /// store, on every server, with whatever instances it still has.
    DeleteService {
        at: At,
        via: String,
        service: String,
        #[serde(default = "default_group")]
        group: String,
        #[serde(default = "default_namespace")]
        namespace: String,
    },
}

/// One instance named by the metadata batch API.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MetadataTargetSpec {
    pub ip: String,
    /// 0 matches any port (`Instance.equals`).
    pub port: u16,
    #[serde(default = "default_cluster")]
    pub cluster: String,
    #[serde(default = "default_true")]
    pub ephemeral: bool,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConsistencyType {
    Ephemeral,
    Persist,
}

impl OperationSpec {
    pub fn at(&self) -> &At {
        match self {
            OperationSpec::UpdateInstance { at, .. }
            | OperationSpec::Deregister { at, .. }
            | OperationSpec::UpdateMetadata { at, .. }
            | OperationSpec::RemoveMetadata { at, .. }
            | OperationSpec::SetSwitch { at, .. }
            | OperationSpec::TouchClusterConf { at, .. }
            | OperationSpec::UpdateService { at, .. }
            | OperationSpec::DeleteService { at, .. } => at,
        }
    }

    pub fn via(&self) -> &str {
        match self {
            OperationSpec::UpdateInstance { via, .. }
            | OperationSpec::Deregister { via, .. }
            | OperationSpec::UpdateMetadata { via, .. }
            | OperationSpec::RemoveMetadata { via, .. }
            | OperationSpec::SetSwitch { via, .. }
            | OperationSpec::TouchClusterConf { via, .. }
            | OperationSpec::UpdateService { via, .. }
            | OperationSpec::DeleteService { via, .. } => via,
        }
    }
}

/// A rejected scenario: which file, which field, what was expected.
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioError {
    pub file: String,
    pub path: String,
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: at `{}`: {}", self.file, self.path, self.message)
    }
}

impl std::error::Error for ScenarioError {}

pub fn load(path: &str) -> Result<Scenario, ScenarioError> {
    let text = std::fs::read_to_string(path).map_err(|e| ScenarioError {
        file: path.into(),
        path: "$".into(),
        message: format!("cannot read file: {e}"),
    })?;
    parse(path, &text)
}

/// Loads a scenario after applying `sets`, each `PATH=VALUE`: a dotted path into the JSON
/// (object keys, array indices, `*` for every element; missing objects are created) and a JSON
/// value; text that is not JSON, or that replaces a string (unless it is an object or a
/// list), is a string. E.g.
/// `clients.*.version=1.4.2`, `switches.distro_version="1.3"`, `network.defaults.udp_loss=0.1`.
/// The result is validated like any file.
pub fn load_with(path: &str, sets: &[String]) -> Result<Scenario, ScenarioError> {
    if sets.is_empty() {
        return load(path);
    }
    let text = std::fs::read_to_string(path).map_err(|e| ScenarioError {
        file: path.into(),
        path: "$".into(),
        message: format!("cannot read file: {e}"),
    })?;
    let err = |at: &str, message: String| ScenarioError { file: path.into(), path: at.into(), message };
    let mut v: serde_json::Value = serde_json::from_str(&text).map_err(|e| err("$", format!("invalid JSON: {e}")))?;
    for set in sets {
        let Some((at, value)) = set.split_once('=') else {
            return Err(err("$", format!("--set {set:?}: expected PATH=VALUE")));
        };
        let keys: Vec<&str> = at.split('.').collect();
        if set_at(&mut v, &keys, value) == 0 {
            return Err(err(at, format!("--set {set:?}: no such field")));
        }
    }
    parse(path, &v.to_string())
}

/// Sets `value` at `keys` under `v`; returns how many places were set.
fn set_at(v: &mut serde_json::Value, keys: &[&str], value: &str) -> usize {
    use serde_json::Value;
    let Some((first, rest)) = keys.split_first() else {
        // A string field takes the text as it is (`version=1.4` stays "1.4"), unless it is an
        // object or a list (`faults.0.at={"uniform": ["40s", "45s"]}`).
        *v = match serde_json::from_str::<Value>(value) {
            Ok(parsed) if !v.is_string() || parsed.is_object() || parsed.is_array() => parsed,
            _ => Value::String(value.into()),
        };
        return 1;
    };
    match v {
        serde_json::Value::Array(items) if *first == "*" => items.iter_mut().map(|i| set_at(i, rest, value)).sum(),
        serde_json::Value::Array(items) => {
            first.parse::<usize>().ok().and_then(|i| items.get_mut(i)).map_or(0, |i| set_at(i, rest, value))
        }
        // Optional fields and sections are often absent from a file: create them.
        serde_json::Value::Object(map) => {
            let fresh = if rest.is_empty() { Value::Null } else { Value::Object(Default::default()) };
            set_at(map.entry(first.to_string()).or_insert(fresh), rest, value)
        }
        _ => 0,
    }
}

/// Reads a scenario: strictly as JSON ([`strict::read_json`]), then against the schema
/// ([`strict::check`]), then into the types, then the checks no schema can say ([`validate`]).
pub fn parse(file: &str, text: &str) -> Result<Scenario, ScenarioError> {
    let reject = |(path, message): strict::Rejection| ScenarioError { file: file.into(), path, message };
    let value = strict::read_json(text).map_err(reject)?;
    strict::check(&value, schema_value()).map_err(reject)?;
    let sc: Scenario = serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let message = e.into_inner().to_string();
        ScenarioError { file: file.into(), path: if path == "." { "$".into() } else { path }, message }
    })?;
    validate(&sc).map_err(|(path, message)| ScenarioError { file: file.into(), path, message })?;
    Ok(sc)
}

type Invalid = (String, String);

/// `cpuCoreCount` sizes the 1.3 `TaskDispatcher` (one scheduler per core, R5.30): bounded so a
/// typo cannot allocate without bound.
const MAX_CPU_CORES: u32 = 1024;

/// The clock of every node moves at most [`MAX_SPAN`] away from global time: its offset plus
/// every jump, in absolute value.
fn check_clock_travel(sc: &Scenario) -> Result<(), Invalid> {
    let offsets =
        sc.servers.iter().map(|s| (&s.id, s.clock.offset)).chain(sc.clients.iter().map(|c| (&c.id, c.clock.offset)));
    for (id, offset) in offsets {
        let mut travel = offset.0.unsigned_abs();
        for (i, f) in sc.faults.iter().enumerate() {
            if let FaultSpec::ClockJump { node, by, .. } = f {
                if node == id {
                    travel = travel.saturating_add(by.0.unsigned_abs());
                    if travel > MAX_SPAN.0 as u64 {
                        return Err((
                            format!("faults[{i}].by"),
                            format!("the clock of \"{id}\" would move more than 3650 days from global time (offset and jumps added up)"),
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}

fn check_prob(path: String, p: Option<f64>) -> Result<(), Invalid> {
    match p {
        Some(v) if !(0.0..=1.0).contains(&v) => Err((path, format!("expected a probability in [0, 1], found {v}"))),
        _ => Ok(()),
    }
}

fn check_link(path: &str, l: &LinkSpec) -> Result<(), Invalid> {
    check_prob(format!("{path}.udp_loss"), l.udp_loss)?;
    check_prob(format!("{path}.udp_duplicate"), l.udp_duplicate)?;
    check_prob(format!("{path}.tcp_loss"), l.tcp_loss)?;
    check_prob(format!("{path}.http_loss"), l.http_loss)?;
    check_prob(format!("{path}.http_garble"), l.http_garble)?;
    if let Some(lat) = &l.latency {
        lat.params_valid().map_err(|m| (format!("{path}.latency"), m))?;
    }
    if let Some(j) = l.jitter {
        if j.is_negative() {
            return Err((format!("{path}.jitter"), "expected a non-negative duration".into()));
        }
    }
    Ok(())
}

fn check_at(path: String, at: &At) -> Result<(), Invalid> {
    match at {
        At::Fixed(d) if d.is_negative() => Err((path, "expected a non-negative time".into())),
        At::Uniform { uniform: (a, b) } if a.is_negative() || b < a => {
            Err((path, "expected {\"uniform\": [from, to]} with 0 <= from <= to".into()))
        }
        _ => Ok(()),
    }
}

/// The latest time an `At` can resolve to (for "until before at" checks).
fn at_bounds(at: &At) -> (Dur, Dur) {
    match at {
        At::Fixed(d) => (*d, *d),
        At::Uniform { uniform: (a, b) } => (*a, *b),
    }
}

fn validate(sc: &Scenario) -> Result<(), Invalid> {
    let release = match crate::naming::versions::server_release(&sc.switches.server_version) {
        Ok(r) => r,
        Err(e) => return Err(("switches.server_version".into(), e)),
    };
    if sc.switches.use_new_raft_first && !release.behaviour.legacy_raft_stops_at_1_4 {
        return Err((
            "switches.use_new_raft_first".into(),
            "expected a 1.4.x server_version: JRaft exists from 1.4.0".into(),
        ));
    }
    if !(1..=MAX_CPU_CORES).contains(&sc.switches.cpu_cores) {
        return Err(("switches.cpu_cores".into(), format!("expected at least 1 and at most {MAX_CPU_CORES} cores")));
    }
    if sc.duration.0 <= 0 {
        return Err(("duration".into(), "expected a positive duration".into()));
    }
    if sc.servers.is_empty() {
        return Err(("servers".into(), "expected at least one server".into()));
    }
    let mut ids = BTreeSet::new();
    let mut ips = BTreeSet::new();
    for (i, s) in sc.servers.iter().enumerate() {
        if !ids.insert(s.id.as_str()) {
            return Err((format!("servers[{i}].id"), format!("duplicate node id \"{}\"", s.id)));
        }
        if let Some(ip) = &s.ip {
            if !ips.insert(ip.clone()) {
                return Err((format!("servers[{i}].ip"), format!("duplicate ip \"{ip}\"")));
            }
        }
        check_clock(&format!("servers[{i}].clock"), &s.clock)?;
        check_at(format!("servers[{i}].boot_at"), &s.boot_at)?;
        if at_bounds(&s.boot_at).1 >= sc.duration {
            return Err((
                format!("servers[{i}].boot_at"),
                "expected a time from 0 to before the end of the run".into(),
            ));
        }
        if !(s.speed > 0.0 && s.speed <= 1000.0) {
            return Err((
                format!("servers[{i}].speed"),
                format!("expected a number above 0, at most 1000, not {}", s.speed),
            ));
        }
    }
    let server_ids: BTreeSet<&str> = sc.servers.iter().map(|s| s.id.as_str()).collect();
    for (i, c) in sc.clients.iter().enumerate() {
        let p = format!("clients[{i}]");
        if !ids.insert(c.id.as_str()) {
            return Err((format!("{p}.id"), format!("duplicate node id \"{}\"", c.id)));
        }
        if let Some(ip) = &c.ip {
            if !ips.insert(ip.clone()) {
                return Err((format!("{p}.ip"), format!("duplicate ip \"{ip}\"")));
            }
        }
        if let Some(ip) = &c.reported_ip {
            if !ips.insert(ip.clone()) {
                return Err((format!("{p}.reported_ip"), format!("duplicate ip \"{ip}\"")));
            }
        }
        check_clock(&format!("{p}.clock"), &c.clock)?;
        if let Some(list) = &c.servers {
            if list.is_empty() {
                return Err((format!("{p}.servers"), "expected at least one server id".into()));
            }
            for (j, s) in list.iter().enumerate() {
                if !server_ids.contains(s.as_str()) {
                    return Err((
                        format!("{p}.servers[{j}]"),
                        format!("unknown server \"{s}\"; servers are {server_ids:?}"),
                    ));
                }
            }
        }
        for (j, r) in c.register.iter().enumerate() {
            let rp = format!("{p}.register[{j}]");
            check_at(format!("{rp}.at"), &r.at)?;
            check_service_name(&format!("{rp}.service"), &r.service)?;
            check_cluster_name(&format!("{rp}.cluster"), &r.cluster)?;
            if !(0.0..=10000.0).contains(&r.weight) {
                return Err((format!("{rp}.weight"), format!("expected a weight in [0, 10000], found {}", r.weight)));
            }
            check_beat_metadata(&format!("{rp}.metadata"), &r.metadata)?;
        }
        if let Some(m) = &c.register_many {
            let mp = format!("{p}.register_many");
            if m.services == 0 || m.per_service == 0 {
                return Err((mp, "expected services >= 1 and per_service >= 1".into()));
            }
            if m.services as u64 * m.per_service as u64 + m.port_base as u64 > 65535 {
                return Err((mp, "port_base + services * per_service must stay below 65536".into()));
            }
            if m.persistent_per_service > m.per_service {
                return Err((format!("{mp}.persistent_per_service"), "expected at most per_service".into()));
            }
            if m.at.is_negative() || m.spread.is_negative() {
                return Err((format!("{mp}.at"), "expected non-negative durations".into()));
            }
            check_beat_metadata(&format!("{mp}.metadata"), &m.metadata)?;
        }
        for (j, d) in c.deregister.iter().enumerate() {
            check_at(format!("{p}.deregister[{j}].at"), &d.at)?;
        }
        for (j, f) in c.failover.iter().enumerate() {
            check_at(format!("{p}.failover[{j}].at"), &f.at)?;
        }
        for (j, s) in c.subscribe.iter().enumerate() {
            check_at(format!("{p}.subscribe[{j}].at"), &s.at)?;
            check_service_name(&format!("{p}.subscribe[{j}].service"), &s.service)?;
        }
        for (j, s) in c.unsubscribe.iter().enumerate() {
            check_at(format!("{p}.unsubscribe[{j}].at"), &s.at)?;
            check_service_name(&format!("{p}.unsubscribe[{j}].service"), &s.service)?;
        }
        for (j, q) in c.query.iter().enumerate() {
            check_at(format!("{p}.query[{j}].at"), &q.at)?;
            check_service_name(&format!("{p}.query[{j}].service"), &q.service)?;
        }
        for (j, b) in c.stop_beat.iter().enumerate() {
            check_at(format!("{p}.stop_beat[{j}].at"), &b.at)?;
            check_service_name(&format!("{p}.stop_beat[{j}].service"), &b.service)?;
        }
    }
    check_link("network.defaults", &sc.network.defaults)?;
    for (i, l) in sc.network.links.iter().enumerate() {
        let p = format!("network.links[{i}]");
        check_nodes(&format!("{p}.from"), &l.from, &ids)?;
        check_nodes(&format!("{p}.to"), &l.to, &ids)?;
        check_link(&format!("{p}.set"), &l.set)?;
    }
    for (i, f) in sc.faults.iter().enumerate() {
        let p = format!("faults[{i}]");
        validate_fault(&p, f, &ids)?;
    }
    check_clock_travel(sc)?;
    if let Some(from) = &sc.observe.requests_from {
        if !sc.observe.requests {
            return Err(("observe.requests_from".into(), "needs \"requests\": true".into()));
        }
        check_nodes("observe.requests_from", from, &ids)?;
    }
    for (i, op) in sc.operations.iter().enumerate() {
        validate_operation(&format!("operations[{i}]"), op, &server_ids)?;
    }
    for (i, e) in sc.expect.iter().enumerate() {
        expect::validate(&format!("expect[{i}]"), e, &ids, sc.faults.len())?;
    }
    expect::validate_converge(&sc.converge)?;
    expect::validate_anomalies(sc.expect_anomalies.as_deref())?;
    measure::validate(&sc.measure, &ids, sc.faults.len())?;
    Ok(())
}

fn validate_operation(p: &str, op: &OperationSpec, servers: &BTreeSet<&str>) -> Result<(), Invalid> {
    check_at(format!("{p}.at"), op.at())?;
    if !servers.contains(op.via()) {
        return Err((format!("{p}.via"), format!("unknown server \"{}\"; servers are {servers:?}", op.via())));
    }
    match op {
        OperationSpec::UpdateInstance { service, cluster, weight, metadata, .. } => {
            check_service_name(&format!("{p}.service"), service)?;
            check_cluster_name(&format!("{p}.cluster"), cluster)?;
            if !(0.0..=10000.0).contains(weight) {
                return Err((format!("{p}.weight"), format!("expected a weight in [0, 10000], found {weight}")));
            }
            check_beat_metadata(&format!("{p}.metadata"), metadata)?;
        }
        OperationSpec::Deregister { service, cluster, .. } => {
            check_service_name(&format!("{p}.service"), service)?;
            check_cluster_name(&format!("{p}.cluster"), cluster)?;
        }
        OperationSpec::UpdateMetadata { service, instances, consistency_type, .. }
        | OperationSpec::RemoveMetadata { service, instances, consistency_type, .. } => {
            check_service_name(&format!("{p}.service"), service)?;
            if instances.is_empty() && consistency_type.is_none() {
                return Err((
                    p.into(),
                    "expected `instances` or `consistency_type` (with neither, Nacos changes nothing)".into(),
                ));
            }
            for (j, t) in instances.iter().enumerate() {
                check_cluster_name(&format!("{p}.instances[{j}].cluster"), &t.cluster)?;
            }
        }
        OperationSpec::SetSwitch { entry, value, .. } => check_switch(p, entry, value)?,
        OperationSpec::UpdateService { protect_threshold, .. } => {
            if !(0.0..=1.0).contains(protect_threshold) {
                return Err((
                    format!("{p}.protect_threshold"),
                    format!("expected a share in [0, 1], found {protect_threshold}"),
                ));
            }
        }
        OperationSpec::DeleteService { service, .. } => check_service_name(&format!("{p}.service"), service)?,
        OperationSpec::TouchClusterConf { .. } => {}
    }
    Ok(())
}

/// A `set_switch` entry this model can change, with a value of its type.
fn check_switch(p: &str, entry: &str, value: &serde_json::Value) -> Result<(), Invalid> {
    use crate::naming::server::operator_controller::SWITCH_ENTRIES;
    if !SWITCH_ENTRIES.contains(&entry) {
        return Err((
            format!("{p}.entry"),
            format!("unknown or unmodelled switch \"{entry}\"; expected one of {SWITCH_ENTRIES:?}"),
        ));
    }
    let ok = match entry {
        "clientBeatInterval" | "defaultCacheMillis" | "pushCacheMillis" => value.is_i64(),
        "overriddenServerStatus" => {
            value.is_null()
                || value
                    .as_str()
                    .is_some_and(|s| s == "null" || crate::naming::server::ServerStatus::parse(s).is_some())
        }
        _ => value.is_boolean(),
    };
    if !ok {
        let want = match entry {
            "clientBeatInterval" | "defaultCacheMillis" | "pushCacheMillis" => "an integer (milliseconds)",
            "overriddenServerStatus" => "\"UP\", \"DOWN\", \"READ_ONLY\", \"WRITE_ONLY\", \"STARTING\" or null",
            _ => "true or false",
        };
        return Err((format!("{p}.value"), format!("`{entry}` takes {want}, found {value}")));
    }
    Ok(())
}

fn check_clock(p: &str, c: &ClockSpec) -> Result<(), Invalid> {
    if !c.drift_ppm.is_finite() || c.drift_ppm.abs() >= 100_000.0 {
        return Err((format!("{p}.drift_ppm"), "expected a drift in (-100000, 100000) ppm".into()));
    }
    Ok(())
}

fn check_nodes(p: &str, nodes: &[String], ids: &BTreeSet<&str>) -> Result<(), Invalid> {
    if nodes.is_empty() {
        return Err((p.into(), "expected at least one node id".into()));
    }
    for (i, n) in nodes.iter().enumerate() {
        if !ids.contains(n.as_str()) {
            return Err((format!("{p}[{i}]"), format!("unknown node \"{n}\"; nodes are {ids:?}")));
        }
        if nodes[..i].contains(n) {
            return Err((format!("{p}[{i}]"), format!("node \"{n}\" is listed twice")));
        }
    }
    Ok(())
}

fn check_service_name(p: &str, name: &str) -> Result<(), Invalid> {
    let ok = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || "@.:_-".contains(c));
    if !ok {
        return Err((p.into(), format!("service name \"{name}\" must match [0-9a-zA-Z@.:_-]+ (Service.validate)")));
    }
    Ok(())
}

fn check_cluster_name(p: &str, name: &str) -> Result<(), Invalid> {
    let ok = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if !ok {
        return Err((p.into(), format!("cluster name \"{name}\" must match [0-9a-zA-Z-]+ (Cluster.validate)")));
    }
    Ok(())
}

/// The client refuses `timeout < interval` or `deleteTimeout < interval` (R1.11).
fn check_beat_metadata(p: &str, md: &BTreeMap<String, String>) -> Result<(), Invalid> {
    let num = |k: &str, d: i64| md.get(k).and_then(|v| v.trim().parse::<i64>().ok()).unwrap_or(d);
    let interval = num("preserved.heart.beat.interval", 5000);
    let timeout = num("preserved.heart.beat.timeout", 15000);
    let delete = num("preserved.ip.delete.timeout", 30000);
    if interval <= 0 {
        return Err((format!("{p}.preserved.heart.beat.interval"), "expected a positive number of ms".into()));
    }
    let max_ms = MAX_SPAN.as_millis();
    for (key, v) in [
        ("preserved.heart.beat.interval", interval),
        ("preserved.heart.beat.timeout", timeout),
        ("preserved.ip.delete.timeout", delete),
    ] {
        if v > max_ms {
            return Err((format!("{p}.{key}"), format!("expected at most {max_ms} ms (3650 days), found {v}")));
        }
    }
    if timeout < interval || delete < interval {
        return Err((
            p.into(),
            format!("INVALID_PARAM: heart beat timeout ({timeout}) and ip delete timeout ({delete}) must be >= interval ({interval})"),
        ));
    }
    Ok(())
}

fn validate_fault(p: &str, f: &FaultSpec, ids: &BTreeSet<&str>) -> Result<(), Invalid> {
    let node_ok = |n: &str| -> Result<(), Invalid> {
        if ids.contains(n) {
            Ok(())
        } else {
            Err((format!("{p}.node"), format!("unknown node \"{n}\"; nodes are {ids:?}")))
        }
    };
    let until_after = |at: &At, until: &At, field: &str| -> Result<(), Invalid> {
        check_at(format!("{p}.{field}"), until)?;
        if at_bounds(until).0 <= at_bounds(at).1 {
            return Err((format!("{p}.{field}"), format!("`{field}` must be after `at` (a heal before it starts?)")));
        }
        Ok(())
    };
    // The end of a fault: `until`, or `for` after its start, never both.
    let end = |at: &At, until: &Option<At>, for_: &Option<Dur>| -> Result<(), Invalid> {
        match (until, for_) {
            (Some(_), Some(_)) => Err((format!("{p}.for"), "`for` and `until` exclude each other".into())),
            (Some(u), None) => until_after(at, u, "until"),
            (None, Some(d)) if d.0 <= 0 => Err((format!("{p}.for"), "expected a positive duration".into())),
            _ => Ok(()),
        }
    };
    match f {
        FaultSpec::Reject { at, until, for_, from, to } => {
            check_at(format!("{p}.at"), at)?;
            end(at, until, for_)?;
            check_nodes(&format!("{p}.from"), from, ids)?;
            check_nodes(&format!("{p}.to"), to, ids)?;
        }
        FaultSpec::Partition { at, until, for_, groups, from, to, .. } => {
            check_at(format!("{p}.at"), at)?;
            end(at, until, for_)?;
            match (groups.is_empty(), from.is_empty() && to.is_empty()) {
                (false, true) => {
                    for (i, g) in groups.iter().enumerate() {
                        check_nodes(&format!("{p}.groups[{i}]"), g, ids)?;
                        for (j, n) in g.iter().enumerate() {
                            if groups[..i].iter().any(|earlier| earlier.contains(n)) {
                                return Err((
                                    format!("{p}.groups[{i}][{j}]"),
                                    format!("node \"{n}\" is in two groups"),
                                ));
                            }
                        }
                    }
                }
                (true, false) => {
                    check_nodes(&format!("{p}.from"), from, ids)?;
                    check_nodes(&format!("{p}.to"), to, ids)?;
                }
                _ => return Err((p.into(), "expected either `groups` or both `from` and `to`".into())),
            }
        }
        FaultSpec::Heal { at } => check_at(format!("{p}.at"), at)?,
        FaultSpec::Link { at, from, to, set, .. } => {
            check_at(format!("{p}.at"), at)?;
            check_nodes(&format!("{p}.from"), from, ids)?;
            check_nodes(&format!("{p}.to"), to, ids)?;
            check_link(&format!("{p}.set"), set)?;
        }
        FaultSpec::Crash { at, node, until, for_, .. } => {
            check_at(format!("{p}.at"), at)?;
            node_ok(node)?;
            end(at, until, for_)?;
        }
        FaultSpec::Restart { at, node } => {
            check_at(format!("{p}.at"), at)?;
            node_ok(node)?;
        }
        FaultSpec::Pause { at, node, until, for_ } => {
            check_at(format!("{p}.at"), at)?;
            node_ok(node)?;
            if until.is_none() && for_.is_none() {
                return Err((format!("{p}.until"), "missing field `until` (a pause ends: `until` or `for`)".into()));
            }
            end(at, until, for_)?;
        }
        FaultSpec::ClockJump { at, node, .. } => {
            check_at(format!("{p}.at"), at)?;
            node_ok(node)?;
        }
    }
    Ok(())
}

/// JSON Schema of scenario files (`nacos-sim schema`).
pub fn json_schema() -> String {
    serde_json::to_string_pretty(schema_value()).expect("schema serializes")
}

/// The schema as a JSON value, made once.
fn schema_value() -> &'static serde_json::Value {
    static SCHEMA: std::sync::OnceLock<serde_json::Value> = std::sync::OnceLock::new();
    SCHEMA.get_or_init(|| serde_json::to_value(schemars::schema_for!(Scenario)).expect("schema serializes"))
}
