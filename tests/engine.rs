//! Engine tests with exact expectations, using the ping node and small test nodes.

use nacos_sim::engine::network::{Latency, LinkConfig};
use nacos_sim::engine::ping::{PingNode, PingObs};
use nacos_sim::engine::{Clock, Engine, Fault, HttpError, Input, Node, Outputs, TimerId};
use nacos_sim::time::{Dur, Time};
use rand_chacha::ChaCha8Rng;

fn ms(v: i64) -> Time {
    Time::from_millis(v)
}

fn link(latency_ms: i64) -> LinkConfig {
    LinkConfig { latency: Latency::Fixed(Dur::from_millis(latency_ms)), ..LinkConfig::default() }
}

fn pings(n: usize, period_ms: i64) -> Vec<(PingNode, Clock)> {
    (0..n as u32)
        .map(|i| {
            let peers = (0..n as u32).filter(|&p| p != i).collect();
            (PingNode::new(peers, Dur::from_millis(period_ms)), Clock::default())
        })
        .collect()
}

fn obs_of(e: &Engine<PingNode>, node: u32) -> Vec<(i64, PingObs)> {
    e.records.iter().filter(|r| r.node == node).map(|r| (r.at.0, r.obs.clone())).collect()
}

#[test]
fn udp_ping_arrives_after_exact_latency() {
    let mut e = Engine::new(1, pings(2, 1000), link(3));
    e.run_until(ms(1003));
    let got = obs_of(&e, 1);
    assert!(got.contains(&(ms(1003).0, PingObs::GotPing { from: 0, seq: 1 })), "{got:?}");
    e.run_until(ms(1006));
    assert!(obs_of(&e, 0).contains(&(ms(1006).0, PingObs::GotPong { seq: 1 })));
}

/// Two nodes whose timers fire at the same instant run in scheduling order, every time.
#[test]
fn simultaneous_events_run_in_insertion_order() {
    let mut e = Engine::new(1, pings(3, 1000), link(1));
    e.run_until(ms(1000));
    let ticks: Vec<u32> = e
        .records
        .iter()
        .filter(|r| r.at == ms(1000) && matches!(r.obs, PingObs::Tick { .. }))
        .map(|r| r.node)
        .collect();
    assert_eq!(ticks, vec![0, 1, 2]);
}

/// A node that sets two timers and cancels the first.
struct Canceller {
    first: Option<TimerId>,
}
impl Node for Canceller {
    type Msg = ();
    type Timer = &'static str;
    type Cmd = ();
    type Obs = (&'static str, i64);
    fn handle(
        &mut self,
        now: Time,
        input: Input<(), &'static str, ()>,
        _: &mut ChaCha8Rng,
        out: &mut Outputs<(), &'static str, (&'static str, i64)>,
    ) {
        match input {
            Input::Start => {
                self.first = Some(out.set_timer(Dur::from_millis(10), "first"));
                out.set_timer(Dur::from_millis(5), "cancel");
                out.set_timer(Dur::from_millis(20), "second");
            }
            Input::Timer { timer: "cancel", .. } => out.cancel_timer(self.first.take().unwrap()),
            Input::Timer { timer, .. } => out.observe((timer, now.as_millis())),
            _ => {}
        }
    }
    fn crash(&mut self, _wipe_disk: bool) {}
}

/// Two nodes tick at the same instant; each tick sets a timer due at once, and the first such
/// timer sets another: every timer due now must wait for what was queued before it.
struct HandOff;
impl Node for HandOff {
    type Msg = ();
    type Timer = &'static str;
    type Cmd = ();
    type Obs = (&'static str, i64);
    fn handle(
        &mut self,
        now: Time,
        input: Input<(), &'static str, ()>,
        _: &mut ChaCha8Rng,
        out: &mut Outputs<(), &'static str, (&'static str, i64)>,
    ) {
        let Input::Timer { timer, .. } = input else {
            out.set_timer(Dur::from_millis(10), "tick");
            return;
        };
        out.observe((timer, now.as_millis()));
        match timer {
            "tick" => {
                out.set_timer(Dur::ZERO, "now");
                let doomed = out.set_timer(Dur::ZERO, "cancelled");
                out.cancel_timer(doomed);
            }
            "now" => {
                out.set_timer(Dur::ZERO, "again");
            }
            _ => {}
        }
    }
    fn crash(&mut self, _wipe_disk: bool) {}
}

