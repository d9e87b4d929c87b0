//! A compact model of SOFA-JRaft's `NodeImpl` (spec R7.22), the Raft group
//! `naming_persistent_service` that 1.4.x runs from boot and switches persistent data to.
//!
//! Standard Raft as JRaft configures it for Nacos: election timeout 5 s plus up to 1 s
//! (`maxElectionDelayMs`), a pre-vote round before a real election (a node that cannot win does
//! not raise its term), votes only for a log at least as up to date, leader heartbeats every
//! 500 ms (a tenth of the timeout), and a leader that has not heard from a majority within
//! the timeout steps down (JRaft's `checkDeadNodes`). Entries commit once a majority stores
//! them, and apply in order on every node. Snapshots, membership changes and read-index reads
//! are not modelled.

use crate::naming::server::raft::RaftValue;
use crate::naming::wire::Str;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// `DEFAULT_ELECTION_TIMEOUT` (Nacos) and JRaft's `maxElectionDelayMs`.
pub const ELECTION_TIMEOUT_MS: i64 = 5000;
const MAX_ELECTION_DELAY_MS: i64 = 1000;
/// `electionTimeoutMs / electionHeartbeatFactor` (10).
pub const HEARTBEAT_MS: i64 = 500;

#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    Follower,
    Candidate,
    Leader,
}

/// A log entry: a write of `value` (or a delete) to `key`.
#[derive(Clone, Debug, PartialEq, Hash)]
pub struct Entry {
    pub term: u64,
    pub key: Str,
    pub value: Option<RaftValue>,
}

/// `RequestVoteRequest` (a pre-vote does not move the voter's term).
#[derive(Clone, Debug, PartialEq, Hash)]
pub struct Vote {
    pub term: u64,
    pub candidate: Str,
    pub last_index: u64,
    pub last_term: u64,
    pub pre: bool,
}

/// `AppendEntriesRequest`: a heartbeat when `entries` is empty.
#[derive(Clone, Debug, PartialEq, Hash)]
pub struct Append {
    pub term: u64,
    pub leader: Str,
    pub prev_index: u64,
    pub prev_term: u64,
    pub entries: Vec<Entry>,
    pub commit: u64,
}

/// The answer to a vote or an append.
#[derive(Clone, Debug, PartialEq, Hash)]
pub struct Answer {
    pub term: u64,
    pub ok: bool,
    /// For appends: the last index the follower now matches.
    pub matched: u64,
    pub pre: bool,
}

/// What the node asks of its server.
#[derive(Debug, PartialEq)]
pub enum Step {
    /// Send this vote request to every other peer.
    RequestVotes(Vote),
    /// Send these appends, one per peer (by index in `peers`).
    Append(Vec<(usize, Append)>),
    /// This node now follows, or leads, `leader` in `term` (the first time: `hasLeader`).
    Leader { leader: Str, term: u64 },
    /// This leader stepped down (no majority heard within the timeout, or a higher term).
    SteppedDown { term: u64 },
}

/// A node's Raft state on disk.
#[derive(Default)]
pub struct Disk {
    term: u64,
    voted_for: Option<usize>,
    log: Vec<Entry>,
}

pub struct NodeImpl {
    pub peers: Vec<Str>,
    local: usize,
    pub role: Role,
    pub term: u64,
    voted_for: Option<usize>,
    pub leader: Option<Str>,
    log: Vec<Entry>,
    pub commit: u64,
    pub applied: u64,
    next: Vec<u64>,
    matched: Vec<u64>,
    /// When each peer last answered this leader.
    heard: Vec<i64>,
    votes: Vec<bool>,
    /// When this node last heard from a leader (or granted a vote).
    pub last_contact_ms: i64,
    /// The election timer's deadline; a timer firing before it is stale.
    pub election_due_ms: i64,
}

impl NodeImpl {
    /// A node starting with what its disk holds. A group of one (standalone) leads at once, as
    /// JRaft's `init` elects a lone peer, and needs no timer (nor a draw).
    pub fn new(peers: Vec<Str>, local: &Str, disk: Disk, now_ms: i64, rng: &mut ChaCha8Rng) -> NodeImpl {
        let mut node = NodeImpl::with_peers(peers, local, now_ms);
        node.term = disk.term;
        node.voted_for = disk.voted_for;
        node.log = disk.log;
        if node.peers.len() == 1 {
            node.term += 1;
            node.become_leader(now_ms);
        } else {
            node.reset_election(now_ms, rng);
        }
        node
    }

