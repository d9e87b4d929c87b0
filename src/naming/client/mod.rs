//! The Nacos Java client (`NacosNamingService`) as a sans-IO state machine: `NamingProxy`
//! (server choice and failover), `BeatReactor`, `HostReactor` (subscription, `UpdateTask`
//! polling, `processServiceJson`) and `PushReceiver`.
//!
//! Every blocking Java call becomes an HTTP exchange plus a continuation ([`Then`]) that runs
//! when the exchange completes, so a task's next run is scheduled after its call returned, as
//! Java's `finally { schedule(...) }` does.

use crate::engine::{ExchangeId, HttpError, HttpTimeouts, Input, Node, NodeId, Outputs};
use crate::naming::server::registry::{metadata_millis, DEFAULT_HEART_BEAT_INTERVAL};
use crate::naming::wire::*;
use crate::slab::Slab;
use crate::time::{Dur, Time};
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::rc::Rc;

pub type Out = Outputs<Msg, Timer, Observation>;

/// Client HTTP timeouts (`com.alibaba.nacos.client.naming.ctimeout/rtimeout`, R2.6).
pub const CLIENT_HTTP_TIMEOUTS: HttpTimeouts =
    HttpTimeouts { connect: Dur::from_millis(3000), read: Dur::from_millis(50_000) };
/// `namingRequestDomainMaxRetryCount` for a single configured server (R2.7).
const DOMAIN_MAX_RETRY: usize = 3;
/// `UpdateTask` first delay and the unit of its back-off (R4.5).
const UPDATE_DEFAULT_DELAY_MS: i64 = 1000;
const UPDATE_MAX_DELAY_MS: i64 = 60_000;
const MAX_FAIL_COUNT: u32 = 6;
/// `FailoverReactor` timers (R4.14).
const SWITCH_REFRESH_MS: i64 = 5000;
const DISK_WRITE_FIRST_MS: i64 = 10_000;
const DISK_WRITE_INITIAL_MS: i64 = 30 * 60_000;
const DISK_WRITE_PERIOD_MS: i64 = 24 * 3_600_000;

#[derive(Clone, Debug)]
pub struct ClientConfig {
    pub id: NodeId,
    /// This client's IP: where its datagrams come from.
    pub ip: Str,
    /// The `clientIP` it reports for pushes, when `NetUtils.localIP()` picks another address.
    pub reported_ip: Option<Str>,
    pub udp_port: u16,
    /// The configured server list, in order, with names for observations.
    pub servers: Vec<(NodeId, Str)>,
    pub version: Str,
    pub namespace: Str,
    /// `namingPushEmptyProtection` (default false).
    pub push_empty_protection: bool,
}

/// What the application does, from the scenario's workload.
#[derive(Clone, Debug)]
pub enum ClientCmd {
    Register {
        service: Str,
        group: Str,
        ip: Str,
        port: u16,
        cluster: Str,
        weight: f64,
        metadata: Metadata,
        ephemeral: bool,
    },
    Deregister {
        service: Str,
        group: Str,
        ip: Str,
        port: u16,
        cluster: Str,
        ephemeral: bool,
    },
    Subscribe {
        service: Str,
        group: Str,
        clusters: Str,
    },
    /// An operator writes `1` or `0` into the failover switch file; `SwitchRefresher` notices it
    /// at its next 5 s run (R4.14).
    FailoverSwitch {
        on: bool,
    },
}

/// What to do when an exchange completes.
#[derive(Clone, Debug)]
enum Then {
    Beat(BeatTaskId),
    Register,
    Deregister,
    /// `updateServiceNow` at subscription: the answer is processed, nothing is rescheduled.
    PullNow,
    /// An `UpdateTask` run's call: a full pull, or `refreshOnly` (answer ignored).
    Update {
        key: Str,
        refresh_only: bool,
    },
}

