//! `HealthCheckTask` (spec R8.1–R8.3, R8.8): a cluster's probe round, re-armed after each run
//! with the adaptive delay `checkRtNormalized`.
//!
//! Java creates the task with every cluster (`Cluster.init`), also for clusters that only ever
//! hold ephemeral instances, where a round probes nothing and the delay never moves: the task
//! runs at creation + k × delay. Here the task is created when a cluster first holds a
//! persistent instance, on that same phase, so ephemeral-only clusters cost no timers.

use crate::naming::wire::{ServiceKey, Str};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::rc::Rc;

/// `TcpSuperSenseProcessor`'s `TCP_HEALTH_PARAMS`: min, max and factor of the delay (R8.8).
pub const TCP_MIN_MS: i64 = 1000;
pub const TCP_MAX_MS: i64 = 5000;
const TCP_FACTOR: f64 = 0.75;

/// A cluster: its service and its name.
pub type ClusterKey = Rc<(ServiceKey, Str)>;

#[derive(Debug)]
pub struct HealthCheckTask {
    /// The key its timer carries: a task whose cluster was destroyed (and maybe created again)
    /// stops, as `cancelled` makes it.
    pub token: ClusterKey,
    /// `checkRtNormalized`, the delay to the next round.
    pub normalized: i64,
    /// `startTime`, reset when the task re-arms: a successful probe's rt counts from it.
    pub start_ms: i64,
}

impl HealthCheckTask {
    /// A new task: `2000 + nextInt(0, nextInt(0, 5000))`, in [2000, 7000) and skewed low
    /// (R8.2; Java's `nextInt(0, 0)` is 0).
    pub fn new(token: ClusterKey, rng: &mut ChaCha8Rng) -> HealthCheckTask {
        let outer = rng.gen_range(0..TCP_MAX_MS);
        let normalized = 2000 + if outer == 0 { 0 } else { rng.gen_range(0..outer) };
        HealthCheckTask { token, normalized, start_ms: 0 }
    }

    /// The first round at or after `now_ms` on the phase of a task created at `created_ms`
    /// (after `created_ms` itself: a task runs one delay after it is scheduled).
    pub fn first_run(&self, created_ms: i64, now_ms: i64) -> i64 {
        let rounds = ((now_ms - created_ms).max(0) / self.normalized) + 1;
        created_ms + rounds * self.normalized
    }

    /// `reEvaluateCheckRT` (R8.8): an exponential average toward `rt`, clamped to [1 s, 5 s].
    pub fn re_evaluate(&mut self, rt: i64) {
        let avg = (TCP_FACTOR * self.normalized as f64 + (1.0 - TCP_FACTOR) * rt as f64) as i64;
        self.normalized = avg.clamp(TCP_MIN_MS, TCP_MAX_MS);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn task(normalized: i64) -> HealthCheckTask {
        let key = ServiceKey { namespace: "public".into(), name: "DEFAULT_GROUP@@db".into() };
        HealthCheckTask { token: Rc::new((key, "DEFAULT".into())), normalized, start_ms: 0 }
    }

    /// R8.8: successes (rt about 0) bring the delay down geometrically to the 1 s floor;
    /// refusals (rt 5000) push it to the 5 s ceiling.
    #[test]
    fn check_rt_normalized_converges_to_1000_ms_when_healthy() {
        let mut t = task(4000);
        let seen: Vec<i64> = (0..6)
            .map(|_| {
                t.re_evaluate(2);
                t.normalized
            })
            .collect();
        assert_eq!(seen, [3000, 2250, 1688, 1266, 1000, 1000]);
        for _ in 0..40 {
            t.re_evaluate(5000);
        }
        assert_eq!(t.normalized, 4997, "truncating the average stalls it just below 5000");
    }

    #[test]
    fn a_new_task_waits_2_to_7_s_on_its_clusters_phase() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let key = task(0).token;
        for _ in 0..100 {
            let t = HealthCheckTask::new(key.clone(), &mut rng);
            assert!((2000..7000).contains(&t.normalized), "{}", t.normalized);
        }
        let t = task(3000);
        assert_eq!((t.first_run(1000, 1000), t.first_run(1000, 7000), t.first_run(1000, 7001)), (4000, 10_000, 10_000));
    }
}
