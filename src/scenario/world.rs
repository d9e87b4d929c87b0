//! From a validated scenario to a running world: node ids, the network, the workload and the
//! faults scheduled on the engine; then the `expect` checks and the trace lines of a run.

use super::{
    At, ClientSpec, ConsistencyType, DistroVersionSpec, EmptyServiceClean, FaultSpec, LinkSpec, OperationSpec,
    QuerySelect, Scenario, ServerStatusSpec,
};
use crate::engine::network::{FirewallRule, LinkConfig};
use crate::engine::{derive_rng, stream, Clock, Engine, Fault, NodeId, Record};
use crate::naming::anomalies::Anomalies;
use crate::naming::client::{ClientCmd, ClientConfig, NamingClient};
use crate::naming::server::distro::datum_checksum;
use crate::naming::server::global_executor::WorkCost;
use crate::naming::server::key_builder;
use crate::naming::server::{AddressBook, NamingServer, RequestsObserved, ServerConfig, ServerStatus, Switches};
use crate::naming::versions::{self, Membership, ServerBehaviour, SyncPipeline};
use crate::naming::wire::{
    Agent, DeregisterReq, InstanceData, MetadataBatchReq, MetadataTarget, Observation, Operation, RegisterReq,
    ServiceDeleteReq, ServiceKey, ServiceUpdateReq, Str, SwitchReq, Weight, CONSOLE_AGENT,
};
use crate::naming::{Command, Process};
use crate::time::{Dur, Time};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

/// A fault of the scenario with its resolved times and the nodes it names.
#[derive(Clone, Debug)]
pub struct FaultSpan {
    /// The scenario's `kind` (`partition`, `crash`, …).
    pub kind: &'static str,
    pub at: Time,
    /// When it heals, restarts or resumes; `None` for instant faults and those never healed.
    pub end: Option<Time>,
    pub nodes: Vec<NodeId>,
}

pub struct World {
    pub engine: Engine<Process>,
    /// Node names by id.
    pub names: Vec<String>,
    /// The resolved time of each fault in the scenario (random `at` drawn once per run).
    pub fault_times: Vec<Time>,
    /// Each fault of the scenario as it was resolved: for timelines.
    pub faults: Vec<FaultSpan>,
    pub duration: Time,
    /// Check eventual consistency at the end (`converge` in the scenario): the clauses
    /// expected to fail, if the check runs.
    pub converge: Option<Vec<String>>,
    /// The known Nacos anomalies seen so far (fed by [`run_streaming`] and [`run_checked`]).
    pub anomalies: Anomalies,
    /// The anomalies the scenario expects (`expect_anomalies`), if it asserts them.
    pub expect_anomalies: Option<Vec<String>>,
}

fn resolve(at: &At, rng: &mut ChaCha8Rng) -> Time {
    match at {
        At::Fixed(d) => Time(d.0),
        At::Uniform { uniform: (a, b) } => Time(if b.0 > a.0 { rng.gen_range(a.0..=b.0) } else { a.0 }),
    }
}

/// When a fault that started at `start` ends: at `until`, or `for` after its start.
fn end_of(start: Time, until: &Option<At>, for_: Option<Dur>, rng: &mut ChaCha8Rng) -> Option<Time> {
    match (until, for_) {
        (Some(u), _) => Some(resolve(u, rng)),
        (None, Some(d)) => Some(start + d),
        (None, None) => None,
    }
}

fn clock(c: &super::ClockSpec) -> Clock {
    Clock { offset: c.offset, drift_ppm: c.drift_ppm }
}

/// A server's address in the simulated network: its `ip`, or 10.0.0.N.
pub fn server_ip(i: usize, s: &super::ServerSpec) -> String {
    s.ip.clone().unwrap_or_else(|| format!("10.0.0.{}", i + 1))
}

fn client_ip(i: usize, c: &ClientSpec) -> String {
    c.ip.clone().unwrap_or_else(|| format!("10.1.{}.{}", (i + 1) / 250, (i + 1) % 250 + 1))
}

/// The servers' behaviour: their release's, with its what-if fixes, and with the Distro
/// pipeline and membership of `distro_version` if it overrides them.
fn server_behaviour(sw: &crate::scenario::SwitchSpec) -> ServerBehaviour {
    let mut b = versions::server_release(&sw.server_version).expect("validated").behaviour;
    for fix in &sw.fixes {
        fix.fix().apply(&mut b);
    }
    let (sync, membership) = match sw.distro_version {
        None => return b,
        Some(DistroVersionSpec::V14) => (SyncPipeline::DelayEngine, Membership::MemberProbes),
        Some(DistroVersionSpec::V13) => (SyncPipeline::TaskDispatcher { period_ms: 2000 }, Membership::MemberProbes),
        Some(DistroVersionSpec::V11) => {
            (SyncPipeline::TaskDispatcher { period_ms: 200 }, Membership::ServerListManager)
        }
    };
    (b.sync, b.membership) = (sync, membership);
    b
}

