//! The deterministic engine: virtual time, the event loop, per-node clocks, the network and faults.
//!
//! The engine owns everything that is not protocol logic. Nodes are sans-IO state machines
//! ([`Node`]): they get their local time and one input, and write what they want done into an
//! engine-owned [`Outputs`] buffer. The engine turns sends into deliveries (or losses), timers
//! into events, and folds every observation and delivery into the trace hash.

pub mod network;
pub mod ping;
pub mod queue;
pub mod trace;

use crate::time::{Dur, Time, MAX_SPAN};
use network::{HttpLossMode, LinkConfig, Network};
use queue::EventQueue;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{BuildHasherDefault, Hash};
use trace::TraceHash;

/// How far ahead in a lane timers are hinted to their nodes ([`Node::prefetch_timer`]): far
/// enough for a memory load to finish before the event is handled, near enough that the data
/// is still cached then.
const PREFETCH_FAR: usize = 16;
const PREFETCH_NEAR: usize = 8;

/// Asks the CPU to start loading the cache line at `p`, without waiting for it. A hint only:
/// it cannot fault and changes no value.
#[inline(always)]
pub fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `prefetcht0` never faults, whatever the address, and writes nothing.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p as *const i8);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// The cancelled-timer set is first purged at this size.
const MIN_CANCELLED_PURGE: usize = 1024;

/// Compact node index (servers first, then clients, in scenario order).
pub type NodeId = u32;

/// Identity of one HTTP exchange, unique in a run.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ExchangeId(pub u64);

/// Identity of one timer, unique in a run; used to cancel it.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimerId(pub u64);

/// Why an HTTP exchange failed, as the caller's HTTP client reports it.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HttpError {
    /// No TCP connection within the connect timeout (partition, host down).
    ConnectTimeout,
    /// Connected, but no response within the read timeout (paused peer, partition mid-exchange).
    ReadTimeout,
    /// The host answered with RST: it is up but nothing listens (process crashed).
    ConnectionRefused,
    /// Abstract loss, fail-fast mode: an IO error one round trip after the send.
    IoError,
}

/// Timeouts of one HTTP exchange, as the caller's HTTP client configures them.
#[derive(Copy, Clone, Debug)]
pub struct HttpTimeouts {
    pub connect: Dur,
    pub read: Dur,
}

/// What a node receives.
pub enum Input<M, T, C> {
    /// The process (re)starts with fresh state.
    Start,
    /// A UDP datagram.
    Datagram {
        from: NodeId,
        msg: M,
    },
    /// An HTTP request; answer it (now or later) with [`Outputs::respond`].
    Request {
        from: NodeId,
        id: ExchangeId,
        msg: M,
    },
    /// The outcome of an HTTP exchange this node started.
    Response {
        id: ExchangeId,
        result: Result<M, HttpError>,
    },
    Timer {
        id: TimerId,
        timer: T,
    },
    /// A workload command from the scenario (register, subscribe, …). Boxed: commands are
    /// rare and large, and every input is moved through the dispatch path.
    Command(Box<C>),
}

/// A sans-IO state machine driven by the engine.
pub trait Node {
    type Msg: Hash + Clone;
    type Timer;
    type Cmd;
    type Obs: Hash;
    /// `now` is the node's local clock. Randomness comes only from `rng`, the node's own stream.
    fn handle(
        &mut self,
        now: Time,
        input: Input<Self::Msg, Self::Timer, Self::Cmd>,
        rng: &mut ChaCha8Rng,
        out: &mut Outputs<Self::Msg, Self::Timer, Self::Obs>,
    );
    /// The process died: forget everything a real process keeps only in memory, and with
    /// `wipe_disk` what it keeps on disk too.
    fn crash(&mut self, wipe_disk: bool);
    /// A hint that `timer` fires soon: the node may bring what handling it will read into the
    /// cache. It changes nothing else (so the default does nothing). Each timer in a lane is
    /// hinted twice, first with `near` false and a few events later with `near` true, so a node
    /// can fetch a record first and then what the record points to.
    fn prefetch_timer(&self, _timer: &Self::Timer, _near: bool) {}
    /// A hint that a request or datagram `msg` is on its way to this node: bring what handling
    /// it will read into the cache. Given twice: with `near` false when it is sent, and with
    /// `near` true just before it is delivered, so a node can fetch a record first and then what
    /// the record points to. No effect on behaviour; the default does nothing.
    fn prefetch_msg(&self, _msg: &Self::Msg, _near: bool) {}
    /// What a response body the caller cannot parse looks like, if the protocol has such a
    /// thing (used by the `http_garble` link fault).
    fn garbled() -> Option<Self::Msg> {
        None
    }
    /// A short name of a message for drawings of the run (the endpoint of a request, the kind
    /// of an answer or datagram), when [`Engine::record_deliveries`] is on.
    fn msg_name(_msg: &Self::Msg) -> &'static str {
        "message"
    }
}

/// One message handed to a node, or an exchange that failed, kept when
/// [`Engine::record_deliveries`] is on (for the timeline; the trace hash does not read it).
#[derive(Clone, Debug, PartialEq)]
pub struct Delivery {
    /// When the sender sent it (for an answer: when the server answered).
    pub sent: Time,
    /// When it was handed to the receiver (for a failure: when the caller learned it).
    pub at: Time,
    pub from: NodeId,
    pub to: NodeId,
    /// The datagram's or the request's name ([`Node::msg_name`]); an answer carries its
    /// request's, so an exchange reads as one.
    pub what: &'static str,
    pub outcome: DeliveryOutcome,
}

