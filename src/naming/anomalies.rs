//! Known anomalies of Nacos 1.x's legacy Raft (spec §7.I), reported when a run shows them.
//!
//! These are the real system's behaviour, not simulator failures: the legacy Raft never steps
//! down without a quorum, applies a publish before its majority and never rolls it back, and
//! makes the leader's key set authoritative. A run can therefore show two leaders at once and
//! lose writes it had acknowledged. `run` prints what it found, `fuzz` records it per seed,
//! and scenarios pin it with `expect_anomalies`. Everything here is read from the observations
//! (plus which processes are alive), so it costs nothing outside Raft traffic.

use super::Process;
use crate::engine::{Engine, NodeId, Record};
use crate::naming::wire::{Observation, Str};
use crate::time::Time;
use std::collections::{BTreeMap, BTreeSet};

/// Two live servers each believe they lead the legacy Raft (R7.7, R7.10: a leader cut off
/// from its majority keeps leading, and a new one is elected on the other side).
pub const TWO_RAFT_LEADERS: &str = "two_raft_leaders";
/// A write a majority acknowledged disappears: a server deletes it because its leader's beat
/// lacks the key (R7.10), the leader having won without it.
pub const COMMITTED_WRITE_LOST: &str = "committed_write_lost";
/// A datum no majority ever acknowledged replaces a committed one: a follower fetches from its
/// leader a newer timestamp of the key whose publish then failed (R7.12 keeps failed publishes
/// applied).
pub const COMMITTED_WRITE_OVERWRITTEN: &str = "committed_write_overwritten";

/// Every anomaly name, in the order reports list them.
pub const ANOMALIES: &[&str] = &[TWO_RAFT_LEADERS, COMMITTED_WRITE_LOST, COMMITTED_WRITE_OVERWRITTEN];

/// One anomaly seen: when, on which node, and what happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Anomaly {
    pub name: &'static str,
    pub at: Time,
    pub node: NodeId,
    pub detail: String,
}

/// The last committed write of a key.
struct Committed {
    timestamp: i64,
    at: Time,
    leader: NodeId,
}

/// A datum fetched over a committed one before its own publish had ended.
struct Pending {
    key: Str,
    timestamp: i64,
    node: NodeId,
    at: Time,
    over: i64,
}

/// The detector of one run, fed every observation in order.
pub struct Anomalies {
    /// Node ids as the scenario names them, for the details.
    names: Vec<String>,
    /// Servers that believe they lead: their term and the life in which they were elected.
    leaders: BTreeMap<NodeId, (i64, u32)>,
    /// The `found` entry of the two-leader overlap going on, if any.
    overlap: Option<usize>,
    committed: BTreeMap<Str, Committed>,
    /// Committed writes already reported lost, so each is reported once.
    lost: BTreeSet<(Str, i64)>,
    /// The timestamp of the publish each leader has under way, per key.
    published: BTreeMap<(NodeId, Str), i64>,
    /// Publishes that ended without a majority (or whose leader crashed), by key and timestamp.
    failed: BTreeSet<(Str, i64)>,
    pending: Vec<Pending>,
    found: Vec<Anomaly>,
}

impl Anomalies {
    pub fn new(names: &[String]) -> Self {
        Anomalies {
            names: names.to_vec(),
            leaders: BTreeMap::new(),
            overlap: None,
            committed: BTreeMap::new(),
            lost: BTreeSet::new(),
            published: BTreeMap::new(),
            failed: BTreeSet::new(),
            pending: Vec::new(),
            found: Vec::new(),
        }
    }

    /// Looks at the observations of one or more events (`records`, in order), with the engine
    /// as it is after them.
    pub fn check(&mut self, engine: &Engine<Process>, records: &[Record<Observation>]) {
        for r in records {
            self.observe(engine, r);
        }
        if self.overlap.is_some() && self.live_leaders(engine).len() < 2 {
            self.end_overlap(engine.now());
        }
    }

