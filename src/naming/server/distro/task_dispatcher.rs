//! The 1.2–1.3 sync pipeline (spec R5.29–R5.32): `TaskDispatcher`, whose schedulers flush a
//! batch only when a key arrives late enough, and `DataSyncer`, which drops keys already in
//! flight to a target and retries a failed task after 5 s. 1.0–1.1 run the same with a 200 ms
//! period.

use super::delay_engine::{BATCH_SYNC_KEY_COUNT, SYNC_RETRY_DELAY_MS};
use super::distro_mapper::java_hash_code;
use super::distro_protocol::call_failure;
use crate::engine::{HttpError, NodeId};
use crate::naming::server::{Call, NamingServer, Out, SERVER_HTTP_TIMEOUTS};
use crate::naming::wire::*;
use crate::time::Dur;
use std::rc::Rc;

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

impl NamingServer {
    /// 1.3 `DataSyncer.submit` of a new task (R5.31): keys already in flight to the target are
    /// dropped from it, so a newer change can be lost until verification repairs it.
    pub(crate) fn submit_sync_task(&mut self, target: NodeId, keys: &[Str], out: &mut Out) {
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
    pub(crate) fn run_sync_task(&mut self, target: NodeId, keys: Rc<Vec<Str>>, retry: u32, out: &mut Out) {
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
    pub(crate) fn on_sync_task_result(
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
}

#[cfg(test)]
mod tests {
    use super::*;

    /// R5.30: the first key flushes at once (lastDispatchTime starts at 0); a key within the
    /// period waits for a later key on the same scheduler.
    #[test]
    fn task_dispatcher_flushes_only_when_a_key_arrives_late_enough() {
        let mut d = TaskDispatcher::new(1, 2000);
        assert_eq!(d.add("a".into(), 5000), Some(vec!["a".into()]));
        assert_eq!(d.add("b".into(), 6000), None, "1 s after the flush: waits");
        assert_eq!(d.add("c".into(), 7000), None, "2 s is not more than the period");
        assert_eq!(d.add("d".into(), 7001), Some(vec!["b".into(), "c".into(), "d".into()]));
    }
}
