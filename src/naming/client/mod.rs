//! The Nacos Java client (`NacosNamingService`) as a sans-IO state machine, one file per Java
//! class it is made of: [`naming_proxy`] (`NamingProxy`: server choice and failover between
//! servers), [`beat_reactor`] (`BeatReactor`, `BeatTask`), [`host_reactor`] (`HostReactor`,
//! `UpdateTask`, `processServiceJson`), [`push_receiver`] (`PushReceiver`) and
//! [`failover_reactor`] (`FailoverReactor`). This file holds the client itself: what the
//! application asks of `NacosNamingService`, and the dispatch of inputs to those parts.
//!
//! Every blocking Java call becomes an HTTP exchange plus a continuation that runs when the
//! exchange completes, so a task's next run is scheduled after its call returned, as Java's
//! `finally { schedule(...) }` does.

pub(crate) mod beat_reactor;
mod failover_reactor;
mod host_reactor;
mod naming_proxy;
mod push_receiver;

use crate::engine::{Input, Node, NodeId, Outputs};
use crate::naming::server::registry::{metadata_millis, DEFAULT_HEART_BEAT_INTERVAL};
use crate::naming::versions::{client_behaviour, ClientBehaviour};
use crate::naming::wire::*;
use crate::time::Time;
use beat_reactor::BeatReactor;
use failover_reactor::FailoverReactor;
use host_reactor::HostReactor;
use naming_proxy::{NamingProxy, Then};
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

pub type Out = Outputs<Msg, Timer, Observation>;

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
    /// Record the log lines users look for as `client_log` (`observe.client_log`).
    pub log: bool,
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
    /// `unsubscribe`: the listener is removed; from client 1.4.4 the `UpdateTask` stops after
    /// its next run (C3).
    Unsubscribe {
        service: Str,
        group: Str,
        clusters: Str,
    },
    /// `getAllInstances` (`healthy: None`) or `selectInstances(healthy)` without subscribing:
    /// one `queryList` with `udpPort` 0, answered as `query_answered`.
    Query {
        service: Str,
        group: Str,
        clusters: Str,
        healthy: Option<bool>,
    },
    /// `BeatReactor.removeBeatInfo` without a deregistration: the heartbeats stop and the
    /// server expires the instance.
    StopBeat {
        service: Str,
        group: Str,
        ip: Str,
        port: u16,
    },
}

pub struct NamingClient {
    pub config: ClientConfig,
    /// What this client's release does (`clients[].version`).
    behaviour: ClientBehaviour,
    /// Commands the application has issued; they are its code, so they survive a crash and
    /// are replayed when the process restarts.
    app: Vec<ClientCmd>,
    /// Interned service names and clusters ([`intern`](Self::intern)).
    names: BTreeSet<Str>,
    /// `HostReactor.serviceInfoMap`: what the application reads. The failover reactor copies
    /// it to disk, and the invariant checker compares it between events.
    pub cache: BTreeMap<Str, Rc<ServiceInfo>>,
    proxy: NamingProxy,
    beat_reactor: BeatReactor,
    host_reactor: HostReactor,
    failover: FailoverReactor,
}

impl NamingClient {
    pub fn new(config: ClientConfig) -> NamingClient {
        let behaviour = client_behaviour(&config.version);
        NamingClient {
            config,
            behaviour,
            beat_reactor: BeatReactor::new(behaviour),
            app: Vec::new(),
            names: BTreeSet::new(),
            cache: BTreeMap::new(),
            proxy: NamingProxy::default(),
            host_reactor: HostReactor::default(),
            failover: FailoverReactor::default(),
        }
    }

