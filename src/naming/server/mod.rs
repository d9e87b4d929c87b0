//! The Nacos naming server as a sans-IO state machine: `InstanceController` (register,
//! deregister, beat, list), `DistroFilter` forwarding, `ServiceManager`, `ClientBeatProcessor`,
//! `ClientBeatCheckTask`, `PushService` and `EmptyServiceAutoClean`.
//!
//! Java executors become timers: "schedule now" is a zero-delay timer, so the ordering Nacos gets
//! from hand-offs between threads (a beat reply before its processor runs, a datum before its
//! Service) is kept.

pub mod distro;
pub mod member;
pub mod push;
pub mod registry;
pub mod replication;

use crate::engine::{ExchangeId, HttpError, HttpTimeouts, Input, Node, NodeId, Outputs};
use crate::naming::wire::*;
use crate::time::{Dur, Time};
use distro::{DataStore, Datum, DelayEngine, DistroMapper, Notifier, NotifyAction};
use member::MemberManager;
use push::{can_enable_push, AckEntry, PushClient, PushService};
use rand_chacha::ChaCha8Rng;
use registry::{instance_list_key, simple_instance_id, update_ip_addresses, Instance, Preserved, Service, ServiceMap};
use std::cell::Cell;
use std::collections::BTreeMap;
use std::rc::Rc;

pub type Out = Outputs<Msg, Timer, Observation>;

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

/// `ServerStatus` (R5.7).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ServerStatus {
    Starting,
    Up,
    Down,
    ReadOnly,
    WriteOnly,
}

impl ServerStatus {
    fn name(self) -> &'static str {
        match self {
            ServerStatus::Starting => "STARTING",
            ServerStatus::Up => "UP",
            ServerStatus::Down => "DOWN",
            ServerStatus::ReadOnly => "READ_ONLY",
            ServerStatus::WriteOnly => "WRITE_ONLY",
        }
    }
}

/// `ServerStatusManager` period (R5.7).
const SERVER_STATUS_MS: i64 = 5000;

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
}

/// Where IP addresses lead in the simulated network.
#[derive(Clone, Debug, Default)]
pub struct AddressBook {
    /// Routes UDP pushes: a subscriber's reported `clientIP` → the process that receives there.
    pub by_ip: BTreeMap<Str, NodeId>,
    /// Each process's source address for the datagrams it sends, indexed by node id. An ack
    /// from an address other than the reported `clientIP` never matches (R3.11).
    pub source: Vec<Str>,
}

/// `ClientBeatCheckTask` period (R2.13).
pub const CLIENT_BEAT_CHECK_MS: i64 = 5000;
/// `DistroFilter` proxy timeouts (R5.6).
const DISTRO_FILTER_TIMEOUTS: HttpTimeouts =
    HttpTimeouts { connect: Dur::from_millis(2000), read: Dur::from_millis(2000) };
/// Server-to-server naming HTTP client (Appendix A).
const SERVER_HTTP_TIMEOUTS: HttpTimeouts =
    HttpTimeouts { connect: Dur::from_millis(5000), read: Dur::from_millis(10_000) };

/// Why this server is waiting on an exchange it started.
enum Call {
    /// A write forwarded by `DistroFilter`; answer the original caller with the outcome.
    Forward { original: ExchangeId, service: Str, target: NodeId },
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
    /// Async calls whose answer nobody reads (verification checksums, service status).
    Ignore,
}

pub struct NamingServer {
    pub config: ServerConfig,
    pub services: ServiceMap,
    pub store: DataStore,
    notifier: Notifier,
    pub mapper: DistroMapper,
    pub push: PushService,
    calls: BTreeMap<ExchangeId, Call>,
    pub members: MemberManager,
    delay: DelayEngine,
    /// Sources whose checksum verification is running (R5.19 step 1).
    verify_in_progress: std::collections::BTreeSet<Str>,
    /// 1.3 only: the `TaskDispatcher` schedulers and `DataSyncer`'s in-flight `key@@@@target`s.
    dispatcher: distro::TaskDispatcher,
    in_flight: std::collections::BTreeSet<(Str, NodeId)>,
    pub status: ServerStatus,
    /// `DistroProtocol.isInitialized`: the snapshot load finished (always, when standalone).
    initialized: bool,
    /// 1.1 only: `ServerListManager`'s last status beat received per member address (R5.33).
    distro_beats: BTreeMap<Str, i64>,
    /// 1.1 only: the runtime `switchDomain.healthCheckEnabled`, turned off by server-list changes.
    health_check_on: bool,
    last_list_change: i64,
}

impl NamingServer {
    pub fn new(config: ServerConfig) -> NamingServer {
        let members = MemberManager::new(config.address.clone(), &config.members);
        let period = match config.switches.distro_version {
            DistroVersion::V11 => distro::TASK_DISPATCH_PERIOD_V11_MS,
            _ => distro::TASK_DISPATCH_PERIOD_MS,
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
            config,
            services: ServiceMap::default(),
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
            distro_beats: BTreeMap::new(),
            health_check_on: true,
            last_list_change: 0,
        }
    }

