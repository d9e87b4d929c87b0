//! Engine throughput with a periodic-timer workload at 1k, 100k and 1M pending events, next to a
//! bare `BinaryHeap` push+pop at the same queue size. Run with `cargo bench --bench engine`.

use nacos_sim::engine::network::LinkConfig;
use nacos_sim::engine::{Clock, Engine, Input, Node, Outputs};
use nacos_sim::time::{Dur, Time};
use rand_chacha::ChaCha8Rng;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::hint::black_box;
use std::time::Instant;

/// Keeps `pending` periodic timers alive; every firing re-arms its timer one period later.
struct Periodic {
    pending: u64,
    period: Dur,
    fired: u64,
}

impl Node for Periodic {
    type Msg = ();
    type Timer = u32;
    type Cmd = ();
    type Obs = ();
    fn handle(&mut self, _: Time, input: Input<(), u32, ()>, _: &mut ChaCha8Rng, out: &mut Outputs<(), u32, ()>) {
        match input {
            Input::Start => {
                for i in 0..self.pending {
                    // Spread the phases so the queue really holds `pending` distinct times.
                    out.set_timer(Dur(self.period.0 * i as i64 / self.pending as i64 + 1), i as u32);
                }
            }
            Input::Timer { timer, .. } => {
                self.fired += 1;
                out.set_timer(self.period, timer);
            }
            _ => {}
        }
    }
    fn crash(&mut self, _wipe_disk: bool) {}
}

fn engine_ns_per_event(pending: u64, events: u64) -> f64 {
    let node = Periodic { pending, period: Dur::from_secs(5), fired: 0 };
    let mut e = Engine::new(1, vec![(node, Clock::default())], LinkConfig::default());
    e.record = false;
    // Warm up one full period so the slab and heap are at size.
    e.run_until(Time::from_millis(5001));
    let start = Instant::now();
    for _ in 0..events {
        e.step_one();
    }
    let ns = start.elapsed().as_nanos() as f64 / events as f64;
    black_box(e.trace_hash());
    ns
}

fn heap_ns_per_op(pending: u64, ops: u64) -> f64 {
    let mut h: BinaryHeap<Reverse<(i64, u64)>> =
        (0..pending).map(|i| Reverse((i as i64 * 7919 % 5_000_000, i))).collect();
    let mut seq = pending;
    let start = Instant::now();
    for _ in 0..ops {
        let Reverse((t, _)) = h.pop().expect("non-empty");
        seq += 1;
        h.push(Reverse((t + 5_000_000, seq)));
    }
    let ns = start.elapsed().as_nanos() as f64 / ops as f64;
    black_box(h.len());
    ns
}

fn main() {
    println!("| pending events | engine ns/event | events/s | bare BinaryHeap push+pop ns | ratio |");
    println!("|---:|---:|---:|---:|---:|");
    for &pending in &[1_000u64, 100_000, 1_000_000] {
        let n = 3_000_000;
        let e = engine_ns_per_event(pending, n);
        let h = heap_ns_per_op(pending, n);
        println!("| {pending} | {e:.1} | {:.2}M | {h:.1} | {:.2}x |", 1e3 / e, e / h);
    }
}
