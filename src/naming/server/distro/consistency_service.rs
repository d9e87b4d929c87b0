//! `DistroConsistencyServiceImpl` (spec R1.24, R5.16, R5.19–R5.20, R5.23): a local `put` stores
//! the datum now and leaves the Service to the single `Notifier` thread; datums from peers
//! (sync, verification fetch, snapshot load) land here too, and `onReceiveChecksums` decides
//! what a verification removes and fetches.

use super::data_store::{datum_checksum, Datum};
use crate::engine::{ExchangeId, HttpError, NodeId};
use crate::naming::server::key_builder::{is_distro_key, service_key_of};
use crate::naming::server::registry::{self, Instance, InstanceRef};
use crate::naming::server::{Call, NamingServer, Out, SERVER_HTTP_TIMEOUTS};
use crate::naming::wire::*;
use crate::time::Dur;
use std::collections::{BTreeSet, VecDeque};
use std::rc::Rc;

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum NotifyAction {
    Change,
    Delete,
}

/// The Distro `Notifier`: a FIFO of (key, action); a CHANGE already queued for a key absorbs a
/// new one, DELETE is never deduplicated (R5.23).
#[derive(Default)]
pub struct Notifier {
    queue: VecDeque<(Str, NotifyAction)>,
    queued_changes: BTreeSet<Str>,
    /// A notifier "thread wake-up" timer is pending.
    pub scheduled: bool,
    /// The change the thread is applying: its key and the datum as it was when taken (`handle`
    /// reads `dataStore.get(key)` first, then runs the listeners).
    running: Option<(Str, Rc<Vec<InstanceRef>>)>,
}

impl Notifier {
    /// Returns true when the notifier needs a wake-up timer.
    pub fn add(&mut self, key: Str, action: NotifyAction) -> bool {
        if action == NotifyAction::Change && !self.queued_changes.insert(key.clone()) {
            return false;
        }
        self.queue.push_back((key, action));
        !std::mem::replace(&mut self.scheduled, true)
    }

    pub fn pop(&mut self) -> Option<(Str, NotifyAction)> {
        let (k, a) = self.queue.pop_front()?;
        if a == NotifyAction::Change {
            self.queued_changes.remove(&k);
        }
        Some((k, a))
    }
}

/// Datums from the wire become fresh local instances (R2.17: `lastBeat` and `healthy` as sent).
fn instances_from(list: &[InstanceData]) -> Vec<InstanceRef> {
    list.iter().map(|d| Rc::new(Instance::from_data(d))).collect()
}

impl NamingServer {
    /// Distro `put` (R1.24/R5.8): a new local datum now, the Service later via the notifier,
    /// and a sync to every peer through the delay engine.
    pub(crate) fn put(&mut self, key: Str, list: Vec<registry::InstanceRef>, now_ms: i64, out: &mut Out) {
        self.on_put(key.clone(), list, true, out);
        self.distro_sync(&key, now_ms, out);
    }

    /// `onPut`: store the datum and queue a CHANGE for the notifier.
    pub(crate) fn on_put(&mut self, key: Str, list: Vec<registry::InstanceRef>, key_ordered: bool, out: &mut Out) {
        self.store.data.insert(key.clone(), Datum { instances: Rc::new(list), timestamp: 1, key_ordered });
        if self.notifier.add(key, NotifyAction::Change) {
            out.set_timer(Dur::ZERO, Timer::Server(ServerTimer::Notifier));
        }
    }

    /// The notifier thread finishes the change in hand, if any, then takes tasks from its queue
    /// until one needs time to apply (R5.23, R1.25): a change queued behind a large one waits.
    pub(crate) fn run_notifier(&mut self, now_ms: i64, out: &mut Out) {
        if let Some((key, list)) = self.notifier.running.take() {
            self.apply_list(now_ms, &key, &list, out);
        }
        while let Some((key, action)) = self.notifier.pop() {
            if action == NotifyAction::Delete {
                // Up to 1.4.1 Service.onDelete ignores it (R1.28, versions.md V11).
                if self.switches.behaviour.service_on_delete_removes {
                    self.service_on_delete(&key, out);
                }
                continue;
            }
            let Some(datum) = self.store.data.get(&key) else { continue };
            let list = datum.instances.clone();
            let cost = self.config.work.apply(list.len());
            if cost == Dur::ZERO {
                self.apply_list(now_ms, &key, &list, out);
                continue;
            }
            self.notifier.running = Some((key, list));
            out.set_timer(cost, Timer::Server(ServerTimer::Notifier));
            return;
        }
        self.notifier.scheduled = false;
    }

