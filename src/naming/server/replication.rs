//! Multi-server behaviour of the naming server (spec §5.C–§5.H and §6): Distro sync through the
//! delay engine, checksum verification, snapshot load at start, the health-status side channel
//! (`ServiceReporter`), and membership probes. Everything here only runs in cluster mode.

use super::distro::{Datum, NotifyAction, LOAD_RETRY_MS, STAGE_DELAY_MS, SYNC_RETRY_DELAY_MS, TICK_MS, VERIFY_MS};
use super::member::{StateChange, REPORT_INITIAL_MS, REPORT_PERIOD_MS};
use super::registry::{self, Instance, InstanceRef};
use super::{error, service_key_of, Call, DistroVersion, NamingServer, Out, SERVER_HTTP_TIMEOUTS};
use crate::engine::{ExchangeId, HttpError, HttpTimeouts, NodeId};
use crate::naming::wire::*;
use crate::time::Dur;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

/// `ServiceReporter`: first run 60 s after start, then every
/// `serviceStatusSynchronizationPeriodMillis` (R5.24).
const SERVICE_REPORT_INITIAL_MS: i64 = 60_000;
const SERVICE_REPORT_PERIOD_MS: i64 = 5000;
/// 1.1 `ServerListManager` (R5.33): status period, expiry, and the health-check protection.
const SERVER_LIST_PERIOD_MS: i64 = 2000;
const DISTRO_SERVER_EXPIRED_MS: i64 = 10_000;
const DISTRO_THRESHOLD: f64 = 0.7;
const STABLE_PERIOD_MS: i64 = 60_000;
/// The core async HTTP client used by member reports (R6.3).
const REPORT_TIMEOUTS: HttpTimeouts = HttpTimeouts { connect: Dur::from_millis(5000), read: Dur::from_millis(2500) };

/// `Instances.getChecksum()` (R1.31): what Nacos hashes (per instance ip, port, weight, healthy,
/// enabled, cluster and metadata), in sorted order; a stable digest stands in for MD5.
pub fn datum_checksum(d: &Datum) -> u64 {
    type Part<'a> = (&'a str, u16, String, bool, bool, &'a str, &'a BTreeMap<String, String>);
    let mut parts: Vec<Part> = d
        .instances
        .iter()
        .map(|i| {
            (
                &*i.ip,
                i.port,
                Weight(i.weight.get()).java_string(),
                i.healthy.get(),
                i.enabled,
                &*i.cluster,
                &*i.metadata,
            )
        })
        .collect();
    parts.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    crate::engine::trace::StableHasher::digest(&parts)
}

/// Why a server-to-server call did not get its 200 `ok`, or `None` if it did.
fn call_failure(result: Result<Msg, HttpError>) -> Option<String> {
    match result {
        Ok(Msg::Ok) => None,
        Ok(Msg::Error { status, message }) => Some(format!("HTTP {status}: {message}")),
        Ok(other) => Some(format!("unexpected {other:?}")),
        Err(e) => Some(format!("{e:?}")),
    }
}

/// Datums from the wire become fresh local instances (R2.17: `lastBeat` and `healthy` as sent).
fn instances_from(list: &[InstanceData]) -> Vec<InstanceRef> {
    list.iter().map(|d| Rc::new(Instance::from_data(d))).collect()
}

fn is_distro_key(key: &str) -> bool {
    key.starts_with(registry::EPHEMERAL_PREFIX)
}

impl NamingServer {
    pub(super) fn cluster_mode(&self) -> bool {
        self.config.members.len() > 1
    }