    /// The Distro notifier has nothing queued: every stored datum has reached its Service.
    pub fn notifier_idle(&self) -> bool {
        !self.notifier.scheduled
    }

    fn member_node(&self, address: &str) -> Option<NodeId> {
        self.config.members.iter().find(|(a, _)| &**a == address).map(|(_, n)| *n)
    }

    // ------------------------------------------------------------------ requests

    /// `TrafficReviseFilter` (R5.7), ahead of every `/v1/ns` endpoint: only UP serves everyone.
    fn traffic_revise(&self, msg: &Msg) -> Option<Msg> {
        let from_server = match msg {
            Msg::Register(r) => r.agent == Agent::Server,
            Msg::Deregister(r) => r.agent == Agent::Server,
            Msg::Beat(r) => r.agent == Agent::Server,
            Msg::List(r) => r.agent == Agent::Server,
            // Server-to-server endpoints carry the Nacos-Server agent.
            _ => true,
        };
        let get = matches!(msg, Msg::List(_) | Msg::InstanceStatuses(_) | Msg::DistroFetch(_) | Msg::DistroSnapshot);
        let pass = match self.status {
            ServerStatus::Up => true,
            _ if from_server => true,
            ServerStatus::WriteOnly => !get,
            ServerStatus::ReadOnly => get,
            _ => false,
        };
        (!pass).then(|| error(503, &format!("server is {} now, please try again later!", self.status.name())))
    }

    fn on_request(&mut self, now: Time, from: NodeId, id: ExchangeId, msg: Msg, out: &mut Out) {
        let now_ms = now.as_millis();
        if let Some(refusal) = self.traffic_revise(&msg) {
            out.respond(id, refusal);
            return;
        }
        // Server-to-server endpoints (never @CanDistro).
        let reply = match &msg {
            Msg::DistroSync(batch) => Some(self.on_distro_sync(now_ms, from, batch, out)),
            Msg::DistroChecksums(c) => match self.on_checksums(id, &c.source, &c.checksums, out) {
                Some(reply) => Some(reply),
                None => return, // answered after the fetch
            },
            Msg::DistroFetch(keys) => Some(self.on_fetch(Some(keys))),
            Msg::DistroSnapshot => Some(self.on_fetch(None)),
            Msg::MemberReport { address } => Some(self.on_member_report(address, out)),
            Msg::ServerStatusBeat { address } => Some(self.on_server_status_beat(now_ms, address, out)),
            Msg::ServiceStatus(c) => Some(self.on_service_status(&c.source, &c.checksums, out)),
            Msg::InstanceStatuses(svc) => Some(self.on_instance_statuses(svc)),
            _ => None,
        };
        if let Some(reply) = reply {
            out.respond(id, reply);
            return;
        }
        // DistroFilter (R5.6): @CanDistro writes go to the responsible server first.
        if let Some((svc, agent)) = can_distro(&msg) {
            if !self.mapper.responsible(&svc.name) {
                if *agent == Agent::Server {
                    out.respond(id, error(400, "receive invalid redirect request from peer"));
                    return;
                }
                let target_addr = self.mapper.map_srv(&svc.name);
                match self.member_node(&target_addr) {
                    Some(target) => {
                        let service = svc.name.clone();
                        let fwd = forwarded(msg);
                        let x = out.request(target, fwd, DISTRO_FILTER_TIMEOUTS);
                        self.calls.insert(x, Call::Forward { original: id, service, target });
                    }
                    None => out.respond(id, error(500, "distro target is not a member")),
                }
                return;
            }
        }
        let reply = match msg {
            Msg::Register(r) => self.register(now_ms, r.service.clone(), r.instance.clone(), out),
            Msg::Deregister(r) => {
                self.deregister(now_ms, &r.service, r.ip.clone(), r.port, r.cluster.clone(), r.ephemeral, out)
            }
            Msg::Beat(req) => self.beat(now_ms, req, out),
            Msg::List(r) => self.list(now_ms, &r, out),
            _ => error(400, "unsupported request"),
        };
        out.respond(id, reply);
    }