#[derive(Copy, Clone, Debug, PartialEq)]
pub enum DeliveryOutcome {
    Datagram,
    Request,
    /// The answer, by its own name.
    Answer(&'static str),
    /// The request never got an answer (`from` is the caller, `to` the server).
    Failed(HttpError),
}

enum Action<M, T> {
    Udp { to: NodeId, msg: M },
    Request { to: NodeId, id: ExchangeId, msg: M, timeouts: HttpTimeouts },
    Probe { to: NodeId, id: ExchangeId, msg: M, timeout: Dur },
    Respond { id: ExchangeId, msg: M },
    SetTimer { id: TimerId, after: Dur, timer: T },
    CancelTimer(TimerId),
}

/// The buffer a node writes its wishes into. Owned by the engine and reused, so handling an
/// input allocates nothing once the buffers have grown.
pub struct Outputs<M, T, O> {
    /// A deque, so the engine takes actions off the front, in order, without a drain.
    actions: VecDeque<Action<M, T>>,
    observations: Vec<O>,
    next_id: u64,
}

impl<M, T, O> Default for Outputs<M, T, O> {
    fn default() -> Self {
        Outputs { actions: VecDeque::new(), observations: Vec::new(), next_id: 1 }
    }
}

impl<M, T, O> Outputs<M, T, O> {
    pub fn send_udp(&mut self, to: NodeId, msg: M) {
        self.actions.push_back(Action::Udp { to, msg });
    }
    pub fn request(&mut self, to: NodeId, msg: M, timeouts: HttpTimeouts) -> ExchangeId {
        let id = ExchangeId(self.alloc());
        self.actions.push_back(Action::Request { to, id, msg, timeouts });
        id
    }
    /// A TCP connect to `to` and nothing more (a health check): answered with `msg` itself one
    /// round trip later when the host's kernel accepts (whatever the process is doing), with
    /// "connection refused" when the process is down, and with a timeout after `timeout`
    /// when no SYN-ACK comes back.
    pub fn probe(&mut self, to: NodeId, msg: M, timeout: Dur) -> ExchangeId {
        let id = ExchangeId(self.alloc());
        self.actions.push_back(Action::Probe { to, id, msg, timeout });
        id
    }
    pub fn respond(&mut self, id: ExchangeId, msg: M) {
        self.actions.push_back(Action::Respond { id, msg });
    }
    /// `after` is measured on the node's monotonic clock (Java's `nanoTime`): clock jumps do not
    /// move it, drift does.
    pub fn set_timer(&mut self, after: Dur, timer: T) -> TimerId {
        let id = TimerId(self.alloc());
        self.actions.push_back(Action::SetTimer { id, after, timer });
        id
    }
    pub fn cancel_timer(&mut self, id: TimerId) {
        self.actions.push_back(Action::CancelTimer(id));
    }
    pub fn observe(&mut self, obs: O) {
        self.observations.push(obs);
    }
    fn alloc(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }
    /// For driving a core directly in tests: drain what it asked for.
    pub fn take_observations(&mut self) -> Vec<O> {
        std::mem::take(&mut self.observations)
    }
}

/// Test helper view of pending actions, for rule tests that drive a core without the engine.
pub enum Wish<'a, M, T> {
    Udp { to: NodeId, msg: &'a M },
    Request { to: NodeId, id: ExchangeId, msg: &'a M },
    Respond { id: ExchangeId, msg: &'a M },
    SetTimer { id: TimerId, after: Dur, timer: &'a T },
    CancelTimer(TimerId),
}

impl<M, T, O> Outputs<M, T, O> {
    pub fn wishes(&self) -> impl Iterator<Item = Wish<'_, M, T>> {
        self.actions.iter().map(|a| match a {
            Action::Udp { to, msg } => Wish::Udp { to: *to, msg },
            Action::Request { to, id, msg, .. } | Action::Probe { to, id, msg, .. } => {
                Wish::Request { to: *to, id: *id, msg }
            }
            Action::Respond { id, msg } => Wish::Respond { id: *id, msg },
            Action::SetTimer { id, after, timer } => Wish::SetTimer { id: *id, after: *after, timer },
            Action::CancelTimer(id) => Wish::CancelTimer(*id),
        })
    }
    pub fn clear(&mut self) {
        self.actions.clear();
        self.observations.clear();
    }
}

/// A per-node clock: local = global + offset + drift. Nacos compares local clocks with no
/// compensation, so skew between nodes changes what the protocol does.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    pub offset: Dur,
    pub drift_ppm: f64,
}

impl Clock {
    pub fn local(&self, global: Time) -> Time {
        Time(self.monotonic(global.0).saturating_add(self.offset.0))
    }
    /// The node's monotonic clock (Java `nanoTime`): drift applies, offsets and jumps do not.
    fn monotonic(&self, g: i64) -> i64 {
        if self.drift_ppm == 0.0 {
            return g;
        }
        g.saturating_add((g as f64 * self.drift_ppm / 1e6).floor() as i64)
    }
    /// The earliest global time at which this node's monotonic clock has advanced by `d` since
    /// global time `now`: a timer never fires early by the node's own reckoning.
    fn deadline(&self, now: Time, d: Dur) -> Time {
        if self.drift_ppm == 0.0 {
            return now + d;
        }
        // Far past any run (a `Long.MAX_VALUE` period): never, without searching for the instant.
        if d > Dur(4 * MAX_SPAN.0) {
            return Time::MAX;
        }
        let target = self.monotonic(now.0) + d.0;
        let mut g = now.0 + (d.0 as f64 / (1.0 + self.drift_ppm / 1e6)).floor() as i64;
        while self.monotonic(g) < target {
            g += 1;
        }
        while g > now.0 && self.monotonic(g - 1) >= target {
            g -= 1;
        }
        Time(g)
    }
}

/// A fault applied by the engine at a scheduled time.
#[derive(Clone, Debug)]
pub enum Fault {
    /// Block (or, with `heal`, unblock) each directed pair.
    Block {
        pairs: Vec<(NodeId, NodeId)>,
        heal: bool,
    },
    HealAll,
    /// Add (or, with `heal`, remove) a firewall rule on the connections each pair opens.
    Firewall {
        pairs: Vec<(NodeId, NodeId)>,
        rule: network::FirewallRule,
        heal: bool,
    },
    SetLink {
        from: NodeId,
        to: NodeId,
        config: LinkConfig,
    },
    /// The process dies, losing its state. With `host_down` the machine is gone too: peers see
    /// connect timeouts instead of "connection refused"; with `wipe_disk` its disk is lost.
    Crash {
        node: NodeId,
        host_down: bool,
        wipe_disk: bool,
    },
    Restart {
        node: NodeId,
    },
    /// A stop-the-world pause: everything addressed to the node queues until `Resume`.
    Pause {
        node: NodeId,
    },
    Resume {
        node: NodeId,
    },
    ClockJump {
        node: NodeId,
        by: Dur,
    },
}

/// A 4-byte tag, so the payload starts aligned: moving an event (it is moved several times on
/// its way to a node) is then whole aligned words, not overlapping unaligned ones.
#[repr(u32)]
enum Event<M, T, C> {
    Timer { node: NodeId, inc: u32, id: TimerId, timer: T },
    Datagram { from: NodeId, to: NodeId, sent: Time, msg: M },
    RequestArrives { ex: ExchangeId, server: NodeId, msg: M },
    ResponseArrives { ex: ExchangeId, msg: M },
    ExchangeFails { ex: ExchangeId, err: HttpError },
    // Commands, faults and SYN retransmissions are rare and large: boxed, so every other
    // event stays small.
    Command { node: NodeId, cmd: Box<C> },
    Fault(Box<Fault>),
    SynRetry(Box<SynRetry<M>>),
}

/// A connect whose SYN (or SYN-ACK) was lost, waiting to retransmit. The kernel resends the
/// SYN after 1 s, then after each doubled interval (Linux's initial RTO), until the caller's
/// connect timeout: a path that opens before the timeout still connects.
struct SynRetry<M> {
    ex: ExchangeId,
    msg: M,
    tmo: HttpTimeouts,
    /// The caller's connect timeout, counted from the first SYN.
    connect_deadline: Time,
    /// The queue place of the connect timeout, taken at the first SYN (so its order among
    /// other events is as if it had been queued then).
    timeout_seq: u64,
    /// The interval before the next retransmission.
    rto: Dur,
}

/// Linux's initial retransmission timeout for a SYN (RFC 6298 §2.1, `TCP_TIMEOUT_INIT`).
const SYN_INITIAL_RTO: Dur = Dur::from_secs(1);

struct Exchange {
    client: NodeId,
    client_inc: u32,
    server: NodeId,
    server_inc: u32,
    /// The server process has the request (so a crash of the server resets the connection).
    arrived: bool,
    /// When the caller's read timeout fires.
    deadline: Time,
    /// The queue position reserved for the read timeout at send time, while it is not queued.
    /// It is queued only once the exchange might still be open at the deadline
    /// ([`Engine::arm_read_timeout`]); most exchanges end well before, so most never are.
    unqueued_timeout: Option<u64>,
    /// A connect only ([`Outputs::probe`]): the SYN-ACK is the answer.
    probe: bool,
    /// When the caller sent it and the server answered, and the request's name (known at
    /// once, so recording can start after the first requests left): read only when
    /// deliveries are recorded.
    sent: Time,
    answered_at: Time,
    what: &'static str,
}

struct Proc<N: Node> {
    node: N,
    rng: ChaCha8Rng,
    clock: Clock,
    alive: bool,
    host_up: bool,
    paused: bool,
    /// Bumped on every crash: timers and exchanges of an earlier life are ignored.
    inc: u32,
    /// When the process last started (time zero, or its latest restart).
    started: Time,
    backlog: Vec<Event<N::Msg, N::Timer, N::Cmd>>,
}

/// What kind of input an event handed a process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputKind {
    Start,
    Datagram { from: NodeId },
    Request,
    Response,
    Timer,
    Command,
}

/// One input a process handled, for invariant checks: who, what input, and how many datagrams
/// it sent back to the sender of a datagram input (an ack).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dispatched {
    pub node: NodeId,
    pub input: InputKind,
    pub replies: u32,
}