    /// Timers and the load task of a server starting in cluster mode.
    pub(super) fn start_cluster(&mut self, out: &mut Out) {
        if !self.cluster_mode() {
            return;
        }
        if self.config.switches.distro_version == DistroVersion::V14 {
            out.set_timer(Dur::from_millis(TICK_MS), Timer::Server(ServerTimer::DistroTick));
        }
        out.set_timer(Dur::from_millis(VERIFY_MS), Timer::Server(ServerTimer::DistroVerify));
        if self.config.switches.distro_version == DistroVersion::V11 {
            out.set_timer(Dur::from_millis(SERVER_LIST_PERIOD_MS), Timer::Server(ServerTimer::ServerListReport));
        } else {
            out.set_timer(Dur::from_millis(REPORT_INITIAL_MS), Timer::Server(ServerTimer::MemberReport));
        }
        out.set_timer(Dur::from_millis(SERVICE_REPORT_INITIAL_MS), Timer::Server(ServerTimer::ServiceReport));
        out.observe(Observation::SnapshotLoadStarted);
        self.load_from(0, out);
    }

    /// An asynchronous call to every other member, whatever its state, whose answer nobody reads
    /// (verification checksums, service status, 1.1 status beats).
    fn tell_peers(&mut self, msg: Msg, out: &mut Out) {
        let targets: Vec<NodeId> = self.members.others().map(|m| m.node).collect();
        for t in targets {
            let x = out.request(t, msg.clone(), SERVER_HTTP_TIMEOUTS);
            self.calls.insert(x, Call::Ignore);
        }
    }

    // ------------------------------------------------------------------ sync (R5.8–R5.16)

    /// 1.4: `DistroProtocol.sync`, one stage-1 task per other member, whatever its state (R5.9).
    /// 1.3: `TaskDispatcher.addTask`, then a `SyncTask` per other member when a batch flushes.
    pub(super) fn distro_sync(&mut self, key: &Str, now_ms: i64, out: &mut Out) {
        if !self.cluster_mode() || !is_distro_key(key) {
            return;
        }
        let targets: Vec<NodeId> = self.members.others().map(|m| m.node).collect();
        match self.config.switches.distro_version {
            DistroVersion::V14 => {
                for t in targets {
                    self.delay.add_single(key.clone(), t, STAGE_DELAY_MS, now_ms);
                }
            }
            DistroVersion::V13 | DistroVersion::V11 => {
                let Some(batch) = self.dispatcher.add(key.clone(), now_ms) else { return };
                for t in targets {
                    self.submit_sync_task(t, &batch, out);
                }
            }
        }
    }

    /// 1.3 `DataSyncer.submit` of a new task (R5.31): keys already in flight to the target are
    /// dropped from it, so a newer change can be lost until verification repairs it.
    fn submit_sync_task(&mut self, target: NodeId, keys: &[Str], out: &mut Out) {
        let fresh: Vec<Str> =
            keys.iter().filter(|k| !self.in_flight.contains(&((*k).clone(), target))).cloned().collect();
        if fresh.is_empty() {
            return;
        }
        for k in &fresh {
            self.in_flight.insert((k.clone(), target));
        }
        self.run_sync_task(target, Rc::new(fresh), 0, out);
    }

    /// `SyncTask.run`: the datums as they are now; nothing left ⇒ done.
    pub(super) fn run_sync_task(&mut self, target: NodeId, keys: Rc<Vec<Str>>, retry: u32, out: &mut Out) {
        let batch = self.batch_get(keys.iter());
        if batch.is_empty() {
            for k in keys.iter() {
                self.in_flight.remove(&(k.clone(), target));
            }
            return;
        }
        out.observe(Observation::DistroSyncSent {
            target: self.member_address(target).into(),
            keys: batch.len() as u32,
        });
        let x = out.request(target, Msg::DistroSync(Rc::new(batch)), SERVER_HTTP_TIMEOUTS);
        self.calls.insert(x, Call::SyncTask { target, keys, retry });
    }

