//! The messages: HTTP requests and answers between clients and servers and between servers,
//! and the UDP push and its ack.

use super::{
    AckKey, Addr, AddrKey, Agent, BeatInfo, InstanceData, MetadataBatchReq, ServiceInfo, ServiceKey, Str, SwitchReq,
};
use crate::engine::trace::StableHasher;
use crate::naming::server::raft::{RaftBeat, RaftDatum, RaftPeer, RaftValue};
use std::hash::{Hash, Hasher};
use std::rc::Rc;

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
    // What every delivery reads comes first, next to the reference count, where the beat
    // path's cache hints point (`crate::naming::cache_hints`).
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
    /// UDP push (R3.6).
    Push(Rc<PushPacket>),
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
    ServerStatusBeat(Rc<StatusBeat>),
    /// POST `/service/status`: checksums of the services the sender is responsible for (R5.24).
    ServiceStatus(Rc<Sourced<(ServiceKey, Str)>>),
    /// GET `/instance/statuses?key=` (R5.26).
    InstanceStatuses(Rc<ServiceKey>),
    /// `{"ips": ["ip:port_healthy", …]}`.
    Statuses(Rc<Vec<(Str, u16, bool)>>),
    // ---- operator to server (listed last: a variant's position is part of the trace hash) ----
    /// PUT / DELETE `/instance/metadata/batch`.
    MetadataBatch(Rc<MetadataBatchReq>),
    /// PUT `/operator/switches`.
    UpdateSwitch(Rc<SwitchReq>),
    /// HTTP 200 `{"updated": [...]}`: the instances a metadata batch changed, as
    /// `ip:port:unknown:cluster:ephemeral`.
    Updated(Rc<Vec<Str>>),
    /// PUT `/instance` (the console's update).
    Update(Rc<RegisterReq>),
    // ---- legacy Raft (R7.G) ----
    /// POST `/raft/vote` with the candidate's peer.
    RaftVote(Rc<RaftPeer>),
    /// POST `/raft/beat` with the leader's peer and every key's timestamp.
    RaftBeat(Rc<RaftBeat>),
    /// The answer to a vote or beat: the answering node's own peer.
    RaftPeerAnswer(Rc<RaftPeer>),
    /// POST `/raft/datum` `{"key", "value"}`: a write proxied to the leader (R7.12).
    RaftPublish(Rc<(Str, RaftValue)>),
    /// POST `/raft/datum/commit`: the leader's datum and its peer from before the write.
    RaftCommit(Rc<(RaftDatum, RaftPeer)>),
    /// DELETE `/raft/datum?key=`: a delete proxied to the leader (R7.15).
    RaftDelete(Str),
    /// DELETE `/raft/datum/commit` with the key and the leader's peer.
    RaftDeleteCommit(Rc<(Str, RaftPeer)>),
    /// GET `/raft/datum?keys=`: a follower's catch-up (R7.10 step 4).
    RaftFetch(Rc<Vec<Str>>),
    /// Its answer: the datums the leader holds of those keys.
    RaftDatums(Rc<Vec<RaftDatum>>),
    /// A health check's TCP connect to an instance (R8.5); the SYN-ACK echoes it.
    TcpProbe,
    // ---- JRaft (1.4.x, R7.22) ----
    /// `RequestVoteRequest` (or a pre-vote).
    JRaftVote(Rc<crate::naming::server::jraft::Vote>),
    /// `AppendEntriesRequest` (a heartbeat when it has no entries).
    JRaftAppend(Rc<crate::naming::server::jraft::Append>),
    /// The answer to a vote or an append.
    JRaftAnswer(Rc<crate::naming::server::jraft::Answer>),
    /// A persistent write (`None`: a remove) forwarded to the leader.
    JRaftWrite(Rc<(Str, Option<RaftValue>)>),
    // ---- live mode ----
    /// A push ack whose source address the network knows: a real socket's (`nacos-sim live`),
    /// matched on the whole key as Nacos matches it (R3.11). Simulated clients send
    /// [`Msg::PushAck`] and the receiver reads their address from the address book.
    PushAckFrom(Rc<AckKey>),
    /// PUT `/service` (the console's service edit).
    UpdateService(Rc<super::ServiceUpdateReq>),
    /// PUT `/operator/switches` without `debug`: written through the CP store.
    UpdateSwitchPersistent(Rc<SwitchReq>),
    /// GET `/operator/metrics` (with its default `onlyStatus=true`), from this agent.
    Metrics(Rc<Agent>),
    /// Its answer: `{"status": …}`, the server's `ServerStatus`.
    StatusAnswer(&'static str),
    /// DELETE `/service` (the console's service delete).
    DeleteService(Rc<super::ServiceDeleteReq>),
}

/// A UDP push datagram (R3.6). `bytes` is its size after the gzip decision (R3.7).
#[derive(Clone, Debug, PartialEq)]
pub struct PushPacket {
    pub last_ref_time: i64,
    pub data: Rc<ServiceInfo>,
    pub bytes: u32,
    pub gzipped: bool,
    /// Where it is sent: the subscriber's reported `clientIP` and `udpPort`. The simulated
    /// network routes by process; a real socket (`nacos-sim live`) needs the address.
    pub to_ip: Str,
    pub to_port: u16,
}