    /// 1.4.2 `Service.onDelete`: every cluster's list of that kind becomes empty. Nothing else:
    /// no checksum recompute and no push, so subscribers learn it at their next poll.
    pub(crate) fn service_on_delete(&mut self, key: &Str, out: &mut Out) {
        let ephemeral = key.starts_with(crate::naming::server::key_builder::EPHEMERAL_PREFIX);
        let Some(svc) = service_key_of(key) else { return };
        let Some(service) = self.services.get_mut(&svc) else { return };
        for cluster in service.clusters.values_mut() {
            let (_, removed) = cluster.update_ips(Vec::new(), ephemeral);
            for i in removed {
                out.observe(Observation::InstanceRemoved { service: svc.name.clone(), ip: i.ip.clone(), port: i.port });
            }
        }
    }

    /// The Service listener's `onChange` for one key: the current datum replaces the cluster
    /// lists (local health wins, R1.27), the checksum is recomputed and a push scheduled.
    /// `Service.onChange(key, list)`: the list replaces the cluster lists.
    pub(crate) fn apply_list(&mut self, now_ms: i64, key: &Str, list: &[InstanceRef], out: &mut Out) {
        let ephemeral = key.starts_with(crate::naming::server::key_builder::EPHEMERAL_PREFIX);
        let Some(svc) = service_key_of(key) else { return };
        // V12: the first of two racing Services listens too, and was listening first.
        for o in self.orphans.iter_mut().filter(|o| o.listening && o.service.key == svc) {
            o.service.update_ips(list, ephemeral, now_ms);
        }
        let Some(service) = self.services.get_mut(&svc) else { return };
        let (added, removed) = service.update_ips(list, ephemeral, now_ms);
        service.recalculate_checksum_later();
        for i in added {
            out.observe(Observation::InstanceAdded {
                service: svc.name.clone(),
                ip: i.ip.clone(),
                port: i.port,
                healthy: i.healthy.get(),
            });
        }
        if !ephemeral {
            let gone: Vec<(Str, u16)> = removed.iter().map(|i| (i.ip.clone(), i.port)).collect();
            self.forget_health_status(&svc, &gone);
            self.want_health_checks(&svc, out);
        }
        for i in removed {
            out.observe(Observation::InstanceRemoved { service: svc.name.clone(), ip: i.ip.clone(), port: i.port });
        }
        self.service_changed(&svc, out);
    }

    /// PUT `/distro/datum` (R5.16), once parsed: create missing services, then `onPut` each
    /// datum; no version check, last writer wins.
    pub(crate) fn on_distro_sync(&mut self, now_ms: i64, from: NodeId, batch: &DatumBatch, out: &mut Out) -> Msg {
        let mut applied = 0;
        for (key, list) in batch.iter() {
            if !is_distro_key(key) {
                continue;
            }
            let Some(svc) = service_key_of(key) else { continue };
            self.create_service_if_absent(now_ms, &svc, out);
            self.on_put(key.clone(), instances_from(list), false, out);
            applied += 1;
        }
        out.observe(Observation::DistroSyncApplied { source: self.member_address(from).into(), keys: applied });
        Msg::Ok
    }

    /// `processData` (R5.20) of a verification's fetch: store each datum, create missing
    /// services, and apply to the Service synchronously (not through the notifier).
    pub(crate) fn process_data(&mut self, now_ms: i64, batch: &DatumBatch, out: &mut Out) {
        self.store_snapshot(now_ms, batch, out);
        for (key, list) in batch.iter() {
            self.apply_snapshot_key(now_ms, key, list, out);
        }
    }

    /// `processData`'s first loop: every datum goes into the DataStore, and a service is
    /// created for every key that has none.
    pub(crate) fn store_snapshot(&mut self, now_ms: i64, batch: &DatumBatch, out: &mut Out) {
        for (key, list) in batch.iter() {
            let Some(svc) = service_key_of(key) else { continue };
            self.store.data.insert(
                key.clone(),
                Datum { instances: Rc::new(instances_from(list)), timestamp: 1, key_ordered: false },
            );
            self.create_service_if_absent(now_ms, &svc, out);
        }
    }

    /// `processData`'s second loop, for one key: the Service takes the datum as it came, and
    /// the DataStore gets it again, over whatever a sync or registration put there since.
    pub(crate) fn apply_snapshot_key(&mut self, now_ms: i64, key: &Str, list: &[InstanceData], out: &mut Out) {
        if service_key_of(key).is_none() {
            return;
        }
        let instances = Rc::new(instances_from(list));
        self.store.data.insert(key.clone(), Datum { instances: instances.clone(), timestamp: 1, key_ordered: false });
        self.apply_list(now_ms, key, &instances, out);
    }

