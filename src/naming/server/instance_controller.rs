//! `InstanceController` (spec R1.21–R1.22, R2.8–R2.9, R4.7–R4.9): the `/v1/ns/instance`
//! endpoints a client calls on the server responsible for the service (`DistroFilter` has
//! forwarded them there): register, deregister, beat, and the list query (`doSrvIpxt`) with
//! its protect threshold.

use super::push_service::{can_enable_push, PushClient};
use super::raft::{Then, Waiter};
use super::registry::{self, Instance, Preserved};
use super::{error, NamingServer, Out};
use crate::engine::{ExchangeId, NodeId};
use crate::naming::wire::*;
use crate::time::{Dur, Time};
use rand_chacha::ChaCha8Rng;
use std::cell::Cell;
use std::rc::Rc;

impl NamingServer {
    /// POST `/instance` (R1.21): validate and `registerInstance`.
    pub(super) fn register(&mut self, now: Time, service: ServiceKey, d: InstanceData, out: &mut Out) -> Msg {
        if d.weight.0 > 10000.0 || d.weight.0 < 0.0 {
            return error(400, "instance format invalid: weight");
        }
        let mut inst = Instance::from_data(&d);
        inst.last_beat = Cell::new(now.as_millis());
        match self.register_instance(now, &service, inst, out) {
            Ok(()) => Msg::Ok,
            Err(r) => r.into(),
        }
    }

    /// POST / PUT `/instance` of a persistent instance: validated as any other, then written
    /// through Raft; the answer waits for the write.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn register_persistent_req(
        &mut self,
        now_ms: i64,
        id: ExchangeId,
        from: NodeId,
        api: Option<&'static str>,
        r: &RegisterReq,
        rng: &mut ChaCha8Rng,
        out: &mut Out,
    ) {
        let d = &r.instance;
        let on_ok = Observation::InstanceRegistered { service: r.service.name.clone(), ip: d.ip.clone(), port: d.port };
        let w = Waiter { id, from, api, on_ok: Some(on_ok) };
        if d.weight.0 > 10000.0 || d.weight.0 < 0.0 {
            return self.answer_waiter(w, error(400, "instance format invalid: weight"), out);
        }
        self.register_persistent(now_ms, r.service.clone(), d.clone(), w, rng, out);
    }

    /// DELETE `/instance` of a persistent instance: `removeInstance` through Raft.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn deregister_persistent(
        &mut self,
        now_ms: i64,
        id: ExchangeId,
        from: NodeId,
        api: Option<&'static str>,
        r: &DeregisterReq,
        rng: &mut ChaCha8Rng,
        out: &mut Out,
    ) {
        let w = Waiter { id, from, api, on_ok: None };
        if !self.services.contains_key(&r.service) {
            return self.answer_waiter(w, Msg::Ok, out);
        }
        let probe = Self::probe(r.ip.clone(), r.port, r.cluster.clone(), false);
        self.publish_instances(now_ms, &r.service, true, vec![probe], Then::Answer(w), rng, out);
    }

    /// The instance a deregistration names: only its address and cluster matter.
    fn probe(ip: Str, port: u16, cluster: Str, ephemeral: bool) -> Instance {
        Instance {
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
        }
    }

    /// DELETE `/instance` (R1.22).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn deregister(
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
        let probe = Self::probe(ip, port, cluster, ephemeral);
        match self.update_instances(now_ms, svc, true, ephemeral, vec![probe], out) {
            Ok(()) => Msg::Ok,
            Err(r) => r.into(),
        }
    }

    /// PUT / DELETE `/instance/metadata/batch` (from 1.4.0): `batchOperate` by
    /// `consistencyType` (every instance of that kind) or, without it, by the listed instances
    /// grouped by `ephemeral`. Failures are logged, never answered: the answer lists what changed.
    pub(super) fn batch_metadata(&mut self, now_ms: i64, r: &MetadataBatchReq, out: &mut Out) -> Msg {
        if !self.switches.behaviour.metadata_batch_api {
            return error(404, "Not Found");
        }
        let mut updated = Vec::new();
        let mut apply = |s: &mut Self, ephemeral: bool, targets: Option<&[&MetadataTarget]>| {
            if let Ok(list) = s.update_metadata(now_ms, r, ephemeral, targets, out) {
                let kind = if ephemeral { "ephemeral" } else { "persist" };
                updated.extend(
                    list.iter().map(|i| Str::from(format!("{}:{}:unknown:{}:{kind}", i.ip, i.port, i.cluster))),
                );
            }
        };
        match &*r.consistency_type {
            "ephemeral" => apply(self, true, None),
            "persist" => apply(self, false, None),
            "" => {
                // `groupingBy(isEphemeral)` into a HashMap: the `false` group iterates first.
                for ephemeral in [false, true] {
                    let group: Vec<&MetadataTarget> = r.instances.iter().filter(|t| t.ephemeral == ephemeral).collect();
                    if !group.is_empty() {
                        apply(self, ephemeral, Some(&group));
                    }
                }
            }
            _ => {} // "services.all value is illegal": logged and ignored
        }
        Msg::Updated(Rc::new(updated))
    }

    /// PUT `/instance/beat` on the responsible server (R2.8).
    pub(super) fn beat(&mut self, now: Time, req: Rc<BeatReq>, out: &mut Out) -> Msg {
        let now_ms = now.as_millis();
        let sw = &self.switches;
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
                if let Err(r) = self.register_instance(now, svc, inst, out) {
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
    pub(super) fn list(&mut self, now_ms: i64, r: &ListReq, out: &mut Out) -> Msg {
        let mut cache_millis = self.switches.default_cache_millis;
        if r.udp_port > 0 && can_enable_push(&r.agent, self.switches.push_enabled) {
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
            cache_millis = self.switches.push_cache_millis;
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
                metadata: Metadata::default(),
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
            metadata: service.metadata.clone(),
        }
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