/// Counters printed in a run summary.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Stats {
    pub events: u64,
    pub udp_sent: u64,
    pub udp_delivered: u64,
    pub udp_lost: u64,
    pub http_requests: u64,
    pub http_responses: u64,
    pub http_failed: u64,
    pub observations: u64,
}

/// One observation as recorded in the trace.
pub struct Record<O> {
    pub at: Time,
    pub node: NodeId,
    pub obs: O,
}

/// Stream ids for [`derive_rng`]: one ChaCha stream per purpose, so adding a node does not
/// reshuffle the draws of the network or of other nodes.
pub mod stream {
    pub const NETWORK: u64 = 1;
    pub const WORKLOAD: u64 = 2;
    /// Servers' boot times drawn from a window (`servers[].boot_at`).
    pub const BOOT: u64 = 3;
    pub const NODE_BASE: u64 = 1 << 32;
}

pub fn derive_rng(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    r.set_stream(stream);
    r
}

pub struct Engine<N: Node> {
    now: Time,
    queue: EventQueue<Event<N::Msg, N::Timer, N::Cmd>>,
    procs: Vec<Proc<N>>,
    pub network: Network,
    net_rng: ChaCha8Rng,
    /// Open exchanges; looked up on every request and response, iterated only (sorted) when a
    /// crash resets connections.
    exchanges: HashMap<ExchangeId, Exchange, BuildHasherDefault<trace::StableHasher>>,
    /// Cancelled timers not yet popped. A cancel can name a timer that already fired; such
    /// ids are purged whenever the set has doubled, so it stays as small as the cancelled
    /// timers actually pending.
    cancelled: HashSet<TimerId>,
    purge_cancelled_at: usize,
    /// The last exchange a process answered: a request handled without an answer gets its
    /// read timeout queued.
    answered: Option<ExchangeId>,
    out: Outputs<N::Msg, N::Timer, N::Obs>,
    trace: TraceHash,
    pub stats: Stats,
    /// Every observation, when recording is on (`run` output, `expect` checks, reports).
    pub records: Vec<Record<N::Obs>>,
    pub record: bool,
    /// Messages handed to nodes and failed exchanges, in order, up to `deliveries_limit`
    /// (0: off); the rest are counted in `deliveries_dropped`.
    pub deliveries: Vec<Delivery>,
    deliveries_limit: usize,
    pub deliveries_dropped: u64,
    /// The inputs processes handled in the current event (several when a paused process
    /// resumes and runs its backlog), for invariant checks.
    dispatched: Vec<Dispatched>,
}