/// One `reqApi` in progress: where its walk over the server list started, how many tries it
/// has, and how far it got.
struct Call {
    api: &'static str,
    msg: Msg,
    start: usize,
    tries: usize,
    attempt: usize,
    then: Then,
}

/// A live `BeatInfo` and the two requests it sends, built once. `period` is the info's, kept
/// here so rescheduling reads only this entry. What a beat reads (the slot check, the request,
/// the period) comes first in an entry aligned to a cache line: sending a beat and
/// rescheduling it each read one line of it.
#[repr(C, align(64))]
struct BeatEntry {
    generation: u64,
    period: i64,
    light: Rc<BeatReq>,
    full: Rc<BeatReq>,
    key: BeatKey,
    info: Rc<BeatInfo>,
}

/// `UpdateTask` state (R4.5).
struct UpdateTask {
    last_ref_time: i64,
    fail_count: u32,
}

pub struct NamingClient {
    pub config: ClientConfig,
    /// Commands the application has issued; they are its code, so they survive a crash and
    /// are replayed when the process restarts.
    app: Vec<ClientCmd>,
    /// `dom2Beat`: each key's live BeatInfo.
    beats: BTreeMap<BeatKey, BeatTaskId>,
    /// The live BeatInfos, found by slot: every beat looks its entry up twice.
    beat_tasks: Slab<BeatEntry>,
    generation: u64,
    /// Interned service names and clusters ([`intern`](Self::intern)).
    names: BTreeSet<Str>,
    /// Reactor-wide, starts false (R2.5).
    light_beat_enabled: bool,
    /// `serviceInfoMap`.
    pub cache: BTreeMap<Str, Rc<ServiceInfo>>,
    update_tasks: BTreeMap<Str, UpdateTask>,
    /// Calls in flight, by id. Ids only grow, so pushing keeps the deque sorted, and calls end
    /// roughly in the order they started, so removal rarely shifts much; unlike a map, nothing
    /// is allocated per call once the deque has grown.
    calls: VecDeque<(ExchangeId, Call)>,
    /// @1.4.1 and older: an exception other than `NacosException` kills the beat loop (R2.5).
    beat_task_dies_on_error: bool,
    /// On disk, so it survives a restart.
    failover: FailoverDisk,
    /// `FailoverReactor.switchParams` and `serviceMap`: what `getServiceInfo` serves while on.
    failover_on: bool,
    failover_served: BTreeMap<Str, Rc<ServiceInfo>>,
}

/// The failover directory (R4.14): the switch file and the service copies `DiskFileWriter` wrote.
#[derive(Clone, Default)]
struct FailoverDisk {
    /// Switch file content and a modification counter standing in for its mtime.
    switch: Option<(bool, u64)>,
    /// The mtime `SwitchRefresher` last acted on (in memory; a restart re-reads the file).
    seen: u64,
    copies: BTreeMap<Str, Rc<ServiceInfo>>,
}

impl NamingClient {
    pub fn new(config: ClientConfig) -> NamingClient {
        let beat_task_dies_on_error = version_at_most(&config.version, (1, 4, 1));
        NamingClient {
            beat_task_dies_on_error,
            failover: FailoverDisk::default(),
            failover_on: false,
            failover_served: BTreeMap::new(),
            config,
            app: Vec::new(),
            beats: BTreeMap::new(),
            beat_tasks: Slab::default(),
            generation: 0,
            names: BTreeSet::new(),
            light_beat_enabled: false,
            cache: BTreeMap::new(),
            update_tasks: BTreeMap::new(),
            calls: VecDeque::new(),
        }
    }

    fn agent(&self) -> Agent {
        Agent::JavaClient(self.config.version.clone())
    }

    fn service_key(&mut self, group: &str, service: &str) -> ServiceKey {
        let name = self.intern(&[group, "@@", service].concat());
        ServiceKey { namespace: self.config.namespace.clone(), name }
    }

