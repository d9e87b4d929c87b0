//! The Nacos 1.x naming surface as typed values: HTTP requests and responses, UDP push and ack
//! (spec Appendix B), plus the timers and observations shared by the server and client cores.
//!
//! Payloads that real Nacos serializes to JSON travel here as plain values (`Rc` for the large,
//! immutable ones so a push to many clients does not copy host lists).

use crate::engine::trace::StableHasher;
use crate::engine::NodeId;
use serde::Serialize;
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::rc::Rc;

pub type Str = Rc<str>;
pub type Metadata = Rc<BTreeMap<String, String>>;

/// A Java `double` weight. Hashed by bits so it can live in traced values.
#[derive(Copy, Clone, Debug, PartialEq, PartialOrd, Serialize)]
#[serde(transparent)]
pub struct Weight(pub f64);

impl Hash for Weight {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.0.to_bits().hash(h)
    }
}

impl Weight {
    /// Java `Double.toString` for the values Nacos uses (`1.0`, `0.01`, `10000.0`).
    pub fn java_string(self) -> String {
        let mut s = String::new();
        self.write_java(&mut s);
        s
    }

    /// Appends [`java_string`](Self::java_string) to `out`. Weights are nearly always whole
    /// numbers, which skip the float formatter (checksums format every instance's weight).
    pub fn write_java(self, out: &mut String) {
        use std::fmt::Write;
        let v = self.0;
        if v.fract() == 0.0 && v.abs() < 1e7 {
            if v.is_sign_negative() {
                out.push('-');
            }
            push_decimal(out, v.abs() as i64);
            out.push_str(".0");
        } else {
            let _ = write!(out, "{v}");
        }
    }
}

/// Appends a non-negative integer in decimal, without the formatting machinery (checksums
/// print every instance's port and weight).
pub fn push_decimal(out: &mut String, mut n: i64) {
    let mut buf = [0u8; 20];
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend(buf[at..].iter().map(|&d| d as char));
}

/// Who sent an HTTP request, as the User-Agent header says. `DistroFilter` refuses a second hop
/// for `Server`; `canEnablePush` accepts Java clients from 0.1.0.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Agent {
    /// `Nacos-Java-Client:v<version>`
    JavaClient(Str),
    /// `Nacos-Server:<version>`
    Server,
    /// Any other User-Agent (e.g. `Nacos-SDK-Java`, curl): push is never enabled for it.
    Other(Str),
}

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
#[derive(Clone, Debug, PartialEq, Hash, Serialize)]
pub struct ServiceInfo {
    pub name: Str,
    pub clusters: Str,
    pub cache_millis: i64,
    pub last_ref_time: i64,
    pub checksum: Str,
    pub hosts: Hosts,
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
        let mut n = 120 + self.name.len() + self.clusters.len() + self.checksum.len();
        for h in self.hosts.iter() {
            n += 190 + 2 * h.ip.len() + h.instance_id.len() + h.cluster.len() + h.service.len();
            n += h.metadata.iter().map(|(k, v)| k.len() + v.len() + 6).sum::<usize>();
        }
        n
    }
}

/// Service identity on the wire: namespace and grouped name (`group@@service`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ServiceKey {
    pub namespace: Str,
    pub name: Str,
}

/// An order-preserving inline form of `(ip, port)` for ips of at most 16 bytes: the ip's bytes,
/// big-endian, zero-padded (text never holds a zero byte, so a shorter ip sorts first, as in
/// `str` order), then the port. Registries search sorted keys instead of chasing each
/// instance's ip string.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct AddrKey {
    ip: u128,
    port: u16,
}

impl AddrKey {
    pub fn of(ip: &str, port: u16) -> Option<AddrKey> {
        let b = ip.as_bytes();
        (b.len() <= 16).then(|| {
            let mut buf = [0u8; 16];
            buf[..b.len()].copy_from_slice(b);
            AddrKey { ip: u128::from_be_bytes(buf), port }
        })
    }