    /// Success clears the in-flight marks; failure resubmits the same keys after 5 s.
    pub(super) fn on_sync_task_result(
        &mut self,
        target: NodeId,
        keys: Rc<Vec<Str>>,
        retry: u32,
        result: Result<Msg, HttpError>,
        out: &mut Out,
    ) {
        let Some(error) = call_failure(result) else {
            for k in keys.iter() {
                self.in_flight.remove(&(k.clone(), target));
            }
            return;
        };
        out.observe(Observation::DistroSyncFailed {
            target: self.member_address(target).into(),
            keys: keys.len() as u32,
            error,
        });
        let retry = Timer::Server(ServerTimer::SyncRetry { target, keys, retry: retry + 1 });
        out.set_timer(Dur::from_millis(SYNC_RETRY_DELAY_MS), retry);
    }

    pub(super) fn distro_tick(&mut self, now_ms: i64, out: &mut Out) {
        for (target, keys) in self.delay.tick(now_ms) {
            // DistroSyncChangeTask: the datums as they are now, missing keys skipped (R5.14).
            let batch = self.batch_get(keys.iter());
            out.observe(Observation::DistroSyncSent {
                target: self.member_address(target).into(),
                keys: batch.len() as u32,
            });
            let x = out.request(target, Msg::DistroSync(Rc::new(batch)), SERVER_HTTP_TIMEOUTS);
            self.calls.insert(x, Call::Sync { target, keys });
        }
        out.set_timer(Dur::from_millis(TICK_MS), Timer::Server(ServerTimer::DistroTick));
    }

