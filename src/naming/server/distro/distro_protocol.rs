//! `DistroProtocol` (spec R5.8, R5.17–R5.18, R5.21): what a server starting in cluster mode
//! runs: the sync of each local change to every other member, `DistroVerifyTask` every 5 s,
//! and `DistroLoadDataTask`, the snapshot load from the first peer that answers; with the
//! `DistroController` reads (`/distro/datum`, `/distro/datums`) that serve them.

use super::data_store::datum_checksum;
use super::delay_engine::{STAGE_DELAY_MS, TICK_MS};
use crate::engine::{HttpError, NodeId};
use crate::naming::server::key_builder::{is_distro_key, service_key_of};
use crate::naming::server::member_manager::REPORT_INITIAL_MS;
use crate::naming::server::service_reporter::SERVICE_REPORT_INITIAL_MS;
use crate::naming::server::{Call, NamingServer, Out, SERVER_HTTP_TIMEOUTS};
use crate::naming::versions::{Membership, SyncPipeline};
use crate::naming::wire::*;
use crate::time::Dur;
use std::rc::Rc;

/// `DistroVerifyTask` period (R5.17) and `DistroLoadDataTask` retry delay (R5.21).
const VERIFY_MS: i64 = 5000;
const LOAD_RETRY_MS: i64 = 30_000;

/// Why a server-to-server call did not get its 200 `ok`, or `None` if it did.
pub(super) fn call_failure(result: Result<Msg, HttpError>) -> Option<String> {
    match result {
        Ok(Msg::Ok) => None,
        Ok(Msg::Error { status, message }) => Some(format!("HTTP {status}: {message}")),
        Ok(other) => Some(format!("unexpected {other:?}")),
        Err(e) => Some(format!("{e:?}")),
    }
}

impl NamingServer {
    pub(crate) fn cluster_mode(&self) -> bool {
        self.config.members.len() > 1
    }

    /// Timers and the load task of a server starting in cluster mode.
    pub(crate) fn start_cluster(&mut self, out: &mut Out) {
        if !self.cluster_mode() {
            return;
        }
        let behaviour = self.switches.behaviour;
        if behaviour.sync == SyncPipeline::DelayEngine {
            out.set_timer(Dur::from_millis(TICK_MS), Timer::Server(ServerTimer::DistroTick));
        }
        if !behaviour.verify_after_load {
            out.set_timer(Dur::from_millis(VERIFY_MS), Timer::Server(ServerTimer::DistroVerify));
        }
        if behaviour.membership == Membership::ServerListManager {
            let period = behaviour.server_list.period_ms;
            out.set_timer(Dur::from_millis(period), Timer::Server(ServerTimer::ServerListReport));
        } else {
            out.set_timer(Dur::from_millis(REPORT_INITIAL_MS), Timer::Server(ServerTimer::MemberReport));
        }
        out.set_timer(Dur::from_millis(SERVICE_REPORT_INITIAL_MS), Timer::Server(ServerTimer::ServiceReport));
        out.observe(Observation::SnapshotLoadStarted);
        self.load_from(0, out);
    }

    /// An asynchronous call to every other member, whatever its state, whose answer nobody reads
    /// (verification checksums, service status, 1.1 status beats).
    pub(crate) fn tell_peers(&mut self, msg: Msg, out: &mut Out) {
        let targets: Vec<NodeId> = self.members.others().map(|m| m.node).collect();
        for t in targets {
            let x = out.request(t, msg.clone(), SERVER_HTTP_TIMEOUTS);
            self.calls.insert(x, Call::Ignore);
        }
    }