    fn with_peers(peers: Vec<Str>, local: &Str, now_ms: i64) -> NodeImpl {
        let n = peers.len();
        let local = peers.iter().position(|p| p == local).unwrap_or(0);
        NodeImpl {
            peers,
            local,
            role: Role::Follower,
            term: 0,
            voted_for: None,
            leader: None,
            log: Vec::new(),
            commit: 0,
            applied: 0,
            next: vec![1; n],
            matched: vec![0; n],
            heard: vec![0; n],
            votes: vec![false; n],
            last_contact_ms: now_ms,
            election_due_ms: 0,
        }
    }

    /// What JRaft keeps on disk (`RaftMetaStorage` and the log): a restart resumes from it and
    /// applies again what the leader says is committed.
    pub fn disk(self) -> Disk {
        Disk { term: self.term, voted_for: self.voted_for, log: self.log }
    }

    fn majority(&self) -> usize {
        self.peers.len() / 2 + 1
    }

    fn last(&self) -> (u64, u64) {
        (self.log.len() as u64, self.log.last().map_or(0, |e| e.term))
    }

    fn term_at(&self, index: u64) -> u64 {
        if index == 0 {
            0
        } else {
            self.log.get(index as usize - 1).map_or(0, |e| e.term)
        }
    }

    pub fn is_leader(&self) -> bool {
        self.role == Role::Leader
    }

    pub fn local_address(&self) -> &Str {
        &self.peers[self.local]
    }

