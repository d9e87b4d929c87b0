//! The local half of Distro (spec §5): the `DataStore` of instance-list datums, the single
//! notifier thread that applies them to Services (R5.23), and `DistroMapper` (R5.1–R5.5).
//!
//! Replication between servers goes through [`DelayEngine`], the two-stage
//! `NacosDelayTaskExecuteEngine` pipeline of 1.4.x (R5.9–R5.12).

use super::registry::InstanceRef;
use crate::engine::NodeId;
use crate::naming::wire::Str;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::rc::Rc;

/// A `Datum`: the instance list of one key. `timestamp` is always 1 for local puts (R1.24).
#[derive(Clone, Debug)]
pub struct Datum {
    pub instances: Rc<Vec<InstanceRef>>,
    pub timestamp: i64,
}

#[derive(Default)]
pub struct DataStore {
    pub data: BTreeMap<Str, Datum>,
}

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

/// `nacos.naming.distro.taskDispatchPeriod` / 2: the delay of each stage (R5.8, R5.11).
pub const STAGE_DELAY_MS: i64 = 1000;
/// `nacos.naming.distro.syncRetryDelay` (R5.14).
pub const SYNC_RETRY_DELAY_MS: i64 = 5000;
/// `nacos.naming.distro.batchSyncKeyCount` (R5.11).
pub const BATCH_SYNC_KEY_COUNT: usize = 1000;
/// The delay engine's scan period (R5.10).
pub const TICK_MS: i64 = 100;
/// `DistroVerifyTask` period (R5.17) and `DistroLoadDataTask` retry delay (R5.21).
pub const VERIFY_MS: i64 = 5000;
pub const LOAD_RETRY_MS: i64 = 30_000;

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

/// `nacos.naming.distro.taskDispatchPeriod` of 1.2–1.4, and of 1.0–1.1 (R5.30).
pub const TASK_DISPATCH_PERIOD_MS: i64 = 2000;
pub const TASK_DISPATCH_PERIOD_V11_MS: i64 = 200;

/// The 1.2–1.3 `TaskDispatcher` (R5.30): `cpuCoreCount` schedulers, a key goes to scheduler
/// `(hashCode & MAX_INT) % n`. A scheduler thread wakes on each key, adds it to its batch and
/// flushes the batch when it holds 1000 keys or the last flush is more than one period ago. A
/// timeout of its poll flushes nothing, so a key arriving soon after a flush waits for a later
/// key on the same scheduler, and without one is only repaired by verification.
pub struct TaskDispatcher {
    schedulers: Vec<Scheduler>,
    period: i64,
}

struct Scheduler {
    batch: Vec<Str>,
    /// Starts at 0 in Java, i.e. decades before any `currentTimeMillis`: the first key of a
    /// scheduler always flushes at once.
    last_dispatch: i64,
}

impl TaskDispatcher {
    pub fn new(cpu_cores: u32, period: i64) -> TaskDispatcher {
        let scheduler = || Scheduler { batch: Vec::new(), last_dispatch: i64::MIN / 2 };
        TaskDispatcher { schedulers: (0..cpu_cores.max(1)).map(|_| scheduler()).collect(), period }
    }

    /// `addTask(key)`: the batch to send to every peer now, if the key completed one.
    pub fn add(&mut self, key: Str, now_ms: i64) -> Option<Vec<Str>> {
        let n = self.schedulers.len();
        let s = &mut self.schedulers[(java_hash_code(&key) & i32::MAX) as usize % n];
        s.batch.push(key);
        if s.batch.len() >= BATCH_SYNC_KEY_COUNT || now_ms - s.last_dispatch > self.period {
            s.last_dispatch = now_ms;
            return Some(std::mem::take(&mut s.batch));
        }
        None
    }
}

/// Java `String.hashCode` over UTF-16 code units.
pub fn java_hash_code(s: &str) -> i32 {
    s.encode_utf16().fold(0i32, |h, u| h.wrapping_mul(31).wrapping_add(u as i32))
}

/// `distroHash` (R5.2): `abs(String.hashCode() % Integer.MAX_VALUE)` with Java semantics.
pub fn distro_hash(name: &str) -> u32 {
    (java_hash_code(name) % i32::MAX).unsigned_abs()
}

/// `DistroMapper` (R5.1–R5.5): who is responsible for a service name.
pub struct DistroMapper {
    /// Sorted addresses of UP and SUSPICIOUS members (all members at init).
    pub healthy: Vec<Str>,
    pub local: Str,
    pub standalone: bool,
    pub distro_enabled: bool,
}

impl DistroMapper {
    /// Inline, so a standalone server decides without reading the name (every beat asks,
    /// and the name's place in a request is often not cached yet).
    #[inline]
    pub fn responsible(&self, name: &str) -> bool {
        !self.distro_enabled || self.standalone || self.responsible_in_cluster(name)
    }

    fn responsible_in_cluster(&self, name: &str) -> bool {
        if self.healthy.is_empty() {
            return false;
        }
        let (Some(index), Some(last)) =
            (self.healthy.iter().position(|a| *a == self.local), self.healthy.iter().rposition(|a| *a == self.local))
        else {
            return true;
        };
        let target = distro_hash(name) as usize % self.healthy.len();
        index <= target && target <= last
    }

    pub fn map_srv(&self, name: &str) -> Str {
        if self.healthy.is_empty() || !self.distro_enabled {
            return self.local.clone();
        }
        self.healthy[distro_hash(name) as usize % self.healthy.len()].clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The spec's examples, verified with a JVM (R5.2).
    #[test]
    fn distro_hash_matches_java() {
        assert_eq!(distro_hash("com.taobao.service"), 915148290);
        assert_eq!(distro_hash("DEFAULT_GROUP@@test-service"), 1531823483);
        assert_eq!(distro_hash("DEFAULT_GROUP@@nacos.test.1"), 301437168);
    }

    #[test]
    fn responsibility_edge_cases() {
        let m = |healthy: &[&str], local: &str| DistroMapper {
            healthy: healthy.iter().map(|s| (*s).into()).collect(),
            local: local.into(),
            standalone: false,
            distro_enabled: true,
        };
        assert!(!m(&[], "a").responsible("x"), "empty list ⇒ false");
        assert!(m(&["b", "c"], "a").responsible("x"), "self not in list ⇒ responsible for everything");
        let three = ["10.0.0.1:8848", "10.0.0.2:8848", "10.0.0.3:8848"];
        let owners: Vec<usize> =
            (0..3).filter(|&i| m(&three, three[i]).responsible("DEFAULT_GROUP@@test-service")).collect();
        assert_eq!(owners, vec![(1531823483 % 3) as usize]);
        assert_eq!(&*m(&three, three[0]).map_srv("DEFAULT_GROUP@@test-service"), three[(1531823483 % 3) as usize]);
    }

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

    /// R5.30: the first key flushes at once (lastDispatchTime starts at 0); a key within the
    /// period waits for a later key on the same scheduler.
    #[test]
    fn task_dispatcher_flushes_only_when_a_key_arrives_late_enough() {
        let mut d = TaskDispatcher::new(1, TASK_DISPATCH_PERIOD_MS);
        assert_eq!(d.add("a".into(), 5000), Some(vec!["a".into()]));
        assert_eq!(d.add("b".into(), 6000), None, "1 s after the flush: waits");
        assert_eq!(d.add("c".into(), 7000), None, "2 s is not more than the period");
        assert_eq!(d.add("d".into(), 7001), Some(vec!["b".into(), "c".into(), "d".into()]));
    }

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
