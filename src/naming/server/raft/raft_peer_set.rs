//! `RaftPeer` and `RaftPeerSet` (spec R7.1, R7.2, R7.7): every configured member is a peer,
//! whatever its health (a DOWN member still counts for the majority), each with the term,
//! vote and state this node last learned for it.

use crate::naming::wire::Str;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// `GlobalExecutor.LEADER_TIMEOUT_MS`, `RANDOM_MS` and `HEARTBEAT_INTERVAL_MS` (R7.1).
pub const LEADER_TIMEOUT_MS: i64 = 15_000;
pub const RANDOM_MS: i64 = 5000;
pub const HEARTBEAT_INTERVAL_MS: i64 = 5000;

#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RaftState {
    Leader,
    Follower,
    Candidate,
}

/// A peer as the JSON of `/raft/vote`, `/raft/beat` and their answers carries it.
#[derive(Clone, Debug, PartialEq, Hash)]
pub struct RaftPeer {
    /// `ip:port` of the member.
    pub ip: Str,
    pub vote_for: Option<Str>,
    pub term: i64,
    pub leader_due_ms: i64,
    pub heartbeat_due_ms: i64,
    pub state: RaftState,
}

impl RaftPeer {
    /// A new peer: follower, term 0, due times drawn from `[0, 15 s)` and `[0, 5 s)`.
    fn new(ip: Str, rng: &mut ChaCha8Rng) -> RaftPeer {
        RaftPeer {
            ip,
            vote_for: None,
            term: 0,
            leader_due_ms: rng.gen_range(0..LEADER_TIMEOUT_MS),
            heartbeat_due_ms: rng.gen_range(0..RANDOM_MS),
            state: RaftState::Follower,
        }
    }

    /// `resetLeaderDue`: 15 s plus up to 5 s.
    pub fn reset_leader_due(&mut self, rng: &mut ChaCha8Rng) {
        self.leader_due_ms = LEADER_TIMEOUT_MS + rng.gen_range(0..RANDOM_MS);
    }

    pub fn reset_heartbeat_due(&mut self) {
        self.heartbeat_due_ms = HEARTBEAT_INTERVAL_MS;
    }
}

/// The peers, in member order, the local one among them, and who this node believes leads.
pub struct RaftPeerSet {
    peers: Vec<RaftPeer>,
    local: usize,
    leader: Option<Str>,
}

impl RaftPeerSet {
    pub fn new(members: &[Str], local: &Str, rng: &mut ChaCha8Rng) -> RaftPeerSet {
        let peers: Vec<RaftPeer> = members.iter().map(|m| RaftPeer::new(m.clone(), rng)).collect();
        let local = peers.iter().position(|p| &p.ip == local).unwrap_or(0);
        RaftPeerSet { peers, local, leader: None }
    }

    /// A standalone server's set: itself only, with no due times (no timer runs).
    pub fn standalone(local: &Str) -> RaftPeerSet {
        let peer = RaftPeer {
            ip: local.clone(),
            vote_for: None,
            term: 0,
            leader_due_ms: 0,
            heartbeat_due_ms: 0,
            state: RaftState::Follower,
        };
        RaftPeerSet { peers: vec![peer], local: 0, leader: None }
    }

    pub fn local(&self) -> &RaftPeer {
        &self.peers[self.local]
    }

    pub fn local_mut(&mut self) -> &mut RaftPeer {
        &mut self.peers[self.local]
    }

    pub fn leader(&self) -> Option<&Str> {
        self.leader.as_ref()
    }

    /// The term this node knows for the peer at `ip` (0 if unknown).
    pub fn term_of(&self, ip: &str) -> i64 {
        self.peers.iter().find(|p| &*p.ip == ip).map_or(0, |p| p.term)
    }

    /// `isLeader(ip)`: this node believes `ip` leads.
    pub fn is_leader(&self, ip: &str) -> bool {
        self.leader.as_deref() == Some(ip)
    }

    /// `getLeader()`: the leader's peer as this node knows it.
    pub fn leader_peer(&self) -> Option<RaftPeer> {
        let leader = self.leader.as_ref()?;
        self.peers.iter().find(|p| &p.ip == leader).cloned()
    }