    fn others(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.peers.len()).filter(move |&i| i != self.local)
    }

    /// A new election deadline: the timeout plus up to `maxElectionDelayMs`.
    pub fn reset_election(&mut self, now_ms: i64, rng: &mut ChaCha8Rng) -> i64 {
        self.election_due_ms = now_ms + ELECTION_TIMEOUT_MS + rng.gen_range(0..MAX_ELECTION_DELAY_MS);
        self.election_due_ms
    }

    /// The election timer: a follower or candidate without a leader in time asks for
    /// pre-votes; a group of one elects itself at once.
    pub fn on_election_timeout(&mut self, now_ms: i64, rng: &mut ChaCha8Rng) -> Vec<Step> {
        if self.role == Role::Leader || now_ms < self.election_due_ms {
            return Vec::new();
        }
        self.reset_election(now_ms, rng);
        // A candidate whose election timed out steps down and pre-votes again
        // (`stepDownWhenVoteTimedout`).
        self.role = Role::Follower;
        self.votes = vec![false; self.peers.len()];
        self.votes[self.local] = true;
        let (last_index, last_term) = self.last();
        let vote =
            Vote { term: self.term + 1, candidate: self.local_address().clone(), last_index, last_term, pre: true };
        vec![Step::RequestVotes(vote)]
    }

    fn elect_self(&mut self, now_ms: i64, rng: &mut ChaCha8Rng) -> Vec<Step> {
        self.term += 1;
        self.role = Role::Candidate;
        self.voted_for = Some(self.local);
        self.leader = None;
        self.votes = vec![false; self.peers.len()];
        self.votes[self.local] = true;
        self.reset_election(now_ms, rng);
        if self.peers.len() == 1 {
            return self.become_leader(now_ms);
        }
        let (last_index, last_term) = self.last();
        let vote = Vote { term: self.term, candidate: self.local_address().clone(), last_index, last_term, pre: false };
        vec![Step::RequestVotes(vote)]
    }

    /// A new leader appends an entry of its own term (JRaft's configuration entry), whose
    /// commit also commits what earlier leaders left.
    fn become_leader(&mut self, now_ms: i64) -> Vec<Step> {
        self.role = Role::Leader;
        self.leader = Some(self.local_address().clone());
        let last = self.log.len() as u64;
        self.next = vec![last + 1; self.peers.len()];
        self.matched = vec![0; self.peers.len()];
        self.log.push(Entry { term: self.term, key: "".into(), value: None });
        self.matched[self.local] = last + 1;
        if self.peers.len() == 1 {
            self.commit = last + 1;
        }
        self.heard = vec![now_ms; self.peers.len()];
        let mut steps = vec![Step::Leader { leader: self.local_address().clone(), term: self.term }];
        steps.extend(self.replicate());
        steps
    }

    /// A higher term seen anywhere: follow it.
    fn step_down(&mut self, term: u64) -> Vec<Step> {
        let was_leader = self.role == Role::Leader;
        if term > self.term {
            self.term = term;
            self.voted_for = None;
        }
        self.role = Role::Follower;
        if was_leader {
            self.leader = None;
            return vec![Step::SteppedDown { term: self.term }];
        }
        Vec::new()
    }

    /// `handleRequestVoteRequest` / `handlePreVoteRequest`.
    pub fn on_vote(&mut self, v: &Vote, now_ms: i64, rng: &mut ChaCha8Rng) -> (Answer, Vec<Step>) {
        let (last_index, last_term) = self.last();
        let up_to_date = (v.last_term, v.last_index) >= (last_term, last_index);
        let Some(candidate) = self.peers.iter().position(|p| *p == v.candidate) else {
            return (Answer { term: self.term, ok: false, matched: 0, pre: v.pre }, Vec::new());
        };
        if v.pre {
            // A live leader within its lease wins over a pre-vote.
            let leader_alive = self.leader.is_some() && now_ms - self.last_contact_ms < ELECTION_TIMEOUT_MS;
            let ok = v.term >= self.term && up_to_date && !leader_alive && self.role != Role::Leader;
            return (Answer { term: self.term, ok, matched: 0, pre: true }, Vec::new());
        }
        let mut steps = Vec::new();
        if v.term > self.term {
            steps = self.step_down(v.term);
            self.leader = None;
        }
        let ok = v.term == self.term && up_to_date && self.voted_for.is_none_or(|c| c == candidate);
        if ok {
            self.voted_for = Some(candidate);
            self.reset_election(now_ms, rng);
        }
        (Answer { term: self.term, ok, matched: 0, pre: false }, steps)
    }

    /// A vote answer from peer `from`.
    pub fn on_vote_answer(&mut self, from: usize, a: &Answer, now_ms: i64, rng: &mut ChaCha8Rng) -> Vec<Step> {
        if a.term > self.term {
            return self.step_down(a.term);
        }
        if !a.ok || self.role == Role::Leader {
            return Vec::new();
        }
        let wanted = if a.pre { self.role == Role::Follower } else { self.role == Role::Candidate };
        if !wanted || self.votes[from] {
            return Vec::new();
        }
        self.votes[from] = true;
        if self.votes.iter().filter(|v| **v).count() < self.majority() {
            return Vec::new();
        }
        if a.pre {
            self.elect_self(now_ms, rng)
        } else {
            self.become_leader(now_ms)
        }
    }

    /// `handleAppendEntriesRequest`.
    pub fn on_append(&mut self, a: &Append, now_ms: i64, rng: &mut ChaCha8Rng) -> (Answer, Vec<Step>) {
        if a.term < self.term {
            return (Answer { term: self.term, ok: false, matched: 0, pre: false }, Vec::new());
        }
        let mut steps = Vec::new();
        if a.term > self.term || self.role != Role::Follower {
            steps = self.step_down(a.term);
        }
        self.last_contact_ms = now_ms;
        self.reset_election(now_ms, rng);
        if self.leader.as_ref() != Some(&a.leader) {
            self.leader = Some(a.leader.clone());
            steps.push(Step::Leader { leader: a.leader.clone(), term: self.term });
        }
        if a.prev_index > self.log.len() as u64 || self.term_at(a.prev_index) != a.prev_term {
            let matched = self.commit.min(self.log.len() as u64);
            return (Answer { term: self.term, ok: false, matched, pre: false }, steps);
        }
        // Entries already here stay; a conflicting one and everything after it go.
        for (at, e) in (a.prev_index as usize..).zip(&a.entries) {
            if self.log.get(at).is_some_and(|x| x.term != e.term) {
                self.log.truncate(at);
            }
            if at >= self.log.len() {
                self.log.push(e.clone());
            }
        }
        let matched = a.prev_index + a.entries.len() as u64;
        self.commit = self.commit.max(a.commit.min(matched));
        (Answer { term: self.term, ok: true, matched, pre: false }, steps)
    }

    /// An append answer from peer `from`: advance its indexes and the commit.
    pub fn on_append_answer(&mut self, from: usize, a: &Answer, now_ms: i64) -> Vec<Step> {
        if a.term > self.term {
            return self.step_down(a.term);
        }
        if self.role != Role::Leader {
            return Vec::new();
        }
        self.heard[from] = now_ms;
        if a.ok {
            self.matched[from] = self.matched[from].max(a.matched);
            self.next[from] = self.matched[from] + 1;
            self.advance_commit();
            return Vec::new();
        }
        // Back off to what the follower says it has, and resend from there.
        self.next[from] = (a.matched + 1).min(self.next[from].saturating_sub(1)).max(1);
        vec![Step::Append(vec![(from, self.append_for(from))])]
    }

    fn advance_commit(&mut self) {
        let mut m: Vec<u64> = self.matched.clone();
        m[self.local] = self.log.len() as u64;
        m.sort_unstable_by(|a, b| b.cmp(a));
        let candidate = m[self.majority() - 1];
        if candidate > self.commit && self.term_at(candidate) == self.term {
            self.commit = candidate;
        }
    }

    fn append_for(&self, peer: usize) -> Append {
        let prev_index = self.next[peer] - 1;
        Append {
            term: self.term,
            leader: self.local_address().clone(),
            prev_index,
            prev_term: self.term_at(prev_index),
            entries: self.log[prev_index as usize..].to_vec(),
            commit: self.commit,
        }
    }

    /// Appends (with whatever each follower lacks) to every other peer.
    fn replicate(&self) -> Vec<Step> {
        vec![Step::Append(self.others().map(|p| (p, self.append_for(p))).collect())]
    }

    /// The heartbeat timer of a leader; also its `checkDeadNodes`.
    pub fn on_heartbeat(&mut self, now_ms: i64) -> Vec<Step> {
        if self.role != Role::Leader {
            return Vec::new();
        }
        let alive = (0..self.peers.len()).filter(|&p| p == self.local || now_ms - self.heard[p] < ELECTION_TIMEOUT_MS);
        if alive.count() < self.majority() {
            return self.step_down(self.term);
        }
        self.replicate()
    }

    /// A leader's new entry; returns its index.
    pub fn propose(&mut self, key: Str, value: Option<RaftValue>) -> (u64, Vec<Step>) {
        self.log.push(Entry { term: self.term, key, value });
        let index = self.log.len() as u64;
        self.matched[self.local] = index;
        if self.peers.len() == 1 {
            self.commit = index;
        }
        (index, self.replicate())
    }

    /// Committed entries not applied yet, in order (the state machine's `onApply`), leaders'
    /// own entries left out.
    pub fn take_committed(&mut self) -> Vec<(u64, Entry)> {
        let from = self.applied;
        self.applied = self.commit;
        (from + 1..=self.commit)
            .map(|i| (i, self.log[i as usize - 1].clone()))
            .filter(|(_, e)| !e.key.is_empty())
            .collect()
    }

    pub fn peer_index(&self, address: &str) -> Option<usize> {
        self.peers.iter().position(|p| &**p == address)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn group() -> (Vec<NodeImpl>, ChaCha8Rng) {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let peers: Vec<Str> = ["a", "b", "c"].iter().map(|s| Str::from(*s)).collect();
        let nodes = peers.iter().map(|p| NodeImpl::new(peers.clone(), p, Disk::default(), 0, &mut rng)).collect();
        (nodes, rng)
    }

    /// Pre-vote, vote, lead; an entry commits once a majority stores it.
    #[test]
    fn a_majority_elects_and_commits() {
        let (mut n, mut rng) = group();
        let due = n[0].election_due_ms;
        assert!((5000..6000).contains(&due));
        let Step::RequestVotes(pre) = n[0].on_election_timeout(due, &mut rng).remove(0) else { panic!() };
        assert!(pre.pre && n[0].term == 0, "a pre-vote does not raise the term");
        let (ans, _) = n[1].on_vote(&pre, due, &mut rng);
        let steps = n[0].on_vote_answer(1, &ans, due, &mut rng);
        let Some(Step::RequestVotes(vote)) = steps.into_iter().next() else { panic!() };
        assert_eq!((vote.term, vote.pre), (1, false));
        let (ans, _) = n[1].on_vote(&vote, due, &mut rng);
        let steps = n[0].on_vote_answer(1, &ans, due, &mut rng);
        assert_eq!(steps[0], Step::Leader { leader: "a".into(), term: 1 });
        let (index, _) = n[0].propose("k".into(), None);
        let Step::Append(mut appends) = n[0].on_heartbeat(due + 500).remove(0) else { panic!() };
        let (_, to_b) = appends.remove(0);
        let (ans, steps) = n[1].on_append(&to_b, due + 500, &mut rng);
        assert_eq!(steps, vec![Step::Leader { leader: "a".into(), term: 1 }]);
        assert_eq!(n[0].commit, 0);
        n[0].on_append_answer(1, &ans, due + 501);
        assert_eq!(n[0].commit, index, "two of three");
        assert_eq!(n[0].take_committed().len(), 1);
    }

    /// A leader that hears from no majority within the timeout steps down; a live leader's
    /// followers refuse pre-votes.
    #[test]
    fn a_leader_without_a_quorum_steps_down() {
        let (mut n, mut rng) = group();
        n[0].term = 3;
        n[0].become_leader(0);
        assert_eq!(n[0].on_heartbeat(4999).len(), 1, "still within the timeout: appends");
        assert_eq!(n[0].on_heartbeat(5000), vec![Step::SteppedDown { term: 3 }]);
        n[1].leader = Some("a".into());
        n[1].last_contact_ms = 1000;
        let pre = Vote { term: 1, candidate: "c".into(), last_index: 0, last_term: 0, pre: true };
        assert!(!n[1].on_vote(&pre, 2000, &mut rng).0.ok);
        assert!(n[1].on_vote(&pre, 6000, &mut rng).0.ok);
    }
}
