//! The event queue: a binary heap of small `(time, seq, slot)` keys over a slab of payloads,
//! plus FIFO lanes for events scheduled a fixed delay ahead.
//!
//! Ordering is by time, then by insertion sequence, so simultaneous events run in the order they
//! were scheduled on every machine. Payloads stay put in the slab (slots are recycled), so the heap
//! only moves 24-byte keys and the hot loop allocates nothing once the slab has grown.
//!
//! Most events in a registry are "now + a constant": 5 s beat timers, 50 s read timeouts, 1 ms
//! network hops. Pushed while time only moves forward, events with the same delay arrive in
//! (time, seq) order, so a FIFO per delay keeps them sorted for free and the heap holds only the
//! rest (a delay gets a lane once it recurs, so one-off random delays do not churn the lanes). A
//! lane holds its events inline, so popping it reads memory in order. Events due far ahead (the
//! long-period timers every process keeps) wait in a second heap, so the heap that every message
//! goes through stays shallow. Events pushed for the instant of the last pop (hand-offs "now")
//! wait in a FIFO of their own. Popping takes the least (time, seq) over the two heap tops, the
//! lane heads and the FIFO's head: the order is exactly that of a single heap.

use crate::slab::Slab;
use crate::time::Time;
use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};

/// Lanes kept at most; a lane that empties is reused for the next new delay.
const MAX_LANES: usize = 8;
const EMPTY: (i64, u64) = (i64::MAX, u64::MAX);
const SEEN_SLOTS: usize = 64;
/// How far ahead an event must be due to wait in the far heap: one minute, in nanoseconds.
const FAR_AHEAD: i64 = 60_000_000_000;

#[derive(Copy, Clone, PartialEq, Eq)]
struct Key {
    at: i64,
    seq: u64,
    slot: u32,
}

impl Ord for Key {
    fn cmp(&self, o: &Self) -> Ordering {
        // Reversed: BinaryHeap is a max-heap and we want the earliest (time, seq) first.
        (o.at, o.seq).cmp(&(self.at, self.seq))
    }
}
impl PartialOrd for Key {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

struct Lane<E> {
    delay: i64,
    /// `(time, seq, event)` in queue order.
    items: VecDeque<(i64, u64, E)>,
}

/// Where the next event comes from.
#[derive(Clone, Copy)]
enum Source {
    Lane(usize),
    Near,
    Far,
    Now,
}

pub struct EventQueue<E> {
    heap: BinaryHeap<Key>,
    /// Keys of events due more than `far_ahead` after the last pop when pushed.
    far: BinaryHeap<Key>,
    far_ahead: i64,
    /// `(seq, event)` of events pushed for the instant of the last pop, in push order.
    now_fifo: VecDeque<(u64, E)>,
    lanes: Vec<Lane<E>>,
    /// `(time, seq)` of each lane's head (`EMPTY` when the lane is empty), side by side so
    /// choosing the next event scans one small array.
    heads: Vec<(i64, u64)>,
    /// Delays recently pushed to the heap, direct-mapped ([`recurs`](Self::recurs)).
    seen: [i64; SEEN_SLOTS],
    slab: Slab<E>,
    seq: u64,
    /// Time of the last pop: delays are measured from it.
    now: i64,
    len: usize,
    /// The lane the last event was popped from, if it came from one.
    last_lane: Option<usize>,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        EventQueue {
            heap: BinaryHeap::new(),
            far: BinaryHeap::new(),
            far_ahead: FAR_AHEAD,
            now_fifo: VecDeque::new(),
            lanes: Vec::new(),
            heads: Vec::new(),
            seen: [-1; SEEN_SLOTS],
            slab: Slab::default(),
            seq: 0,
            now: i64::MIN,
            len: 0,
            last_lane: None,
        }
    }
}