    /// A well-mixed 64-bit hash, for hash indexes; the same on every machine.
    pub fn hash_bits(&self) -> u64 {
        crate::engine::trace::avalanche((self.ip as u64) ^ ((self.ip >> 64) as u64).rotate_left(17) ^ self.port as u64)
    }
}

/// An `(ip, port)` to look up, with its key worked out once (a beat request carries its own).
/// The fields are private so the key always matches the address.
#[derive(Clone, Copy, Debug)]
pub struct Addr<'a> {
    ip: &'a str,
    port: u16,
    key: Option<AddrKey>,
}

impl<'a> Addr<'a> {
    pub fn new(ip: &'a str, port: u16) -> Addr<'a> {
        Addr { ip, port, key: AddrKey::of(ip, port) }
    }
    pub fn ip(&self) -> &'a str {
        self.ip
    }
    pub fn port(&self) -> u16 {
        self.port
    }
    pub fn key(&self) -> Option<AddrKey> {
        self.key
    }
}

/// POST `/instance`.
#[derive(Clone, Debug, PartialEq, Hash)]
pub struct RegisterReq {
    pub service: ServiceKey,
    pub instance: InstanceData,
    pub agent: Agent,
}

/// DELETE `/instance` (client deregistration, or a server's own auto-delete, R2.15).
#[derive(Clone, Debug, PartialEq, Hash)]
pub struct DeregisterReq {
    pub service: ServiceKey,
    pub ip: Str,
    pub port: u16,
    pub cluster: Str,
    pub ephemeral: bool,
    pub agent: Agent,
}

/// PUT `/instance/beat`; `beat` is absent for a light beat.
///
/// The most frequent message by far, built once and re-sent every period, so it carries the
/// digest of its content: the trace hashes that instead of reading its strings (cold, one set
/// per instance) on every delivery. The digest is private, so every beat request is built by
/// [`BeatReq::new`] or [`BeatReq::with`] and its digest always matches its content.
#[derive(Clone, Debug, PartialEq)]
#[repr(C)]
pub struct BeatReq {
    // What every delivery reads comes first, next to the reference count ([`BeatReq::prefetch`]).
    digest: u64,
    /// The digest of what the request names (service, cluster, address), for the server's
    /// memo of where beats find their instance.
    target: u64,
    pub beat: Option<Rc<BeatInfo>>,
    pub agent: Agent,
    pub port: u16,
    pub service: ServiceKey,
    /// The key of `(ip, port)`, for the look-ups the memo does not answer.
    key: Option<AddrKey>,
    pub cluster: Str,
    pub ip: Str,
}

impl BeatReq {
    pub fn new(
        service: ServiceKey,
        cluster: Str,
        ip: Str,
        port: u16,
        beat: Option<Rc<BeatInfo>>,
        agent: Agent,
    ) -> Self {
        let digest = StableHasher::digest(&(&service, &cluster, &ip, port, &beat, &agent));
        let target = StableHasher::digest(&(&service, &cluster, &ip, port));
        let key = AddrKey::of(&ip, port);
        BeatReq { digest, target, beat, agent, port, service, key, cluster, ip }
    }

    /// Hints the lines a delivery reads into the cache: the reference count (16 bytes in
    /// front of the value) and the fields up to the port. They span 66 bytes from a 16-byte
    /// aligned start, so two lines, and a point in each is 64 bytes apart.
    pub fn prefetch(this: &Rc<BeatReq>) {
        let p = Rc::as_ptr(this) as *const u8;
        crate::engine::prefetch(p.wrapping_sub(16));
        crate::engine::prefetch(p.wrapping_add(48));
    }

    /// The digest of the request's content (what the trace hashes).
    pub fn digest(&self) -> u64 {
        self.digest
    }

    /// Whether `o` names the same instance: service, cluster and address. Strings are
    /// compared by pointer first, since copies of a request share them.
    pub fn names_same(&self, o: &BeatReq) -> bool {
        fn same(a: &Str, b: &Str) -> bool {
            Rc::ptr_eq(a, b) || a == b
        }
        self.port == o.port
            && self.key == o.key
            && same(&self.ip, &o.ip)
            && same(&self.cluster, &o.cluster)
            && same(&self.service.name, &o.service.name)
            && same(&self.service.namespace, &o.service.namespace)
    }

