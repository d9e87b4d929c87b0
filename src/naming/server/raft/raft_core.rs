//! `RaftCore` (spec §7.A–7.F, R7.21): the legacy Raft's election, leader heartbeat and datums.
//!
//! Every node runs `MasterElection` every 500 ms: its leader due time counts down, and when it
//! runs out the node starts an election (term + 1, votes for itself). A vote is granted to any
//! candidate whose term is strictly greater than the voter's (no check of data freshness), and
//! a candidate whose answers show a majority voting for one address takes it as leader. The
//! leader beats every 5 s with every key and its timestamp; a follower whose term is greater
//! refuses the beat ("out of date beat"), any other fetches the keys it lacks or holds older
//! and deletes the keys the leader lacks. Nothing steps a leader down when it loses its quorum.
//!
//! A datum is last-writer-wins by a per-key timestamp counter, and every write moves terms by
//! 100 (R7.13). The publish and delete paths that use these rules, with their lock and majority
//! wait, are in `raft_consistency_service.rs`. From 1.4.0 the legacy Raft stops once every
//! member has reported a 1.4 version (`ClusterVersionJudgement`, R7.21); the JRaft group that
//! takes over is not modelled.

use super::raft_peer_set::{RaftPeer, RaftPeerSet, RaftState};
use crate::naming::wire::{InstanceData, Str};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use std::rc::Rc;

/// `GlobalExecutor.TICK_PERIOD_MS`: both Raft timers tick every 500 ms.
pub const TICK_MS: i64 = 500;

/// What every legacy Raft call meets once 1.4 stopped it (`stopWork`).
pub const STOPPED: &str = "old raft protocol already stop work";

/// `PUBLISH_TERM_INCREASE_COUNT`: what a write adds to a term (R7.13).
pub const PUBLISH_TERM_INCREASE: i64 = 100;

/// `BATCH_SIZE` of a follower's catch-up fetch (R7.10 step 4).
pub const FETCH_BATCH: usize = 50;

/// A `Datum` of the legacy Raft: its value and the per-key counter that decides which copy is
/// newer.
#[derive(Clone, Debug, PartialEq, Hash)]
pub struct RaftDatum {
    pub key: Str,
    pub value: RaftValue,
    pub timestamp: i64,
}

#[derive(Clone, Debug, PartialEq, Hash)]
pub enum RaftValue {
    /// `Instances`: a service's persistent instances.
    Instances(Rc<Vec<InstanceData>>),
    /// A `Service` under its meta key, with its fields at their defaults: the key alone says
    /// which service exists.
    Service,
    /// A `Service` whose fields an operator set (`ServiceController.update`).
    ServiceFields(Rc<ServiceFields>),
    /// The `SwitchDomain` an operator wrote without `debug` (`SwitchManager.update`).
    SwitchDomain(Rc<SwitchFields>),
}

/// The `SwitchDomain` fields the cores read and `set_switch` can change: every server copies
/// them from the CP store (`SwitchManager.update(SwitchDomain)`).
#[derive(Clone, Debug, PartialEq, Hash)]
pub struct SwitchFields {
    pub health_check_enabled: bool,
    pub push_enabled: bool,
    pub light_beat_enabled: bool,
    pub distro_enabled: bool,
    pub client_beat_interval: i64,
    pub default_cache_millis: i64,
    pub push_cache_millis: i64,
    pub overridden_status: Option<crate::naming::server::ServerStatus>,
}

impl SwitchFields {
    pub fn of(sw: &crate::naming::server::Switches) -> SwitchFields {
        SwitchFields {
            health_check_enabled: sw.health_check_enabled,
            push_enabled: sw.push_enabled,
            light_beat_enabled: sw.light_beat_enabled,
            distro_enabled: sw.distro_enabled,
            client_beat_interval: sw.client_beat_interval,
            default_cache_millis: sw.default_cache_millis,
            push_cache_millis: sw.push_cache_millis,
            overridden_status: sw.overridden_status,
        }
    }