    fn on_response(&mut self, now_ms: i64, id: ExchangeId, result: Result<Msg, HttpError>, out: &mut Out) {
        match self.calls.remove(&id) {
            Some(Call::Sync { target, keys }) => self.on_sync_result(now_ms, target, keys, result, out),
            Some(Call::SyncTask { target, keys, retry }) => self.on_sync_task_result(target, keys, retry, result, out),
            Some(Call::Fetch { source, original }) => self.on_fetch_result(now_ms, source, original, result, out),
            Some(Call::Load { index, peer }) => self.on_load_result(now_ms, index, peer, result, out),
            Some(Call::Report { address }) => self.on_report_result(address, result, out),
            Some(Call::Statuses { service, source }) => self.on_statuses_result(service, source, result, out),
            Some(Call::Ignore) => {}
            Some(Call::Forward { original, service, target }) => {
                let reply = match result {
                    Ok(m) => m,
                    Err(e) => {
                        out.observe(Observation::ForwardFailed {
                            service,
                            target: self.member_address(target),
                            error: format!("{e:?}"),
                        });
                        error(500, &format!("{e:?}"))
                    }
                };
                out.respond(original, reply);
            }
            Some(Call::SelfDelete) | None => {}
        }
    }

    fn member_address(&self, node: NodeId) -> String {
        self.config.members.iter().find(|(_, n)| *n == node).map(|(a, _)| a.to_string()).unwrap_or_default()
    }

    /// POST `/instance` (R1.21): validate and `registerInstance`.
    fn register(&mut self, now_ms: i64, service: ServiceKey, d: InstanceData, out: &mut Out) -> Msg {
        if d.weight.0 > 10000.0 || d.weight.0 < 0.0 {
            return error(400, "instance format invalid: weight");
        }
        let mut inst = Instance::from_data(&d);
        inst.last_beat = Cell::new(now_ms);
        match self.register_instance(now_ms, &service, inst, out) {
            Ok(()) => Msg::Ok,
            Err(r) => r.into(),
        }
    }

    /// `ServiceManager.registerInstance` (R1.18): create the service if absent, then add.
    fn register_instance(
        &mut self,
        now_ms: i64,
        svc: &ServiceKey,
        inst: Instance,
        out: &mut Out,
    ) -> Result<(), Rejected> {
        self.create_service_if_absent(now_ms, svc, out);
        let (ip, port) = (inst.ip.clone(), inst.port);
        self.update_instances(now_ms, svc, false, inst.ephemeral, vec![inst], out)?;
        out.observe(Observation::InstanceRegistered { service: svc.name.clone(), ip, port });
        Ok(())
    }

    fn create_service_if_absent(&mut self, now_ms: i64, svc: &ServiceKey, out: &mut Out) {
        if self.services.contains_key(svc) {
            return;
        }
        self.services.insert(svc.clone(), Service::new(svc.clone(), now_ms));
        out.observe(Observation::ServiceCreated { service: svc.name.clone() });
        // Service.init(): the ClientBeatCheckTask, fixed-delay 5 s from creation (R2.13).
        out.set_timer(
            Dur::from_millis(CLIENT_BEAT_CHECK_MS),
            Timer::Server(ServerTimer::ClientBeatCheck(Rc::new(svc.clone()))),
        );
    }

    /// `addInstance`/`removeInstance` (R1.19): read-modify-write of the datum, then put.
    fn update_instances(
        &mut self,
        now_ms: i64,
        svc: &ServiceKey,
        remove: bool,
        ephemeral: bool,
        mut ips: Vec<Instance>,
        out: &mut Out,
    ) -> Result<(), Rejected> {
        let key = instance_list_key(svc, ephemeral);
        let service = self.services.get(svc).ok_or_else(|| Rejected(500, "service not found".into()))?;
        if !remove {
            for ip in ips.iter_mut() {
                ip.instance_id = self.generate_instance_id(service, ip, ephemeral);
            }
        }
        let datum = self.store.data.get(&key).map(|d| d.instances.clone());
        let list = update_ip_addresses(datum.as_deref().map(|v| v.as_slice()), service, remove, ephemeral, ips)
            .ok_or_else(|| Rejected(500, format!("ip list can not be empty, service: {}, ip list: []", svc.name)))?;
        self.put(key, list, now_ms, out);
        Ok(())
    }

    /// R1.10: `simple` ids, or the smallest free integer with the `snowflake` generator.
    fn generate_instance_id(&self, service: &Service, ip: &Instance, ephemeral: bool) -> Str {
        let gen = ip.metadata.get("preserved.instance.id.generator").map(|s| s.to_ascii_lowercase());
        if gen.as_deref() == Some("snowflake") {
            let used: std::collections::BTreeSet<&str> = service.all_ips(ephemeral).map(|i| &*i.instance_id).collect();
            let free = (0u64..).find(|n| !used.contains(n.to_string().as_str())).unwrap_or(0);
            return free.to_string().into();
        }
        simple_instance_id(&ip.ip, ip.port, &ip.cluster, &service.key.name)
    }

    /// Distro `put` (R1.24/R5.8): a new local datum now, the Service later via the notifier,
    /// and a sync to every peer through the delay engine.
    fn put(&mut self, key: Str, list: Vec<registry::InstanceRef>, now_ms: i64, out: &mut Out) {
        self.on_put(key.clone(), list, out);
        self.distro_sync(&key, now_ms, out);
    }