    /// The digest of the service, cluster and address this beat names: equal for requests
    /// that [`names_same`](Self::names_same).
    pub fn target_digest(&self) -> u64 {
        self.target
    }

    /// The `(ip, port)` this beat names, keyed.
    pub fn addr(&self) -> Addr<'_> {
        Addr { ip: &self.ip, port: self.port, key: self.key }
    }

    /// A copy with some fields changed (and its digest recomputed).
    pub fn with(&self, change: impl FnOnce(&mut BeatReq)) -> BeatReq {
        let mut r = self.clone();
        change(&mut r);
        BeatReq::new(r.service, r.cluster, r.ip, r.port, r.beat, r.agent)
    }
}

impl Hash for BeatReq {
    fn hash<H: Hasher>(&self, h: &mut H) {
        h.write_u64(self.digest);
    }
}

/// GET `/instance/list`.
#[derive(Clone, Debug, PartialEq, Hash)]
pub struct ListReq {
    pub service: ServiceKey,
    pub clusters: Str,
    pub udp_port: u16,
    pub client_ip: Str,
    pub healthy_only: bool,
    pub agent: Agent,
}

/// A server's checksums with its address, as the status channels send them.
#[derive(Clone, Debug, PartialEq, Hash)]
pub struct Sourced<T> {
    pub source: Str,
    pub checksums: Vec<T>,
}

/// Requests ride behind `Rc`s so a message is a few words (24 bytes, pinned by a test): events
/// move it by value, and a client re-sends the same beat request every period without
/// rebuilding it.
#[derive(Clone, Debug, PartialEq, Hash)]
pub enum Msg {
    Register(Rc<RegisterReq>),
    Deregister(Rc<DeregisterReq>),
    Beat(Rc<BeatReq>),
    List(Rc<ListReq>),
    /// HTTP 200 with body `ok`.
    Ok,
    /// HTTP 200 beat reply (R2.9); `light_beat_enabled` absent on 20404.
    BeatReply {
        client_beat_interval: i64,
        code: i32,
        light_beat_enabled: Option<bool>,
    },
    /// HTTP 200 with a service JSON.
    Service(Rc<ServiceInfo>),
    /// Any non-200 answer.
    Error {
        status: u16,
        message: Str,
    },
    /// UDP push (R3.6). `bytes` is the datagram size after the gzip decision (R3.7).
    Push {
        last_ref_time: i64,
        data: Rc<ServiceInfo>,
        bytes: u32,
        gzipped: bool,
    },
    /// UDP push ack (R4.13).
    PushAck {
        last_ref_time: i64,
    },
    /// An HTTP 200 whose body the caller cannot parse (the `http_garble` link fault).
    Garbled,
    // ---- server to server (Distro, membership, status channel) ----
    /// PUT `/distro/datum`: datums as the sender held them when the sync task ran (R5.14).
    DistroSync(Rc<DatumBatch>),
    /// PUT `/distro/checksum?source=`: checksums of the keys the source is responsible for (R5.18).
    DistroChecksums(Rc<Sourced<(Str, u64)>>),
    /// GET `/distro/datum` with `{"keys": …}` (R5.19 step 5).
    DistroFetch(Rc<Vec<Str>>),
    /// GET `/distro/datums`: the whole DataStore (R5.21).
    DistroSnapshot,
    /// The answer to a fetch or snapshot: the datums the peer has.
    DistroData(Rc<DatumBatch>),
    /// POST `/core/cluster/report` with the sender's member info (R6.3).
    MemberReport {
        address: Str,
    },
    /// 1.1 `ServerListManager` status beat `site#ip:port#timestamp#weight` (R5.33).
    ServerStatusBeat {
        address: Str,
    },
    /// POST `/service/status`: checksums of the services the sender is responsible for (R5.24).
    ServiceStatus(Rc<Sourced<(ServiceKey, Str)>>),
    /// GET `/instance/statuses?key=` (R5.26).
    InstanceStatuses(Rc<ServiceKey>),
    /// `{"ips": ["ip:port_healthy", …]}`.
    Statuses(Rc<Vec<(Str, u16, bool)>>),
}