    /// `SwitchManager.update(SwitchDomain)`: these fields replace the server's own.
    pub fn apply_to(&self, sw: &mut crate::naming::server::Switches) {
        sw.health_check_enabled = self.health_check_enabled;
        sw.push_enabled = self.push_enabled;
        sw.light_beat_enabled = self.light_beat_enabled;
        sw.distro_enabled = self.distro_enabled;
        sw.client_beat_interval = self.client_beat_interval;
        sw.default_cache_millis = self.default_cache_millis;
        sw.push_cache_millis = self.push_cache_millis;
        sw.overridden_status = self.overridden_status;
    }
}

/// The fields of a `Service` the meta key carries.
#[derive(Clone, Debug, PartialEq, Hash)]
pub struct ServiceFields {
    /// `protectThreshold`, by its bits (a Java `float`).
    pub protect_threshold_bits: u32,
    pub metadata: crate::naming::wire::Metadata,
}

/// A leader beat's packet: the leader's peer and every key with its timestamp (R7.9).
#[derive(Clone, Debug, PartialEq, Hash)]
pub struct RaftBeat {
    pub peer: RaftPeer,
    pub keys: Vec<(Str, i64)>,
}

/// What a follower does after a valid beat (R7.10 steps 4–5).
#[derive(Debug, PartialEq)]
pub struct CatchUp {
    /// `GET /raft/datum?keys=` batches to ask the leader for, in beat order.
    pub fetch: Vec<Vec<Str>>,
    /// Local keys the beat lacked, already deleted here.
    pub deleted: Vec<Str>,
}

/// What a Raft step asks of its server: messages to send and what to record.
#[derive(Debug, PartialEq)]
pub enum RaftAction {
    /// Send this node's peer, as a vote request, to every other peer.
    RequestVotes(RaftPeer),
    /// Send this leader beat to every other peer.
    Beat(RaftBeat),
}

pub struct RaftCore {
    pub peers: RaftPeerSet,
    /// `stopWork`: 1.4 switched to JRaft; the server no longer runs the ticks and refuses the
    /// endpoints.
    pub stopped: bool,
    /// `datums`, in key order (Java's ConcurrentHashMap order only decides which keys share a
    /// catch-up batch).
    pub datums: BTreeMap<Str, RaftDatum>,
    /// Standalone: `isLeader` is always true and no timer runs.
    standalone: bool,
}

impl RaftCore {
    pub fn new(members: &[Str], local: &Str, rng: &mut ChaCha8Rng) -> RaftCore {
        RaftCore {
            peers: RaftPeerSet::new(members, local, rng),
            stopped: false,
            datums: BTreeMap::new(),
            standalone: false,
        }
    }

    /// A standalone server's core: its only peer leads (`RaftPeerSet.isLeader` in standalone
    /// mode), so a publish needs no one else. No timer runs, so no due time is drawn.
    pub fn standalone(local: &Str) -> RaftCore {
        RaftCore { peers: RaftPeerSet::standalone(local), stopped: false, datums: BTreeMap::new(), standalone: true }
    }

    /// `isLeader()`: this node leads.
    pub fn is_leader(&self) -> bool {
        self.standalone || self.peers.is_leader(&self.peers.local().ip)
    }

    fn source_leads(&self, source: &RaftPeer) -> bool {
        self.standalone || self.peers.is_leader(&source.ip)
    }

    /// The leader's `signalPublish` timestamp (R7.12): one more than the key's, which the old
    /// datum's counter takes too (`incrementAndGet`), or 1.
    pub fn next_timestamp(&mut self, key: &str) -> i64 {
        match self.datums.get_mut(key) {
            Some(d) => {
                d.timestamp += 1;
                d.timestamp
            }
            None => 1,
        }
    }

    /// `onPublish` (R7.13): stores a datum from `source` (the leader itself, or the leader a
    /// commit came from) and moves the term. Returns the local term after it.
    pub fn on_publish(&mut self, datum: RaftDatum, source: &RaftPeer, rng: &mut ChaCha8Rng) -> Result<i64, String> {
        self.check_source(source)?;
        self.peers.local_mut().reset_leader_due(rng);
        self.datums.insert(datum.key.clone(), datum);
        if self.is_leader() {
            self.peers.local_mut().term += PUBLISH_TERM_INCREASE;
        } else {
            self.take_term(source.term);
        }
        Ok(self.peers.local().term)
    }