    fn observe(&mut self, engine: &Engine<Process>, r: &Record<Observation>) {
        let node = r.node;
        match &r.obs {
            Observation::RaftLeaderElected { leader, term } => {
                let Process::Server(s) = engine.node(node) else { return };
                if *leader == s.config.address {
                    self.leaders.insert(node, (*term, engine.incarnation(node)));
                } else {
                    self.leaders.remove(&node);
                }
                self.two_leaders(engine, r.at, node);
            }
            Observation::RaftStopped => {
                self.leaders.remove(&node);
            }
            Observation::RaftPublishApplied { key, timestamp, via: "publish", .. } => {
                self.published.insert((node, key.clone()), *timestamp);
            }
            Observation::RaftPublishApplied { key, timestamp, via: "fetch", .. } => {
                if let Some(c) = self.committed.get(key).filter(|c| c.timestamp < *timestamp) {
                    let over = c.timestamp;
                    self.pending.push(Pending { key: key.clone(), timestamp: *timestamp, node, at: r.at, over });
                    if self.failed.contains(&(key.clone(), *timestamp)) {
                        self.overwritten(key, *timestamp, r.at);
                    }
                }
            }
            Observation::RaftPublishCommitted { key, timestamp } => {
                self.published.remove(&(node, key.clone()));
                self.pending.retain(|p| !(p.key == *key && p.timestamp == *timestamp));
                self.committed.insert(key.clone(), Committed { timestamp: *timestamp, at: r.at, leader: node });
            }
            Observation::RaftPublishFailed { key, .. } => {
                // Only a leader's own publish leaves an entry; a proxied write's failure does not.
                let Some(ts) = self.published.remove(&(node, key.clone())) else { return };
                self.failed.insert((key.clone(), ts));
                self.overwritten(key, ts, r.at);
            }
            Observation::RaftDatumDeleted { key, via: "delete" } => {
                self.committed.remove(key);
            }
            Observation::RaftDatumDeleted { key, via: "beat" } => {
                let Some(c) = self.committed.get(key) else { return };
                if self.lost.insert((key.clone(), c.timestamp)) {
                    let detail = format!(
                        "{key} (timestamp {}, committed by {} at {}) deleted because its leader's beat lacks it",
                        c.timestamp, self.names[c.leader as usize], c.at
                    );
                    self.found.push(Anomaly { name: COMMITTED_WRITE_LOST, at: r.at, node, detail });
                }
            }
            _ => {}
        }
    }

    /// The servers alive in the life in which they became leader, with their terms.
    fn live_leaders(&self, engine: &Engine<Process>) -> Vec<(NodeId, i64)> {
        self.leaders
            .iter()
            .filter(|(&n, &(_, life))| engine.is_alive(n) && engine.incarnation(n) == life)
            .map(|(&n, &(term, _))| (n, term))
            .collect()
    }

    /// Reports two live leaders when they start to overlap (its end is added by `check`).
    fn two_leaders(&mut self, engine: &Engine<Process>, at: Time, node: NodeId) {
        let live = self.live_leaders(engine);
        if live.len() < 2 || self.overlap.is_some() {
            return;
        }
        self.overlap = Some(self.found.len());
        let who: Vec<String> = live.iter().map(|(n, t)| format!("{} (term {t})", self.names[*n as usize])).collect();
        let detail = format!("{} lead at once", who.join(" and "));
        self.found.push(Anomaly { name: TWO_RAFT_LEADERS, at, node, detail });
    }

    fn end_overlap(&mut self, at: Time) {
        if let Some(i) = self.overlap.take() {
            let a = &mut self.found[i];
            a.detail += &format!(" until {at} ({:.3}s)", (at.0 - a.at.0) as f64 / 1e9);
        }
    }

    /// The publish of `key` at `timestamp` failed (now, or before it was fetched): the nodes
    /// that fetched it over a committed write hold a value no majority acknowledged.
    fn overwritten(&mut self, key: &Str, timestamp: i64, at: Time) {
        let (hit, rest): (Vec<Pending>, Vec<Pending>) =
            std::mem::take(&mut self.pending).into_iter().partition(|p| p.key == *key && p.timestamp == timestamp);
        self.pending = rest;
        for p in hit {
            let detail = format!(
                "{key}: timestamp {}, whose publish failed for want of a majority, fetched from the leader over \
                 committed timestamp {}",
                p.timestamp, p.over
            );
            self.found.push(Anomaly { name: COMMITTED_WRITE_OVERWRITTEN, at: at.max(p.at), node: p.node, detail });
        }
    }

    /// What was found so far, in the order it happened.
    pub fn found(&self) -> &[Anomaly] {
        &self.found
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{parse, world};

    const K: &str = "com.alibaba.nacos.naming.iplist.public##DEFAULT_GROUP@@orders";

    /// Three 1.3.2 servers, booted (the detector asks the engine who is alive).
    fn booted() -> world::World {
        let text = r#"{"name": "t", "seed": 1, "duration": "2s", "switches": {"server_version": "1.3.2"},
                       "servers": [{"id": "s1"}, {"id": "s2"}, {"id": "s3"}]}"#;
        let mut w = world::build(&parse("t.json", text).unwrap(), 1);
        world::run_streaming(&mut w, Time::from_millis(1000), |_, _| {});
        w
    }