/// Datums on the wire: instance-list key → the instances (serialized copies, `lastBeat` and
/// `healthy` included, R2.17).
pub type DatumBatch = Vec<(Str, Rc<Vec<InstanceData>>)>;

/// A server-side task, as a timer: Java executors and "schedule now" hand-offs.
#[derive(Clone, Debug)]
pub enum ServerTimer {
    /// `ClientBeatCheckTask` of one service (fixed-delay 5 s).
    ClientBeatCheck(Rc<ServiceKey>),
    /// `ClientBeatProcessor`, scheduled "now" on the health executor (R2.8.6), for the
    /// cluster/ip/port of this beat.
    ClientBeatProcess(Rc<BeatReq>),
    /// The Distro notifier thread has work (R5.23).
    Notifier,
    /// The debounced push round of a service (R3.4).
    PushRound(Rc<ServiceKey>),
    /// `Retransmitter` for one ack key (R3.10).
    Retransmit(Rc<AckKey>),
    /// `removeClientIfZombie`, fixed-delay 0 / 20 s (R3.3).
    ZombieSweep,
    /// `EmptyServiceAutoClean`, fixed-rate (R1.33).
    EmptyServiceClean,
    /// The Distro delay engine's scan, fixed-delay 100 ms (R5.10).
    DistroTick,
    /// 1.3 `DataSyncer`: a failed `SyncTask` resubmitted after `syncRetryDelay` (R5.31).
    SyncRetry { target: NodeId, keys: Rc<Vec<Str>>, retry: u32 },
    /// `DistroVerifyTask`, fixed-delay 5 s (R5.17).
    DistroVerify,
    /// `DistroLoadDataTask` (again), 30 s after a round in which no peer answered (R5.21).
    DistroLoad,
    /// `MemberInfoReportTask`: 5 s after start, then 2 s after each run (R6.3).
    MemberReport,
    /// `ServiceReporter`: 60 s after start, then every 5 s (R5.24).
    ServiceReport,
    /// 1.1 `ServerListManager` status broadcast, every 2 s (R5.33).
    ServerListReport,
    /// `ServerStatusManager`: fixed-rate 0 / 5 s (R5.7).
    ServerStatus,
}

/// Ack key of a push: client address and the round's `lastRefTime` nanos (R3.8).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AckKey {
    /// The subscriber's reported `clientIP`; the ack must come from this address (R3.11).
    pub ip: Str,
    pub port: u16,
    pub last_ref_time: i64,
}

/// A BeatInfo's place in its client's task table and its generation: a timer of a BeatInfo
/// that was since replaced or removed finds another generation there (or nothing) and stops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BeatTaskId {
    pub slot: u32,
    pub generation: u64,
}

#[derive(Clone, Debug)]
pub enum ClientTimer {
    /// `BeatTask` of one BeatInfo.
    Beat(BeatTaskId),
    /// `UpdateTask` of one subscribed service key (`name@@clusters`).
    Update(Str),
    /// `FailoverReactor.SwitchRefresher`, fixed-delay 0 / 5 s (R4.14).
    SwitchRefresh,
    /// `FailoverReactor.DiskFileWriter`: once at +10 s if the failover dir is empty, then
    /// fixed-delay 30 min / 24 h (R4.14).
    DiskWrite { only_if_empty: bool },
}

/// `serviceName#ip#port`, the BeatReactor map key.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BeatKey {
    pub service: Str,
    pub ip: Str,
    pub port: u16,
}

#[derive(Clone, Debug)]
pub enum Timer {
    Server(ServerTimer),
    Client(ClientTimer),
}

