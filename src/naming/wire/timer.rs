//! The cores' tasks as timers: Java executors, scheduled tasks and "run now" hand-offs.

use super::{BeatReq, ServiceKey, Str};
use crate::engine::NodeId;
use std::rc::Rc;

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
    /// The load thread finished its next piece of a snapshot load (parsing, or one key).
    LoadStep,
    /// `RaftCore.MasterElection`, fixed-rate 0 / 500 ms (R7.3).
    MasterElection,
    /// `RaftCore.HeartBeat`, fixed-delay 0 / 500 ms (R7.4).
    RaftHeartBeat,
    /// 1.4 `ClusterVersionJudgement`, 5 s after start and every 5 s until it switches (R7.21).
    ClusterVersionJudgement,
    /// The leader's publish number `seq` has waited 5 s for its majority (R7.12).
    RaftPublishTimeout(u64),
    /// Clusters that now hold persistent instances get their `HealthCheckTask` (R8.1).
    HealthCheckInit,
    /// A cluster's `HealthCheckTask` round (R8.3).
    HealthCheck(crate::naming::server::healthcheck::ClusterKey),
    /// A probe of an address no simulated host has: its 500 ms `TimeOutTask` (R8.5).
    HealthProbeLost(Rc<(crate::naming::server::healthcheck::ClusterKey, Str, u16)>),
    /// JRaft's election timer (R7.22).
    JRaftElection,
    /// A JRaft leader's heartbeat, every 500 ms.
    JRaftHeartbeat,
    /// A write proposed on the JRaft leader has waited 10 s for its apply.
    JRaftWriteTimeout(u64),
    /// A push round's task ends: its `finally` clears the service's `futureMap` entry (R3.4).
    PushRoundDone(Rc<ServiceKey>),
    /// A verification's checksums have been compared with the local datums (R5.19).
    ChecksumsCompared(Rc<crate::naming::server::distro::ChecksumWork>),
    /// A request's answer, built when it came, leaves once its body is serialised.
    Answer(Rc<(crate::engine::ExchangeId, super::Msg)>),
    /// A Distro sync batch from this node is parsed: it applies, and is answered.
    SyncParsed(Rc<(crate::engine::NodeId, crate::engine::ExchangeId, Rc<super::DatumBatch>)>),
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