    /// `onPut`: store the datum and queue a CHANGE for the notifier.
    fn on_put(&mut self, key: Str, list: Vec<registry::InstanceRef>, out: &mut Out) {
        self.store.data.insert(key.clone(), Datum { instances: Rc::new(list), timestamp: 1 });
        if self.notifier.add(key, NotifyAction::Change) {
            out.set_timer(Dur::ZERO, Timer::Server(ServerTimer::Notifier));
        }
    }

    /// DELETE `/instance` (R1.22).
    #[allow(clippy::too_many_arguments)]
    fn deregister(
        &mut self,
        now_ms: i64,
        svc: &ServiceKey,
        ip: Str,
        port: u16,
        cluster: Str,
        ephemeral: bool,
        out: &mut Out,
    ) -> Msg {
        if !self.services.contains_key(svc) {
            return Msg::Ok;
        }
        let probe = Instance {
            ip,
            port,
            cluster,
            weight: Cell::new(1.0),
            healthy: Cell::new(true),
            enabled: true,
            ephemeral,
            marked: false,
            metadata: Rc::default(),
            preserved: Preserved::of(&Rc::default()),
            instance_id: "".into(),
            last_beat: Cell::new(0),
        };
        match self.update_instances(now_ms, svc, true, ephemeral, vec![probe], out) {
            Ok(()) => Msg::Ok,
            Err(r) => r.into(),
        }
    }

    /// PUT `/instance/beat` on the responsible server (R2.8).
    fn beat(&mut self, now_ms: i64, req: Rc<BeatReq>, out: &mut Out) -> Msg {
        let sw = &self.config.switches;
        let mut interval = sw.client_beat_interval;
        let light_enabled = sw.light_beat_enabled;
        // With a body, the beat's own cluster/ip/port win (R2.8.2).
        let target = match &req.beat {
            Some(b) => {
                let cluster = if b.cluster.is_empty() { req.cluster.clone() } else { b.cluster.clone() };
                if cluster == req.cluster && b.ip == req.ip && b.port == req.port {
                    req.clone()
                } else {
                    Rc::new(req.with(|r| {
                        r.cluster = cluster;
                        r.ip = b.ip.clone();
                        r.port = b.port;
                    }))
                }
            }
            None => req.clone(),
        };
        let (svc, beat) = (&req.service, &req.beat);
        let (cluster, ip, port) = (&target.cluster, &target.ip, target.port);
        let found = self.services.beat_target(&target).any().map(|i| i.preserved.beat_interval);
        let beat_interval = match found {
            Some(v) => v,
            None => {
                out.observe(Observation::BeatForUnknownInstance {
                    service: svc.name.clone(),
                    ip: ip.clone(),
                    port,
                    light: beat.is_none(),
                });
                let Some(b) = beat else {
                    return Msg::BeatReply { client_beat_interval: interval, code: 20404, light_beat_enabled: None };
                };
                let inst = Instance {
                    ip: ip.clone(),
                    port,
                    cluster: cluster.clone(),
                    weight: Cell::new(b.weight.0),
                    healthy: Cell::new(true),
                    enabled: true,
                    ephemeral: true,
                    marked: false,
                    metadata: b.metadata.clone(),
                    preserved: Preserved::of(&b.metadata),
                    instance_id: "".into(),
                    last_beat: Cell::new(now_ms),
                };
                let beat_interval = inst.preserved.beat_interval;
                if let Err(r) = self.register_instance(now_ms, svc, inst, out) {
                    return r.into();
                }
                if !self.services.contains_key(svc) {
                    return error(500, "service not found");
                }
                beat_interval
            }
        };
        // ClientBeatProcessor runs "now" on the health executor, after this reply (R2.8.6).
        out.set_timer(Dur::ZERO, Timer::Server(ServerTimer::ClientBeatProcess(target)));
        if let Some(v) = beat_interval {
            interval = v;
        }
        Msg::BeatReply { client_beat_interval: interval, code: 10200, light_beat_enabled: Some(light_enabled) }
    }

    /// GET `/instance/list` (`doSrvIpxt`, R4.7–R4.9).
    fn list(&mut self, now_ms: i64, r: &ListReq, out: &mut Out) -> Msg {
        let mut cache_millis = self.config.switches.default_cache_millis;
        if r.udp_port > 0 && can_enable_push(&r.agent, self.config.switches.push_enabled) {
            // Registered whatever the address: pushes to an unroutable clientIP are simply lost.
            let client = PushClient {
                clusters: r.clusters.clone(),
                agent: r.agent.clone(),
                client_ip: r.client_ip.clone(),
                udp_port: r.udp_port,
                last_ref_time: now_ms,
            };
            let label = client.label();
            if self.push.add_client(&r.service, client) {
                out.observe(Observation::PushClientAdded { service: r.service.name.clone(), client: label });
            }
            cache_millis = self.config.switches.push_cache_millis;
        }
        Msg::Service(Rc::new(self.service_info(now_ms, &r.service, &r.clusters, r.healthy_only, cache_millis)))
    }