impl<N: Node> Engine<N> {
    /// `nodes` are started at time zero in index order.
    pub fn new(seed: u64, nodes: Vec<(N, Clock)>, default_link: LinkConfig) -> Engine<N> {
        let boot = vec![Time::ZERO; nodes.len()];
        Self::with_boot_times(seed, nodes, default_link, &boot)
    }

    /// Like [`new`](Self::new), with node `i` started at `boot[i]`: those booting at zero now,
    /// in index order; the others are processes not yet running on a host that is up
    /// (connections are refused) until their start, a [`Fault::Restart`] at that time.
    pub fn with_boot_times(seed: u64, nodes: Vec<(N, Clock)>, default_link: LinkConfig, boot: &[Time]) -> Engine<N> {
        let n = nodes.len();
        let procs = nodes
            .into_iter()
            .enumerate()
            .map(|(i, (node, clock))| Proc {
                node,
                rng: derive_rng(seed, stream::NODE_BASE + i as u64),
                clock,
                alive: true,
                host_up: true,
                paused: false,
                inc: 0,
                started: Time::ZERO,
                backlog: Vec::new(),
            })
            .collect();
        let mut e = Engine {
            now: Time::ZERO,
            queue: EventQueue::default(),
            procs,
            network: Network::new(n, default_link),
            net_rng: derive_rng(seed, stream::NETWORK),
            exchanges: HashMap::default(),
            cancelled: HashSet::new(),
            purge_cancelled_at: MIN_CANCELLED_PURGE,
            answered: None,
            out: Outputs::default(),
            trace: TraceHash::default(),
            stats: Stats::default(),
            records: Vec::new(),
            record: true,
            deliveries: Vec::new(),
            deliveries_limit: 0,
            deliveries_dropped: 0,
            dispatched: Vec::new(),
        };
        for i in 0..n as NodeId {
            match boot.get(i as usize).copied().unwrap_or(Time::ZERO) {
                Time::ZERO => e.dispatch(i, Input::Start),
                at => {
                    e.procs[i as usize].alive = false;
                    e.schedule_fault(at, Fault::Restart { node: i });
                }
            }
        }
        e
    }

    pub fn now(&self) -> Time {
        self.now
    }
    pub fn trace_hash(&self) -> u64 {
        self.trace.value()
    }
    pub fn node(&self, id: NodeId) -> &N {
        &self.procs[id as usize].node
    }
    pub fn node_mut(&mut self, id: NodeId) -> &mut N {
        &mut self.procs[id as usize].node
    }
    pub fn node_count(&self) -> usize {
        self.procs.len()
    }
    pub fn is_alive(&self, id: NodeId) -> bool {
        self.procs[id as usize].alive
    }
    /// When the process last started: time zero, or its latest restart.
    pub fn started(&self, id: NodeId) -> Time {
        self.procs[id as usize].started
    }
    /// How many times the process has crashed: a new value means a new life.
    pub fn incarnation(&self, id: NodeId) -> u32 {
        self.procs[id as usize].inc
    }
    pub fn local_time(&self, id: NodeId) -> Time {
        self.procs[id as usize].clock.local(self.now)
    }
    /// When the next queued event is due (a real-time driver sleeps until then).
    pub fn next_event_at(&self) -> Option<Time> {
        self.queue.next_at()
    }
    pub fn pending_events(&self) -> usize {
        self.queue.len()
    }

