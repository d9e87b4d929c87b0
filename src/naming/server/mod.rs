//! The Nacos naming server as a sans-IO state machine. This file holds the server itself and
//! routes each input to the part of Nacos that handles it, one file per Java class (or tight
//! group of them): [`instance_controller`] (`InstanceController`), [`service_manager`]
//! (`ServiceManager`, `EmptyServiceAutoClean`), [`client_beat_check_task`]
//! (`ClientBeatProcessor`, `ClientBeatCheckTask`), [`push_service`] (`PushService`),
//! [`service_reporter`] (`ServiceReporter`, the health-status channel), [`member_manager`]
//! (`ServerMemberManager`, `FileConfigMemberLookup`), [`server_status_manager`]
//! (`ServerStatusManager`, `TrafficReviseFilter`), [`operator_controller`]
//! (`OperatorController`, `SwitchManager`), [`service_controller`] (`ServiceController`),
//! [`switch_domain`] (`SwitchDomain`), [`key_builder`] (`KeyBuilder`),
//! the registry objects in [`registry`], Distro in [`distro`], the legacy Raft in [`raft`],
//! 1.4.x's JRaft group in [`jraft`] and the health checks of persistent instances in
//! [`healthcheck`].
//!
//! Java executors become timers: "schedule now" is a zero-delay timer, so the ordering Nacos gets
//! from hand-offs between threads (a beat reply before its processor runs, a datum before its
//! Service) is kept.

pub mod client_beat_check_task;
pub mod distro;
pub mod global_executor;
pub mod healthcheck;
pub mod instance_controller;
pub mod jraft;
pub mod key_builder;
pub mod member_manager;
pub mod operator_controller;
pub mod push_service;
pub mod raft;
pub mod registry;
pub mod server_status_manager;
pub mod service_controller;
pub mod service_manager;
pub mod service_reporter;
pub mod switch_domain;

pub use client_beat_check_task::CLIENT_BEAT_CHECK_MS;
pub use key_builder::service_key_of;
pub use server_status_manager::ServerStatus;
pub use switch_domain::Switches;

use crate::engine::{ExchangeId, HttpError, HttpTimeouts, Input, Node, NodeId, Outputs};
use crate::naming::versions::SyncPipeline;
use crate::naming::wire::*;
use crate::time::{Dur, Time};
use distro::{DataStore, DelayEngine, DistroMapper, Notifier};
use member_manager::MemberManager;
use push_service::PushService;
use rand_chacha::ChaCha8Rng;
use registry::ServiceMap;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

pub type Out = Outputs<Msg, Timer, Observation>;

#[derive(Clone, Debug)]
pub struct ServerConfig {
    pub id: NodeId,
    /// `ip:port` of this member.
    pub address: Str,
    /// Every member (`cluster.conf`), self included.
    pub members: Vec<(Str, NodeId)>,
    pub address_book: Rc<AddressBook>,
    pub switches: Switches,
    /// `EmptyServiceAutoClean` (initial delay, period) in ms, or off (R1.33).
    pub empty_service_clean: Option<(i64, i64)>,
    /// Which client and console requests `request_answered` records (`observe.requests`).
    pub observe_requests: RequestsObserved,
    /// What data-sized work costs on this server (`servers[].speed`).
    pub work: global_executor::WorkCost,
}

/// Which requests a server records as `request_answered`.
#[derive(Clone, Debug, Default)]
pub enum RequestsObserved {
    #[default]
    None,
    All,
    /// Only those whose caller is one of these nodes (`observe.requests_from`).
    From(Rc<BTreeSet<NodeId>>),
}

impl RequestsObserved {
    fn any(&self) -> bool {
        !matches!(self, RequestsObserved::None)
    }

    fn from(&self, caller: NodeId) -> bool {
        match self {
            RequestsObserved::None => false,
            RequestsObserved::All => true,
            RequestsObserved::From(nodes) => nodes.contains(&caller),
        }
    }
}

