//! Observations: everything a user can ask of a run, as the trace records it.

use super::{HostJson, Metadata, Str, Weight};
use schemars::JsonSchema;
use serde::Serialize;

/// A host as a subscriber sees it, in observations: what the application reads of an
/// `Instance`.
#[derive(Clone, Debug, PartialEq, Hash, Serialize, JsonSchema)]
pub struct SeenHost {
    pub ip: Str,
    pub port: u16,
    pub healthy: bool,
    pub weight: Weight,
    pub enabled: bool,
    pub metadata: Metadata,
}

impl SeenHost {
    pub fn of(h: &HostJson) -> SeenHost {
        SeenHost {
            ip: h.ip.clone(),
            port: h.port,
            healthy: h.healthy,
            weight: h.weight,
            enabled: h.enabled,
            metadata: h.metadata.clone(),
        }
    }
}

/// Everything a user can ask about, as data. Serialized with a `kind` tag into the trace; its
/// JSON Schema (`nacos-sim schema --observations`) is what `expect` blocks are checked against.
#[derive(Clone, Debug, PartialEq, Hash, Serialize, JsonSchema)]
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
    // New kinds go last: a variant's position is part of the trace hash.
    /// An operator's request (`operations` in a scenario) was answered by the server it was
    /// made to: the HTTP status and body (`ok`, the error text, or the updated instances);
    /// status 0 when the exchange itself failed (the server paused past the read timeout).
    OperationAnswered {
        op: &'static str,
        status: u16,
        body: String,
    },
    /// `FileConfigMemberLookup` re-read `cluster.conf` (`touch_cluster_conf`).
    MembersReread {
        members: u32,
    },
    /// The application unsubscribed (its listener is gone).
    Unsubscribed {
        service: Str,
    },
    /// Client 1.4.4+: an unsubscribed service's `UpdateTask` stopped and its cache entry went.
    UpdateTaskStopped {
        service: Str,
    },
    /// A one-shot `getAllInstances` / `selectInstances` answered: the hosts the application
    /// got, or `ok: false` when the call threw.
    QueryAnswered {
        service: Str,
        hosts: Vec<SeenHost>,
        ok: bool,
    },
    /// A line the Java client logs (`observe.client_log`), worded as it words it.
    ClientLog {
        level: &'static str,
        message: String,
    },
    /// What this server answered a client or the console (`observe.requests`): the endpoint,
    /// the caller's address, the status and message; for `/instance/list` the hosts served
    /// (`[]` for an unknown service), `cacheMillis`, `lastRefTime` and the service's
    /// `metadata` (`{}` for an unknown service), otherwise null.
    RequestAnswered {
        api: &'static str,
        from: Str,
        status: u16,
        message: String,
        hosts: Option<Vec<SeenHost>>,
        cache_millis: Option<i64>,
        last_ref_time: Option<i64>,
        metadata: Option<Metadata>,
    },
    /// The legacy Raft's leader due time ran out: this node is a candidate for `term` (R7.5).
    RaftVoteStarted {
        term: i64,
    },
    /// This node now believes `leader` leads, whose term it knows as `term`: a candidate when
    /// its votes make a majority (R7.7), a follower at the leader's first beat (R7.10).
    RaftLeaderElected {
        leader: Str,
        term: i64,
    },
    /// A leader beat from `from` was rejected (R7.10 step 1), e.g. "out of date beat".
    RaftBeatRejected {
        from: Str,
        reason: String,
    },
    /// 1.4: every member reports a 1.4 version, so the legacy Raft stops (R7.21).
    RaftStopped,
    /// A datum was stored here, leaving this node at `term`: `via` the leader's own publish,
    /// a follower's `commit` (R7.13), a catch-up `fetch` (R7.10), or an applied `jraft` log
    /// entry. `timestamp` is the datum's (the legacy Raft's per-key version; JRaft: the log
    /// index).
    RaftPublishApplied {
        key: Str,
        term: i64,
        timestamp: i64,
        via: &'static str,
    },
    /// A Raft write started on this node failed: no leader, no majority within 5 s, a refusal
    /// (R7.12).
    RaftPublishFailed {
        key: Str,
        reason: String,
    },
    /// A datum was deleted here, `via`: the leader's own `delete`, a follower's `commit` of
    /// it (R7.16), `beat` (the leader's beat lacked the key, R7.10), `local` (an instance list
    /// removed on a follower as if the leader had sent it, R7.17) or `jraft`.
    RaftDatumDeleted {
        key: Str,
        via: &'static str,
    },
    /// A TCP health check of a persistent instance ended: connected or not, and the rt that
    /// moves the cluster's probe delay (R8.5).
    HealthCheckResult {
        service: Str,
        ip: Str,
        port: u16,
        ok: bool,
        rt_ms: i64,
    },
    /// 1.4.x's JRaft group: this node now leads or follows `leader` (its address) in `term`
    /// (R7.22); the first one makes the node's `hasLeader` true for good.
    JraftLeader {
        leader: Str,
        term: u64,
    },
    /// This JRaft leader stepped down: a higher term, or no majority heard within 5 s.
    JraftSteppedDown {
        term: u64,
    },
    /// The legacy Raft leader's publish of `key` at `timestamp` was acknowledged by a majority
    /// (or needed none): the write is committed and its caller answered OK (R7.12).
    RaftPublishCommitted {
        key: Str,
        timestamp: i64,
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
            Observation::OperationAnswered { .. } => "operation_answered",
            Observation::MembersReread { .. } => "members_reread",
            Observation::Unsubscribed { .. } => "unsubscribed",
            Observation::UpdateTaskStopped { .. } => "update_task_stopped",
            Observation::QueryAnswered { .. } => "query_answered",
            Observation::RequestAnswered { .. } => "request_answered",
            Observation::ClientLog { .. } => "client_log",
            Observation::ForwardFailed { .. } => "forward_failed",
            Observation::RaftVoteStarted { .. } => "raft_vote_started",
            Observation::RaftLeaderElected { .. } => "raft_leader_elected",
            Observation::RaftBeatRejected { .. } => "raft_beat_rejected",
            Observation::RaftStopped => "raft_stopped",
            Observation::RaftPublishApplied { .. } => "raft_publish_applied",
            Observation::RaftPublishFailed { .. } => "raft_publish_failed",
            Observation::RaftDatumDeleted { .. } => "raft_datum_deleted",
            Observation::HealthCheckResult { .. } => "health_check_result",
            Observation::JraftLeader { .. } => "jraft_leader",
            Observation::JraftSteppedDown { .. } => "jraft_stepped_down",
            Observation::RaftPublishCommitted { .. } => "raft_publish_committed",
        }
    }
}