    fn rec(ms: i64, node: NodeId, obs: Observation) -> Record<Observation> {
        Record { at: Time::from_millis(ms), node, obs }
    }

    fn applied(ms: i64, node: NodeId, timestamp: i64, via: &'static str) -> Record<Observation> {
        rec(ms, node, Observation::RaftPublishApplied { key: K.into(), term: 1, timestamp, via })
    }

    fn committed(ms: i64, node: NodeId, timestamp: i64) -> Record<Observation> {
        rec(ms, node, Observation::RaftPublishCommitted { key: K.into(), timestamp })
    }

    fn deleted(ms: i64, node: NodeId, via: &'static str) -> Record<Observation> {
        rec(ms, node, Observation::RaftDatumDeleted { key: K.into(), via })
    }

    fn failed(ms: i64, node: NodeId) -> Record<Observation> {
        rec(ms, node, Observation::RaftPublishFailed { key: K.into(), reason: "no majority".into() })
    }

    fn names(a: &Anomalies) -> Vec<(&'static str, i64, NodeId)> {
        a.found().iter().map(|f| (f.name, f.at.0 / 1_000_000, f.node)).collect()
    }

    #[test]
    fn a_committed_write_deleted_by_a_beat_is_reported_once_and_a_delete_is_not_a_loss() {
        let w = booted();
        let mut a = Anomalies::new(&w.names);
        a.check(&w.engine, &[applied(10, 0, 1, "publish"), committed(11, 0, 1), deleted(20, 1, "beat")]);
        a.check(&w.engine, &[deleted(21, 2, "beat")]);
        assert_eq!(names(&a), [(COMMITTED_WRITE_LOST, 20, 1)]);
        let mut b = Anomalies::new(&w.names);
        b.check(&w.engine, &[committed(11, 0, 1), deleted(15, 0, "delete"), deleted(20, 1, "beat")]);
        assert!(b.found().is_empty(), "{:?}", b.found());
    }

    #[test]
    fn a_fetched_datum_over_a_committed_one_is_reported_once_its_publish_fails() {
        let w = booted();
        // Failure after the fetch: reported at the failure.
        let mut a = Anomalies::new(&w.names);
        a.check(&w.engine, &[committed(11, 0, 1), applied(12, 2, 2, "publish"), applied(13, 1, 2, "fetch")]);
        assert!(a.found().is_empty());
        a.check(&w.engine, &[failed(17, 2)]);
        assert_eq!(names(&a), [(COMMITTED_WRITE_OVERWRITTEN, 17, 1)]);
        // Failure before the fetch: reported at the fetch.
        let mut b = Anomalies::new(&w.names);
        b.check(
            &w.engine,
            &[committed(11, 0, 1), applied(12, 2, 2, "publish"), failed(17, 2), applied(30, 1, 2, "fetch")],
        );
        assert_eq!(names(&b), [(COMMITTED_WRITE_OVERWRITTEN, 30, 1)]);
        // The newer write committed after all: nothing to report.
        let mut c = Anomalies::new(&w.names);
        c.check(&w.engine, &[committed(11, 0, 1), applied(12, 2, 2, "publish"), applied(13, 1, 2, "fetch")]);
        c.check(&w.engine, &[committed(14, 2, 2), failed(40, 2)]);
        assert!(c.found().is_empty(), "{:?}", c.found());
    }

    #[test]
    fn two_leaders_are_reported_from_the_second_election_to_the_step_down() {
        let w = booted();
        let mut a = Anomalies::new(&w.names);
        let elected = |ms, node, leader: &str, term| {
            rec(ms, node, Observation::RaftLeaderElected { leader: leader.into(), term })
        };
        a.check(&w.engine, &[elected(100, 0, "10.0.0.1:8848", 1), elected(100, 1, "10.0.0.1:8848", 1)]);
        assert!(a.found().is_empty());
        a.check(&w.engine, &[elected(200, 2, "10.0.0.3:8848", 2)]);
        assert_eq!(names(&a), [(TWO_RAFT_LEADERS, 200, 2)]);
        a.check(&w.engine, &[elected(300, 0, "10.0.0.3:8848", 2)]);
        let d = &a.found()[0].detail;
        assert!(d.starts_with("s1 (term 1) and s3 (term 2) lead at once until"), "{d}");
        // A later overlap is a new report.
        a.check(&w.engine, &[elected(400, 1, "10.0.0.2:8848", 3)]);
        assert_eq!(a.found().len(), 2);
    }
}