    /// `onDelete` (R7.16): removes the key (whether or not it was here); only a service meta
    /// key moves the term.
    pub fn on_delete(&mut self, key: &str, source: &RaftPeer, rng: &mut ChaCha8Rng) -> Result<(), String> {
        self.check_source(source)?;
        self.peers.local_mut().reset_leader_due(rng);
        self.datums.remove(key);
        if key.starts_with(crate::naming::server::key_builder::SERVICE_META_PREFIX) {
            self.take_term(source.term);
        }
        Ok(())
    }

    fn check_source(&self, source: &RaftPeer) -> Result<(), String> {
        if self.stopped {
            return Err(STOPPED.into());
        }
        if !self.source_leads(source) {
            return Err(format!("peer({}) tried to publish data but wasn't leader", source.ip));
        }
        let local = self.peers.local().term;
        if source.term < local {
            return Err(format!("out of date publish, pub-term:{}, cur-term: {local}", source.term));
        }
        Ok(())
    }

    /// The follower's term rule of R7.13 step 5: take the leader's term unless it is 100 or
    /// more ahead, then only add 100.
    fn take_term(&mut self, leader_term: i64) {
        if self.peers.local().term + PUBLISH_TERM_INCREASE > leader_term {
            self.peers.set_leader_term(leader_term);
            self.peers.local_mut().term = leader_term;
        } else {
            self.peers.local_mut().term += PUBLISH_TERM_INCREASE;
        }
    }

    /// The fetch callback of a catch-up (R7.10 step 4), for one datum from the leader whose
    /// beat carried `leader_term`: kept only if newer than ours. Returns the local term after.
    pub fn apply_fetched(&mut self, datum: RaftDatum, leader_term: i64, rng: &mut ChaCha8Rng) -> Option<i64> {
        if self.datums.get(&datum.key).is_some_and(|d| datum.timestamp <= d.timestamp) {
            return None;
        }
        self.datums.insert(datum.key.clone(), datum);
        self.peers.local_mut().reset_leader_due(rng);
        self.take_term(leader_term);
        Some(self.peers.local().term)
    }

    /// `MasterElection.run` (R7.3, R7.5): counts down, and at zero starts an election.
    pub fn master_election(&mut self, rng: &mut ChaCha8Rng) -> Option<RaftAction> {
        let local = self.peers.local_mut();
        local.leader_due_ms -= TICK_MS;
        if local.leader_due_ms > 0 {
            return None;
        }
        local.reset_leader_due(rng);
        local.reset_heartbeat_due();
        self.peers.reset();
        let local = self.peers.local_mut();
        local.term += 1;
        local.vote_for = Some(local.ip.clone());
        local.state = RaftState::Candidate;
        Some(RaftAction::RequestVotes(local.clone()))
    }

    /// `HeartBeat.run` (R7.4, R7.9): counts down, and at zero a leader beats.
    pub fn heart_beat(&mut self, rng: &mut ChaCha8Rng) -> Option<RaftAction> {
        let local = self.peers.local_mut();
        local.heartbeat_due_ms -= TICK_MS;
        if local.heartbeat_due_ms > 0 {
            return None;
        }
        local.reset_heartbeat_due();
        if local.state != RaftState::Leader {
            return None;
        }
        local.reset_leader_due(rng);
        let peer = local.clone();
        Some(RaftAction::Beat(RaftBeat {
            peer,
            keys: self.datums.values().map(|d| (d.key.clone(), d.timestamp)).collect(),
        }))
    }

    /// `receivedVote` (R7.6): granted only to a strictly greater term. Returns the local peer.
    pub fn received_vote(&mut self, remote: &RaftPeer, rng: &mut ChaCha8Rng) -> RaftPeer {
        let local = self.peers.local_mut();
        if remote.term <= local.term {
            if local.vote_for.is_none() {
                local.vote_for = Some(local.ip.clone());
            }
            return local.clone();
        }
        local.reset_leader_due(rng);
        local.state = RaftState::Follower;
        local.vote_for = Some(remote.ip.clone());
        local.term = remote.term;
        local.clone()
    }