#[test]
fn timers_due_now_keep_the_queue_order() {
    let nodes = vec![(HandOff, Clock::default()), (HandOff, Clock::default())];
    let mut e = Engine::new(1, nodes, link(1));
    e.run_until(ms(100));
    let seen: Vec<_> = e.records.iter().map(|r| (r.node, r.obs.0, r.obs.1)).collect();
    assert_eq!(
        seen,
        [(0, "tick", 10), (1, "tick", 10), (0, "now", 10), (1, "now", 10), (0, "again", 10), (1, "again", 10)]
    );
    assert_eq!(e.pending_events(), 0);
}

#[test]
fn cancelled_timer_never_fires() {
    let mut e = Engine::new(1, vec![(Canceller { first: None }, Clock::default())], link(1));
    e.run_until(ms(100));
    let seen: Vec<_> = e.records.iter().map(|r| r.obs).collect();
    assert_eq!(seen, vec![("second", 20)]);
}

/// Every millisecond: cancel the timer set a millisecond ago (it has just fired, so the cancel
/// comes too late) and set a new one. At the start, also set a timer for 30 s and cancel it.
struct LateCanceller {
    last: Option<TimerId>,
}
impl Node for LateCanceller {
    type Msg = ();
    type Timer = &'static str;
    type Cmd = ();
    type Obs = (&'static str, i64);
    fn handle(
        &mut self,
        now: Time,
        input: Input<(), &'static str, ()>,
        _: &mut ChaCha8Rng,
        out: &mut Outputs<(), &'static str, (&'static str, i64)>,
    ) {
        match input {
            Input::Start | Input::Timer { timer: "tick", .. } => {
                if matches!(input, Input::Start) {
                    let doomed = out.set_timer(Dur::from_secs(30), "cancelled");
                    out.cancel_timer(doomed);
                }
                if let Some(fired) = self.last.take() {
                    out.cancel_timer(fired);
                }
                self.last = Some(out.set_timer(Dur::from_millis(1), "tick"));
            }
            Input::Timer { timer, .. } => out.observe((timer, now.as_millis())),
            _ => {}
        }
    }
    fn crash(&mut self, _wipe_disk: bool) {}
}

#[test]
fn cancels_of_fired_timers_are_forgotten_and_pending_ones_kept() {
    let mut e = Engine::new(1, vec![(LateCanceller { last: None }, Clock::default())], link(1));
    e.run_until(ms(20_000));
    // 20 000 cancels came too late; only the last purge's leftovers and the pending one remain.
    let remembered = e.cancelled_timers();
    assert!((1..1024).contains(&remembered), "{remembered} cancelled ids remembered");
    e.run_until(ms(31_000));
    assert!(e.records.is_empty(), "the cancelled 30 s timer fired: {:?}", e.records.first().map(|r| r.obs));
}

#[test]
fn clock_skew_and_drift_are_seen_by_the_node_and_jumps_do_not_move_timers() {
    let mut nodes = pings(2, 1000);
    nodes[0].1 = Clock { offset: Dur::from_millis(-250), drift_ppm: 0.0 };
    nodes[1].1 = Clock { offset: Dur::ZERO, drift_ppm: 1000.0 }; // 1 ms fast per second
    let mut e = Engine::new(1, nodes, link(1));
    e.schedule_fault(ms(1500), Fault::ClockJump { node: 0, by: Dur::from_secs(60) });
    e.run_until(ms(3000));
    let ticks = |n| -> Vec<(i64, i64)> {
        obs_of(&e, n)
            .into_iter()
            .filter_map(|(at, o)| match o {
                PingObs::Tick { local_ms } => Some((at / 1_000_000, local_ms)),
                _ => None,
            })
            .collect()
    };
    // Node 0: 250 ms behind, then 60 s ahead; its 1 s timers keep firing at global 1 s, 2 s, 3 s.
    assert_eq!(ticks(0), vec![(1000, 750), (2000, 61_750), (3000, 62_750)]);
    // Node 1: a fast clock runs timers early in global time (1 s local = 999 ms global).
    let t1 = ticks(1);
    assert_eq!(t1[0], (999, 1000));
    assert_eq!(t1[1], (1998, 2000));
}

#[test]
fn symmetric_partition_drops_both_ways_and_heals() {
    let mut e = Engine::new(1, pings(2, 1000), link(1));
    e.schedule_fault(ms(500), Fault::Block { pairs: vec![(0, 1), (1, 0)], heal: false });
    e.schedule_fault(ms(2500), Fault::Block { pairs: vec![(0, 1), (1, 0)], heal: true });
    e.run_until(ms(3500));
    let pings_at = |n| -> Vec<i64> {
        obs_of(&e, n)
            .into_iter()
            .filter(|(_, o)| matches!(o, PingObs::GotPing { .. }))
            .map(|(t, _)| t / 1_000_000)
            .collect()
    };
    assert_eq!(pings_at(0), vec![3001]);
    assert_eq!(pings_at(1), vec![3001]);
}