/// Builds the world. `seed` overrides the scenario's seed (for `--seed`).
pub fn build(sc: &Scenario, seed: u64) -> World {
    build_with(sc, seed, false)
}

/// The name of the node that stands for the real network in `nacos-sim live`.
pub const OUTSIDE: &str = "outside";

/// Builds the world, with `outside` one more node after the others: the real clients of
/// `nacos-sim live` ([`Process::Outside`]), which every address no process has leads to, on
/// links without delay (the real network has its own).
pub fn build_with(sc: &Scenario, seed: u64, outside: bool) -> World {
    let mut names: Vec<String> = sc.servers.iter().map(|s| s.id.clone()).collect();
    names.extend(sc.clients.iter().map(|c| c.id.clone()));
    let id_of: BTreeMap<&str, NodeId> = names.iter().enumerate().map(|(i, n)| (n.as_str(), i as NodeId)).collect();
    let nsrv = sc.servers.len();

    let mut book = AddressBook::default();
    for (i, s) in sc.servers.iter().enumerate() {
        let ip: Str = server_ip(i, s).into();
        book.by_ip.insert(ip.clone(), i as NodeId);
        book.source.push(ip);
    }
    for (i, c) in sc.clients.iter().enumerate() {
        let ip: Str = client_ip(i, c).into();
        book.by_ip.insert(ip.clone(), (nsrv + i) as NodeId);
        if let Some(r) = &c.reported_ip {
            book.by_ip.insert(r.as_str().into(), (nsrv + i) as NodeId);
        }
        book.source.push(ip);
    }
    let outside_id = names.len() as NodeId;
    if outside {
        book.outside = Some(outside_id);
        book.source.push("127.0.0.1".into());
    }
    let book = Rc::new(book);
    let members: Vec<(Str, NodeId)> = sc
        .servers
        .iter()
        .enumerate()
        .map(|(i, s)| (format!("{}:{}", server_ip(i, s), s.port).into(), i as NodeId))
        .collect();
    let sw = &sc.switches;
    let switches = Switches {
        health_check_enabled: sw.health_check_enabled,
        expire_instance: sw.expire_instance,
        light_beat_enabled: sw.light_beat_enabled,
        push_enabled: sw.push_enabled,
        behaviour: server_behaviour(sw),
        cpu_cores: sw.cpu_cores,
        data_warmup: sw.data_warmup,
        use_new_raft_first: sw.use_new_raft_first,
        overridden_status: sw.overridden_server_status.map(|st| match st {
            ServerStatusSpec::Up => ServerStatus::Up,
            ServerStatusSpec::Down => ServerStatus::Down,
            ServerStatusSpec::ReadOnly => ServerStatus::ReadOnly,
            ServerStatusSpec::WriteOnly => ServerStatus::WriteOnly,
        }),
        ..Switches::default()
    };
    let empty_service_clean = match sw.empty_service_clean {
        EmptyServiceClean::Off => None,
        EmptyServiceClean::Shipped => Some((50_000, 30_000)),
        EmptyServiceClean::CodeTiming => Some((60_000, 20_000)),
    };

    let observed = match (&sc.observe.requests, &sc.observe.requests_from) {
        (false, _) => RequestsObserved::None,
        (true, None) => RequestsObserved::All,
        (true, Some(from)) => RequestsObserved::From(Rc::new(from.iter().map(|n| id_of[n.as_str()]).collect())),
    };
    let mut nodes: Vec<(Process, Clock)> = Vec::new();
    for (i, s) in sc.servers.iter().enumerate() {
        let config = ServerConfig {
            id: i as NodeId,
            address: members[i].0.clone(),
            members: members.clone(),
            address_book: book.clone(),
            switches: switches.clone(),
            empty_service_clean,
            observe_requests: observed.clone(),
            work: WorkCost { speed: s.speed },
        };
        nodes.push((Process::Server(Box::new(NamingServer::new(config))), clock(&s.clock)));
    }
    for (i, c) in sc.clients.iter().enumerate() {
        let servers = match &c.servers {
            Some(list) => list.iter().map(|s| (id_of[s.as_str()], Str::from(s.as_str()))).collect(),
            None => sc.servers.iter().enumerate().map(|(j, s)| (j as NodeId, Str::from(s.id.as_str()))).collect(),
        };
        let config = ClientConfig {
            id: (nsrv + i) as NodeId,
            ip: client_ip(i, c).into(),
            reported_ip: c.reported_ip.as_deref().map(Str::from),
            udp_port: c.udp_port,
            servers,
            version: c.version.as_str().into(),
            namespace: c.namespace.as_str().into(),
            push_empty_protection: c.push_empty_protection,
            log: sc.observe.client_log,
        };
        nodes.push((Process::Client(Box::new(NamingClient::new(config))), clock(&c.clock)));
    }
    if outside {
        nodes.push((Process::Outside(Box::default()), Clock::default()));
    }

    let base = LinkSpec::default().apply(&LinkConfig::default());
    let base = sc.network.defaults.apply(&base);
    let mut boot_rng = derive_rng(seed, stream::BOOT);
    let boot: Vec<Time> = sc
        .servers
        .iter()
        .map(|s| resolve(&s.boot_at, &mut boot_rng))
        .chain(sc.clients.iter().map(|_| Time::ZERO))
        .chain(outside.then_some(Time::ZERO))
        .collect();
    let mut engine = Engine::with_boot_times(seed, nodes, base.clone(), &boot);
    let n = names.len();
    for l in &sc.network.links {
        for (f, t) in pairs(&l.from, &l.to, l.both_ways, &id_of) {
            let cfg = l.set.apply(engine.network.config(f as usize, t as usize));
            engine.network.set_config(f as usize, t as usize, cfg);
        }
    }

    if outside {
        let direct = LinkConfig { latency: crate::engine::network::Latency::Fixed(Dur::ZERO), ..base.clone() };
        for i in 0..nsrv as NodeId {
            engine.network.set_config(i as usize, outside_id as usize, direct.clone());
            engine.network.set_config(outside_id as usize, i as usize, direct.clone());
        }
    }
    let mut rng = derive_rng(seed, stream::WORKLOAD);
    let faults = schedule_faults(sc, &mut engine, &id_of, n, &mut rng);
    let fault_times = faults.iter().map(|f| f.at).collect();
    for (i, c) in sc.clients.iter().enumerate() {
        schedule_workload(c, client_ip(i, c), (nsrv + i) as NodeId, &mut engine, &mut rng);
    }
    for op in &sc.operations {
        let at = resolve(op.at(), &mut rng);
        engine.schedule_command(at, id_of[op.via()], Command::Operator(operation(op)));
    }
    if outside {
        names.push(OUTSIDE.into());
    }
    World {
        engine,
        anomalies: Anomalies::new(&names),
        names,
        fault_times,
        faults,
        duration: Time(sc.duration.0),
        converge: sc.converge.expected_failures(),
        expect_anomalies: sc.expect_anomalies.clone(),
    }
}