/// A host as a subscriber sees it, in observations.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct SeenHost {
    pub ip: Str,
    pub port: u16,
    pub healthy: bool,
}

/// Everything a user can ask about, as data. Serialized with a `kind` tag into the trace.
#[derive(Clone, Debug, PartialEq, Hash, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Observation {
    // ---- server ----
    ServiceCreated {
        service: Str,
    },
    ServiceRemoved {
        service: Str,
    },
    /// A register request was applied to the datum (the Service view follows via the notifier).
    InstanceRegistered {
        service: Str,
        ip: Str,
        port: u16,
    },
    /// The Service view gained an instance (after the notifier applied the datum).
    InstanceAdded {
        service: Str,
        ip: Str,
        port: u16,
        healthy: bool,
    },
    /// The Service view lost an instance: it is deleted from this server.
    InstanceRemoved {
        service: Str,
        ip: Str,
        port: u16,
    },
    /// `ClientBeatCheckTask` marked it unhealthy; `last_beat_ms` is the server-local last beat.
    InstanceUnhealthy {
        service: Str,
        ip: Str,
        port: u16,
        last_beat_ms: i64,
    },
    /// A beat made an unhealthy instance healthy again (`ClientBeatProcessor`).
    InstanceHealthy {
        service: Str,
        ip: Str,
        port: u16,
    },
    /// `ClientBeatCheckTask` asked to delete it (R2.15); re-requested every run until gone.
    DeleteRequested {
        service: Str,
        ip: Str,
        port: u16,
    },
    /// A beat for an unknown instance: light → 20404, full → re-created from the body.
    BeatForUnknownInstance {
        service: Str,
        ip: Str,
        port: u16,
        light: bool,
    },
    PushClientAdded {
        service: Str,
        client: String,
    },
    PushZombieRemoved {
        service: Str,
        client: String,
    },
    PushRoundStarted {
        service: Str,
        clients: u32,
    },
    PushSent {
        service: Str,
        client: String,
        attempt: u32,
        bytes: u32,
        gzipped: bool,
    },
    PushAcked {
        service: Str,
        client: String,
    },
    PushGivenUp {
        service: Str,
        client: String,
    },
    // ---- client ----
    /// The subscriber's cached view changed (an `InstancesChangeEvent`): the hosts it now sees.
    SubscriberViewChanged {
        service: Str,
        hosts: Vec<SeenHost>,
    },
    /// A push datagram was processed and acked.
    PushReceived {
        service: Str,
    },
    /// A beat reply said 20404: the client re-registers the instance.
    Reregister {
        service: Str,
        ip: Str,
        port: u16,
    },
    /// An HTTP call to one server failed (the client then tries the next server).
    RequestFailed {
        api: &'static str,
        server: String,
        error: String,
    },
    /// Every server failed: the call throws `NacosException`.
    RequestGaveUp {
        api: &'static str,
    },
    /// A non-Nacos exception escaped `BeatTask.run` (@1.4.1 and older): this instance's
    /// heartbeats stop for good, until something calls `addBeatInfo` again (R2.5).
    BeatTaskDied {
        service: Str,
        ip: Str,
        port: u16,
    },
    /// `SwitchRefresher` saw the failover switch file change; `services` are the failover
    /// copies now served by `getServiceInfo`.
    FailoverSwitched {
        on: bool,
        services: u32,
    },
    /// This server's view of a peer changed state (R6.3–R6.5); the DistroMapper follows.
    MemberStateChanged {
        member: Str,
        from: &'static str,
        to: &'static str,
    },
    /// A Distro sync request left for `target` with these keys (R5.14).
    DistroSyncSent {
        target: Str,
        keys: u32,
    },
    /// It failed; each key is retried after `syncRetryDelay` (R5.14).
    DistroSyncFailed {
        target: Str,
        keys: u32,
        error: String,
    },
    /// Datums received from a peer were stored (R5.16).
    DistroSyncApplied {
        source: Str,
        keys: u32,
    },
    /// A verification from `source` was dropped or aborted, and why (R5.19).
    VerifyAborted {
        source: Str,
        reason: String,
    },
    /// Verification removed a local key that `source` (as this server maps it) no longer has.
    VerifyRemovedKey {
        source: Str,
        key: Str,
    },
    /// Verification fetched mismatching keys from `source`.
    VerifyFetched {
        source: Str,
        keys: u32,
    },
    SnapshotLoadStarted,
    /// `ServerStatusManager` changed this server's status (R5.7); not UP ⇒ clients get 503.
    ServerStatusChanged {
        from: &'static str,
        to: &'static str,
    },
    /// A peer answered the snapshot request; `keys` datums were loaded (R5.21).
    SnapshotLoadDone {
        source: Str,
        keys: u32,
    },
    /// 1.1: the DistroMapper's healthy list changed (R5.33).
    HealthyListChanged {
        members: Vec<Str>,
    },
    /// 1.1: health checks switched off by a server-list change, or back on once stable.
    HealthCheckSwitched {
        enabled: bool,
    },
    /// The health-status channel set an instance's health from the responsible server (R5.26).
    StatusSynced {
        service: Str,
        ip: Str,
        port: u16,
        healthy: bool,
        source: Str,
    },
    /// Distro/forwarding failures (for the multi-server cores).
    ForwardFailed {
        service: Str,
        target: String,
        error: String,
    },
}