    /// The BeatReactor, for [`cache_hints`](crate::naming::cache_hints).
    pub(crate) fn beat_reactor(&self) -> &BeatReactor {
        &self.beat_reactor
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

    /// `registerInstance`, `deregisterInstance`, `subscribe` and the failover switch file.
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
                    self.beat_reactor.remove_beat_info(&BeatKey {
                        service: svc.name.clone(),
                        ip: ip.clone(),
                        port: *port,
                    });
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
                self.subscribe(now, &svc, clusters, out);
            }
            ClientCmd::FailoverSwitch { on } => {
                self.failover.write_switch(*on);
                // Writing a file is not application code: nothing to replay on restart.
                return;
            }
            ClientCmd::Unsubscribe { service, group, clusters } => {
                let svc = self.service_key(group, service);
                self.unsubscribe(&svc, clusters, out);
            }
            ClientCmd::Query { service, group, clusters, healthy } => {
                let svc = self.service_key(group, service);
                let mut msg = self.list_msg(&svc, clusters);
                if let Msg::List(r) = &mut msg {
                    Rc::make_mut(r).udp_port = 0; // getServiceInfoDirectlyFromServer: no push
                }
                self.req_api(now, "queryList", msg, Then::Query { service: svc.name, healthy: *healthy }, out);
                // A one-off call, not set-up code: a restarted application does not repeat it.
                return;
            }
            ClientCmd::StopBeat { service, group, ip, port } => {
                let svc = self.service_key(group, service);
                self.beat_reactor.remove_beat_info(&BeatKey { service: svc.name, ip: ip.clone(), port: *port });
            }
        }
        self.app.push(cmd);
    }

    /// A line of the Java client's log, worded as it words it, when the scenario asks for them.
    fn log(&self, level: &'static str, message: String, out: &mut Out) {
        if self.config.log {
            out.observe(Observation::ClientLog { level, message });
        }
    }

    /// The ephemeral instances this client beats for: what it expects every server to hold.
    pub fn registered_instances(&self) -> impl Iterator<Item = (ServiceKey, Str, u16)> + '_ {
        self.beat_reactor.keys().map(|k| {
            (ServiceKey { namespace: self.config.namespace.clone(), name: k.service.clone() }, k.ip.clone(), k.port)
        })
    }

    /// The services this client subscribes to, as its cache holds them: the `serviceInfoMap`
    /// entries an `UpdateTask` keeps fresh.
    pub fn subscriptions(&self) -> impl Iterator<Item = &ServiceInfo> + '_ {
        self.host_reactor.subscribed().filter_map(|k| self.cache.get(k).map(|i| &**i))
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
}

impl Node for NamingClient {
    type Msg = Msg;
    type Timer = Timer;
    type Cmd = ClientCmd;
    type Obs = Observation;

    fn handle(&mut self, now: Time, input: Input<Msg, Timer, ClientCmd>, rng: &mut ChaCha8Rng, out: &mut Out) {
        self.on_input(now, input, rng, out)
    }

    /// The application's intent survives (it is restarted with the same config); the failover
    /// directory is on disk.
    fn crash(&mut self, wipe_disk: bool) {
        let app = std::mem::take(&mut self.app);
        let failover = if wipe_disk { Default::default() } else { self.failover.after_crash() };
        *self = NamingClient::new(self.config.clone());
        self.app = app;
        self.failover = failover;
    }
}

impl NamingClient {
    /// Handles one input; generic over the command type, so a
    /// [`Process`](crate::naming::Process) hands its input over without rebuilding it.
    pub(crate) fn on_input<C: Into<Option<ClientCmd>>>(
        &mut self,
        now: Time,
        input: Input<Msg, Timer, C>,
        _: &mut ChaCha8Rng,
        out: &mut Out,
    ) {
        match input {
            Input::Start => {
                self.failover.start(out);
                // A restarted application runs its code again: same registrations and subscriptions.
                for cmd in std::mem::take(&mut self.app) {
                    self.on_command(now, cmd, out);
                }
            }
            Input::Command(cmd) => {
                if let Some(cmd) = (*cmd).into() {
                    self.on_command(now, cmd, out)
                }
            }
            Input::Response { id, result } => self.on_response(now, id, result, out),
            Input::Datagram { from, msg: Msg::Push(p) } => self.on_push(from, p.last_ref_time, p.data.clone(), out),
            Input::Datagram { .. } | Input::Request { .. } => {}
            Input::Timer { timer: Timer::Client(ClientTimer::Beat(task)), .. } => self.beat_task(now, task, out),
            Input::Timer { timer: Timer::Client(ClientTimer::Update(key)), .. } => self.update_task(now, key, out),
            Input::Timer { timer: Timer::Client(ClientTimer::SwitchRefresh), .. } => {
                if let Some(on) = self.failover.switch_refresh(out) {
                    self.log("INFO", format!("failover-mode is {}", if on { "on" } else { "off" }), out);
                }
            }
            Input::Timer { timer: Timer::Client(ClientTimer::DiskWrite { only_if_empty }), .. } => {
                self.failover.disk_write(&self.cache, only_if_empty, out)
            }
            Input::Timer { .. } => {}
        }
    }
}