/// The request an operation spec makes.
fn operation(op: &OperationSpec) -> Operation {
    let key = |namespace: &str, group: &str, service: &str| ServiceKey {
        namespace: namespace.into(),
        name: format!("{group}@@{service}").into(),
    };
    let agent = || Agent::Other(CONSOLE_AGENT.into());
    match op {
        OperationSpec::UpdateInstance {
            service,
            group,
            namespace,
            ip,
            port,
            cluster,
            weight,
            enabled,
            healthy,
            metadata,
            ephemeral,
            ..
        } => Operation::UpdateInstance(Rc::new(RegisterReq {
            service: key(namespace, group, service),
            instance: InstanceData {
                ip: ip.as_str().into(),
                port: *port,
                cluster: cluster.as_str().into(),
                weight: Weight(*weight),
                healthy: *healthy,
                enabled: *enabled,
                ephemeral: *ephemeral,
                marked: false,
                metadata: Rc::new(metadata.clone()),
                instance_id: "".into(),
                last_beat: 0,
            },
            agent: agent(),
        })),
        OperationSpec::Deregister { service, group, namespace, ip, port, cluster, ephemeral, .. } => {
            Operation::Deregister(Rc::new(DeregisterReq {
                service: key(namespace, group, service),
                ip: ip.as_str().into(),
                port: *port,
                cluster: cluster.as_str().into(),
                ephemeral: *ephemeral,
                agent: agent(),
            }))
        }
        OperationSpec::UpdateMetadata { service, group, namespace, instances, consistency_type, metadata, .. }
        | OperationSpec::RemoveMetadata { service, group, namespace, instances, consistency_type, metadata, .. } => {
            Operation::Metadata(Rc::new(MetadataBatchReq {
                service: key(namespace, group, service),
                consistency_type: match consistency_type {
                    None => "",
                    Some(ConsistencyType::Ephemeral) => "ephemeral",
                    Some(ConsistencyType::Persist) => "persist",
                }
                .into(),
                instances: instances
                    .iter()
                    .map(|t| MetadataTarget {
                        ip: t.ip.as_str().into(),
                        port: t.port,
                        cluster: t.cluster.as_str().into(),
                        ephemeral: t.ephemeral,
                    })
                    .collect(),
                metadata: Rc::new(metadata.clone()),
                remove: matches!(op, OperationSpec::RemoveMetadata { .. }),
                agent: agent(),
            }))
        }
        OperationSpec::SetSwitch { entry, value, debug, .. } => {
            // The form field as the console sends it.
            let value = match value {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let req = Rc::new(SwitchReq { entry: entry.as_str().into(), value: value.into() });
            if *debug {
                Operation::SetSwitch(req)
            } else {
                Operation::SetSwitchPersistent(req)
            }
        }
        OperationSpec::TouchClusterConf { .. } => Operation::TouchClusterConf,
        OperationSpec::DeleteService { service, group, namespace, .. } => {
            Operation::DeleteService(Rc::new(ServiceDeleteReq {
                service: key(namespace, group, service),
                agent: agent(),
            }))
        }
        OperationSpec::UpdateService { service, group, namespace, protect_threshold, metadata, .. } => {
            Operation::UpdateService(Rc::new(ServiceUpdateReq {
                service: key(namespace, group, service),
                // The form field as the console sends it (`NumberUtils.toFloat` reads it).
                protect_threshold: protect_threshold.to_string().into(),
                metadata: Rc::new(metadata.clone()),
                agent: agent(),
            }))
        }
    }
}

fn pairs(from: &[String], to: &[String], both: bool, id_of: &BTreeMap<&str, NodeId>) -> Vec<(NodeId, NodeId)> {
    let mut v = Vec::new();
    for f in from {
        for t in to {
            let (a, b) = (id_of[f.as_str()], id_of[t.as_str()]);
            if a != b {
                v.push((a, b));
                if both {
                    v.push((b, a));
                }
            }
        }
    }
    v
}

fn schedule_faults(
    sc: &Scenario,
    engine: &mut Engine<Process>,
    id_of: &BTreeMap<&str, NodeId>,
    n: usize,
    rng: &mut ChaCha8Rng,
) -> Vec<FaultSpan> {
    let mut spans = Vec::new();
    let ids = |names: &[&String]| -> Vec<NodeId> {
        let mut v: Vec<NodeId> = names.iter().map(|n| id_of[n.as_str()]).collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    // Link changes patch the settings in force at their time, so apply them in time order.
    let mut link_changes: Vec<(Time, usize, &FaultSpec)> = Vec::new();
    for (i, f) in sc.faults.iter().enumerate() {
        let node = |name: &str| id_of[name];
        match f {
            FaultSpec::Reject { at, until, for_, from, to } => {
                let t = resolve(at, rng);
                let pairs = pairs(from, to, false, id_of);
                let rule = FirewallRule::Reject;
                engine.schedule_fault(t, Fault::Firewall { pairs: pairs.clone(), rule, heal: false });
                let end = end_of(t, until, *for_, rng);
                if let Some(end) = end {
                    engine.schedule_fault(end, Fault::Firewall { pairs, rule, heal: true });
                }
                spans.push(FaultSpan {
                    kind: "reject",
                    at: t,
                    end,
                    nodes: ids(&from.iter().chain(to).collect::<Vec<_>>()),
                });
            }
            FaultSpec::Partition { at, until, for_, groups, from, to, connections_only } => {
                let t = resolve(at, rng);
                let listed: Vec<&String> = groups.iter().flatten().chain(from).chain(to).collect();
                let blocked = if groups.is_empty() {
                    pairs(from, to, false, id_of)
                } else {
                    let mut group_of = vec![usize::MAX; n];
                    for (g, members) in groups.iter().enumerate() {
                        for m in members {
                            group_of[id_of[m.as_str()] as usize] = g;
                        }
                    }
                    let mut v = Vec::new();
                    for a in 0..n {
                        for b in 0..n {
                            if a != b && group_of[a] != group_of[b] {
                                v.push((a as NodeId, b as NodeId));
                            }
                        }
                    }
                    v
                };
                let (cut, heal) = if *connections_only {
                    let rule = FirewallRule::DropConnections;
                    let cut = Fault::Firewall { pairs: blocked.clone(), rule, heal: false };
                    (cut, Fault::Firewall { pairs: blocked, rule, heal: true })
                } else {
                    (Fault::Block { pairs: blocked.clone(), heal: false }, Fault::Block { pairs: blocked, heal: true })
                };
                engine.schedule_fault(t, cut);
                let end = end_of(t, until, *for_, rng);
                if let Some(end) = end {
                    engine.schedule_fault(end, heal);
                }
                spans.push(FaultSpan { kind: "partition", at: t, end, nodes: ids(&listed) });
            }
            FaultSpec::Heal { at } => {
                let t = resolve(at, rng);
                engine.schedule_fault(t, Fault::HealAll);
                spans.push(FaultSpan { kind: "heal", at: t, end: None, nodes: Vec::new() });
            }
            FaultSpec::Link { at, from, to, .. } => {
                let t = resolve(at, rng);
                link_changes.push((t, i, f));
                spans.push(FaultSpan {
                    kind: "link",
                    at: t,
                    end: None,
                    nodes: ids(&from.iter().chain(to).collect::<Vec<_>>()),
                });
            }
            FaultSpec::Crash { at, node: name, until, for_, host_down, wipe_disk } => {
                let t = resolve(at, rng);
                let crash = Fault::Crash { node: node(name), host_down: *host_down, wipe_disk: *wipe_disk };
                engine.schedule_fault(t, crash);
                let end = end_of(t, until, *for_, rng);
                if let Some(end) = end {
                    engine.schedule_fault(end, Fault::Restart { node: node(name) });
                }
                spans.push(FaultSpan { kind: "crash", at: t, end, nodes: vec![node(name)] });
            }
            FaultSpec::Restart { at, node: name } => {
                let t = resolve(at, rng);
                engine.schedule_fault(t, Fault::Restart { node: node(name) });
                spans.push(FaultSpan { kind: "restart", at: t, end: None, nodes: vec![node(name)] });
            }
            FaultSpec::Pause { at, node: name, until, for_ } => {
                let t = resolve(at, rng);
                engine.schedule_fault(t, Fault::Pause { node: node(name) });
                let end = end_of(t, until, *for_, rng).expect("validated: a pause ends");
                engine.schedule_fault(end, Fault::Resume { node: node(name) });
                spans.push(FaultSpan { kind: "pause", at: t, end: Some(end), nodes: vec![node(name)] });
            }
            FaultSpec::ClockJump { at, node: name, by } => {
                let t = resolve(at, rng);
                engine.schedule_fault(t, Fault::ClockJump { node: node(name), by: *by });
                spans.push(FaultSpan { kind: "clock_jump", at: t, end: None, nodes: vec![node(name)] });
            }
        }
    }
    link_changes.sort_by_key(|(t, i, _)| (*t, *i));
    let mut table: BTreeMap<(NodeId, NodeId), LinkConfig> = BTreeMap::new();
    for (t, _, f) in link_changes {
        if let FaultSpec::Link { from, to, both_ways, set, .. } = f {
            for (a, b) in pairs(from, to, *both_ways, id_of) {
                let cur = table
                    .get(&(a, b))
                    .cloned()
                    .unwrap_or_else(|| engine.network.config(a as usize, b as usize).clone());
                let next = set.apply(&cur);
                table.insert((a, b), next.clone());
                engine.schedule_fault(t, Fault::SetLink { from: a, to: b, config: next });
            }
        }
    }
    spans
}

fn schedule_workload(c: &ClientSpec, ip: String, node: NodeId, engine: &mut Engine<Process>, rng: &mut ChaCha8Rng) {
    for r in &c.register {
        let cmd = ClientCmd::Register {
            service: r.service.as_str().into(),
            group: r.group.as_str().into(),
            ip: r.ip.clone().unwrap_or_else(|| ip.clone()).into(),
            port: r.port,
            cluster: r.cluster.as_str().into(),
            weight: r.weight,
            metadata: Rc::new(r.metadata.clone()),
            ephemeral: r.ephemeral,
        };
        engine.schedule_command(resolve(&r.at, rng), node, Command::Client(cmd));
    }
    if let Some(m) = &c.register_many {
        let total = (m.services * m.per_service) as i64;
        let metadata = Rc::new(m.metadata.clone());
        for s in 0..m.services {
            let service: Str = format!("{}{s}", m.service_prefix).into();
            for k in 0..m.per_service {
                let idx = (s * m.per_service + k) as i64;
                let at = Time(m.at.0) + Dur(m.spread.0 / total.max(1) * idx);
                let cmd = ClientCmd::Register {
                    service: service.clone(),
                    group: "DEFAULT_GROUP".into(),
                    ip: ip.as_str().into(),
                    port: m.port_base + idx as u16,
                    cluster: "DEFAULT".into(),
                    weight: 1.0,
                    metadata: metadata.clone(),
                    ephemeral: k < m.per_service - m.persistent_per_service,
                };
                engine.schedule_command(at, node, Command::Client(cmd));
            }
        }
    }
    for s in &c.subscribe {
        let cmd = ClientCmd::Subscribe {
            service: s.service.as_str().into(),
            group: s.group.as_str().into(),
            clusters: s.clusters.join(",").into(),
        };
        engine.schedule_command(resolve(&s.at, rng), node, Command::Client(cmd));
    }
    for d in &c.deregister {
        let cmd = ClientCmd::Deregister {
            service: d.service.as_str().into(),
            group: d.group.as_str().into(),
            ip: d.ip.clone().unwrap_or_else(|| ip.clone()).into(),
            port: d.port,
            cluster: d.cluster.as_str().into(),
            ephemeral: d.ephemeral,
        };
        engine.schedule_command(resolve(&d.at, rng), node, Command::Client(cmd));
    }
    for f in &c.failover {
        engine.schedule_command(resolve(&f.at, rng), node, Command::Client(ClientCmd::FailoverSwitch { on: f.on }));
    }
    for u in &c.unsubscribe {
        let cmd = ClientCmd::Unsubscribe {
            service: u.service.as_str().into(),
            group: u.group.as_str().into(),
            clusters: u.clusters.join(",").into(),
        };
        engine.schedule_command(resolve(&u.at, rng), node, Command::Client(cmd));
    }
    for q in &c.query {
        let cmd = ClientCmd::Query {
            service: q.service.as_str().into(),
            group: q.group.as_str().into(),
            clusters: q.clusters.join(",").into(),
            healthy: match q.select {
                QuerySelect::All => None,
                QuerySelect::Healthy => Some(true),
                QuerySelect::Unhealthy => Some(false),
            },
        };
        engine.schedule_command(resolve(&q.at, rng), node, Command::Client(cmd));
    }
    for b in &c.stop_beat {
        let cmd = ClientCmd::StopBeat {
            service: b.service.as_str().into(),
            group: b.group.as_str().into(),
            ip: b.ip.clone().unwrap_or_else(|| ip.clone()).into(),
            port: b.port,
        };
        engine.schedule_command(resolve(&b.at, rng), node, Command::Client(cmd));
    }
}

/// One observation as a JSON Lines record: `{"t_ms": 20003.000, "node": "s1", "kind": …}`.
pub fn trace_line(r: &Record<Observation>, names: &[String]) -> String {
    let body = serde_json::to_string(&r.obs).expect("observations serialize");
    let node = serde_json::to_string(&names[r.node as usize]).expect("string serializes");
    format!("{{\"t_ms\":{:.3},\"node\":{node},{}", r.at.as_millis_f64(), &body[1..])
}

/// Runs the world to `end` handing every observation, in order, to `sink` and dropping it:
/// memory stays flat however long the run. The engine pauses after any event that leaves
/// [`STREAM_BATCH`] records and resumes where it stopped, which changes nothing it does
/// (events are ordered by time and insertion alone); an idle stretch costs nothing.
pub fn run_streaming(w: &mut World, end: Time, mut sink: impl FnMut(&Record<Observation>, &[String])) {
    let anomalies = &mut w.anomalies;
    loop {
        let mut seen = w.engine.records.len();
        let paused = w.engine.run_until_checked(end, |e, _| {
            anomalies.check(e, &e.records[seen..]);
            seen = e.records.len();
            (e.records.len() >= STREAM_BATCH).then(String::new)
        });
        for r in w.engine.records.drain(..) {
            sink(&r, &w.names);
        }
        if paused.is_none() {
            return;
        }
    }
}

impl World {
    /// Runs to `until`, keeping every observation in `engine.records` (for
    /// [`check_expectations`](super::expect::check_expectations)) and noting the anomalies.
    pub fn run_until(&mut self, until: Time) {
        let anomalies = &mut self.anomalies;
        let mut seen = self.engine.records.len();
        self.engine.run_until_checked(until, |e, _| {
            anomalies.check(e, &e.records[seen..]);
            seen = e.records.len();
            None
        });
    }
}

/// How many observations [`run_streaming`] lets pile up before handing them on.
const STREAM_BATCH: usize = 4096;

/// A violated invariant: when, where, what, and the observations that led to it.
pub struct Violation {
    pub at: Time,
    pub node: String,
    pub what: String,
    pub history: Vec<String>,
}

/// Runs the world to `until`, checking the naming invariants after every event; stops at the
/// first violation.
pub fn run_checked(w: &mut World, until: Time) -> Option<Violation> {
    let mut seen = w.engine.records.len();
    let mut invariants = crate::naming::invariants::Invariants::default();
    let anomalies = &mut w.anomalies;
    let found = w.engine.run_until_checked(until, |e, inputs| {
        anomalies.check(e, &e.records[seen..]);
        let v = invariants.check(e, inputs, seen);
        seen = e.records.len();
        v
    });
    let (at, node, what) = found?;
    let recs = &w.engine.records;
    let history = recs[recs.len().saturating_sub(10)..].iter().map(|r| trace_line(r, &w.names)).collect();
    Some(Violation { at, node: w.names[node as usize].clone(), what, history })
}

/// The clauses of the eventual-consistency check, as named in reports.
pub const CONVERGENCE_CLAUSES: &[&str] = &[
    SAME_DATUMS,
    LIVE_INSTANCES_EVERYWHERE,
    HEALTHY_ON_RESPONSIBLE,
    HEALTHY_AFTER_STATUS_CHANNEL,
    NO_STALE_INSTANCES,
    SUBSCRIBERS_SEE_SERVER_ANSWER,
    SAME_PERSISTENT_DATA,
];
pub const SAME_DATUMS: &str = "same_datum_on_every_live_server";
pub const LIVE_INSTANCES_EVERYWHERE: &str = "live_instances_on_every_live_server";
pub const HEALTHY_ON_RESPONSIBLE: &str = "healthy_on_responsible_server";
pub const HEALTHY_AFTER_STATUS_CHANNEL: &str = "healthy_on_other_servers_after_status_channel";
pub const NO_STALE_INSTANCES: &str = "no_instance_without_a_live_client";
pub const SUBSCRIBERS_SEE_SERVER_ANSWER: &str = "subscriber_view_equals_server_answer";
pub const SAME_PERSISTENT_DATA: &str = "same_persistent_data_on_every_live_server";

/// A failed clause of the eventual-consistency check and its first counterexample.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Divergence {
    pub clause: &'static str,
    pub example: String,
}

impl std::fmt::Display for Divergence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.clause, self.example)
    }
}