    /// One shared string per distinct service name or cluster: the server reads them on every
    /// beat, and a copy per instance would be one more cold cache line per beat.
    fn intern(&mut self, s: &str) -> Str {
        if let Some(v) = self.names.get(s) {
            return v.clone();
        }
        let v: Str = s.into();
        self.names.insert(v.clone());
        v
    }

    fn on_command(&mut self, now: Time, cmd: ClientCmd, out: &mut Out) {
        match &cmd {
            ClientCmd::Register { service, group, ip, port, cluster, weight, metadata, ephemeral } => {
                let svc = self.service_key(group, service);
                let cluster = &self.intern(cluster);
                if *ephemeral {
                    let period =
                        metadata_millis(metadata, "preserved.heart.beat.interval", DEFAULT_HEART_BEAT_INTERVAL);
                    let info = BeatInfo {
                        ip: ip.clone(),
                        port: *port,
                        weight: Weight(*weight),
                        service: svc.name.clone(),
                        cluster: cluster.clone(),
                        metadata: metadata.clone(),
                        period,
                    };
                    self.add_beat_info(info, out);
                }
                let instance = InstanceData {
                    ip: ip.clone(),
                    port: *port,
                    cluster: cluster.clone(),
                    weight: Weight(*weight),
                    healthy: true,
                    enabled: true,
                    ephemeral: *ephemeral,
                    marked: false,
                    metadata: metadata.clone(),
                    instance_id: "".into(),
                    last_beat: 0,
                };
                let msg = Msg::Register(Rc::new(RegisterReq { service: svc, instance, agent: self.agent() }));
                self.req_api(now, "registerInstance", msg, Then::Register, out);
            }
            ClientCmd::Deregister { service, group, ip, port, cluster, ephemeral } => {
                let svc = self.service_key(group, service);
                if *ephemeral {
                    // removeBeatInfo before the DELETE (R2.4).
                    let key = BeatKey { service: svc.name.clone(), ip: ip.clone(), port: *port };
                    if let Some(task) = self.beats.remove(&key) {
                        self.remove_beat_task(task);
                    }
                }
                let msg = Msg::Deregister(Rc::new(DeregisterReq {
                    service: svc,
                    ip: ip.clone(),
                    port: *port,
                    cluster: cluster.clone(),
                    ephemeral: *ephemeral,
                    agent: self.agent(),
                }));
                self.req_api(now, "deregisterInstance", msg, Then::Deregister, out);
            }
            ClientCmd::Subscribe { service, group, clusters } => {
                let svc = self.service_key(group, service);
                let key = service_info_key(&svc.name, clusters);
                if self.failover_on {
                    // getServiceInfo serves the failover copy and schedules no polling (R4.2 step 1):
                    // this subscription never updates, even after failover is switched off.
                    self.app.push(cmd);
                    return;
                }
                // getServiceInfo (R4.2): a placeholder, a pull now, and the UpdateTask after 1 s.
                if !self.cache.contains_key(&key) {
                    self.cache.insert(key.clone(), Rc::new(placeholder(&svc.name, clusters)));
                    let msg = self.list_msg(&svc, clusters);
                    self.req_api(now, "queryList", msg, Then::PullNow, out);
                }
                if !self.update_tasks.contains_key(&key) {
                    self.update_tasks.insert(key.clone(), UpdateTask { last_ref_time: i64::MAX, fail_count: 0 });
                    out.set_timer(Dur::from_millis(UPDATE_DEFAULT_DELAY_MS), Timer::Client(ClientTimer::Update(key)));
                }
            }
            ClientCmd::FailoverSwitch { on } => {
                let mtime = self.failover.switch.map_or(1, |(_, m)| m + 1);
                self.failover.switch = Some((*on, mtime));
                // Writing a file is not application code: nothing to replay on restart.
                return;
            }
        }
        self.app.push(cmd);
    }