/// The content, not the address: the address is the subscriber's, which the trace already
/// holds through its list request (and leaving it out keeps every trace hash of a push).
impl Hash for PushPacket {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.last_ref_time.hash(h);
        self.data.hash(h);
        self.bytes.hash(h);
        self.gzipped.hash(h);
    }
}

impl Msg {
    /// What the message is, as the timeline labels it: a request by its endpoint (paths under
    /// `/nacos/v1/ns`), an answer or a datagram by its kind.
    pub fn name(&self) -> &'static str {
        match self {
            Msg::Register(_) => "POST /instance",
            Msg::Deregister(_) => "DELETE /instance",
            Msg::Beat(_) => "PUT /instance/beat",
            Msg::List(_) => "GET /instance/list",
            Msg::Ok => "200 ok",
            Msg::BeatReply { .. } => "200 beat reply",
            Msg::Service(_) => "200 service",
            Msg::Error { .. } => "error",
            Msg::Push(_) => "UDP push",
            Msg::PushAck { .. } => "UDP push ack",
            Msg::Garbled => "unparseable 200",
            Msg::DistroSync(_) => "PUT /distro/datum",
            Msg::DistroChecksums(_) => "PUT /distro/checksum",
            Msg::DistroFetch(_) => "GET /distro/datum",
            Msg::DistroSnapshot => "GET /distro/datums",
            Msg::DistroData(_) => "200 datums",
            Msg::MemberReport { .. } => "POST /core/cluster/report",
            Msg::ServerStatusBeat(_) => "server status beat",
            Msg::ServiceStatus(_) => "POST /service/status",
            Msg::InstanceStatuses(_) => "GET /instance/statuses",
            Msg::Statuses(_) => "200 statuses",
            Msg::MetadataBatch(r) if r.remove => "DELETE /instance/metadata/batch",
            Msg::MetadataBatch(_) => "PUT /instance/metadata/batch",
            Msg::UpdateSwitch(_) => "PUT /operator/switches",
            Msg::Updated(_) => "200 updated",
            Msg::Update(_) => "PUT /instance",
            Msg::RaftVote(_) => "POST /raft/vote",
            Msg::RaftBeat(_) => "POST /raft/beat",
            Msg::RaftPeerAnswer(_) => "200 raft peer",
            Msg::RaftPublish(_) => "POST /raft/datum",
            Msg::RaftCommit(_) => "POST /raft/datum/commit",
            Msg::RaftDelete(_) => "DELETE /raft/datum",
            Msg::RaftDeleteCommit(_) => "DELETE /raft/datum/commit",
            Msg::RaftFetch(_) => "GET /raft/datum",
            Msg::RaftDatums(_) => "200 raft datums",
            Msg::TcpProbe => "TCP health check",
            Msg::JRaftVote(_) => "JRaft RequestVote",
            Msg::JRaftAppend(_) => "JRaft AppendEntries",
            Msg::JRaftAnswer(_) => "JRaft answer",
            Msg::JRaftWrite(_) => "JRaft write",
            Msg::PushAckFrom(_) => "UDP push ack",
            Msg::UpdateService(_) => "PUT /service",
            Msg::UpdateSwitchPersistent(_) => "PUT /operator/switches",
            Msg::Metrics(_) => "GET /operator/metrics",
            Msg::StatusAnswer(_) => "200 status",
            Msg::DeleteService(_) => "DELETE /service",
        }
    }

    /// The Open API endpoint of a request from outside the cluster (clients, the console), as
    /// `request_answered` names it.
    pub fn client_api(&self) -> Option<&'static str> {
        Some(match self {
            Msg::Register(_) => "POST /nacos/v1/ns/instance",
            Msg::Update(_) => "PUT /nacos/v1/ns/instance",
            Msg::Deregister(_) => "DELETE /nacos/v1/ns/instance",
            Msg::Beat(_) => "PUT /nacos/v1/ns/instance/beat",
            Msg::List(_) => "GET /nacos/v1/ns/instance/list",
            Msg::MetadataBatch(r) if r.remove => "DELETE /nacos/v1/ns/instance/metadata/batch",
            Msg::MetadataBatch(_) => "PUT /nacos/v1/ns/instance/metadata/batch",
            Msg::UpdateSwitch(_) => "PUT /nacos/v1/ns/operator/switches",
            Msg::UpdateService(_) => "PUT /nacos/v1/ns/service",
            Msg::UpdateSwitchPersistent(_) => "PUT /nacos/v1/ns/operator/switches",
            Msg::Metrics(_) => "GET /nacos/v1/ns/operator/metrics",
            Msg::DeleteService(_) => "DELETE /nacos/v1/ns/service",
            _ => return None,
        })
    }
}

/// A `ServerListManager` status beat: the sender's address and its `currentTimeMillis` when it
/// wrote the beat.
#[derive(Clone, Debug, PartialEq, Hash)]
pub struct StatusBeat {
    pub address: Str,
    pub timestamp: i64,
}

/// Datums on the wire: instance-list key → the instances (serialized copies, `lastBeat` and
/// `healthy` included, R2.17).
pub type DatumBatch = Vec<(Str, Rc<Vec<InstanceData>>)>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_beat_delivery_reads_is_where_its_hints_point() {
        // The beat path's hint (`cache_hints::rc_head`) covers 16 bytes in front of the value and 50 bytes of it.
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
}