impl Observation {
    pub fn kind(&self) -> &'static str {
        match self {
            Observation::ServiceCreated { .. } => "service_created",
            Observation::ServiceRemoved { .. } => "service_removed",
            Observation::InstanceRegistered { .. } => "instance_registered",
            Observation::InstanceAdded { .. } => "instance_added",
            Observation::InstanceRemoved { .. } => "instance_removed",
            Observation::InstanceUnhealthy { .. } => "instance_unhealthy",
            Observation::InstanceHealthy { .. } => "instance_healthy",
            Observation::DeleteRequested { .. } => "delete_requested",
            Observation::BeatForUnknownInstance { .. } => "beat_for_unknown_instance",
            Observation::PushClientAdded { .. } => "push_client_added",
            Observation::PushZombieRemoved { .. } => "push_zombie_removed",
            Observation::PushRoundStarted { .. } => "push_round_started",
            Observation::PushSent { .. } => "push_sent",
            Observation::PushAcked { .. } => "push_acked",
            Observation::PushGivenUp { .. } => "push_given_up",
            Observation::SubscriberViewChanged { .. } => "subscriber_view_changed",
            Observation::PushReceived { .. } => "push_received",
            Observation::Reregister { .. } => "reregister",
            Observation::RequestFailed { .. } => "request_failed",
            Observation::RequestGaveUp { .. } => "request_gave_up",
            Observation::BeatTaskDied { .. } => "beat_task_died",
            Observation::FailoverSwitched { .. } => "failover_switched",
            Observation::MemberStateChanged { .. } => "member_state_changed",
            Observation::DistroSyncSent { .. } => "distro_sync_sent",
            Observation::DistroSyncFailed { .. } => "distro_sync_failed",
            Observation::DistroSyncApplied { .. } => "distro_sync_applied",
            Observation::VerifyAborted { .. } => "verify_aborted",
            Observation::VerifyRemovedKey { .. } => "verify_removed_key",
            Observation::VerifyFetched { .. } => "verify_fetched",
            Observation::SnapshotLoadStarted => "snapshot_load_started",
            Observation::ServerStatusChanged { .. } => "server_status_changed",
            Observation::SnapshotLoadDone { .. } => "snapshot_load_done",
            Observation::StatusSynced { .. } => "status_synced",
            Observation::HealthyListChanged { .. } => "healthy_list_changed",
            Observation::HealthCheckSwitched { .. } => "health_check_switched",
            Observation::ForwardFailed { .. } => "forward_failed",
        }
    }
}