    /// The ephemeral instances this client beats for: what it expects every server to hold.
    pub fn registered_instances(&self) -> impl Iterator<Item = (ServiceKey, Str, u16)> + '_ {
        self.beats.keys().map(|k| {
            (ServiceKey { namespace: self.config.namespace.clone(), name: k.service.clone() }, k.ip.clone(), k.port)
        })
    }

    /// The services this client subscribes to, as its cache holds them: the `serviceInfoMap`
    /// entries an `UpdateTask` keeps fresh.
    pub fn subscriptions(&self) -> impl Iterator<Item = &ServiceInfo> + '_ {
        self.update_tasks.keys().filter_map(|k| self.cache.get(k).map(|i| &**i))
    }

    // ------------------------------------------------------------------ FailoverReactor

    /// `SwitchRefresher.run`: act on a switch file newer than the last one seen.
    fn switch_refresh(&mut self, out: &mut Out) {
        if let Some((on, mtime)) = self.failover.switch {
            if mtime > self.failover.seen {
                self.failover.seen = mtime;
                self.failover_on = on;
                self.failover_served = if on {
                    self.failover
                        .copies
                        .iter()
                        .filter(|(_, i)| !i.hosts.is_empty())
                        .map(|(k, i)| (k.clone(), i.clone()))
                        .collect()
                } else {
                    BTreeMap::new()
                };
                out.observe(Observation::FailoverSwitched { on, services: self.failover_served.len() as u32 });
            }
        }
        out.set_timer(Dur::from_millis(SWITCH_REFRESH_MS), Timer::Client(ClientTimer::SwitchRefresh));
    }

    /// `DiskFileWriter.run`: copy every cached service into the failover directory.
    fn disk_write(&mut self, only_if_empty: bool, out: &mut Out) {
        if !only_if_empty || self.failover.copies.is_empty() {
            for (k, info) in &self.cache {
                self.failover.copies.insert(k.clone(), info.clone());
            }
        }
        if !only_if_empty {
            let next = Timer::Client(ClientTimer::DiskWrite { only_if_empty: false });
            out.set_timer(Dur::from_millis(DISK_WRITE_PERIOD_MS), next);
        }
    }

    fn list_msg(&self, svc: &ServiceKey, clusters: &Str) -> Msg {
        Msg::List(Rc::new(ListReq {
            service: svc.clone(),
            clusters: clusters.clone(),
            udp_port: self.config.udp_port,
            client_ip: self.config.reported_ip.clone().unwrap_or_else(|| self.config.ip.clone()),
            healthy_only: false,
            agent: self.agent(),
        }))
    }

    // ------------------------------------------------------------------ NamingProxy

    /// `reqApi` (R2.7): one server → up to 3 tries of it; several → a start index from
    /// `new Random(now)` and each server once, in order.
    fn req_api(&mut self, now: Time, api: &'static str, msg: Msg, then: Then, out: &mut Out) {
        let (start, tries) = match self.config.servers.len() {
            0 => (0, 0),
            1 => (0, DOMAIN_MAX_RETRY),
            n => (JavaRandom::new(now.as_millis()).next_int(n as i32) as usize, n),
        };
        let call = Call { api, msg, start, tries, attempt: 0, then };
        self.send_call(now, call, out);
    }

    /// The server of a call's current attempt.
    fn call_server(&self, call: &Call) -> Option<NodeId> {
        let n = self.config.servers.len();
        (call.attempt < call.tries).then(|| self.config.servers[(call.start + call.attempt) % n].0)
    }

    fn send_call(&mut self, now: Time, call: Call, out: &mut Out) {
        match self.call_server(&call) {
            Some(server) => {
                let id = out.request(server, call.msg.clone(), CLIENT_HTTP_TIMEOUTS);
                debug_assert!(self.calls.back().is_none_or(|(last, _)| *last < id), "exchange ids grow");
                self.calls.push_back((id, call));
            }
            None => {
                out.observe(Observation::RequestGaveUp { api: call.api });
                self.complete(now, call.then, Err(()), out);
            }
        }
    }

    fn on_response(&mut self, now: Time, id: ExchangeId, result: Result<Msg, HttpError>, out: &mut Out) {
        let Ok(i) = self.calls.binary_search_by_key(&id, |(c, _)| *c) else { return };
        let (_, mut call) = self.calls.remove(i).expect("found");
        let failure = match result {
            Ok(Msg::Error { status, message }) => format!("HTTP {status}: {message}"),
            Ok(m) => return self.complete(now, call.then, Ok(m), out),
            Err(e) => format!("{e:?}"),
        };
        let n = self.config.servers.len();
        let name = self.config.servers[(call.start + call.attempt) % n].1.to_string();
        out.observe(Observation::RequestFailed { api: call.api, server: name, error: failure });
        call.attempt += 1;
        self.send_call(now, call, out);
    }

    fn complete(&mut self, now: Time, then: Then, result: Result<Msg, ()>, out: &mut Out) {
        match then {
            Then::Beat(task) => self.beat_done(now, task, result, out),
            Then::Register | Then::Deregister => {}
            Then::PullNow => {
                if let Ok(Msg::Service(info)) = result {
                    self.process_service_json(info, out);
                }
            }
            Then::Update { key, refresh_only } => self.update_done(key, refresh_only, result, out),
        }
    }

    // ------------------------------------------------------------------ BeatReactor

    /// `addBeatInfo` (R2.3): replaces (stops) any previous BeatInfo of the key and schedules
    /// the first beat one period later.
    fn add_beat_info(&mut self, info: BeatInfo, out: &mut Out) {
        let key = BeatKey { service: info.service.clone(), ip: info.ip.clone(), port: info.port };
        self.generation += 1;
        let generation = self.generation;
        let period = info.period;
        let info = Rc::new(info);
        let req = BeatReq::new(
            ServiceKey { namespace: self.config.namespace.clone(), name: key.service.clone() },
            info.cluster.clone(),
            key.ip.clone(),
            key.port,
            Some(info.clone()),
            self.agent(),
        );
        let light = Rc::new(req.with(|r| r.beat = None));
        let entry = BeatEntry { generation, period, light, full: Rc::new(req), key: key.clone(), info };
        let task = BeatTaskId { slot: self.beat_tasks.insert(entry), generation };
        if let Some(stopped) = self.beats.insert(key, task) {
            self.remove_beat_task(stopped);
        }
        out.set_timer(Dur::from_millis(period), Timer::Client(ClientTimer::Beat(task)));
    }

    fn remove_beat_task(&mut self, task: BeatTaskId) {
        if beat_entry(&self.beat_tasks, task).is_some() {
            self.beat_tasks.remove(task.slot);
        }
    }

    /// A beat task fires soon: first its entry, then the request it sends, into the cache
    /// (two separate loads that would otherwise each stall the beat).
    pub fn prefetch_timer(&self, timer: &Timer, near: bool) {
        let Timer::Client(ClientTimer::Beat(task)) = timer else { return };
        if !near {
            if let Some(slot) = self.beat_tasks.slot(task.slot) {
                crate::engine::prefetch(slot);
            }
        } else if let Some(entry) = beat_entry(&self.beat_tasks, *task) {
            BeatReq::prefetch(if self.light_beat_enabled { &entry.light } else { &entry.full });
        }
    }

    /// `BeatTask.run` (R2.5 steps 1–3).
    fn beat_task(&mut self, now: Time, task: BeatTaskId, out: &mut Out) {
        let Some(entry) = beat_entry(&self.beat_tasks, task) else {
            return; // stopped
        };
        let msg = Msg::Beat(if self.light_beat_enabled { entry.light.clone() } else { entry.full.clone() });
        self.req_api(now, "sendBeat", msg, Then::Beat(task), out);
    }

    /// `BeatTask.run` steps 4–7: adopt the server's interval and light-beat flag, re-register
    /// on 20404, and schedule the next beat after this one returned.
    fn beat_done(&mut self, now: Time, task: BeatTaskId, result: Result<Msg, ()>, out: &mut Out) {
        let Some(entry) = beat_entry(&self.beat_tasks, task) else { return };
        let key = &entry.key;
        let mut next = entry.period;
        if let Ok(Msg::Garbled) = result {
            // Parsing the reply throws something other than NacosException.
            if self.beat_task_dies_on_error {
                out.observe(Observation::BeatTaskDied {
                    service: key.service.clone(),
                    ip: key.ip.clone(),
                    port: key.port,
                });
                return;
            }
            // @1.4.2+: the reschedule sits in `finally`.
        }
        if let Ok(Msg::BeatReply { client_beat_interval, code, light_beat_enabled }) = result {
            self.light_beat_enabled = light_beat_enabled.unwrap_or(false);
            if client_beat_interval > 0 {
                next = client_beat_interval;
            }
            if code == 20404 {
                out.observe(Observation::Reregister {
                    service: key.service.clone(),
                    ip: key.ip.clone(),
                    port: key.port,
                });
                let info = &entry.info;
                let instance = InstanceData {
                    ip: info.ip.clone(),
                    port: info.port,
                    cluster: info.cluster.clone(),
                    weight: info.weight,
                    healthy: true,
                    enabled: true,
                    ephemeral: true,
                    marked: false,
                    metadata: info.metadata.clone(),
                    instance_id: "".into(),
                    last_beat: 0,
                };
                let svc = ServiceKey { namespace: self.config.namespace.clone(), name: key.service.clone() };
                let msg = Msg::Register(Rc::new(RegisterReq { service: svc, instance, agent: self.agent() }));
                self.req_api(now, "registerInstance", msg, Then::Register, out);
            }
        }
        out.set_timer(Dur::from_millis(next), Timer::Client(ClientTimer::Beat(task)));
    }

    // ------------------------------------------------------------------ HostReactor

    /// `UpdateTask.run` (R4.5), first half: pull, or only refresh when a push updated the
    /// cache since the last run.
    fn update_task(&mut self, now: Time, key: Str, out: &mut Out) {
        let Some(task) = self.update_tasks.get(&key) else { return };
        let Some(cached) = self.cache.get(&key) else { return };
        let refresh_only = cached.last_ref_time > task.last_ref_time;
        let svc = ServiceKey { namespace: self.config.namespace.clone(), name: cached.name.clone() };
        let msg = self.list_msg(&svc, &cached.clusters.clone());
        self.req_api(now, "queryList", msg, Then::Update { key, refresh_only }, out);
    }

    /// `UpdateTask.run`, second half, and its `finally`: delay `cacheMillis` on success,
    /// `1000 << failCount` (capped at 60 s) on an empty answer or an error.
    fn update_done(&mut self, key: Str, refresh_only: bool, result: Result<Msg, ()>, out: &mut Out) {
        let mut delay = UPDATE_DEFAULT_DELAY_MS;
        let mut failed = false;
        match result {
            Ok(Msg::Service(info)) if !refresh_only => self.process_service_json(info, out),
            // The body does not parse: UpdateTask catches the Throwable and counts a failure.
            Ok(Msg::Garbled) => failed = !refresh_only,
            Ok(_) => {}
            // refreshOnly swallows its exception; updateService lets it reach UpdateTask.
            Err(()) => failed = !refresh_only,
        }
        let Some(task) = self.update_tasks.get_mut(&key) else { return };
        if failed {
            task.fail_count = (task.fail_count + 1).min(MAX_FAIL_COUNT);
        } else if let Some(cached) = self.cache.get(&key) {
            task.last_ref_time = cached.last_ref_time;
            if cached.hosts.is_empty() {
                task.fail_count = (task.fail_count + 1).min(MAX_FAIL_COUNT);
            } else {
                delay = cached.cache_millis;
                task.fail_count = 0;
            }
        }
        let next = (delay << task.fail_count).min(UPDATE_MAX_DELAY_MS);
        out.set_timer(Dur::from_millis(next), Timer::Client(ClientTimer::Update(key)));
    }

    /// `processServiceJson` (R4.10), shared by pulls and pushes.
    fn process_service_json(&mut self, info: Rc<ServiceInfo>, out: &mut Out) {
        if self.config.push_empty_protection && !info.hosts.iter().any(|h| h.healthy && h.weight.0 > 0.0) {
            return;
        }
        let key = service_info_key(&info.name, &info.clusters);
        // An older lastRefTime is only logged in 1.4.x: the older data still replaces the cache.
        let old = self.cache.insert(key, info.clone());
        let changed = match &old {
            None => true,
            // The usual poll answer: the same hosts in the same order. The diff below would find
            // every host unmodified; this pass reaches that without sorting.
            Some(old) if same_hosts(&old.hosts, &info.hosts) => false,
            Some(old) => {
                let (before, after) = (by_address(&old.hosts), by_address(&info.hosts));
                let mut changed = before.len() != after.len()
                    || before.iter().any(|(k, _)| after.binary_search_by(|(a, _)| a.cmp(k)).is_err());
                for (k, h) in &after {
                    match before.binary_search_by(|(b, _)| b.cmp(k)) {
                        Ok(i) if !same_api_instance(before[i].1, h) => {
                            changed = true;
                            self.rebuild_beat_info(h, out);
                        }
                        Ok(_) => {}
                        Err(_) => changed = true,
                    }
                }
                changed
            }
        };
        if changed {
            let hosts =
                info.hosts.iter().map(|h| SeenHost { ip: h.ip.clone(), port: h.port, healthy: h.healthy }).collect();
            out.observe(Observation::SubscriberViewChanged { service: info.name.clone(), hosts });
        }
    }

    /// A modified ephemeral host that this client beats for gets a fresh BeatInfo built from
    /// the server's view, which restarts its beat timer (R4.10 step 3).
    fn rebuild_beat_info(&mut self, h: &HostJson, out: &mut Out) {
        let key = BeatKey { service: h.service.clone(), ip: h.ip.clone(), port: h.port };
        if !h.ephemeral || !self.beats.contains_key(&key) {
            return;
        }
        let period = metadata_millis(&h.metadata, "preserved.heart.beat.interval", DEFAULT_HEART_BEAT_INTERVAL);
        let info = BeatInfo {
            ip: h.ip.clone(),
            port: h.port,
            weight: h.weight,
            service: h.service.clone(),
            cluster: h.cluster.clone(),
            metadata: h.metadata.clone(),
            period,
        };
        self.add_beat_info(info, out);
    }

    /// `PushReceiver` (R4.13): process, then ack to the source.
    fn on_push(&mut self, from: NodeId, last_ref_time: i64, data: Rc<ServiceInfo>, out: &mut Out) {
        let service = data.name.clone();
        self.process_service_json(data, out);
        out.observe(Observation::PushReceived { service });
        out.send_udp(from, Msg::PushAck { last_ref_time });
    }
}