    /// The service JSON (R4.8/R4.9) with protect threshold (R1.32), disabled hosts skipped.
    pub fn service_info(
        &self,
        now_ms: i64,
        svc: &ServiceKey,
        clusters: &Str,
        healthy_only: bool,
        cache_millis: i64,
    ) -> ServiceInfo {
        let Some(service) = self.services.get(svc) else {
            return ServiceInfo {
                name: svc.name.clone(),
                clusters: clusters.clone(),
                cache_millis,
                last_ref_time: 0,
                checksum: "".into(),
                hosts: Hosts::default(),
            };
        };
        let wanted: Vec<&str> = clusters.split(',').filter(|c| !c.is_empty()).collect();
        let served: Vec<&registry::InstanceRef> = service
            .clusters
            .iter()
            .filter(|(name, _)| wanted.is_empty() || wanted.contains(&&***name))
            .flat_map(|(_, c)| c.set(true).iter().chain(c.set(false)))
            .collect();
        let threshold = service.protect_threshold;
        let cached =
            service.hosts_cache.borrow().as_ref().and_then(|c| c.get(clusters, healthy_only, threshold, &served));
        let hosts = cached.unwrap_or_else(|| {
            let hosts = build_hosts(&svc.name, &served, healthy_only, threshold);
            let cache = registry::HostsCache::new(clusters, healthy_only, threshold, &served, hosts.clone());
            *service.hosts_cache.borrow_mut() = Some(cache);
            hosts
        });
        ServiceInfo {
            name: svc.name.clone(),
            clusters: clusters.clone(),
            cache_millis,
            last_ref_time: now_ms,
            checksum: service.checksum(),
            hosts,
        }
    }

    /// A beat on its way here: when it is sent, the slot that remembers its instance; just
    /// before it arrives, the request itself and the instance the slot names.
    pub fn prefetch_msg(&self, msg: &Msg, near: bool) {
        if let Msg::Beat(req) = msg {
            if near {
                BeatReq::prefetch(req);
            }
            self.services.prefetch_beat(req, near);
        }
    }

    // ------------------------------------------------------------------ timers

    fn on_timer(&mut self, now: Time, t: ServerTimer, out: &mut Out) {
        let now_ms = now.as_millis();
        match t {
            ServerTimer::Notifier => self.run_notifier(now_ms, out),
            ServerTimer::ClientBeatProcess(b) => self.client_beat_process(now_ms, &b, out),
            ServerTimer::ClientBeatCheck(svc) => {
                if !self.services.contains_key(&svc) {
                    return; // Service.destroy() cancelled the task
                }
                self.client_beat_check(now_ms, &svc, out);
                out.set_timer(Dur::from_millis(CLIENT_BEAT_CHECK_MS), Timer::Server(ServerTimer::ClientBeatCheck(svc)));
            }
            ServerTimer::PushRound(svc) => self.push_round(now, &svc, out),
            ServerTimer::Retransmit(key) => {
                if self.push.acks.contains_key(&*key) {
                    self.udp_push(Rc::unwrap_or_clone(key), out);
                }
            }
            ServerTimer::ZombieSweep => {
                for (service, client) in self.push.remove_zombies(now_ms, self.config.switches.push_cache_millis) {
                    out.observe(Observation::PushZombieRemoved { service, client });
                }
                out.set_timer(Dur::from_millis(push::ZOMBIE_SWEEP_MS), Timer::Server(ServerTimer::ZombieSweep));
            }
            ServerTimer::DistroTick => self.distro_tick(now_ms, out),
            ServerTimer::ServerStatus => {
                // Distro is available once loaded, or at once without warm-up (R5.7, R5.22).
                let available = self.initialized || !self.config.switches.data_warmup;
                let sw = &self.config.switches;
                let status =
                    sw.overridden_status.unwrap_or(if available { ServerStatus::Up } else { ServerStatus::Down });
                if status != self.status {
                    out.observe(Observation::ServerStatusChanged { from: self.status.name(), to: status.name() });
                    self.status = status;
                }
                out.set_timer(Dur::from_millis(SERVER_STATUS_MS), Timer::Server(ServerTimer::ServerStatus));
            }
            ServerTimer::SyncRetry { target, keys, retry } => self.run_sync_task(target, keys, retry, out),
            ServerTimer::DistroVerify => self.distro_verify(out),
            ServerTimer::DistroLoad => self.load_from(0, out),
            ServerTimer::MemberReport => self.member_report(out),
            ServerTimer::ServerListReport => self.server_list_report(now_ms, out),
            ServerTimer::ServiceReport => self.service_report(out),
            ServerTimer::EmptyServiceClean => {
                self.empty_service_clean(out);
                if let Some((_, period)) = self.config.empty_service_clean {
                    out.set_timer(Dur::from_millis(period), Timer::Server(ServerTimer::EmptyServiceClean));
                }
            }
        }
    }