#[test]
fn one_way_partition_drops_only_that_direction() {
    let mut e = Engine::new(1, pings(2, 1000), link(1));
    e.schedule_fault(ms(500), Fault::Block { pairs: vec![(0, 1)], heal: false });
    e.run_until(ms(2500));
    let count = |n, f: fn(&PingObs) -> bool| obs_of(&e, n).iter().filter(|(_, o)| f(o)).count();
    assert_eq!(count(1, |o| matches!(o, PingObs::GotPing { .. })), 0, "0 -> 1 is cut");
    assert_eq!(count(0, |o| matches!(o, PingObs::GotPing { .. })), 2, "1 -> 0 still flows");
    assert_eq!(count(1, |o| matches!(o, PingObs::GotPong { .. })), 0, "pongs 0 -> 1 are cut too");
}

fn http_pings(n: usize) -> Vec<(PingNode, Clock)> {
    let mut v = pings(n, 1000);
    v.iter_mut().for_each(|(p, _)| p.http = true);
    v
}

#[test]
fn crashed_process_refuses_connections_and_loses_state() {
    let mut nodes = http_pings(2);
    nodes[1].0.peers.clear();
    let mut e = Engine::new(1, nodes, link(2));
    e.schedule_fault(ms(1500), Fault::Crash { node: 1, host_down: false, wipe_disk: false });
    e.run_until(ms(2100));
    let got = obs_of(&e, 0);
    assert!(got.contains(&(ms(1004).0, PingObs::EchoOk { seq: 1 })), "{got:?}");
    // Refused one round trip (2 + 2 ms) after the request at 2000 ms.
    assert!(got.contains(&(ms(2004).0, PingObs::EchoFailed { err: HttpError::ConnectionRefused })), "{got:?}");
    e.schedule_fault(ms(2200), Fault::Restart { node: 1 });
    e.run_until(ms(3100));
    assert!(obs_of(&e, 1).contains(&(ms(2200).0, PingObs::Started)));
    assert!(obs_of(&e, 0).contains(&(ms(3004).0, PingObs::EchoOk { seq: 3 })));
}

#[test]
fn crashed_node_state_is_wiped() {
    let mut e = Engine::new(1, pings(2, 1000), link(1));
    e.run_until(ms(3500));
    assert_eq!(e.node(0).seq, 3);
    e.schedule_fault(ms(3600), Fault::Crash { node: 0, host_down: false, wipe_disk: false });
    e.schedule_fault(ms(3700), Fault::Restart { node: 0 });
    e.run_until(ms(4800));
    // Restarted at 3.7 s: state gone, and the old life's 4 s timer did not fire.
    assert_eq!(e.node(0).seq, 1);
    let ticks: Vec<i64> = obs_of(&e, 0)
        .into_iter()
        .filter(|(_, o)| matches!(o, PingObs::Tick { .. }))
        .map(|(t, _)| t / 1_000_000)
        .collect();
    assert_eq!(ticks, vec![1000, 2000, 3000, 4700]);
}

#[test]
fn host_down_gives_connect_timeout() {
    let mut nodes = http_pings(2);
    nodes[1].0.peers.clear();
    let mut e = Engine::new(1, nodes, link(2));
    e.schedule_fault(ms(1500), Fault::Crash { node: 1, host_down: true, wipe_disk: false });
    e.run_until(ms(5100));
    assert!(obs_of(&e, 0).contains(&(ms(5000).0, PingObs::EchoFailed { err: HttpError::ConnectTimeout })));
}

/// A lost SYN is retransmitted 1 s later, then after doubling intervals, within the 3 s connect
/// timeout: a partition that heals before the timeout lets a later SYN through.
#[test]
fn lost_syn_is_retransmitted_until_the_connect_timeout() {
    let mut nodes = http_pings(2);
    nodes[1].0.peers.clear();
    let mut e = Engine::new(1, nodes, link(2));
    e.schedule_fault(ms(900), Fault::Block { pairs: vec![(0, 1)], heal: false });
    e.schedule_fault(ms(2500), Fault::Block { pairs: vec![(0, 1)], heal: true });
    e.run_until(ms(4100));
    let got = obs_of(&e, 0);
    // Echo 1, sent at 1 s: SYNs at 1 s and 2 s are lost, the next would be at 4 s, which is the
    // connect timeout.
    assert!(got.contains(&(ms(4000).0, PingObs::EchoFailed { err: HttpError::ConnectTimeout })), "{got:?}");
    // Echo 2, sent at 2 s: its retransmission at 3 s passes the healed link.
    assert!(got.contains(&(ms(3004).0, PingObs::EchoOk { seq: 2 })), "{got:?}");
    // Echo 3, sent at 3 s, connects at once.
    assert!(got.contains(&(ms(3004).0, PingObs::EchoOk { seq: 3 })), "{got:?}");
    assert_eq!(got.iter().filter(|(_, o)| matches!(o, PingObs::EchoFailed { .. })).count(), 1, "{got:?}");
}