    /// `receivedBeat` (R7.10): the local peer and what to catch up, or why the beat is
    /// refused. The boolean says whether the leader changed.
    pub fn received_beat(
        &mut self,
        remote: &RaftPeer,
        keys: &[(Str, i64)],
        rng: &mut ChaCha8Rng,
    ) -> Result<(RaftPeer, bool, CatchUp), String> {
        if self.stopped {
            return Err(STOPPED.into());
        }
        if remote.state != RaftState::Leader {
            return Err(format!("invalid state from master, state: {:?}", remote.state));
        }
        let local = self.peers.local_mut();
        if local.term > remote.term {
            return Err(format!("out of date beat, beat-from-term: {}, beat-to-term: {}", remote.term, local.term));
        }
        if local.state != RaftState::Follower {
            local.state = RaftState::Follower;
            local.vote_for = Some(remote.ip.clone());
        }
        local.reset_leader_due(rng);
        local.reset_heartbeat_due();
        let changed = self.peers.make_leader(remote.clone());
        let catch_up = self.catch_up(keys);
        Ok((self.peers.local().clone(), changed, catch_up))
    }

    /// R7.10 steps 4–5: keys we lack or hold older go into batches of 50 (the last entry
    /// flushes what is left); keys the beat lacks are deleted.
    fn catch_up(&mut self, keys: &[(Str, i64)]) -> CatchUp {
        let mut fetch = Vec::new();
        let mut batch = Vec::new();
        let mut received = std::collections::BTreeSet::new();
        for (n, (key, ts)) in keys.iter().enumerate() {
            received.insert(key);
            let last = n + 1 == keys.len();
            let current = self.datums.get(key).is_some_and(|d| d.timestamp >= *ts);
            if !current {
                batch.push(key.clone());
            }
            if (batch.len() < FETCH_BATCH && !last) || batch.is_empty() {
                continue;
            }
            fetch.push(std::mem::take(&mut batch));
        }
        let deleted: Vec<Str> = self.datums.keys().filter(|k| !received.contains(k)).cloned().collect();
        for k in &deleted {
            self.datums.remove(k);
        }
        CatchUp { fetch, deleted }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn core(local: &str) -> RaftCore {
        let members: Vec<Str> = ["a", "b", "c"].iter().map(|s| Str::from(*s)).collect();
        RaftCore::new(&members, &local.into(), &mut ChaCha8Rng::seed_from_u64(3))
    }

    /// R7.6: an equal term is refused (`<=`), a greater one is followed and its term taken.
    #[test]
    fn a_vote_needs_a_strictly_greater_term() {
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let mut b = core("b");
        let mut candidate = b.peers.local().clone();
        candidate.ip = "a".into();
        candidate.term = 0;
        let answer = b.received_vote(&candidate, &mut rng);
        assert_eq!(answer.vote_for.as_deref(), Some("b"), "refused: votes for itself");
        candidate.term = 7;
        let answer = b.received_vote(&candidate, &mut rng);
        assert_eq!((answer.vote_for.as_deref(), answer.term), (Some("a"), 7));
        assert!(answer.leader_due_ms >= 15_000 && answer.leader_due_ms < 20_000);
    }

    /// R7.10: a beat from a lower term is refused; one from an equal term makes a candidate
    /// follow.
    #[test]
    fn a_beat_from_a_lower_term_is_out_of_date() {
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let mut b = core("b");
        b.peers.local_mut().term = 5;
        b.peers.local_mut().state = RaftState::Candidate;
        let mut leader = b.peers.local().clone();
        leader.ip = "a".into();
        leader.state = RaftState::Leader;
        leader.term = 4;
        assert!(b.received_beat(&leader, &[], &mut rng).unwrap_err().starts_with("out of date beat"));
        leader.term = 5;
        let (local, changed, _) = b.received_beat(&leader, &[], &mut rng).unwrap();
        assert!(changed);
        assert_eq!((local.state, local.vote_for.as_deref()), (RaftState::Follower, Some("a")));
        assert_eq!(b.peers.leader().map(|l| &**l), Some("a"));
    }

    /// R7.3: the election starts when the leader due time has counted down to zero.
    #[test]
    fn an_election_starts_when_the_leader_due_time_runs_out() {
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let mut a = core("a");
        a.peers.local_mut().leader_due_ms = 1000;
        assert_eq!(a.master_election(&mut rng), None);
        match a.master_election(&mut rng) {
            Some(RaftAction::RequestVotes(p)) => {
                assert_eq!((p.term, p.state, p.vote_for.as_deref()), (1, RaftState::Candidate, Some("a")))
            }
            other => panic!("{other:?}"),
        }
    }

    fn datum(key: &str, timestamp: i64) -> RaftDatum {
        RaftDatum { key: key.into(), value: RaftValue::Service, timestamp }
    }

    /// b follows a, which leads at `term`.
    fn follower_of_a(term: i64) -> (RaftCore, RaftPeer) {
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let mut b = core("b");
        let mut leader = b.peers.local().clone();
        leader.ip = "a".into();
        leader.state = RaftState::Leader;
        leader.term = term;
        b.received_beat(&leader, &[], &mut rng).unwrap();
        (b, leader)
    }

    /// R7.10 steps 4-5: keys missing or older locally are fetched 50 at a time, the last entry
    /// flushing the rest; keys the beat lacks are deleted; equal timestamps are current.
    #[test]
    fn a_beat_fetches_in_batches_of_50_and_deletes_what_the_leader_lacks() {
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let (mut b, leader) = follower_of_a(1);
        b.datums.insert("k000".into(), datum("k000", 3));
        b.datums.insert("gone".into(), datum("gone", 1));
        let keys: Vec<(Str, i64)> = (0..120).map(|i| (Str::from(format!("k{i:03}")), 3)).collect();
        let (_, _, c) = b.received_beat(&leader, &keys, &mut rng).unwrap();
        let sizes: Vec<usize> = c.fetch.iter().map(Vec::len).collect();
        assert_eq!(sizes, [50, 50, 19], "k000 is current: 119 keys to fetch");
        assert_eq!(&*c.fetch[0][0], "k001");
        assert_eq!(c.deleted, vec![Str::from("gone")]);
        assert!(!b.datums.contains_key("gone") && b.datums.contains_key("k000"));
    }

    /// R7.13 step 5: a follower takes the leader's term unless it is 100 or more ahead, then
    /// only adds 100; the leader adds 100 to its own.
    #[test]
    fn a_write_moves_terms_by_the_plus_100_rule() {
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let (mut b, mut leader) = follower_of_a(1);
        assert_eq!(b.on_publish(datum("k", 1), &leader, &mut rng), Ok(1), "1 + 100 > 1: takes 1");
        leader.term = 250;
        assert_eq!(b.on_publish(datum("k", 2), &leader, &mut rng), Ok(101), "1 + 100 <= 250: adds 100");
        assert_eq!(b.peers.term_of("a"), 1, "the leader's copy only moves when its term is taken");
        let mut a = core("a");
        a.standalone = true;
        let local = a.peers.local().clone();
        assert_eq!(a.on_publish(datum("k", 1), &local, &mut rng), Ok(100));
    }

    /// R7.13 steps 2-3: only the believed leader may publish, and not from a lower term.
    #[test]
    fn a_publish_from_a_non_leader_or_an_older_term_is_refused() {
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let (mut b, mut leader) = follower_of_a(5);
        b.peers.local_mut().term = 9;
        let err = b.on_publish(datum("k", 1), &leader, &mut rng).unwrap_err();
        assert_eq!(err, "out of date publish, pub-term:5, cur-term: 9");
        leader.ip = "c".into();
        leader.term = 20;
        assert!(b.on_publish(datum("k", 1), &leader, &mut rng).unwrap_err().contains("wasn't leader"));
        assert!(b.datums.is_empty());
    }

    /// R7.12: the leader's timestamp is one more than the key's, and the old datum's counter
    /// moves too; a fetched datum no newer than ours is ignored.
    #[test]
    fn timestamps_count_per_key() {
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let (mut b, _) = follower_of_a(1);
        assert_eq!(b.next_timestamp("k"), 1);
        b.datums.insert("k".into(), datum("k", 4));
        assert_eq!(b.next_timestamp("k"), 5);
        assert_eq!(b.datums["k"].timestamp, 5);
        assert_eq!(b.apply_fetched(datum("k", 5), 1, &mut rng), None);
        assert_eq!(b.apply_fetched(datum("k", 6), 1, &mut rng), Some(1));
    }
}
