//! The event queue: a binary heap of small `(time, seq, slot)` keys over a slab of payloads.
//!
//! Ordering is by time, then by insertion sequence, so simultaneous events run in the order they
//! were scheduled on every machine. Payloads stay put in the slab (slots are recycled), so the heap
//! only moves 24-byte keys and the hot loop allocates nothing once the slab has grown.

use crate::time::Time;
use std::cmp::Ordering;
use std::collections::BinaryHeap;

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

pub struct EventQueue<E> {
    heap: BinaryHeap<Key>,
    slab: Vec<Option<E>>,
    free: Vec<u32>,
    seq: u64,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        EventQueue { heap: BinaryHeap::new(), slab: Vec::new(), free: Vec::new(), seq: 0 }
    }
}

impl<E> EventQueue<E> {
    pub fn push(&mut self, at: Time, ev: E) {
        let slot = match self.free.pop() {
            Some(s) => {
                self.slab[s as usize] = Some(ev);
                s
            }
            None => {
                self.slab.push(Some(ev));
                (self.slab.len() - 1) as u32
            }
        };
        self.seq += 1;
        self.heap.push(Key { at: at.0, seq: self.seq, slot });
    }

    pub fn pop(&mut self) -> Option<(Time, E)> {
        let k = self.heap.pop()?;
        let ev = self.slab[k.slot as usize].take().expect("queued slot holds an event");
        self.free.push(k.slot);
        Some((Time(k.at), ev))
    }

    pub fn peek_time(&self) -> Option<Time> {
        self.heap.peek().map(|k| Time(k.at))
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
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

    #[test]
    fn slots_are_recycled() {
        let mut q = EventQueue::default();
        for i in 0..10 {
            q.push(Time(i), i);
            q.pop();
        }
        assert_eq!(q.slab.len(), 1);
    }
}