    /// The notifier thread drains its queue, applying each datum to its Service (R5.23, R1.25).
    fn run_notifier(&mut self, now_ms: i64, out: &mut Out) {
        self.notifier.scheduled = false;
        while let Some((key, action)) = self.notifier.pop() {
            if action == NotifyAction::Delete {
                continue; // @1.4.1 Service.onDelete ignores it (R1.28)
            }
            self.apply_datum(now_ms, &key, out);
        }
    }

    /// The Service listener's `onChange` for one key: the current datum replaces the cluster
    /// lists (local health wins, R1.27), the checksum is recomputed and a push scheduled.
    fn apply_datum(&mut self, now_ms: i64, key: &Str, out: &mut Out) {
        let Some(datum) = self.store.data.get(key) else { return };
        let ephemeral = key.starts_with(registry::EPHEMERAL_PREFIX);
        let Some(svc) = service_key_of(key) else { return };
        let list = datum.instances.clone();
        let Some(service) = self.services.get_mut(&svc) else { return };
        let (added, removed) = service.update_ips(&list, ephemeral, now_ms);
        service.recalculate_checksum_later();
        for i in added {
            out.observe(Observation::InstanceAdded {
                service: svc.name.clone(),
                ip: i.ip.clone(),
                port: i.port,
                healthy: i.healthy.get(),
            });
        }
        for i in removed {
            out.observe(Observation::InstanceRemoved { service: svc.name.clone(), ip: i.ip.clone(), port: i.port });
        }
        self.service_changed(&svc, out);
    }

    /// `ClientBeatProcessor.run` (R2.10).
    fn client_beat_process(&mut self, now_ms: i64, beat: &Rc<BeatReq>, out: &mut Out) {
        // Java walks the cluster's whole ephemeral list; it is sorted and unique by (ip, port),
        // so a look-up finds the same instance.
        let Some(i) = &self.services.beat_target(beat).ephemeral else { return };
        let svc = &beat.service;
        i.last_beat.set(now_ms);
        if !i.marked && !i.healthy.get() {
            i.healthy.set(true);
            out.observe(Observation::InstanceHealthy { service: svc.name.clone(), ip: i.ip.clone(), port: i.port });
            self.service_changed(svc, out);
        }
    }

    /// `ClientBeatCheckTask.run` (R2.14): unhealthy past the beat timeout, delete past the
    /// delete timeout, both with strict `>` on this server's clock.
    fn client_beat_check(&mut self, now_ms: i64, svc: &ServiceKey, out: &mut Out) {
        if !self.mapper.responsible(&svc.name) || !self.config.switches.health_check_enabled || !self.health_check_on {
            return;
        }
        // The instances are borrowed, not cloned: a clone writes each instance's reference
        // count, one more cache line dirtied per instance per run.
        let mut changed = false;
        for i in self.services[svc].all_ips(true) {
            if now_ms - i.last_beat.get() > i.heart_beat_timeout() && !i.marked && i.healthy.get() {
                i.healthy.set(false);
                changed = true;
                out.observe(Observation::InstanceUnhealthy {
                    service: svc.name.clone(),
                    ip: i.ip.clone(),
                    port: i.port,
                    last_beat_ms: i.last_beat.get(),
                });
            }
        }
        if changed {
            self.service_changed(svc, out);
        }
        if !self.config.switches.expire_instance {
            return;
        }
        let expired = |i: &&registry::InstanceRef| !i.marked && now_ms - i.last_beat.get() > i.ip_delete_timeout();
        let doomed: Vec<registry::InstanceRef> = self.services[svc].all_ips(true).filter(expired).cloned().collect();
        for i in doomed {
            out.observe(Observation::DeleteRequested { service: svc.name.clone(), ip: i.ip.clone(), port: i.port });
            // deleteIp: an HTTP DELETE to itself, through the filters (R2.15).
            let msg = Msg::Deregister(Rc::new(DeregisterReq {
                service: svc.clone(),
                ip: i.ip.clone(),
                port: i.port,
                cluster: i.cluster.clone(),
                ephemeral: true,
                agent: Agent::Server,
            }));
            let x = out.request(self.config.id, msg, SERVER_HTTP_TIMEOUTS);
            self.calls.insert(x, Call::SelfDelete);
        }
    }

    /// `EmptyServiceAutoClean` (R1.34): removal on the 5th consecutive empty sighting.
    fn empty_service_clean(&mut self, out: &mut Out) {
        let mut doomed = Vec::new();
        for (key, s) in self.services.iter() {
            if !self.mapper.responsible(&key.name) {
                continue;
            }
            if s.is_empty() {
                if s.finalize_count.get() > 3 {
                    doomed.push(key.clone());
                }
                s.finalize_count.set(s.finalize_count.get() + 1);
            } else {
                s.finalize_count.set(0);
            }
        }
        for key in doomed {
            // easyRemoveService goes through the CP store; with no CP store modelled the
            // removal applies locally at once (ServiceManager.onDelete).
            self.services.remove(&key);
            self.store.data.remove(&instance_list_key(&key, true));
            self.store.data.remove(&instance_list_key(&key, false));
            self.push.pending_rounds.remove(&key);
            out.observe(Observation::ServiceRemoved { service: key.name.clone() });
        }
    }