    /// 1.4: `DistroProtocol.sync`, one stage-1 task per other member, whatever its state (R5.9).
    /// 1.3: `TaskDispatcher.addTask`, then a `SyncTask` per other member when a batch flushes.
    pub(crate) fn distro_sync(&mut self, key: &Str, now_ms: i64, out: &mut Out) {
        if !self.cluster_mode() || !is_distro_key(key) {
            return;
        }
        let targets: Vec<NodeId> = self.members.others().map(|m| m.node).collect();
        match self.switches.behaviour.sync {
            SyncPipeline::DelayEngine => {
                for t in targets {
                    self.delay.add_single(key.clone(), t, STAGE_DELAY_MS, now_ms);
                }
            }
            SyncPipeline::TaskDispatcher { .. } => {
                let Some(batch) = self.dispatcher.add(key.clone(), now_ms) else { return };
                for t in targets {
                    self.submit_sync_task(t, &batch, out);
                }
            }
        }
    }

    pub(crate) fn batch_get<'a>(&self, keys: impl Iterator<Item = &'a Str>) -> DatumBatch {
        keys.filter_map(|k| {
            let d = self.store.data.get(k)?;
            Some((k.clone(), Rc::new(d.instances.iter().map(|i| i.to_data()).collect::<Vec<_>>())))
        })
        .collect()
    }

    pub(crate) fn distro_verify(&mut self, out: &mut Out) {
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

    /// GET `/distro/datum` (fetch, the source does not check its responsibility) and
    /// `/distro/datums` (snapshot: everything).
    pub(crate) fn on_fetch(&self, keys: Option<&[Str]>) -> Msg {
        let batch = match keys {
            Some(keys) => self.batch_get(keys.iter()),
            None => self.batch_get(self.store.data.keys().filter(|k| is_distro_key(k))),
        };
        Msg::DistroData(Rc::new(batch))
    }

    /// Try the peers in member order, any state; the first answer (even empty) ends the load.
    pub(crate) fn load_from(&mut self, index: usize, out: &mut Out) {
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

    pub(crate) fn on_load_result(
        &mut self,
        now_ms: i64,
        index: usize,
        peer: NodeId,
        result: Result<Msg, HttpError>,
        out: &mut Out,
    ) {
        match result {
            Ok(Msg::DistroData(batch)) => {
                let instances = batch.iter().map(|(_, list)| list.len()).sum();
                let parse = self.config.work.parse(instances);
                self.loading = Some(SnapshotLoad { source: peer, batch, stored: false, next: 0 });
                if parse == Dur::ZERO {
                    self.load_step(now_ms, out);
                } else {
                    out.set_timer(parse, Timer::Server(ServerTimer::LoadStep));
                }
            }
            _ => self.load_from(index + 1, out),
        }
    }

    /// The load thread's next piece of work is done: the parse (every datum is then stored and
    /// every missing service created, R5.20 first loop), or the Service of one more key is
    /// updated (second loop). After the last key the load is done (`initialized`).
    pub(crate) fn load_step(&mut self, now_ms: i64, out: &mut Out) {
        let Some(load) = self.loading.as_mut() else { return };
        let batch = load.batch.clone();
        if !load.stored {
            load.stored = true;
            self.store_snapshot(now_ms, &batch, out);
        } else {
            let (key, list) = &batch[load.next];
            load.next += 1;
            self.apply_snapshot_key(now_ms, key, list, out);
        }
        let Some(load) = self.loading.as_ref() else { return };
        if let Some((_, list)) = batch.get(load.next) {
            out.set_timer(self.config.work.apply(list.len()), Timer::Server(ServerTimer::LoadStep));
            return;
        }
        let source = load.source;
        self.loading = None;
        self.initialized = true;
        out.observe(Observation::SnapshotLoadDone {
            source: self.member_address(source).into(),
            keys: batch.len() as u32,
        });
        if self.switches.behaviour.verify_after_load {
            // Fix pr-8437: verification starts now, as it did at start without it.
            out.set_timer(Dur::from_millis(VERIFY_MS), Timer::Server(ServerTimer::DistroVerify));
        }
    }
}

/// A snapshot on the load thread: parsed and stored (`stored`), then applied key by key.
pub struct SnapshotLoad {
    source: NodeId,
    batch: Rc<DatumBatch>,
    stored: bool,
    /// The next key of `batch` to apply.
    next: usize,
}