impl<E> EventQueue<E> {
    pub fn push(&mut self, at: Time, ev: E) {
        self.seq += 1;
        self.len += 1;
        let seq = self.seq;
        if at.0 == self.now {
            return self.now_fifo.push_back((seq, ev));
        }
        if self.now != i64::MIN && at.0 >= self.now {
            let delay = at.0 - self.now;
            let lane = match self.lanes.iter().position(|l| l.delay == delay) {
                Some(i) => Some(i),
                // A delay gets a lane only once it recurs: random network delays almost never
                // do, and would otherwise churn through the lanes the fixed delays need.
                None if !self.recurs(delay) => None,
                None => match self.lanes.iter().position(|l| l.items.is_empty()) {
                    Some(i) => {
                        self.lanes[i].delay = delay;
                        Some(i)
                    }
                    None if self.lanes.len() < MAX_LANES => {
                        self.lanes.push(Lane { delay, items: VecDeque::new() });
                        self.heads.push(EMPTY);
                        Some(self.lanes.len() - 1)
                    }
                    None => None,
                },
            };
            if let Some(i) = lane {
                let items = &mut self.lanes[i].items;
                if items.is_empty() {
                    self.heads[i] = (at.0, seq);
                }
                return items.push_back((at.0, seq, ev));
            }
        }
        self.push_heap(at.0, seq, ev);
    }

    /// Whether `delay` was seen before (by a small direct-mapped memory of delays that went to
    /// the heap); records it if not.
    fn recurs(&mut self, delay: i64) -> bool {
        let slot = &mut self.seen[(delay as u64 % SEEN_SLOTS as u64) as usize];
        let again = *slot == delay;
        *slot = delay;
        again
    }

    /// Where the next event is, and its `(time, seq)`.
    fn next_source(&self) -> Option<(Source, (i64, u64))> {
        let mut best = self.heap.peek().map_or(EMPTY, |k| (k.at, k.seq));
        let mut from = Source::Near;
        if let Some(k) = self.far.peek() {
            if (k.at, k.seq) < best {
                best = (k.at, k.seq);
                from = Source::Far;
            }
        }
        for (i, &head) in self.heads.iter().enumerate() {
            if head < best {
                best = head;
                from = Source::Lane(i);
            }
        }
        if let Some(&(seq, _)) = self.now_fifo.front() {
            if (self.now, seq) < best {
                best = (self.now, seq);
                from = Source::Now;
            }
        }
        (best != EMPTY).then_some((from, best))
    }