/// The live BeatInfo of `task`, unless it was since replaced or removed.
fn beat_entry(tasks: &Slab<BeatEntry>, task: BeatTaskId) -> Option<&BeatEntry> {
    tasks.get(task.slot).filter(|e| e.generation == task.generation)
}

/// Whether a `major.minor.patch` version string is at most `max` (unparseable parts count as 0).
fn version_at_most(version: &str, max: (u32, u32, u32)) -> bool {
    let mut parts = version.split(|c: char| !c.is_ascii_digit()).map(|p| p.parse::<u32>().unwrap_or(0));
    let v = (parts.next().unwrap_or(0), parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    v <= max
}

/// `ServiceInfo.getKey` (R4.1).
pub fn service_info_key(name: &str, clusters: &str) -> Str {
    if clusters.is_empty() {
        name.into()
    } else {
        format!("{name}@@{clusters}").into()
    }
}

fn placeholder(name: &Str, clusters: &Str) -> ServiceInfo {
    ServiceInfo {
        name: name.clone(),
        clusters: clusters.clone(),
        cache_millis: 1000,
        last_ref_time: 0,
        checksum: "".into(),
        hosts: Hosts::default(),
    }
}

/// Hosts keyed by `ip:port` in key order, as the Java `Map` the diff builds (R4.10): for a
/// repeated address the last host wins.
fn by_address(hosts: &[HostJson]) -> Vec<((&str, u16), &HostJson)> {
    let mut v: Vec<_> = hosts.iter().map(|h| ((&*h.ip, h.port), h)).collect();
    crate::naming::sorted_map_order(&mut v, |a, b| a.0.cmp(&b.0));
    v
}

/// Whether two host lists hold the same hosts (by address and `toString()`) in the same order.
fn same_hosts(a: &Hosts, b: &Hosts) -> bool {
    a.same_list(b)
        || a.len() == b.len()
            && a.iter().zip(b.iter()).all(|(x, y)| x.port == y.port && x.ip == y.ip && same_api_instance(x, y))
}

/// Equality of the api `Instance.toString()`: every field but `valid` and `marked`.
fn same_api_instance(a: &HostJson, b: &HostJson) -> bool {
    a.instance_id == b.instance_id
        && a.weight == b.weight
        && a.healthy == b.healthy
        && a.enabled == b.enabled
        && a.ephemeral == b.ephemeral
        && a.cluster == b.cluster
        && a.service == b.service
        && a.metadata == b.metadata
}

impl Node for NamingClient {
    type Msg = Msg;
    type Timer = Timer;
    type Cmd = ClientCmd;
    type Obs = Observation;

    fn handle(&mut self, now: Time, input: Input<Msg, Timer, ClientCmd>, _: &mut ChaCha8Rng, out: &mut Out) {
        match input {
            Input::Start => {
                out.set_timer(Dur::ZERO, Timer::Client(ClientTimer::SwitchRefresh));
                let first = Timer::Client(ClientTimer::DiskWrite { only_if_empty: true });
                out.set_timer(Dur::from_millis(DISK_WRITE_FIRST_MS), first);
                let periodic = Timer::Client(ClientTimer::DiskWrite { only_if_empty: false });
                out.set_timer(Dur::from_millis(DISK_WRITE_INITIAL_MS), periodic);
                // A restarted application runs its code again: same registrations and subscriptions.
                for cmd in std::mem::take(&mut self.app) {
                    self.on_command(now, cmd, out);
                }
            }
            Input::Command(cmd) => self.on_command(now, *cmd, out),
            Input::Response { id, result } => self.on_response(now, id, result, out),
            Input::Datagram { from, msg: Msg::Push { last_ref_time, data, .. } } => {
                self.on_push(from, last_ref_time, data, out)
            }
            Input::Datagram { .. } | Input::Request { .. } => {}
            Input::Timer { timer: Timer::Client(ClientTimer::Beat(task)), .. } => self.beat_task(now, task, out),
            Input::Timer { timer: Timer::Client(ClientTimer::Update(key)), .. } => self.update_task(now, key, out),
            Input::Timer { timer: Timer::Client(ClientTimer::SwitchRefresh), .. } => self.switch_refresh(out),
            Input::Timer { timer: Timer::Client(ClientTimer::DiskWrite { only_if_empty }), .. } => {
                self.disk_write(only_if_empty, out)
            }
            Input::Timer { .. } => {}
        }
    }

    fn crash(&mut self) {
        let app = std::mem::take(&mut self.app);
        let mut disk = std::mem::take(&mut self.failover);
        disk.seen = 0;
        *self = NamingClient::new(self.config.clone());
        self.app = app;
        self.failover = disk;
    }
}