    // ------------------------------------------------------------------ push

    /// `serviceChanged` (R3.4): a round 1 s after the first change; later changes are absorbed.
    fn service_changed(&mut self, svc: &ServiceKey, out: &mut Out) {
        if self.push.pending_rounds.insert(svc.clone()) {
            out.set_timer(
                Dur::from_millis(push::PUSH_DELAY_MS),
                Timer::Server(ServerTimer::PushRound(Rc::new(svc.clone()))),
            );
        }
    }

    /// One push round (R3.5): every non-zombie subscriber of the service gets the current data.
    fn push_round(&mut self, now: Time, svc: &ServiceKey, out: &mut Out) {
        let now_ms = now.as_millis();
        // System.nanoTime(): the node's monotonic nanos; one value for the whole round.
        let last_ref_time = now.0;
        let clients: Vec<(String, PushClient)> = match self.push.clients.get(svc) {
            Some(m) if !m.is_empty() => m.iter().map(|(l, c)| (l.clone(), c.clone())).collect(),
            _ => {
                self.push.pending_rounds.remove(svc);
                return;
            }
        };
        out.observe(Observation::PushRoundStarted { service: svc.name.clone(), clients: clients.len() as u32 });
        let push_cache_millis = self.config.switches.push_cache_millis;
        for (label, c) in clients {
            if c.is_zombie(now_ms, push_cache_millis) {
                if let Some(m) = self.push.clients.get_mut(svc) {
                    m.remove(&label);
                }
                out.observe(Observation::PushZombieRemoved { service: svc.name.clone(), client: label });
                continue;
            }
            let mut data = self.service_info(now_ms, svc, &c.clusters, false, push_cache_millis);
            data.cache_millis = push_cache_millis;
            let size = 40 + data.json_size();
            let gzipped = size >= 1024;
            // Size accounting only: JSON of this shape compresses about 5:1.
            let bytes = if gzipped { (size / 5) as u32 } else { size as u32 };
            let msg = Msg::Push { last_ref_time, data: Rc::new(data), bytes, gzipped };
            let key = AckKey { ip: c.client_ip.clone(), port: c.udp_port, last_ref_time };
            self.push.acks.insert(key.clone(), AckEntry { service: svc.name.clone(), label, msg, retry_times: 0 });
            self.push.total_push += 1;
            self.udp_push(key, out);
        }
        self.push.pending_rounds.remove(svc);
    }

    /// `udpPush` (R3.9): send (again) or give up after the second send.
    fn udp_push(&mut self, key: AckKey, out: &mut Out) {
        let Some(entry) = self.push.acks.get_mut(&key) else { return };
        if PushService::exhausted(entry) {
            let entry = self.push.acks.remove(&key).expect("present");
            self.push.failed_push += 1;
            out.observe(Observation::PushGivenUp { service: entry.service, client: entry.label });
            return;
        }
        entry.retry_times += 1;
        let (bytes, gzipped) = match &entry.msg {
            Msg::Push { bytes, gzipped, .. } => (*bytes, *gzipped),
            _ => (0, false),
        };
        out.observe(Observation::PushSent {
            service: entry.service.clone(),
            client: entry.label.clone(),
            attempt: entry.retry_times,
            bytes,
            gzipped,
        });
        let Some(&to) = self.config.address_book.by_ip.get(&key.ip) else { return };
        out.send_udp(to, entry.msg.clone());
        out.set_timer(Dur::from_millis(push::ACK_TIMEOUT_MS), Timer::Server(ServerTimer::Retransmit(Rc::new(key))));
    }

    /// The ack receiver (R3.11): matched by source address and `lastRefTime`.
    fn on_ack(&mut self, from: NodeId, last_ref_time: i64, out: &mut Out) {
        let Some(ip) = self.config.address_book.source.get(from as usize) else { return };
        let matching = self.push.acks.range(
            AckKey { ip: ip.clone(), port: 0, last_ref_time }..=AckKey {
                ip: ip.clone(),
                port: u16::MAX,
                last_ref_time,
            },
        );
        let keys: Vec<AckKey> =
            matching.filter(|(k, _)| k.last_ref_time == last_ref_time).map(|(k, _)| k.clone()).collect();
        for k in keys {
            if let Some(e) = self.push.acks.remove(&k) {
                out.observe(Observation::PushAcked { service: e.service, client: e.label });
            }
        }
    }
}