    pub fn schedule_fault(&mut self, at: Time, f: Fault) {
        self.queue.push(at, Event::Fault(Box::new(f)));
    }
    pub fn schedule_command(&mut self, at: Time, node: NodeId, cmd: N::Cmd) {
        self.queue.push(at, Event::Command { node, cmd: Box::new(cmd) });
    }

    /// Keeps the first `limit` deliveries in [`deliveries`](Self::deliveries) from now on.
    pub fn record_deliveries(&mut self, limit: usize) {
        self.deliveries_limit = limit;
    }

    fn delivered(&mut self, d: Delivery) {
        if self.deliveries.len() < self.deliveries_limit {
            self.deliveries.push(d);
        } else {
            self.deliveries_dropped += 1;
        }
    }

    /// Runs every event with time `<= until`; the clock then stands at `until`.
    pub fn run_until(&mut self, until: Time) {
        self.run_until_checked(until, |_, _| None);
    }

    /// Like [`run_until`](Self::run_until), calling `check` after every event that processes
    /// handled, with what they handled; stops at the first `Some` and returns it with the time
    /// and the node of the last input.
    pub fn run_until_checked(
        &mut self,
        until: Time,
        mut check: impl FnMut(&Self, &[Dispatched]) -> Option<String>,
    ) -> Option<(Time, NodeId, String)> {
        while let Some((t, ev)) = self.queue.pop_until(until) {
            self.prefetch_ahead();
            self.now = t;
            self.stats.events += 1;
            self.dispatched.clear();
            self.step(ev);
            if let Some(last) = self.dispatched.last() {
                let node = last.node;
                if let Some(v) = check(self, &self.dispatched) {
                    return Some((t, node, v));
                }
            }
        }
        self.now = self.now.max(until);
        None
    }

    pub fn step_one(&mut self) -> bool {
        match self.queue.pop() {
            Some((t, ev)) => {
                self.now = t;
                self.stats.events += 1;
                self.dispatched.clear();
                self.step(ev);
                true
            }
            None => false,
        }
    }

    /// Hints the timers a few places behind the one just popped in its lane to their nodes,
    /// and the messages the heap gives next (network delays vary, so messages are in the heap).
    fn prefetch_ahead(&self) {
        let (next, after) = self.queue.heap_next();
        for p in after.into_iter().flatten() {
            prefetch(p);
        }
        if let Some(Event::RequestArrives { server: to, msg, .. } | Event::Datagram { to, msg, .. }) = next {
            self.procs[*to as usize].node.prefetch_msg(msg, true);
        }
        for (n, near) in [(PREFETCH_FAR, false), (PREFETCH_NEAR, true)] {
            if let Some(Event::Timer { node, timer, .. }) = self.queue.lane_ahead(n) {
                self.procs[*node as usize].node.prefetch_timer(timer, near);
            }
        }
    }

