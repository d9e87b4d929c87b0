//! The 1.4.x sync pipeline (spec R5.8–R5.15): `NacosDelayTaskExecuteEngine` with its two 1 s
//! stages, and `DistroSyncChangeTask`, which sends each due batch with the datums as they are
//! when it runs and retries failed keys after `syncRetryDelay`.

use super::distro_protocol::call_failure;
use crate::engine::{HttpError, NodeId};
use crate::naming::server::{Call, NamingServer, Out, SERVER_HTTP_TIMEOUTS};
use crate::naming::wire::*;
use crate::time::Dur;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

/// `nacos.naming.distro.taskDispatchPeriod` / 2: the delay of each stage (R5.8, R5.11).
pub const STAGE_DELAY_MS: i64 = 1000;
/// `nacos.naming.distro.syncRetryDelay` (R5.14).
pub const SYNC_RETRY_DELAY_MS: i64 = 5000;
/// `nacos.naming.distro.batchSyncKeyCount` (R5.11).
pub const BATCH_SYNC_KEY_COUNT: usize = 1000;
/// The delay engine's scan period (R5.10).
pub const TICK_MS: i64 = 100;

/// A delay-engine task key: stage 1 holds one datum key per target, stage 2 a combined batch
/// per (sequence, target).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum TaskKey {
    Single { key: Str, target: NodeId },
    Combined { seq: u64, target: NodeId },
}

#[derive(Debug)]
pub struct DelayTask {
    pub keys: BTreeSet<Str>,
    pub interval: i64,
    pub last_process: i64,
}

/// `NacosDelayTaskExecuteEngine` for Distro (R5.10–R5.12). Every action is CHANGE: deletions are
/// never synced in 1.4.x (R5.8).
#[derive(Default)]
pub struct DelayEngine {
    pub tasks: BTreeMap<TaskKey, DelayTask>,
    /// The global `DistroHttpCombinedKey` sequence.
    seq: u64,
}

impl DelayEngine {
    /// `addTask` with `DistroDelayTask.merge`: the deadline of a pending task does not move.
    pub fn add_single(&mut self, key: Str, target: NodeId, interval: i64, now_ms: i64) {
        let task = self.tasks.entry(TaskKey::Single { key: key.clone(), target }).or_insert(DelayTask {
            keys: BTreeSet::new(),
            interval,
            last_process: now_ms,
        });
        task.interval = interval;
        task.keys.insert(key);
    }

    /// Stage 1 → stage 2: the key joins the current combined task of its target; a batch that
    /// reaches `batchSyncKeyCount` becomes due at once and the sequence moves on (R5.11).
    fn add_combined(&mut self, key: Str, target: NodeId, now_ms: i64) {
        let task = self.tasks.entry(TaskKey::Combined { seq: self.seq, target }).or_insert(DelayTask {
            keys: BTreeSet::new(),
            interval: STAGE_DELAY_MS,
            last_process: now_ms,
        });
        task.keys.insert(key);
        if task.keys.len() >= BATCH_SYNC_KEY_COUNT {
            task.last_process = 0;
            self.seq += 1;
        }
    }

    /// One scan: due stage-2 tasks are returned as (target, keys) sync jobs; due stage-1 tasks
    /// then move to stage 2. (In Nacos the move happens on an executor thread after the scan has
    /// taken the due batches, so a key never joins a batch that is leaving in the same scan.)
    pub fn tick(&mut self, now_ms: i64) -> Vec<(NodeId, Vec<Str>)> {
        let due: Vec<TaskKey> =
            self.tasks.iter().filter(|(_, t)| now_ms - t.last_process >= t.interval).map(|(k, _)| k.clone()).collect();
        let mut jobs = Vec::new();
        let mut moved = Vec::new();
        for k in due {
            let task = self.tasks.remove(&k).expect("due task present");
            match k {
                TaskKey::Single { key, target } => moved.push((key, target)),
                TaskKey::Combined { target, .. } => jobs.push((target, task.keys.into_iter().collect())),
            }
        }
        for (key, target) in moved {
            self.add_combined(key, target, now_ms);
        }
        jobs
    }
}

impl NamingServer {
    pub(crate) fn distro_tick(&mut self, now_ms: i64, out: &mut Out) {
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

    /// The outcome of a sync: anything but 200 retries every key after `syncRetryDelay`.
    pub(crate) fn on_sync_result(
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
}

#[cfg(test)]
mod tests {
    use super::*;

    /// R5.10–R5.15: two 1 s stages, 100 ms scans, no sliding deadline, one batch per target.
    #[test]
    fn delay_engine_two_stages_without_sliding() {
        let mut e = DelayEngine::default();
        e.add_single("a".into(), 1, STAGE_DELAY_MS, 0);
        e.add_single("a".into(), 1, STAGE_DELAY_MS, 500); // merged: deadline stays at 1000
        e.add_single("b".into(), 1, STAGE_DELAY_MS, 950);
        let mut sent = Vec::new();
        for t in (100..=3000).step_by(100) {
            for job in e.tick(t) {
                sent.push((t, job));
            }
        }
        // a: stage 1 due at 1000, stage 2 due at 2000. b's stage 1 is due at the 2000 scan too,
        // but the batch leaving in that scan is already taken: b goes in the next one.
        let want: Vec<(i64, (NodeId, Vec<Str>))> = vec![(2000, (1, vec!["a".into()])), (3000, (1, vec!["b".into()]))];
        assert_eq!(sent, want);
    }
}