    /// `getLeader().term.set(term)`: a follower takes the term a leader's datum came with.
    pub fn set_leader_term(&mut self, term: i64) {
        let Some(leader) = self.leader.clone() else { return };
        if let Some(p) = self.peers.iter_mut().find(|p| p.ip == leader) {
            p.term = term;
        }
    }

    /// `majorityCount`: more than half of all configured members.
    pub fn majority(&self) -> usize {
        self.peers.len() / 2 + 1
    }

    /// The addresses of the other peers, in member order.
    pub fn others(&self) -> impl Iterator<Item = &Str> {
        self.peers.iter().enumerate().filter(move |(i, _)| *i != self.local).map(|(_, p)| &p.ip)
    }

    /// `reset`, at the start of an election: no leader, no votes.
    pub fn reset(&mut self) {
        self.leader = None;
        self.peers.iter_mut().for_each(|p| p.vote_for = None);
    }

    /// `update`: the peer's own view of itself replaces ours (an unknown address is ignored).
    pub fn update(&mut self, peer: RaftPeer) {
        if let Some(p) = self.peers.iter_mut().find(|p| p.ip == peer.ip) {
            *p = peer;
        }
    }

    /// `decideLeader` (R7.7): the answer replaces our copy of its sender; if some address now
    /// has the votes of a majority of peers, it is the leader. Returns the new leader when the
    /// leader changes. (Only one address can hold a majority, so Java's HashMap order, which
    /// breaks ties between smaller counts, never matters here.)
    pub fn decide_leader(&mut self, candidate: RaftPeer) -> Option<Str> {
        self.update(candidate);
        let mut best: Option<(&Str, usize)> = None;
        for p in &self.peers {
            let Some(v) = &p.vote_for else { continue };
            let n = self.peers.iter().filter(|q| q.vote_for.as_ref() == Some(v)).count();
            if best.is_none_or(|(_, m)| n > m) {
                best = Some((v, n));
            }
        }
        let (votee, n) = best?;
        if n < self.majority() {
            return None;
        }
        let votee = votee.clone();
        if let Some(p) = self.peers.iter_mut().find(|p| p.ip == votee) {
            p.state = RaftState::Leader;
        }
        if self.leader.as_ref() == Some(&votee) {
            return None;
        }
        self.leader = Some(votee.clone());
        Some(votee)
    }

    /// `makeLeader` (R7.10 step 3): the beat's sender leads; any other peer still marked
    /// LEADER becomes a follower (Nacos asks it with GET `/raft/peer` and marks it FOLLOWER
    /// when that fails; its answer would say the same once it has followed the beat). Returns
    /// true when the leader changed.
    pub fn make_leader(&mut self, remote: RaftPeer) -> bool {
        let changed = self.leader.as_ref() != Some(&remote.ip);
        self.leader = Some(remote.ip.clone());
        for p in self.peers.iter_mut().filter(|p| p.ip != remote.ip && p.state == RaftState::Leader) {
            p.state = RaftState::Follower;
        }
        self.update(remote);
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn set() -> RaftPeerSet {
        let members: Vec<Str> = ["a", "b", "c"].iter().map(|s| Str::from(*s)).collect();
        RaftPeerSet::new(&members, &"a".into(), &mut ChaCha8Rng::seed_from_u64(1))
    }

    fn voted(ip: &str, for_: &str) -> RaftPeer {
        RaftPeer {
            ip: ip.into(),
            vote_for: Some(for_.into()),
            term: 1,
            leader_due_ms: 0,
            heartbeat_due_ms: 0,
            state: RaftState::Follower,
        }
    }

    /// Two of three votes (the candidate's own included) make a leader, once.
    #[test]
    fn a_majority_of_votes_decides_the_leader() {
        let mut s = set();
        s.local_mut().vote_for = Some("a".into());
        assert_eq!(s.decide_leader(voted("b", "b")), None, "1 vote each");
        assert_eq!(s.decide_leader(voted("c", "a")), Some("a".into()));
        assert_eq!(s.local().state, RaftState::Leader);
        assert_eq!(s.decide_leader(voted("c", "a")), None, "already the leader");
        assert_eq!(s.majority(), 2);
    }
}