impl Node for NamingServer {
    type Msg = Msg;
    type Timer = Timer;
    type Cmd = ();
    type Obs = Observation;

    fn handle(&mut self, now: Time, input: Input<Msg, Timer, ()>, _: &mut ChaCha8Rng, out: &mut Out) {
        self.on_input(now, input, out)
    }

    fn crash(&mut self) {
        *self = NamingServer::new(self.config.clone());
    }
}

impl NamingServer {
    /// Handles one input; generic over the command type, which a server ignores, so a
    /// [`Process`](crate::naming::Process) hands its input over without rebuilding it.
    pub(crate) fn on_input<C>(&mut self, now: Time, input: Input<Msg, Timer, C>, out: &mut Out) {
        match input {
            Input::Start => {
                out.set_timer(Dur::ZERO, Timer::Server(ServerTimer::ZombieSweep));
                if let Some((initial, _)) = self.config.empty_service_clean {
                    out.set_timer(Dur::from_millis(initial), Timer::Server(ServerTimer::EmptyServiceClean));
                }
                self.initialized = !self.cluster_mode();
                out.set_timer(Dur::ZERO, Timer::Server(ServerTimer::ServerStatus));
                self.start_cluster(out);
            }
            Input::Request { from, id, msg } => self.on_request(now, from, id, msg, out),
            Input::Response { id, result } => self.on_response(now.as_millis(), id, result, out),
            Input::Datagram { from, msg: Msg::PushAck { last_ref_time } } => self.on_ack(from, last_ref_time, out),
            Input::Datagram { .. } => {}
            Input::Timer { timer: Timer::Server(t), .. } => self.on_timer(now, t, out),
            Input::Timer { .. } | Input::Command(_) => {}
        }
    }
}

/// A request refused with an HTTP status and message (Java: an exception mapped to a status).
struct Rejected(u16, String);

impl From<Rejected> for Msg {
    fn from(r: Rejected) -> Msg {
        Msg::Error { status: r.0, message: r.1.into() }
    }
}

/// The hosts of a service JSON (R4.9) from the served instances: healthy ones first, then,
/// unless `healthyOnly`, the unhealthy ones; under the protect threshold (R1.32) all of them,
/// as healthy. Disabled instances are skipped.
fn build_hosts(service: &Str, served: &[&registry::InstanceRef], healthy_only: bool, threshold: f32) -> Hosts {
    let healthy_count = served.iter().filter(|i| i.healthy.get()).count();
    let protect = !served.is_empty() && (healthy_count as f32 / served.len() as f32) <= threshold;
    let mut hosts = Vec::with_capacity(served.len());
    for pass_healthy in [true, false] {
        if !pass_healthy && (healthy_only || protect) {
            break;
        }
        for i in served {
            let in_group = protect || i.healthy.get() == pass_healthy;
            if !in_group || !i.enabled {
                continue;
            }
            let valid = pass_healthy;
            hosts.push(HostJson {
                ip: i.ip.clone(),
                port: i.port,
                valid,
                healthy: valid,
                marked: i.marked,
                instance_id: i.instance_id.clone(),
                metadata: i.metadata.clone(),
                enabled: i.enabled,
                weight: Weight(i.weight.get()),
                cluster: i.cluster.clone(),
                service: service.clone(),
                ephemeral: i.ephemeral,
            });
        }
    }
    hosts.into()
}

fn error(status: u16, message: &str) -> Msg {
    Msg::Error { status, message: message.into() }
}

/// The `@CanDistro` writes and who sent them.
fn can_distro(msg: &Msg) -> Option<(&ServiceKey, &Agent)> {
    match msg {
        Msg::Register(r) => Some((&r.service, &r.agent)),
        Msg::Deregister(r) => Some((&r.service, &r.agent)),
        Msg::Beat(r) => Some((&r.service, &r.agent)),
        _ => None,
    }
}

/// The forwarded copy of a request: same everything, User-Agent `Nacos-Server`.
fn forwarded(msg: Msg) -> Msg {
    match msg {
        Msg::Register(r) => Msg::Register(Rc::new(RegisterReq { agent: Agent::Server, ..(*r).clone() })),
        Msg::Deregister(r) => Msg::Deregister(Rc::new(DeregisterReq { agent: Agent::Server, ..(*r).clone() })),
        Msg::Beat(r) => Msg::Beat(Rc::new(r.with(|r| r.agent = Agent::Server))),
        other => other,
    }
}

/// `KeyBuilder.getNamespace/getServiceName` of an instance-list key (R1.4).
pub fn service_key_of(key: &str) -> Option<ServiceKey> {
    let rest =
        key.strip_prefix(registry::EPHEMERAL_PREFIX).or_else(|| key.strip_prefix(registry::PERSISTENT_PREFIX))?;
    let (ns, name) = rest.split_once("##")?;
    Some(ServiceKey { namespace: ns.into(), name: name.into() })
}