    /// `onReceiveChecksums` (R5.19) as a request arrives: the source's verification is marked
    /// in progress, and comparing its checksums with the local datums takes
    /// `WorkCost::checksums` of their instances. Returns the reply if it is refused at once;
    /// otherwise it is answered once compared (and fetched).
    pub(crate) fn on_checksums(&mut self, id: ExchangeId, c: &Rc<Sourced<(Str, u64)>>, out: &mut Out) -> Option<Msg> {
        if self.verify_in_progress.contains(&c.source) {
            out.observe(Observation::VerifyAborted {
                source: c.source.clone(),
                reason: "a verification from this source is in progress".into(),
            });
            return Some(Msg::Ok);
        }
        self.verify_in_progress.insert(c.source.clone());
        let instances: usize =
            c.checksums.iter().filter_map(|(k, _)| self.store.data.get(k)).map(|d| d.instances.len()).sum();
        let healthy_at_start = self.switches.behaviour.keep_keys_on_list_change.then(|| self.mapper.healthy.clone());
        let work = Rc::new(ChecksumWork { id, checksums: c.clone(), healthy_at_start });
        out.set_timer(self.config.work.checksums(instances), Timer::Server(ServerTimer::ChecksumsCompared(work)));
        None
    }

    /// The comparison's end: keys to fetch and keys to remove, as the mapper sees them now.
    pub(crate) fn checksums_compared(&mut self, now_ms: i64, work: &ChecksumWork, out: &mut Out) {
        let source = &work.checksums.source;
        if let Some(reply) = self.compare_checksums(now_ms, work, out) {
            self.verify_in_progress.remove(source);
            out.respond(work.id, reply);
        }
    }

    /// The body of `onReceiveChecksums`. Returns the reply, or `None` when it follows a fetch.
    fn compare_checksums(&mut self, now_ms: i64, work: &ChecksumWork, out: &mut Out) -> Option<Msg> {
        let (id, source, checksums) = (work.id, &work.checksums.source, &work.checksums.checksums);
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
                Some(d) if datum_checksum(d) == *sum => {
                    if self.switches.behaviour.refresh_last_beat_on_equal_checksum {
                        // Fix issue-7697 (commit c45762ed): the owner vouches for them.
                        d.instances.iter().filter(|i| i.healthy.get()).for_each(|i| i.last_beat.set(now_ms));
                    }
                }
                _ => to_update.push(key.clone()),
            }
        }
        let listed: BTreeSet<&Str> = checksums.iter().map(|(k, _)| k).collect();
        let mut to_remove: Vec<Str> = self
            .store
            .data
            .keys()
            .filter(|k| is_distro_key(k) && !listed.contains(k))
            .filter(|k| service_key_of(k).is_some_and(|s| self.mapper.map_srv(&s.name) == *source))
            .cloned()
            .collect();
        if work.healthy_at_start.as_ref().is_some_and(|h| *h != self.mapper.healthy) {
            // Fix issue-10323 (commit 23c45da6): the list changed meanwhile, remove nothing.
            to_remove.clear();
        }
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
        let x = out.request(node, Msg::DistroFetch(Rc::new(to_update)), SERVER_HTTP_TIMEOUTS);
        self.calls.insert(x, Call::Fetch { source: source.clone(), original: id });
        None
    }

    pub(crate) fn on_fetch_result(
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
}

/// A verification's checksums being compared: the request to answer, what it listed, and
/// (with fix `issue-10323`) the healthy list when the comparison started.
#[derive(Debug)]
pub struct ChecksumWork {
    id: ExchangeId,
    checksums: Rc<Sourced<(Str, u64)>>,
    healthy_at_start: Option<Vec<Str>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notifier_dedups_changes_but_not_deletes() {
        let mut n = Notifier::default();
        assert!(n.add("k".into(), NotifyAction::Change));
        assert!(!n.add("k".into(), NotifyAction::Change));
        n.add("k".into(), NotifyAction::Delete);
        n.add("k".into(), NotifyAction::Delete);
        let got: Vec<_> = std::iter::from_fn(|| n.pop()).map(|(_, a)| a).collect();
        assert_eq!(got, vec![NotifyAction::Change, NotifyAction::Delete, NotifyAction::Delete]);
    }
}