    fn batch_get<'a>(&self, keys: impl Iterator<Item = &'a Str>) -> DatumBatch {
        keys.filter_map(|k| {
            let d = self.store.data.get(k)?;
            Some((k.clone(), Rc::new(d.instances.iter().map(|i| i.to_data()).collect::<Vec<_>>())))
        })
        .collect()
    }

    /// The outcome of a sync: anything but 200 retries every key after `syncRetryDelay`.
    pub(super) fn on_sync_result(
        &mut self,
        now_ms: i64,
        target: NodeId,
        keys: Vec<Str>,
        result: Result<Msg, HttpError>,
        out: &mut Out,
    ) {
        let Some(error) = call_failure(result) else { return };
        out.observe(Observation::DistroSyncFailed {
            target: self.member_address(target).into(),
            keys: keys.len() as u32,
            error,
        });
        for k in keys {
            self.delay.add_single(k, target, SYNC_RETRY_DELAY_MS, now_ms);
        }
    }

    /// PUT `/distro/datum` (R5.16): create missing services, then `onPut` each datum; no version
    /// check, last writer wins.
    pub(super) fn on_distro_sync(&mut self, now_ms: i64, from: NodeId, batch: &DatumBatch, out: &mut Out) -> Msg {
        if batch.is_empty() {
            return error(400, "receive empty datum");
        }
        let mut applied = 0;
        for (key, list) in batch.iter() {
            if !is_distro_key(key) {
                continue;
            }
            let Some(svc) = service_key_of(key) else { continue };
            self.create_service_if_absent(now_ms, &svc, out);
            self.on_put(key.clone(), instances_from(list), out);
            applied += 1;
        }
        out.observe(Observation::DistroSyncApplied { source: self.member_address(from).into(), keys: applied });
        Msg::Ok
    }

    /// `processData` (R5.20, verification and snapshot load): store each datum, create missing
    /// services, and apply to the Service synchronously (not through the notifier).
    fn process_data(&mut self, now_ms: i64, batch: &DatumBatch, out: &mut Out) {
        for (key, list) in batch.iter() {
            let Some(svc) = service_key_of(key) else { continue };
            self.store.data.insert(key.clone(), Datum { instances: Rc::new(instances_from(list)), timestamp: 1 });
            self.create_service_if_absent(now_ms, &svc, out);
            self.apply_datum(now_ms, key, out);
        }
    }

    // ------------------------------------------------------------------ verification (R5.17–R5.20)

    pub(super) fn distro_verify(&mut self, out: &mut Out) {
        let checksums: Vec<(Str, u64)> = self
            .store
            .data
            .iter()
            .filter(|(k, _)| is_distro_key(k) && service_key_of(k).is_some_and(|s| self.mapper.responsible(&s.name)))
            .map(|(k, d)| (k.clone(), datum_checksum(d)))
            .collect();
        if !checksums.is_empty() {
            let msg = Msg::DistroChecksums(Rc::new(Sourced { source: self.config.address.clone(), checksums }));
            self.tell_peers(msg, out);
        }
        out.set_timer(Dur::from_millis(VERIFY_MS), Timer::Server(ServerTimer::DistroVerify));
    }

    /// `onReceiveChecksums` (R5.19). Returns the reply, or `None` when it follows a fetch.
    pub(super) fn on_checksums(
        &mut self,
        id: ExchangeId,
        source: &Str,
        checksums: &[(Str, u64)],
        out: &mut Out,
    ) -> Option<Msg> {
        if self.verify_in_progress.contains(source) {
            out.observe(Observation::VerifyAborted {
                source: source.clone(),
                reason: "a verification from this source is in progress".into(),
            });
            return Some(Msg::Ok);
        }
        let mut to_update = Vec::new();
        for (key, sum) in checksums {
            let Some(svc) = service_key_of(key) else { continue };
            if self.mapper.responsible(&svc.name) {
                out.observe(Observation::VerifyAborted {
                    source: source.clone(),
                    reason: format!("this server is responsible for {key}"),
                });
                return Some(Msg::Ok);
            }
            match self.store.data.get(key) {
                Some(d) if datum_checksum(d) == *sum => {}
                _ => to_update.push(key.clone()),
            }
        }
        let listed: BTreeSet<&Str> = checksums.iter().map(|(k, _)| k).collect();
        let to_remove: Vec<Str> = self
            .store
            .data
            .keys()
            .filter(|k| is_distro_key(k) && !listed.contains(k))
            .filter(|k| service_key_of(k).is_some_and(|s| self.mapper.map_srv(&s.name) == *source))
            .cloned()
            .collect();
        for key in to_remove {
            // onRemove: the datum goes; @1.4.1 the Service ignores the DELETE (R1.28).
            self.store.data.remove(&key);
            if self.notifier.add(key.clone(), NotifyAction::Delete) {
                out.set_timer(Dur::ZERO, Timer::Server(ServerTimer::Notifier));
            }
            out.observe(Observation::VerifyRemovedKey { source: source.clone(), key });
        }
        if to_update.is_empty() {
            return Some(Msg::Ok);
        }
        let Some(node) = self.member_node(source) else { return Some(Msg::Ok) };
        self.verify_in_progress.insert(source.clone());
        let x = out.request(node, Msg::DistroFetch(Rc::new(to_update)), SERVER_HTTP_TIMEOUTS);
        self.calls.insert(x, Call::Fetch { source: source.clone(), original: id });
        None
    }

    pub(super) fn on_fetch_result(
        &mut self,
        now_ms: i64,
        source: Str,
        original: ExchangeId,
        result: Result<Msg, HttpError>,
        out: &mut Out,
    ) {
        if let Ok(Msg::DistroData(batch)) = result {
            out.observe(Observation::VerifyFetched { source: source.clone(), keys: batch.len() as u32 });
            self.process_data(now_ms, &batch, out);
        }
        self.verify_in_progress.remove(&source);
        out.respond(original, Msg::Ok);
    }

    /// GET `/distro/datum` (fetch, the source does not check its responsibility) and
    /// `/distro/datums` (snapshot: everything).
    pub(super) fn on_fetch(&self, keys: Option<&[Str]>) -> Msg {
        let batch = match keys {
            Some(keys) => self.batch_get(keys.iter()),
            None => self.batch_get(self.store.data.keys().filter(|k| is_distro_key(k))),
        };
        Msg::DistroData(Rc::new(batch))
    }

    // ------------------------------------------------------------------ load (R5.21)

    /// Try the peers in member order, any state; the first answer (even empty) ends the load.
    pub(super) fn load_from(&mut self, index: usize, out: &mut Out) {
        let peers: Vec<NodeId> = self.members.others().map(|m| m.node).collect();
        match peers.get(index) {
            Some(&peer) => {
                let x = out.request(peer, Msg::DistroSnapshot, SERVER_HTTP_TIMEOUTS);
                self.calls.insert(x, Call::Load { index, peer });
            }
            None => {
                out.set_timer(Dur::from_millis(LOAD_RETRY_MS), Timer::Server(ServerTimer::DistroLoad));
            }
        }
    }

    pub(super) fn on_load_result(
        &mut self,
        now_ms: i64,
        index: usize,
        peer: NodeId,
        result: Result<Msg, HttpError>,
        out: &mut Out,
    ) {
        match result {
            Ok(Msg::DistroData(batch)) => {
                self.process_data(now_ms, &batch, out);
                self.initialized = true;
                out.observe(Observation::SnapshotLoadDone {
                    source: self.member_address(peer).into(),
                    keys: batch.len() as u32,
                });
            }
            _ => self.load_from(index + 1, out),
        }
    }

    // ------------------------------------------------------------------ membership (§6)

    pub(super) fn member_report(&mut self, out: &mut Out) {
        if let Some((address, node)) = self.members.next_report_target() {
            let x = out.request(node, Msg::MemberReport { address: self.config.address.clone() }, REPORT_TIMEOUTS);
            self.calls.insert(x, Call::Report { address });
        }
        out.set_timer(Dur::from_millis(REPORT_PERIOD_MS), Timer::Server(ServerTimer::MemberReport));
    }

    pub(super) fn on_report_result(&mut self, address: Str, result: Result<Msg, HttpError>, out: &mut Out) {
        let change = match result {
            Ok(Msg::Error { status: 404 | 501, .. }) => None, // "version too low"
            Ok(Msg::Error { .. }) => self.members.on_fail(&address, None),
            Ok(_) => self.members.on_success(&address),
            Err(e) => self.members.on_fail(&address, Some(e)),
        };
        if let Some(c) = change {
            self.members_changed(Some(c), out);
        }
    }

    /// POST `/core/cluster/report` (R6.5).
    pub(super) fn on_member_report(&mut self, address: &str, out: &mut Out) -> Msg {
        let (changed, change) = self.members.on_report(address);
        if changed {
            self.members_changed(change, out);
        }
        Msg::Ok
    }

    /// `MembersChangeEvent` → the DistroMapper recomputes its healthy list (R5.1, R6.6).
    fn members_changed(&mut self, change: Option<StateChange>, out: &mut Out) {
        if let Some(c) = change {
            out.observe(Observation::MemberStateChanged { member: c.member, from: c.from.name(), to: c.to.name() });
        }
        self.mapper.healthy = self.members.healthy_list();
    }

    // ------------------------------------------------------------------ 1.1 membership (R5.33)

    /// `ServerStatusReporter`: a status beat to every other server and to itself, every 2 s;
    /// health checks come back once the list has been stable for more than 60 s.
    pub(super) fn server_list_report(&mut self, now_ms: i64, out: &mut Out) {
        self.tell_peers(Msg::ServerStatusBeat { address: self.config.address.clone() }, out);
        self.distro_beats.insert(self.config.address.clone(), now_ms);
        self.recompute_healthy_list(now_ms, out);
        let ratio = self.mapper.healthy.len() as f64 / self.members.members.len() as f64;
        if !self.health_check_on && ratio > DISTRO_THRESHOLD && now_ms - self.last_list_change > STABLE_PERIOD_MS {
            self.health_check_on = true;
            out.observe(Observation::HealthCheckSwitched { enabled: true });
        }
        out.set_timer(Dur::from_millis(SERVER_LIST_PERIOD_MS), Timer::Server(ServerTimer::ServerListReport));
    }

    pub(super) fn on_server_status_beat(&mut self, now_ms: i64, address: &Str, out: &mut Out) -> Msg {
        if self.member_node(address).is_some() {
            self.distro_beats.insert(address.clone(), now_ms);
            self.recompute_healthy_list(now_ms, out);
        }
        Msg::Ok
    }

    /// Alive = a status beat less than 10 s old; any change of the list disables health checks.
    fn recompute_healthy_list(&mut self, now_ms: i64, out: &mut Out) {
        let alive: Vec<Str> = self
            .members
            .members
            .iter()
            .filter(|m| self.distro_beats.get(&m.address).is_some_and(|t| now_ms - t < DISTRO_SERVER_EXPIRED_MS))
            .map(|m| m.address.clone())
            .collect();
        if alive == self.mapper.healthy {
            return;
        }
        out.observe(Observation::HealthyListChanged { members: alive.clone() });
        self.mapper.healthy = alive;
        self.last_list_change = now_ms;
        if self.health_check_on {
            self.health_check_on = false;
            out.observe(Observation::HealthCheckSwitched { enabled: false });
        }
    }

    // ------------------------------------------------------------------ status channel (R5.24–R5.26)

    pub(super) fn service_report(&mut self, out: &mut Out) {
        let mut checksums = Vec::new();
        for (key, service) in self.services.iter() {
            if service.is_empty() || !self.mapper.responsible(&key.name) {
                continue;
            }
            let sum = service.recalculate_checksum();
            checksums.push((key.clone(), sum));
        }
        let msg = Msg::ServiceStatus(Rc::new(Sourced { source: self.config.address.clone(), checksums }));
        self.tell_peers(msg, out);
        out.set_timer(Dur::from_millis(SERVICE_REPORT_PERIOD_MS), Timer::Server(ServerTimer::ServiceReport));
    }

    /// POST `/service/status` (R5.25): pull the statuses of every service whose checksum differs.
    pub(super) fn on_service_status(&mut self, source: &Str, checksums: &[(ServiceKey, Str)], out: &mut Out) -> Msg {
        let Some(node) = self.member_node(source) else { return error(400, "source is not a member") };
        for (svc, sum) in checksums {
            let Some(service) = self.services.get(svc) else { continue };
            let local = service.recalculate_checksum();
            if local != *sum {
                let x = out.request(node, Msg::InstanceStatuses(Rc::new(svc.clone())), SERVER_HTTP_TIMEOUTS);
                self.calls.insert(x, Call::Statuses { service: svc.clone(), source: source.clone() });
            }
        }
        Msg::Ok
    }

    /// GET `/instance/statuses`.
    pub(super) fn on_instance_statuses(&self, svc: &ServiceKey) -> Msg {
        let Some(service) = self.services.get(svc) else { return error(500, "service not found") };
        let list = service.all_ips(true).chain(service.all_ips(false)).map(|i| (i.ip.clone(), i.port, i.healthy.get()));
        Msg::Statuses(Rc::new(list.collect()))
    }

    /// `updatedHealthStatus` (R5.26): every local instance takes the source's health; absent
    /// ones become unhealthy.
    pub(super) fn on_statuses_result(
        &mut self,
        svc: ServiceKey,
        source: Str,
        result: Result<Msg, HttpError>,
        out: &mut Out,
    ) {
        let Ok(Msg::Statuses(list)) = result else { return };
        let Some(service) = self.services.get(&svc) else { return };
        let remote: BTreeMap<(&str, u16), bool> = list.iter().map(|(ip, port, h)| ((&**ip, *port), *h)).collect();
        let mut changed = false;
        for i in service.all_ips(true).chain(service.all_ips(false)) {
            let valid = remote.get(&(&*i.ip, i.port)).copied().unwrap_or(false);
            if valid != i.healthy.get() {
                i.healthy.set(valid);
                changed = true;
                out.observe(Observation::StatusSynced {
                    service: svc.name.clone(),
                    ip: i.ip.clone(),
                    port: i.port,
                    healthy: valid,
                    source: source.clone(),
                });
            }
        }
        if changed {
            self.service_changed(&svc, out);
        }
    }
}