    /// Takes the next insertion sequence number without queueing anything, for an event that
    /// may or may not be needed later: [`push_reserved`](Self::push_reserved) then queues it
    /// exactly where a push made now would have gone.
    pub fn reserve(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// Queues an event under a sequence number from [`reserve`](Self::reserve). It must be
    /// pushed before the queue pops past `(at, seq)`; it goes to the heap, which orders it by
    /// `(at, seq)` like every other event.
    pub fn push_reserved(&mut self, at: Time, seq: u64, ev: E) {
        debug_assert!(at.0 >= self.now, "reserved event pushed after its time");
        self.len += 1;
        self.push_heap(at.0, seq, ev);
    }

    fn push_heap(&mut self, at: i64, seq: u64, ev: E) {
        let slot = self.slab.insert(ev);
        let key = Key { at, seq, slot };
        if at - self.now.max(0) > self.far_ahead {
            self.far.push(key);
        } else {
            self.heap.push(key);
        }
    }

    /// Pops the next event if its time is `<= until`.
    pub fn pop_until(&mut self, until: Time) -> Option<(Time, E)> {
        let (from, (at, _)) = self.next_source()?;
        if at > until.0 {
            return None;
        }
        Some(self.take(from))
    }

    /// When the next event is due, if any.
    pub fn next_at(&self) -> Option<Time> {
        self.next_source().map(|(_, (at, _))| Time(at))
    }

    pub fn pop(&mut self) -> Option<(Time, E)> {
        let (from, _) = self.next_source()?;
        Some(self.take(from))
    }

    fn take(&mut self, from: Source) -> (Time, E) {
        let (at, ev) = match from {
            Source::Lane(i) => {
                let items = &mut self.lanes[i].items;
                let (at, _, ev) = items.pop_front().expect("non-empty lane");
                self.heads[i] = items.front().map_or(EMPTY, |&(at, seq, _)| (at, seq));
                (at, ev)
            }
            Source::Now => (self.now, self.now_fifo.pop_front().expect("non-empty FIFO").1),
            Source::Near | Source::Far => {
                let heap = if let Source::Near = from { &mut self.heap } else { &mut self.far };
                let k = heap.pop().expect("a queued event");
                (k.at, self.slab.remove(k.slot).expect("queued slot holds an event"))
            }
        };
        self.len -= 1;
        self.now = at;
        self.last_lane = if let Source::Lane(i) = from { Some(i) } else { None };
        (Time(at), ev)
    }

    /// The event the heap gives next (unless a lane comes first), for cache hints; and where
    /// the two that may follow it are stored, without reading them.
    pub fn heap_next(&self) -> (Option<&E>, [Option<*const Option<E>>; 2]) {
        let mut keys = self.heap.iter();
        let next = keys.next().and_then(|k| self.slab.get(k.slot));
        // A heap's array holds the top first, then its two children: one of them is next.
        let mut after = [None, None];
        for (a, k) in after.iter_mut().zip(keys) {
            *a = self.slab.slot(k.slot);
        }
        (next, after)
    }

    /// The event `n` places behind the one just popped in its lane, if it came from a lane. A
    /// lane pops in order, so that event comes up soon: the engine hints its data into the
    /// cache ahead of time.
    pub fn lane_ahead(&self, n: usize) -> Option<&E> {
        let items = &self.lanes[self.last_lane?].items;
        items.get(n.checked_sub(1)?).map(|(_, _, e)| e)
    }

    /// Every queued event, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &E> {
        let lanes = self.lanes.iter().flat_map(|l| l.items.iter().map(|(_, _, e)| e));
        lanes.chain(self.now_fifo.iter().map(|(_, e)| e)).chain(self.slab.iter())
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simultaneous_events_pop_in_insertion_order() {
        let mut q = EventQueue::default();
        q.push(Time(5), "b1");
        q.push(Time(1), "a");
        q.push(Time(5), "b2");
        q.push(Time(5), "b3");
        q.push(Time(3), "m");
        let order: Vec<_> = std::iter::from_fn(|| q.pop()).map(|(_, e)| e).collect();
        assert_eq!(order, ["a", "m", "b1", "b2", "b3"]);
    }

    /// Lanes and heap together pop in exactly the order one heap would.
    #[test]
    fn lanes_keep_the_single_heap_order() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let mut q = EventQueue { far_ahead: 5000, ..EventQueue::default() };
        let mut reference = BinaryHeap::new();
        let mut seq = 0u64;
        let mut popped = Vec::new();
        let mut expected = Vec::new();
        for _ in 0..20_000 {
            if rng.gen_bool(0.55) {
                let now = if q.now == i64::MIN { 0 } else { q.now };
                // A few fixed delays (lanes) mixed with random ones (near and far heap), ties
                // included.
                let d = match rng.gen_range(0..5) {
                    0 => 5000,
                    1 => 1,
                    2 => 0,
                    3 => rng.gen_range(4990..5010),
                    _ => rng.gen_range(0..10_000),
                };
                seq += 1;
                q.push(Time(now + d), seq);
                reference.push(Key { at: now + d, seq, slot: seq as u32 });
            } else if let Some((t, e)) = q.pop() {
                let k = reference.pop().unwrap();
                popped.push((t.0, e));
                expected.push((k.at, k.seq));
            }
        }
        assert_eq!(popped, expected);
        assert_eq!(q.len(), reference.len());
        assert!(!q.far.is_empty() && !q.heap.is_empty(), "both heaps were used");
    }