    fn step(&mut self, ev: Event<N::Msg, N::Timer, N::Cmd>) {
        match ev {
            Event::Fault(f) => self.apply_fault(*f),
            Event::SynRetry(syn) => {
                // A caller that crashed since has no socket left to retransmit from.
                let Some(x) = self.exchanges.get(&syn.ex) else { return };
                let p = &self.procs[x.client as usize];
                if !p.alive || p.inc != x.client_inc {
                    self.exchanges.remove(&syn.ex);
                    return;
                }
                self.connect(*syn);
            }
            Event::Timer { node, inc, id, timer } => {
                if !self.cancelled.is_empty() && self.cancelled.remove(&id) {
                    return;
                }
                let p = &self.procs[node as usize];
                if inc != p.inc || !p.alive {
                    return;
                }
                if p.paused {
                    self.procs[node as usize].backlog.push(Event::Timer { node, inc, id, timer });
                    return;
                }
                self.dispatch(node, Input::Timer { id, timer });
            }
            Event::Command { node, cmd } => {
                let p = &self.procs[node as usize];
                if !p.alive {
                    return;
                }
                if p.paused {
                    self.procs[node as usize].backlog.push(Event::Command { node, cmd });
                    return;
                }
                self.dispatch(node, Input::Command(cmd));
            }
            Event::Datagram { from, to, sent, msg } => {
                let p = &self.procs[to as usize];
                if !p.alive {
                    self.stats.udp_lost += 1;
                    return;
                }
                if p.paused {
                    self.procs[to as usize].backlog.push(Event::Datagram { from, to, sent, msg });
                    return;
                }
                self.stats.udp_delivered += 1;
                self.trace.add(1, self.now.0, to, &(from, &msg));
                if self.deliveries_limit > 0 {
                    let what = N::msg_name(&msg);
                    self.delivered(Delivery { sent, at: self.now, from, to, what, outcome: DeliveryOutcome::Datagram });
                }
                self.dispatch(to, Input::Datagram { from, msg });
            }
            Event::RequestArrives { ex, msg, .. } => {
                let Some(x) = self.exchanges.get_mut(&ex) else { return };
                let (client, server) = (x.client, x.server);
                let p = &self.procs[server as usize];
                if !p.alive || p.inc != x.server_inc {
                    // The process died while the request was in flight: the host resets.
                    let back = self.network.config(server as usize, client as usize).delay(&mut self.net_rng);
                    self.queue.push(self.now + back, Event::ExchangeFails { ex, err: HttpError::ConnectionRefused });
                    self.arm_read_timeout(ex);
                    return;
                }
                if p.paused {
                    self.procs[server as usize].backlog.push(Event::RequestArrives { ex, server, msg });
                    self.arm_read_timeout(ex);
                    return;
                }
                x.arrived = true;
                self.trace.add(2, self.now.0, server, &(client, &msg));
                if self.deliveries_limit > 0 {
                    let (sent, what) = (x.sent, x.what);
                    let outcome = DeliveryOutcome::Request;
                    self.delivered(Delivery { sent, at: self.now, from: client, to: server, what, outcome });
                }
                self.answered = None;
                self.dispatch(server, Input::Request { from: client, id: ex, msg });
                if self.answered != Some(ex) {
                    // Answered later, if at all.
                    self.arm_read_timeout(ex);
                }
            }
            Event::ResponseArrives { ex, msg } => {
                let Some(x) = self.exchanges.remove(&ex) else { return };
                let client = x.client;
                let p = &self.procs[client as usize];
                if p.paused && p.alive && p.inc == x.client_inc {
                    // Still open until the process resumes and reads it.
                    self.exchanges.insert(ex, x);
                    self.procs[client as usize].backlog.push(Event::ResponseArrives { ex, msg });
                    self.arm_read_timeout(ex);
                    return;
                }
                if !p.alive || p.inc != x.client_inc {
                    return;
                }
                self.stats.http_responses += 1;
                self.trace.add(3, self.now.0, client, &msg);
                if self.deliveries_limit > 0 {
                    let (sent, from, what) = (if x.probe { x.sent } else { x.answered_at }, x.server, x.what);
                    let outcome = DeliveryOutcome::Answer(N::msg_name(&msg));
                    self.delivered(Delivery { sent, at: self.now, from, to: client, what, outcome });
                }
                self.dispatch(client, Input::Response { id: ex, result: Ok(msg) });
            }
            Event::ExchangeFails { ex, err } => {
                let Some(x) = self.exchanges.get(&ex) else { return };
                let client = x.client;
                let p = &self.procs[client as usize];
                if !p.alive || p.inc != x.client_inc {
                    self.exchanges.remove(&ex);
                    return;
                }
                if p.paused {
                    self.procs[client as usize].backlog.push(Event::ExchangeFails { ex, err });
                    return;
                }
                if let Some(x) = self.exchanges.remove(&ex).filter(|_| self.deliveries_limit > 0) {
                    let outcome = DeliveryOutcome::Failed(err);
                    self.delivered(Delivery {
                        sent: x.sent,
                        at: self.now,
                        from: client,
                        to: x.server,
                        what: x.what,
                        outcome,
                    });
                }
                self.stats.http_failed += 1;
                self.trace.add(4, self.now.0, client, &err);
                self.dispatch(client, Input::Response { id: ex, result: Err(err) });
            }
        }
    }

    fn dispatch(&mut self, id: NodeId, input: Input<N::Msg, N::Timer, N::Cmd>) {
        let kind = match &input {
            Input::Start => InputKind::Start,
            Input::Datagram { from, .. } => InputKind::Datagram { from: *from },
            Input::Request { .. } => InputKind::Request,
            Input::Response { .. } => InputKind::Response,
            Input::Timer { .. } => InputKind::Timer,
            Input::Command(_) => InputKind::Command,
        };
        self.dispatched.push(Dispatched { node: id, input: kind, replies: 0 });
        let p = &mut self.procs[id as usize];
        let local = p.clock.local(self.now);
        p.node.handle(local, input, &mut p.rng, &mut self.out);
        self.apply_outputs(id);
    }

    fn apply_outputs(&mut self, from: NodeId) {
        if !self.out.observations.is_empty() {
            for obs in self.out.observations.drain(..) {
                self.stats.observations += 1;
                self.trace.add(0, self.now.0, from, &obs);
                if self.record {
                    self.records.push(Record { at: self.now, node: from, obs });
                }
            }
        }
        while let Some(a) = self.out.actions.pop_front() {
            match a {
                Action::Udp { to, msg } => {
                    if let Some(d) = self.dispatched.last_mut() {
                        if d.input == (InputKind::Datagram { from: to }) {
                            d.replies += 1;
                        }
                    }
                    self.send_udp(from, to, msg)
                }
                Action::Request { to, id, msg, timeouts } => self.send_request(from, to, id, msg, timeouts, false),
                Action::Probe { to, id, msg, timeout } => {
                    let timeouts = HttpTimeouts { connect: timeout, read: timeout };
                    self.send_request(from, to, id, msg, timeouts, true)
                }
                Action::Respond { id, msg } => self.send_response(from, id, msg),
                Action::SetTimer { id, after, timer } => {
                    let p = &self.procs[from as usize];
                    let at = p.clock.deadline(self.now, after.max(Dur::ZERO));
                    self.queue.push(at, Event::Timer { node: from, inc: p.inc, id, timer });
                }
                Action::CancelTimer(id) => {
                    self.cancelled.insert(id);
                    if self.cancelled.len() >= self.purge_cancelled_at {
                        self.purge_cancelled();
                    }
                }
            }
        }
    }