/// Java `java.util.Random`, bit for bit: the client picks its first server with
/// `new Random(System.currentTimeMillis()).nextInt(n)` (R2.7), so the choice is a function of the
/// client's clock, exactly as in Nacos.
pub struct JavaRandom {
    seed: i64,
}

impl JavaRandom {
    const MULT: i64 = 0x5DEE_CE66D;
    const MASK: i64 = (1 << 48) - 1;

    pub fn new(seed: i64) -> JavaRandom {
        JavaRandom { seed: (seed ^ Self::MULT) & Self::MASK }
    }

    fn next(&mut self, bits: u32) -> i32 {
        self.seed = (self.seed.wrapping_mul(Self::MULT).wrapping_add(0xB)) & Self::MASK;
        (self.seed >> (48 - bits)) as i32
    }

    pub fn next_int(&mut self, bound: i32) -> i32 {
        assert!(bound > 0, "bound must be positive");
        if bound & (-bound) == bound {
            return ((bound as i64 * self.next(31) as i64) >> 31) as i32;
        }
        loop {
            let bits = self.next(31);
            let val = bits % bound;
            if bits.wrapping_sub(val).wrapping_add(bound - 1) >= 0 {
                return val;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_beat_delivery_reads_is_where_its_hints_point() {
        // `BeatReq::prefetch` covers 16 bytes in front of the value and 50 bytes of it.
        use std::mem::offset_of;
        assert!(offset_of!(BeatReq, digest) < 50 && offset_of!(BeatReq, target) < 50);
        assert!(offset_of!(BeatReq, beat) < 50 && offset_of!(BeatReq, agent) < 50);
        assert!(offset_of!(BeatReq, port) + 2 <= 50);
        let r = BeatReq::new(
            ServiceKey { namespace: "public".into(), name: "DEFAULT_GROUP@@a".into() },
            "DEFAULT".into(),
            "10.0.0.1".into(),
            8080,
            None,
            Agent::Server,
        );
        let light = r.with(|r| r.agent = Agent::Other("curl".into()));
        assert!(r.names_same(&light) && r.target_digest() == light.target_digest());
        assert_ne!(r.digest(), light.digest());
        let other = r.with(|r| r.port = 8081);
        assert!(!r.names_same(&other) && r.target_digest() != other.target_digest());
    }

    #[test]
    fn messages_and_timers_stay_small() {
        // Every event moves one of these by value several times on its way to a node.
        assert_eq!(std::mem::size_of::<Msg>(), 24);
        assert_eq!(std::mem::size_of::<Timer>(), 32);
    }

    #[test]
    fn java_random_matches_the_jdk() {
        // Pinned against a JDK 17 run of the same calls.
        let mut r = JavaRandom::new(42);
        let v: Vec<i32> = (0..5).map(|_| r.next_int(10)).collect();
        assert_eq!(v, vec![0, 3, 8, 4, 0]);
        let mut r = JavaRandom::new(1_600_000_000_123);
        let v: Vec<i32> = (0..5).map(|_| r.next_int(3)).collect();
        assert_eq!(v, vec![2, 1, 2, 2, 2]);
    }

    #[test]
    fn weights_print_like_java() {
        assert_eq!(Weight(1.0).java_string(), "1.0");
        assert_eq!(Weight(0.01).java_string(), "0.01");
        assert_eq!(Weight(10000.0).java_string(), "10000.0");
        assert_eq!(Weight(-0.0).java_string(), "-0.0");
        assert_eq!(Weight(0.0).java_string(), "0.0");
        assert_eq!(Weight(-3.0).java_string(), "-3.0");
        assert_eq!(Weight(2.5).java_string(), "2.5");
        assert_eq!(Weight(1e7).java_string(), "10000000");
        assert_eq!(Weight(9_999_999.0).java_string(), "9999999.0");
        let mut s = String::new();
        for n in [0, 7, 10, 65535, i64::MAX] {
            push_decimal(&mut s, n);
            s.push(' ');
        }
        assert_eq!(s, format!("0 7 10 65535 {} ", i64::MAX));
    }
}