#[test]
fn paused_node_processes_backlog_on_resume() {
    let mut nodes = http_pings(2);
    nodes[1].0.peers.clear();
    nodes[0].0.timeouts.read = Dur::from_millis(1500);
    let mut e = Engine::new(1, nodes, link(2));
    e.schedule_fault(ms(500), Fault::Pause { node: 1 });
    e.schedule_fault(ms(3200), Fault::Resume { node: 1 });
    e.run_until(ms(4000));
    let got = obs_of(&e, 0);
    // Requests at 1 s, 2 s and 3 s queue at the paused node; the caller gives up on the first
    // after 1.5 s; on resume at 3.2 s the backlog is answered in order and arrives at 3.202 s.
    let echoes: Vec<_> =
        got.iter().filter(|(_, o)| matches!(o, PingObs::EchoOk { .. } | PingObs::EchoFailed { .. })).cloned().collect();
    assert_eq!(
        echoes,
        vec![
            (ms(2500).0, PingObs::EchoFailed { err: HttpError::ReadTimeout }),
            (ms(3202).0, PingObs::EchoOk { seq: 2 }),
            (ms(3202).0, PingObs::EchoOk { seq: 3 }),
        ]
    );
}

#[test]
fn tcp_loss_costs_retransmission_delay_not_the_request() {
    let mut nodes = http_pings(2);
    nodes[1].0.peers.clear();
    nodes[0].0.timeouts.read = Dur::from_secs(1000);
    let cfg = LinkConfig { tcp_loss: 0.5, ..link(10) };
    let mut e = Engine::new(7, nodes, cfg);
    e.run_until(ms(2_000_000));
    let mut rtts = Vec::new();
    for (at, o) in obs_of(&e, 0) {
        if let PingObs::EchoOk { seq } = o {
            if seq > 200 {
                continue;
            }
            rtts.push(at / 1_000_000 - seq as i64 * 1000);
        }
    }
    assert_eq!(rtts.len(), 200, "every request eventually succeeds");
    // Each one-way trip costs 10 ms plus 200 ms · (2^k - 1) for k consecutive losses.
    let valid_one_way: Vec<i64> = (0..16).map(|k| 10 + 200 * ((1 << k) - 1)).collect();
    for r in &rtts {
        assert!(valid_one_way.iter().any(|a| valid_one_way.iter().any(|b| a + b == *r)), "rtt {r}");
    }
    let clean = rtts.iter().filter(|&&r| r == 20).count();
    // P(no loss on both trips) = 1/4: 50 ± 4σ over 200 trials.
    assert!((26..=74).contains(&clean), "clean {clean}");
}

#[test]
fn udp_loss_rate_is_within_binomial_bounds() {
    let n_rounds = 10_000;
    let mut nodes = pings(2, 1);
    nodes[1].0.peers.clear();
    let cfg = LinkConfig { udp_loss: 0.1, ..link(0) };
    let mut e = Engine::new(3, nodes, cfg);
    e.record = true;
    e.run_until(ms(n_rounds));
    let got = obs_of(&e, 1).iter().filter(|(_, o)| matches!(o, PingObs::GotPing { .. })).count() as f64;
    let n = n_rounds as f64;
    let (p, sd) = (0.9, (n * 0.9 * 0.1f64).sqrt());
    assert!((got - n * p).abs() < 4.0 * sd, "delivered {got} of {n}");
}

#[test]
fn same_seed_same_hash_different_seed_different_hash() {
    let run = |seed| {
        let cfg = LinkConfig {
            latency: Latency::Uniform(Dur::from_millis(1), Dur::from_millis(9)),
            udp_loss: 0.2,
            ..LinkConfig::default()
        };
        let mut e = Engine::new(seed, pings(4, 100), cfg);
        e.run_until(ms(10_000));
        e.trace_hash()
    };
    assert_eq!(run(1), run(1));
    assert_ne!(run(1), run(2));
}