    /// Forgets cancelled ids whose timers are no longer queued (nor parked in a paused
    /// process's backlog). Amortized O(1) per cancel: it runs when the set has doubled.
    fn purge_cancelled(&mut self) {
        let timer_id = |e: &Event<N::Msg, N::Timer, N::Cmd>| match e {
            Event::Timer { id, .. } => Some(*id),
            _ => None,
        };
        let backlogs = self.procs.iter().flat_map(|p| p.backlog.iter());
        let pending: HashSet<TimerId> = self.queue.iter().chain(backlogs).filter_map(timer_id).collect();
        self.cancelled.retain(|id| pending.contains(id));
        self.purge_cancelled_at = (2 * self.cancelled.len()).max(MIN_CANCELLED_PURGE);
    }

    /// How many cancelled timers the engine still remembers (for tests of the purge).
    pub fn cancelled_timers(&self) -> usize {
        self.cancelled.len()
    }

    fn send_udp(&mut self, from: NodeId, to: NodeId, msg: N::Msg) {
        self.stats.udp_sent += 1;
        let (f, t) = (from as usize, to as usize);
        if self.network.is_blocked(f, t) || !self.procs[t].host_up {
            self.stats.udp_lost += 1;
            return;
        }
        let cfg = self.network.config(f, t);
        if cfg.udp_loss > 0.0 && self.net_rng.gen_bool(cfg.udp_loss) {
            self.stats.udp_lost += 1;
            return;
        }
        let dup = cfg.udp_duplicate > 0.0 && self.net_rng.gen_bool(cfg.udp_duplicate);
        let d = cfg.delay(&mut self.net_rng);
        if dup {
            let d2 = self.network.config(f, t).delay(&mut self.net_rng);
            self.queue.push(self.now + d2, Event::Datagram { from, to, sent: self.now, msg: msg.clone() });
        }
        self.queue.push(self.now + d, Event::Datagram { from, to, sent: self.now, msg });
    }

    fn send_request(&mut self, from: NodeId, to: NodeId, ex: ExchangeId, msg: N::Msg, tmo: HttpTimeouts, probe: bool) {
        self.stats.http_requests += 1;
        let x = Exchange {
            client: from,
            client_inc: self.procs[from as usize].inc,
            server: to,
            server_inc: self.procs[to as usize].inc,
            arrived: false,
            deadline: self.now + tmo.read,
            unqueued_timeout: None,
            probe,
            sent: self.now,
            answered_at: self.now,
            what: N::msg_name(&msg),
        };
        self.exchanges.insert(ex, x);
        let syn = SynRetry {
            ex,
            msg,
            tmo,
            connect_deadline: self.now + tmo.connect,
            timeout_seq: self.queue.reserve(),
            rto: SYN_INITIAL_RTO,
        };
        self.connect(syn);
    }

    /// One SYN of the exchange: lost (retransmitted later, or the connect times out), refused,
    /// or the connection opens and the request goes out.
    fn connect(&mut self, mut syn: SynRetry<N::Msg>) {
        let ex = syn.ex;
        let Some(x) = self.exchanges.get_mut(&ex) else { return };
        let (f, t) = (x.client as usize, x.server as usize);
        let rule = self.network.connection_rule(f, t);
        let dropped = rule == Some(network::FirewallRule::DropConnections);
        if dropped || self.network.is_blocked(f, t) || self.network.is_blocked(t, f) || !self.procs[t].host_up {
            // No SYN-ACK comes back: retransmit, or time out.
            let next = self.now + syn.rto;
            if next < syn.connect_deadline {
                syn.rto = syn.rto + syn.rto;
                self.queue.push(next, Event::SynRetry(Box::new(syn)));
            } else {
                let ev = Event::ExchangeFails { ex, err: HttpError::ConnectTimeout };
                self.queue.push_reserved(syn.connect_deadline, syn.timeout_seq, ev);
            }
            return;
        }
        // The connection reaches whichever incarnation of the server is there now.
        x.server_inc = self.procs[t].inc;
        x.deadline = self.now + syn.tmo.read;
        let cfg = self.network.config(f, t);
        if !self.procs[t].alive || rule == Some(network::FirewallRule::Reject) {
            // A closed port, or a REJECT rule: the RST comes back one round trip later.
            let rtt = cfg.delay(&mut self.net_rng) + self.network.config(t, f).delay(&mut self.net_rng);
            self.queue.push(self.now + rtt, Event::ExchangeFails { ex, err: HttpError::ConnectionRefused });
            return;
        }
        if x.probe {
            // The kernel's SYN-ACK, whether or not the process could serve a request.
            let rtt = cfg.delay(&mut self.net_rng) + self.network.config(t, f).delay(&mut self.net_rng);
            let deadline = x.deadline;
            x.unqueued_timeout = Some(self.queue.reserve());
            self.queue.push(self.now + rtt, Event::ResponseArrives { ex, msg: syn.msg });
            if self.now + rtt >= deadline {
                self.arm_read_timeout(ex);
            }
            return;
        }
        if cfg.http_loss > 0.0 && self.net_rng.gen_bool(cfg.http_loss) {
            match cfg.http_loss_mode {
                HttpLossMode::Timeout => {
                    let ev = Event::ExchangeFails { ex, err: HttpError::ReadTimeout };
                    self.queue.push(self.now + syn.tmo.read, ev);
                }
                HttpLossMode::FailFast => {
                    let rtt = cfg.delay(&mut self.net_rng) + self.network.config(t, f).delay(&mut self.net_rng);
                    self.queue.push(self.now + rtt, Event::ExchangeFails { ex, err: HttpError::IoError });
                }
            }
            return;
        }
        let d = cfg.tcp_delay(&mut self.net_rng);
        let (server, msg) = (t as NodeId, syn.msg);
        self.procs[t].node.prefetch_msg(&msg, false);
        self.queue.push(self.now + d, Event::RequestArrives { ex, server, msg });
        // Whichever comes first wins: the response or the read timeout. The timeout's place in
        // the queue is taken now; it is queued there only if it can still matter.
        let seq = self.queue.reserve();
        let Some(x) = self.exchanges.get_mut(&ex) else { return };
        x.unqueued_timeout = Some(seq);
        if self.now + d >= x.deadline {
            self.arm_read_timeout(ex);
        }
    }