/// Where IP addresses lead in the simulated network.
#[derive(Clone, Debug, Default)]
pub struct AddressBook {
    /// Routes UDP pushes: a subscriber's reported `clientIP` → the process that receives there.
    pub by_ip: BTreeMap<Str, NodeId>,
    /// Each process's source address for the datagrams it sends, indexed by node id. An ack
    /// from an address other than the reported `clientIP` never matches (R3.11).
    pub source: Vec<Str>,
    /// Where every other address leads: the real network beyond the simulated one
    /// (`nacos-sim live`); `None` in a simulation, where such pushes are lost.
    pub outside: Option<NodeId>,
}

impl AddressBook {
    /// The process that receives datagrams sent to `ip`.
    pub fn route(&self, ip: &str) -> Option<NodeId> {
        self.by_ip.get(ip).copied().or(self.outside)
    }
}

/// Server-to-server naming HTTP client (Appendix A).
const SERVER_HTTP_TIMEOUTS: HttpTimeouts =
    HttpTimeouts { connect: Dur::from_millis(5000), read: Dur::from_millis(10_000) };

/// Why this server is waiting on an exchange it started.
#[derive(Clone)]
enum Call {
    /// A write forwarded by `DistroFilter`; answer the original caller with the outcome.
    Forward { original: ExchangeId, from: NodeId, api: &'static str, service: Str, target: NodeId },
    /// `deleteIp` to itself (R2.15); failures are only logged.
    SelfDelete,
    /// A Distro sync of these keys to `target` (R5.14).
    Sync { target: NodeId, keys: Vec<Str> },
    /// A 1.3 `DataSyncer` task (R5.31).
    SyncTask { target: NodeId, keys: Rc<Vec<Str>>, retry: u32 },
    /// A verification's fetch from `source`; the checksum request `original` waits for it.
    Fetch { source: Str, original: ExchangeId },
    /// The snapshot load asking peer number `index` (R5.21).
    Load { index: usize, peer: NodeId },
    /// A member report to `address` (R6.3).
    Report { address: Str },
    /// `/instance/statuses` of a service from `source` (R5.26).
    Statuses { service: ServiceKey, source: Str },
    /// An operator's request to this server (`on_operation`); its answer is observed.
    Operation { op: &'static str },
    /// A legacy Raft vote request (R7.5).
    RaftVote,
    /// A legacy Raft leader beat (R7.9).
    RaftBeat,
    /// A write proxied to the Raft leader (R7.12, R7.15).
    RaftProxy(Box<raft::Proxied>),
    /// The leader's publish number `seq` committed to a peer (R7.12).
    RaftCommit { seq: u64 },
    /// A delete committed to a peer (R7.15).
    RaftDeleteCommit,
    /// A catch-up fetch after a beat from a leader of this term (R7.10 step 4).
    RaftFetch { leader_term: i64 },
    /// A JRaft vote or pre-vote to peer number `peer`.
    JRaftVote { peer: usize },
    /// A JRaft append (or heartbeat) to peer number `peer`.
    JRaftAppend { peer: usize },
    /// A persistent write forwarded to the JRaft leader.
    JRaftForward(Box<jraft::Forwarded>),
    /// A health-check probe of a persistent instance (R8.5).
    HealthProbe { cluster: healthcheck::ClusterKey, ip: Str, port: u16 },
    /// Async calls whose answer nobody reads (verification checksums, service status).
    Ignore,
}

/// The console's HTTP client, on the server's own host.
const CONSOLE_TIMEOUTS: HttpTimeouts = HttpTimeouts { connect: Dur::from_millis(5000), read: Dur::from_millis(10_000) };

pub struct NamingServer {
    pub config: ServerConfig,
    /// The switches in force: `config.switches` at boot, changed at run time by
    /// `/operator/switches` (debug mode, this server only; a restart forgets them).
    pub switches: Switches,
    pub services: ServiceMap,
    /// Up to 1.4.1 (V12): Services out of the map whose check task still runs.
    orphans: Vec<service_manager::OrphanService>,
    /// Up to 1.4.1 (V12): services a registration is still creating, until when.
    initialising: Vec<(ServiceKey, Time)>,
    pub store: DataStore,
    notifier: Notifier,
    pub mapper: DistroMapper,
    pub push: PushService,
    calls: BTreeMap<ExchangeId, Call>,
    pub members: MemberManager,
    delay: DelayEngine,
    /// Sources whose checksum verification is running (R5.19 step 1).
    verify_in_progress: BTreeSet<Str>,
    /// 1.3 only: the `TaskDispatcher` schedulers and `DataSyncer`'s in-flight `key@@@@target`s.
    dispatcher: distro::TaskDispatcher,
    in_flight: BTreeSet<(Str, NodeId)>,
    pub status: ServerStatus,
    /// `DistroProtocol.isInitialized`: the snapshot load finished (always, when standalone).
    initialized: bool,
    /// The snapshot the load thread is parsing and applying, key by key.
    loading: Option<distro::SnapshotLoad>,
    /// The legacy Raft, in cluster mode (created at start: its due times are random).
    raft: Option<raft::RaftCore>,
    /// `OPERATE_LOCK` and the leader's publish waiting for its majority.
    raft_lock: raft::OperateLock,
    /// The RaftStore's datum files: what a restart loads (a crash keeps them, `wipe_disk`
    /// loses them). Empty while the server runs: the datums are in `raft`.
    raft_store: BTreeMap<Str, raft::RaftDatum>,
    /// 1.4.x's JRaft group, from boot.
    jraft: Option<jraft::JRaft>,
    /// Its term, vote and log on disk: what a restart resumes from.
    jraft_disk: Option<jraft::Disk>,
    /// Health checks of persistent instances (§8).
    health: healthcheck::HealthChecks,
    /// Members whose report reached this server: `ClusterVersionJudgement` knows their version.
    reported: BTreeSet<Str>,
    /// 1.1 only: `ServerListManager`'s last status beat received per member address (R5.33).
    distro_beats: BTreeMap<Str, i64>,
    /// 1.1 only: the runtime `switchDomain.healthCheckEnabled`, turned off by server-list changes.
    health_check_on: bool,
    last_list_change: i64,
}

impl NamingServer {
    pub fn new(config: ServerConfig) -> NamingServer {
        let members = MemberManager::new(config.address.clone(), &config.members, &config.switches.behaviour);
        let period = match config.switches.behaviour.sync {
            SyncPipeline::TaskDispatcher { period_ms } => period_ms,
            SyncPipeline::DelayEngine => 0, // no dispatcher runs
        };
        let dispatcher = distro::TaskDispatcher::new(config.switches.cpu_cores, period);
        // At init the healthy list holds every member, whatever its state (R5.1).
        let mapper = DistroMapper {
            healthy: members.healthy_list(),
            local: config.address.clone(),
            standalone: config.members.len() <= 1,
            distro_enabled: config.switches.distro_enabled,
        };
        NamingServer {
            switches: config.switches.clone(),
            config,
            services: ServiceMap::default(),
            orphans: Vec::new(),
            initialising: Vec::new(),
            store: DataStore::default(),
            notifier: Notifier::default(),
            mapper,
            push: PushService::default(),
            calls: BTreeMap::new(),
            members,
            delay: DelayEngine::default(),
            verify_in_progress: Default::default(),
            dispatcher,
            in_flight: Default::default(),
            status: ServerStatus::Starting,
            initialized: false,
            loading: None,
            raft: None,
            raft_lock: Default::default(),
            raft_store: BTreeMap::new(),
            health: Default::default(),
            jraft: None,
            jraft_disk: None,
            reported: BTreeSet::new(),
            distro_beats: BTreeMap::new(),
            health_check_on: true,
            last_list_change: 0,
        }
    }

    /// Neither the Distro notifier nor a snapshot load has work left: every stored datum has
    /// reached its Service.
    pub fn notifier_idle(&self) -> bool {
        !self.notifier.scheduled && self.loading.is_none()
    }

    fn member_node(&self, address: &str) -> Option<NodeId> {
        self.config.members.iter().find(|(a, _)| &**a == address).map(|(_, n)| *n)
    }

    fn member_address(&self, node: NodeId) -> String {
        self.config.members.iter().find(|(_, n)| *n == node).map(|(a, _)| a.to_string()).unwrap_or_default()
    }

    /// Handles one input; generic over the command type, which a server ignores, so a
    /// [`Process`](crate::naming::Process) hands its input over without rebuilding it.
    pub(crate) fn on_input<C>(&mut self, now: Time, input: Input<Msg, Timer, C>, rng: &mut ChaCha8Rng, out: &mut Out) {
        match input {
            Input::Start => {
                out.set_timer(Dur::ZERO, Timer::Server(ServerTimer::ZombieSweep));
                if let Some((initial, _)) = self.config.empty_service_clean {
                    out.set_timer(Dur::from_millis(initial), Timer::Server(ServerTimer::EmptyServiceClean));
                }
                self.initialized = !self.cluster_mode();
                out.set_timer(Dur::ZERO, Timer::Server(ServerTimer::ServerStatus));
                self.start_cluster(out);
                self.start_raft(now.as_millis(), rng, out);
                self.start_jraft(now.as_millis(), rng, out);
            }
            Input::Request { from, id, msg } => self.on_request(now, from, id, msg, rng, out),
            Input::Response { id, result } => self.on_response(now.as_millis(), id, result, rng, out),
            Input::Datagram { from, msg: Msg::PushAck { last_ref_time } } => self.on_ack(from, last_ref_time, out),
            Input::Datagram { msg: Msg::PushAckFrom(key), .. } => self.on_ack_from(&key, out),
            Input::Datagram { .. } => {}
            Input::Timer { timer: Timer::Server(t), .. } => self.on_timer(now, t, rng, out),
            Input::Timer { .. } | Input::Command(_) => {}
        }
    }

    /// An operator's request. The console runs in a browser opened on this server, so the
    /// request comes from its own host and takes the path of any other call; the answer is
    /// observed. A `cluster.conf` re-read is no request: the member lookup's file watcher runs.
    pub(crate) fn on_operation(&mut self, op: Operation, out: &mut Out) {
        match op.request() {
            Some(msg) => {
                let x = out.request(self.config.id, msg, CONSOLE_TIMEOUTS);
                self.calls.insert(x, Call::Operation { op: op.name() });
            }
            None => self.member_lookup_reread(out),
        }
    }

    fn on_operation_answer(&self, op: &'static str, result: Result<Msg, HttpError>, out: &mut Out) {
        let (status, body) = match result {
            Ok(Msg::Ok) => (200, "ok".to_string()),
            Ok(Msg::Updated(list)) => (200, serde_json::json!({ "updated": &*list }).to_string()),
            Ok(Msg::Error { status, message }) => (status, message.to_string()),
            Ok(other) => (200, format!("{other:?}")),
            Err(e) => (0, format!("{e:?}")),
        };
        out.observe(Observation::OperationAnswered { op, status, body });
    }

    /// An HTTP request: the filters (`TrafficReviseFilter`, then `DistroFilter` for client
    /// writes), then the controller that serves its endpoint.
    fn on_request(&mut self, now: Time, from: NodeId, id: ExchangeId, msg: Msg, rng: &mut ChaCha8Rng, out: &mut Out) {
        let now_ms = now.as_millis();
        if let Some(refusal) = self.traffic_revise(&msg) {
            self.answer(id, from, &msg, refusal, out);
            return;
        }
        // Server-to-server endpoints (never @CanDistro).
        let reply = match &msg {
            Msg::DistroSync(batch) if !batch.is_empty() => {
                let parse = self.config.work.parse(batch.iter().map(|(_, l)| l.len()).sum());
                let parsed = Rc::new((from, id, batch.clone()));
                out.set_timer(parse, Timer::Server(ServerTimer::SyncParsed(parsed)));
                return;
            }
            // DistroController.onSyncDatum's text, as 1.4.1 answers it.
            Msg::DistroSync(_) => Some(error(400, "receive empty entity!")),
            Msg::DistroChecksums(c) => match self.on_checksums(id, c, out) {
                Some(reply) => Some(reply),
                None => return, // answered once compared (and fetched)
            },
            Msg::DistroFetch(keys) => return self.answer_serialised(id, self.on_fetch(Some(keys)), out),
            Msg::DistroSnapshot => return self.answer_serialised(id, self.on_fetch(None), out),
            Msg::MemberReport { address } => Some(self.on_member_report(address, out)),
            Msg::ServerStatusBeat(beat) => Some(self.on_server_status_beat(now_ms, beat, out)),
            Msg::ServiceStatus(c) => Some(self.on_service_status(&c.source, &c.checksums, out)),
            Msg::InstanceStatuses(svc) => Some(self.on_instance_statuses(svc)),
            Msg::UpdateSwitch(r) => Some(self.update_switch(r)),
            Msg::Metrics(_) => Some(Msg::StatusAnswer(self.status.name())),
            Msg::RaftVote(peer) => Some(self.on_raft_vote(peer, rng)),
            Msg::RaftBeat(beat) => Some(self.on_raft_beat(now_ms, beat, rng, out)),
            Msg::RaftCommit(c) => Some(self.on_raft_commit(now_ms, c, rng, out)),
            Msg::RaftDeleteCommit(c) => Some(self.on_raft_delete_commit(now_ms, c, rng, out)),
            Msg::RaftFetch(keys) => Some(self.on_raft_fetch(keys)),
            Msg::RaftPublish(req) => return self.on_raft_publish(now_ms, id, from, req, rng, out),
            Msg::JRaftVote(v) => Some(self.on_jraft_vote(now_ms, v, rng, out)),
            Msg::JRaftAppend(a) => Some(self.on_jraft_append(now_ms, a, rng, out)),
            Msg::JRaftWrite(w) => {
                let waiter = raft::Waiter { id, from, api: None, on_ok: None };
                return self.on_jraft_write(now_ms, waiter, w, rng, out);
            }
            Msg::RaftDelete(key) => return self.on_raft_delete(now_ms, id, from, key, rng, out),
            Msg::UpdateService(r) => return self.update_service(now_ms, id, from, r, rng, out),
            Msg::DeleteService(r) => return self.delete_service(now_ms, id, from, &r.service, rng, out),
            Msg::UpdateSwitchPersistent(r) => return self.update_switch_persistent(now_ms, id, from, r, rng, out),
            _ => None,
        };
        if let Some(reply) = reply {
            if let Some(api) = msg.client_api() {
                self.observe_answer(from, api, &reply, out);
            }
            out.respond(id, reply);
            return;
        }
        let Some(msg) = self.distro_filter(id, from, msg, out) else { return };
        // Read only when requests are observed: every beat passes here.
        let api = if self.config.observe_requests.any() { msg.client_api() } else { None };
        let reply = match msg {
            // Persistent instances: the answer waits for the Raft write.
            Msg::Register(r) | Msg::Update(r) if !r.instance.ephemeral => {
                return self.register_persistent_req(now_ms, id, from, api, &r, rng, out)
            }
            Msg::Deregister(r) if !r.ephemeral => {
                return self.deregister_persistent(now_ms, id, from, api, &r, rng, out)
            }
            // InstanceController.update runs registerInstance for any agent but a Java client
            // (which never sends it here): the console's PUT is a registration.
            Msg::Register(r) | Msg::Update(r) => self.register(now, r.service.clone(), r.instance.clone(), out),
            Msg::Deregister(r) => {
                self.deregister(now_ms, &r.service, r.ip.clone(), r.port, r.cluster.clone(), r.ephemeral, out)
            }
            Msg::Beat(req) => self.beat(now, req, out),
            Msg::List(r) => self.list(now_ms, &r, out),
            Msg::MetadataBatch(r) => self.batch_metadata(now_ms, &r, out),
            _ => error(400, "unsupported request"),
        };
        if let Some(api) = api {
            self.observe_answer(from, api, &reply, out);
        }
        out.respond(id, reply);
    }

    /// Answers with datums once they are serialised (`WorkCost::serialize`).
    fn answer_serialised(&self, id: ExchangeId, reply: Msg, out: &mut Out) {
        let instances = match &reply {
            Msg::DistroData(batch) => batch.iter().map(|(_, l)| l.len()).sum(),
            _ => 0,
        };
        let answer = Rc::new((id, reply));
        out.set_timer(self.config.work.serialize(instances), Timer::Server(ServerTimer::Answer(answer)));
    }

    /// Answers a request refused before its controller ran (a filter), observing it.
    fn answer(&self, id: ExchangeId, from: NodeId, msg: &Msg, reply: Msg, out: &mut Out) {
        if let Some(api) = msg.client_api() {
            self.observe_answer(from, api, &reply, out);
        }
        out.respond(id, reply);
    }

    /// `request_answered`, when the scenario observes requests: what this server answered a
    /// client or the console, with the list it served for `/instance/list`.
    pub(crate) fn observe_answer(&self, from: NodeId, api: &'static str, reply: &Msg, out: &mut Out) {
        if !self.config.observe_requests.from(from) {
            return;
        }
        let caller = self.config.address_book.source.get(from as usize).cloned().unwrap_or_else(|| "?".into());
        let (status, message, list) = match reply {
            Msg::Error { status, message } => (*status, message.to_string(), None),
            Msg::Service(info) => (200, String::new(), Some(info)),
            Msg::BeatReply { code, .. } => (200, format!("code {code}"), None),
            Msg::Updated(list) => (200, serde_json::json!({ "updated": &**list }).to_string(), None),
            _ => (200, "ok".to_string(), None),
        };
        out.observe(Observation::RequestAnswered {
            api,
            from: caller,
            status,
            message,
            hosts: list.map(|i| i.hosts.iter().map(SeenHost::of).collect()),
            cache_millis: list.map(|i| i.cache_millis),
            last_ref_time: list.map(|i| i.last_ref_time),
            metadata: list.map(|i| i.metadata.clone()),
        });
    }

    /// The answer to an exchange this server started, to the part that started it.
    fn on_response(
        &mut self,
        now_ms: i64,
        id: ExchangeId,
        result: Result<Msg, HttpError>,
        rng: &mut ChaCha8Rng,
        out: &mut Out,
    ) {
        match self.calls.remove(&id) {
            Some(Call::Sync { target, keys }) => self.on_sync_result(now_ms, target, keys, result, out),
            Some(Call::SyncTask { target, keys, retry }) => self.on_sync_task_result(target, keys, retry, result, out),
            Some(Call::Fetch { source, original }) => self.on_fetch_result(now_ms, source, original, result, out),
            Some(Call::Load { index, peer }) => self.on_load_result(now_ms, index, peer, result, out),
            Some(Call::Report { address }) => self.on_report_result(address, result, out),
            Some(Call::Statuses { service, source }) => self.on_statuses_result(service, source, result, out),
            Some(Call::Forward { original, from, api, service, target }) => {
                self.on_forward_result((original, from, api), service, target, result, out)
            }
            Some(Call::Operation { op }) => self.on_operation_answer(op, result, out),
            Some(Call::RaftVote) => self.on_vote_answer(result, out),
            Some(Call::RaftBeat) => self.on_beat_answer(result),
            Some(Call::RaftProxy(p)) => self.on_proxy_answer(now_ms, *p, result, rng, out),
            Some(Call::RaftCommit { seq }) => self.on_commit_answer(now_ms, seq, result, rng, out),
            Some(Call::RaftDeleteCommit) => self.on_delete_commit_answer(result, rng),
            Some(Call::JRaftVote { peer }) => self.on_jraft_answer(now_ms, peer, true, result, rng, out),
            Some(Call::JRaftAppend { peer }) => self.on_jraft_answer(now_ms, peer, false, result, rng, out),
            Some(Call::JRaftForward(f)) => self.on_jraft_forward_answer(now_ms, *f, result, rng, out),
            Some(Call::HealthProbe { cluster, ip, port }) => {
                self.on_probe_result(now_ms, cluster, ip, port, result, out)
            }
            Some(Call::RaftFetch { leader_term }) => self.on_raft_fetch_answer(now_ms, leader_term, result, rng, out),
            Some(Call::Ignore | Call::SelfDelete) | None => {}
        }
    }

    /// A scheduled task runs.
    fn on_timer(&mut self, now: Time, t: ServerTimer, rng: &mut ChaCha8Rng, out: &mut Out) {
        let now_ms = now.as_millis();
        match t {
            ServerTimer::Notifier => self.run_notifier(now_ms, out),
            ServerTimer::ClientBeatProcess(b) => self.client_beat_process(now_ms, &b, out),
            ServerTimer::ClientBeatCheck(svc) => self.client_beat_check_task(now_ms, svc, out),
            ServerTimer::PushRound(svc) => self.push_round(now, svc, out),
            ServerTimer::ChecksumsCompared(work) => self.checksums_compared(now_ms, &work, out),
            ServerTimer::Answer(answer) => out.respond(answer.0, answer.1.clone()),
            ServerTimer::SyncParsed(parsed) => {
                let (from, id, batch) = &*parsed;
                let reply = self.on_distro_sync(now_ms, *from, batch, out);
                out.respond(*id, reply);
            }
            ServerTimer::PushRoundDone(svc) => {
                self.push.pending_rounds.remove(&*svc);
            }
            ServerTimer::Retransmit(key) => self.retransmit(key, out),
            ServerTimer::ZombieSweep => self.zombie_sweep(now_ms, out),
            ServerTimer::DistroTick => self.distro_tick(now_ms, out),
            ServerTimer::ServerStatus => self.refresh_server_status(out),
            ServerTimer::SyncRetry { target, keys, retry } => self.run_sync_task(target, keys, retry, out),
            ServerTimer::DistroVerify => self.distro_verify(out),
            ServerTimer::DistroLoad => self.load_from(0, out),
            ServerTimer::MemberReport => self.member_report(out),
            ServerTimer::ServerListReport => self.server_list_report(now_ms, out),
            ServerTimer::ServiceReport => self.service_report(out),
            ServerTimer::EmptyServiceClean => self.empty_service_clean_task(now_ms, rng, out),
            ServerTimer::LoadStep => self.load_step(now_ms, out),
            t @ (ServerTimer::MasterElection | ServerTimer::RaftHeartBeat) => self.raft_tick(t, rng, out),
            ServerTimer::ClusterVersionJudgement => self.cluster_version_judgement(out),
            ServerTimer::RaftPublishTimeout(seq) => self.publish_timeout(now_ms, seq, rng, out),
            ServerTimer::JRaftElection => self.jraft_election(now_ms, rng, out),
            ServerTimer::JRaftHeartbeat => self.jraft_heartbeat(now_ms, rng, out),
            ServerTimer::JRaftWriteTimeout(seq) => self.jraft_write_timeout(now_ms, seq, rng, out),
            ServerTimer::HealthCheckInit => self.health_check_init(now_ms, rng, out),
            ServerTimer::HealthCheck(token) => self.health_check_run(now_ms, token, out),
            ServerTimer::HealthProbeLost(p) => {
                let (cluster, ip, port) = (*p).clone();
                self.on_probe_result(now_ms, cluster, ip, port, Err(HttpError::ConnectTimeout), out)
            }
        }
    }
}

impl Node for NamingServer {
    type Msg = Msg;
    type Timer = Timer;
    type Cmd = ();
    type Obs = Observation;

    fn handle(&mut self, now: Time, input: Input<Msg, Timer, ()>, rng: &mut ChaCha8Rng, out: &mut Out) {
        self.on_input(now, input, rng, out)
    }

    /// Memory is lost; the RaftStore's files stay unless the disk goes too.
    fn crash(&mut self, wipe_disk: bool) {
        let store = match self.raft.take() {
            Some(raft) if !wipe_disk => raft.datums,
            _ => BTreeMap::new(),
        };
        let jraft = self.jraft_disk_after_crash().filter(|_| !wipe_disk);
        *self = NamingServer::new(self.config.clone());
        self.raft_store = store;
        self.jraft_disk = jraft;
    }
}

/// A request refused with an HTTP status and message (Java: an exception mapped to a status).
pub(crate) struct Rejected(pub(crate) u16, pub(crate) String);

impl From<Rejected> for Msg {
    fn from(r: Rejected) -> Msg {
        Msg::Error { status: r.0, message: r.1.into() }
    }
}

fn error(status: u16, message: &str) -> Msg {
    Msg::Error { status, message: message.into() }
}