/// How long a responsible server must have been up before the others are expected to hold its
/// health view: the ServiceReporter's first run (60 s, R5.26) plus two periods.
const STATUS_CHANNEL_SETTLED: Dur = Dur::from_millis(70_000);

/// The eventual-consistency check at the current state: every clause that fails, in the order
/// of [`CONVERGENCE_CLAUSES`], each with its first counterexample.
pub fn convergence_problems(world: &World) -> Vec<Divergence> {
    let e = &world.engine;
    let name = |i: usize| world.names[i].as_str();
    let mut servers: Vec<(usize, &NamingServer)> = Vec::new();
    let mut clients: Vec<(usize, &NamingClient)> = Vec::new();
    for i in (0..e.node_count()).filter(|&i| e.is_alive(i as NodeId)) {
        match e.node(i as NodeId) {
            Process::Server(s) => servers.push((i, s)),
            Process::Client(c) => clients.push((i, c)),
            Process::Outside(_) => {}
        }
    }
    let mut found: BTreeMap<&'static str, String> = BTreeMap::new();
    let mut fail = |clause: &'static str, example: String| {
        found.entry(clause).or_insert(example);
    };

    let keys: BTreeSet<&Str> = servers
        .iter()
        .flat_map(|(_, s)| s.store.data.keys().filter(|k| k.starts_with(key_builder::EPHEMERAL_PREFIX)))
        .collect();
    'keys: for key in keys {
        let sums: Vec<(usize, Option<u64>)> =
            servers.iter().map(|(i, s)| (*i, s.store.data.get(key).map(datum_checksum))).collect();
        for w in sums.windows(2) {
            if w[0].1 != w[1].1 {
                let show = |v: Option<u64>| v.map_or("missing".to_string(), |v| format!("{v:016x}"));
                let (a, b) = (w[0], w[1]);
                fail(
                    SAME_DATUMS,
                    format!("datum {key}: {} has {}, {} has {}", name(a.0), show(a.1), name(b.0), show(b.1)),
                );
                break 'keys;
            }
        }
    }

    // What every live client beats for.
    let registered: BTreeSet<(ServiceKey, Str, u16)> =
        clients.iter().flat_map(|(_, c)| c.registered_instances()).collect();
    let owner = |ip: &str, port: u16, svc: &ServiceKey| {
        clients
            .iter()
            .find(|(_, c)| c.registered_instances().any(|(s, i, p)| &s == svc && &*i == ip && p == port))
            .map_or("?", |(i, _)| name(*i))
    };
    for (svc, ip, port) in &registered {
        for (j, s) in &servers {
            let instance =
                s.services.get(svc).and_then(|service| service.all_ips(true).find(|x| x.ip == *ip && x.port == *port));
            let who = || format!("instance {ip}:{port} of {} (client {})", svc.name, owner(ip, *port, svc));
            match instance {
                None => fail(LIVE_INSTANCES_EVERYWHERE, format!("{} is missing on {}", who(), name(*j))),
                Some(x) if !x.healthy.get() => {
                    if s.mapper.responsible(&svc.name) {
                        fail(
                            HEALTHY_ON_RESPONSIBLE,
                            format!("{} is unhealthy on {}, responsible for it", who(), name(*j)),
                        );
                    } else if let Some((r, _)) = servers.iter().find(|(_, r)| r.mapper.responsible(&svc.name)) {
                        if e.now() >= e.started(*r as NodeId) + STATUS_CHANNEL_SETTLED {
                            fail(
                                HEALTHY_AFTER_STATUS_CHANNEL,
                                format!(
                                    "{} is unhealthy on {} but healthy on {}, responsible for it",
                                    who(),
                                    name(*j),
                                    name(*r)
                                ),
                            );
                        }
                    }
                }
                Some(_) => {}
            }
        }
    }
    'stale: for (j, s) in &servers {
        for (svc, service) in &s.services {
            for x in service.all_ips(true) {
                if !registered.contains(&(svc.clone(), x.ip.clone(), x.port)) {
                    fail(
                        NO_STALE_INSTANCES,
                        format!(
                            "{} still holds {}:{} of {}, which no live client registers",
                            name(*j),
                            x.ip,
                            x.port,
                            svc.name
                        ),
                    );
                    break 'stale;
                }
            }
        }
    }

    'views: for (i, c) in &clients {
        for view in c.subscriptions() {
            let svc = ServiceKey { namespace: c.config.namespace.clone(), name: view.name.clone() };
            let seen: BTreeSet<(&str, u16, bool)> = view.hosts.iter().map(|h| (&*h.ip, h.port, h.healthy)).collect();
            for (j, _) in &c.config.servers {
                let Some((_, s)) = servers.iter().find(|(k, _)| *k == *j as usize) else { continue };
                let answer = s.service_info(0, &svc, &view.clusters, false, 0);
                let served: BTreeSet<(&str, u16, bool)> =
                    answer.hosts.iter().map(|h| (&*h.ip, h.port, h.healthy)).collect();
                if seen != served {
                    fail(
                        SUBSCRIBERS_SEE_SERVER_ANSWER,
                        format!("{} sees {} as {seen:?}, {} answers {served:?}", name(*i), svc.name, name(*j as usize)),
                    );
                    break 'views;
                }
            }
        }
    }
    // The CP store: every live server holds the same persistent keys with the same values.
    let stores: Vec<(usize, BTreeMap<Str, crate::naming::server::raft::RaftValue>)> =
        servers.iter().map(|(i, s)| (*i, s.persistent_data())).collect();
    for w in stores.windows(2) {
        let ((a, da), (b, db)) = (&w[0], &w[1]);
        if let Some(key) = da.keys().chain(db.keys()).find(|k| da.get(*k) != db.get(*k)) {
            let show = |d: &BTreeMap<Str, _>| if d.contains_key(key) { "a different value" } else { "nothing" };
            let example = format!("{key}: {} holds {}, {} holds {}", name(*a), show(da), name(*b), show(db));
            fail(SAME_PERSISTENT_DATA, example);
            break;
        }
    }
    CONVERGENCE_CLAUSES
        .iter()
        .filter_map(|c| found.remove(c).map(|example| Divergence { clause: c, example }))
        .collect()
}