    /// Queues the read timeout of an open exchange at its reserved place, unless it already
    /// is. Called whenever the exchange might still be open at its deadline: the request or
    /// the response is late, lost or parked at a paused process, or the server has not
    /// answered yet. The pop order is then exactly as if every timeout had been queued at send
    /// time, without the queue work for the timeouts of answered exchanges.
    fn arm_read_timeout(&mut self, ex: ExchangeId) {
        let Some(x) = self.exchanges.get_mut(&ex) else { return };
        if let Some(seq) = x.unqueued_timeout.take() {
            let ev = Event::ExchangeFails { ex, err: HttpError::ReadTimeout };
            self.queue.push_reserved(x.deadline, seq, ev);
        }
    }

    fn send_response(&mut self, from: NodeId, ex: ExchangeId, msg: N::Msg) {
        let Some(x) = self.exchanges.get_mut(&ex) else { return };
        x.answered_at = self.now;
        self.answered = Some(ex);
        let (s, c, deadline) = (from as usize, x.client as usize, x.deadline);
        if self.network.is_blocked(s, c) || !self.procs[c].host_up {
            // Lost: the caller's read timeout fires.
            self.arm_read_timeout(ex);
            return;
        }
        let cfg = self.network.config(s, c);
        let msg = match N::garbled() {
            Some(garbage) if cfg.http_garble > 0.0 && self.net_rng.gen_bool(cfg.http_garble) => garbage,
            _ => msg,
        };
        let d = cfg.tcp_delay(&mut self.net_rng);
        self.queue.push(self.now + d, Event::ResponseArrives { ex, msg });
        if self.now + d >= deadline {
            self.arm_read_timeout(ex);
        }
    }

    fn apply_fault(&mut self, f: Fault) {
        match f {
            Fault::Block { pairs, heal } => {
                for (a, b) in pairs {
                    if heal {
                        self.network.unblock(a as usize, b as usize);
                    } else {
                        self.network.block(a as usize, b as usize);
                    }
                }
            }
            Fault::HealAll => self.network.heal_all(),
            Fault::Firewall { pairs, rule, heal } => {
                for (a, b) in pairs {
                    self.network.set_rule(rule, a as usize, b as usize, heal);
                }
            }
            Fault::SetLink { from, to, config } => self.network.set_config(from as usize, to as usize, config),
            Fault::Crash { node, host_down, wipe_disk } => {
                let p = &mut self.procs[node as usize];
                if p.alive {
                    p.alive = false;
                    p.paused = false;
                    p.backlog.clear();
                    p.inc += 1;
                    p.node.crash(wipe_disk);
                }
                p.host_up = !host_down;
                if !host_down {
                    self.reset_connections(node);
                }
            }
            Fault::Restart { node } => {
                let p = &mut self.procs[node as usize];
                if !p.alive {
                    p.alive = true;
                    p.host_up = true;
                    p.started = self.now;
                    self.dispatch(node, Input::Start);
                }
            }
            Fault::Pause { node } => {
                let p = &mut self.procs[node as usize];
                if p.alive {
                    p.paused = true;
                }
            }
            Fault::Resume { node } => {
                let p = &mut self.procs[node as usize];
                if p.paused {
                    p.paused = false;
                    // The backlog runs now, in arrival order, ahead of anything scheduled later.
                    for ev in std::mem::take(&mut p.backlog) {
                        self.step(ev);
                    }
                }
            }
            Fault::ClockJump { node, by } => {
                let c = &mut self.procs[node as usize].clock;
                c.offset = c.offset + by;
            }
        }
    }

    /// A process crash with the host up: the kernel resets every connection on which the
    /// process was serving a request, and the callers see the error one trip later.
    fn reset_connections(&mut self, node: NodeId) {
        let mut victims: Vec<(ExchangeId, NodeId)> = self
            .exchanges
            .iter()
            .filter(|(_, x)| x.server == node && x.arrived)
            .map(|(id, x)| (*id, x.client))
            .collect();
        victims.sort_unstable();
        for (ex, client) in victims {
            let back = self.network.config(node as usize, client as usize).delay(&mut self.net_rng);
            self.queue.push(self.now + back, Event::ExchangeFails { ex, err: HttpError::ConnectionRefused });
        }
    }
}
