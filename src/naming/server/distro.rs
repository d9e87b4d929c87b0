//! The local half of Distro (spec §5): the `DataStore` of instance-list datums, the single
//! notifier thread that applies them to Services (R5.23), and `DistroMapper` (R5.1–R5.5).
//!
//! Replication between servers (sync, verification, snapshot load) builds on these pieces.

use super::registry::InstanceRef;
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

/// `distroHash` (R5.2): `abs(String.hashCode() % Integer.MAX_VALUE)` with Java semantics.
pub fn distro_hash(name: &str) -> u32 {
    let mut h: i32 = 0;
    for unit in name.encode_utf16() {
        h = h.wrapping_mul(31).wrapping_add(unit as i32);
    }
    (h % i32::MAX).unsigned_abs()
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
    pub fn responsible(&self, name: &str) -> bool {
        if !self.distro_enabled || self.standalone {
            return true;
        }
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