    /// An event pushed late under a reserved sequence number pops where a push made at
    /// reservation time would have: before later pushes at the same time, after earlier ones.
    #[test]
    fn reserved_events_keep_their_place() {
        let mut q = EventQueue::default();
        q.push(Time(0), "start");
        q.pop();
        q.push(Time(50), "before");
        let seq = q.reserve();
        q.push(Time(50), "after");
        q.push(Time(10), "early");
        assert_eq!(q.pop().map(|(_, e)| e), Some("early"));
        q.push_reserved(Time(50), seq, "reserved");
        let order: Vec<_> = std::iter::from_fn(|| q.pop()).map(|(_, e)| e).collect();
        assert_eq!(order, ["before", "reserved", "after"]);
    }

    /// One-off delays stay in the heap; a delay that recurs gets a lane.
    #[test]
    fn only_recurring_delays_get_lanes() {
        let mut q = EventQueue::default();
        q.push(Time(0), 0);
        q.pop();
        for d in 1..=20 {
            q.push(Time(1000 + d * 7), d);
        }
        assert!(q.lanes.is_empty());
        q.push(Time(5000), 100);
        q.push(Time(5000), 101);
        assert_eq!(q.lanes.iter().map(|l| (l.delay, l.items.len())).collect::<Vec<_>>(), [(5000, 1)]);
        assert_eq!(q.len(), 22);
    }

    /// The look-ahead for cache hints names exactly the events that come up next.
    #[test]
    fn look_ahead_names_the_coming_events() {
        let mut q = EventQueue::default();
        q.push(Time(0), 0);
        q.pop();
        for i in 1..=5 {
            q.push(Time(100), i); // the delay recurs from the second push on: a lane
        }
        q.push(Time(50), 77); // a one-off delay: the heap
        assert_eq!(q.heap_next().0, Some(&77));
        assert_eq!(q.pop().map(|(_, e)| e), Some(77));
        assert_eq!(q.heap_next().0, Some(&1));
        assert_eq!(q.pop().map(|(_, e)| e), Some(1));
        assert_eq!(q.lane_ahead(1), None, "popped from the heap");
        assert_eq!(q.pop().map(|(_, e)| e), Some(2));
        assert_eq!((q.lane_ahead(1), q.lane_ahead(3), q.lane_ahead(4)), (Some(&3), Some(&5), None));
        assert_eq!((q.lane_ahead(0), q.heap_next().0), (None, None));
    }

    /// Events pushed for the instant of the last pop go to the FIFO, and still wait for events
    /// queued earlier for that instant.
    #[test]
    fn events_for_the_current_instant_wait_for_earlier_ones() {
        let mut q = EventQueue::default();
        q.push(Time(0), "start");
        q.pop();
        q.push(Time(10), "a");
        q.push(Time(10), "b");
        assert_eq!(q.pop().map(|(_, e)| e), Some("a"));
        q.push(Time(10), "now1");
        q.push(Time(10), "now2");
        assert_eq!(q.now_fifo.len(), 2);
        let order: Vec<_> = std::iter::from_fn(|| q.pop()).map(|(t, e)| (t.0, e)).collect();
        assert_eq!(order, [(10, "b"), (10, "now1"), (10, "now2")]);
        assert!(q.is_empty());
    }

    #[test]
    fn pop_until_stops_at_the_bound() {
        let mut q = EventQueue::default();
        q.push(Time(5), "a");
        q.push(Time(7), "b");
        assert_eq!(q.pop_until(Time(6)).map(|(t, e)| (t.0, e)), Some((5, "a")));
        assert!(q.pop_until(Time(6)).is_none());
        assert_eq!(q.len(), 1);
        assert_eq!(q.pop_until(Time(7)).map(|(_, e)| e), Some("b"));
    }

    #[test]
    fn slots_are_recycled() {
        let mut q = EventQueue::default();
        q.push(Time(0), 0);
        q.pop();
        // Going back in time is never a lane: these go through the heap and its slab.
        for i in 0..10 {
            q.push(Time(-1 - i), i);
            q.pop();
        }
        assert_eq!(q.slab.capacity(), 1);
    }
}
