//! `RaftCore` (spec R7.3–R7.11, R7.21): the legacy Raft's election and leader heartbeat.
//!
//! Every node runs `MasterElection` every 500 ms: its leader due time counts down, and when it
//! runs out the node starts an election (term + 1, votes for itself). A vote is granted to any
//! candidate whose term is strictly greater than the voter's (no check of data freshness), and
//! a candidate whose answers show a majority voting for one address takes it as leader. The
//! leader beats every 5 s, which resets its own and its followers' leader due time; a follower
//! whose term is greater than the beat's refuses it ("out of date beat"). Nothing steps a
//! leader down when it loses its quorum. From 1.4.0 the legacy Raft stops once every member
//! has reported a 1.4 version (`ClusterVersionJudgement`, R7.21); the JRaft group that takes
//! over is not modelled.
//!
//! Persistent datums (publish, delete, catch-up in beats) are not modelled yet: beats carry no
//! keys.

use super::raft_peer_set::{RaftPeer, RaftPeerSet, RaftState};
use crate::naming::wire::Str;
use rand_chacha::ChaCha8Rng;

/// `GlobalExecutor.TICK_PERIOD_MS`: both Raft timers tick every 500 ms.
pub const TICK_MS: i64 = 500;

/// What a Raft step asks of its server: messages to send and what to record.
#[derive(Debug, PartialEq)]
pub enum RaftAction {
    /// Send this node's peer, as a vote request, to every other peer.
    RequestVotes(RaftPeer),
    /// Send a leader beat with this node's peer to every other peer.
    Beat(RaftPeer),
}

pub struct RaftCore {
    pub peers: RaftPeerSet,
    /// `stopWork`: 1.4 switched to JRaft; the server no longer runs the ticks and refuses the
    /// endpoints.
    pub stopped: bool,
}

impl RaftCore {
    pub fn new(members: &[Str], local: &Str, rng: &mut ChaCha8Rng) -> RaftCore {
        RaftCore { peers: RaftPeerSet::new(members, local, rng), stopped: false }
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
        Some(RaftAction::Beat(local.clone()))
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

    /// `receivedBeat` (R7.10 steps 1–3): the local peer, or why the beat is refused. The
    /// second value says whether the leader changed.
    pub fn received_beat(&mut self, remote: &RaftPeer, rng: &mut ChaCha8Rng) -> Result<(RaftPeer, bool), String> {
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
        Ok((self.peers.local().clone(), changed))
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
        assert!(b.received_beat(&leader, &mut rng).unwrap_err().starts_with("out of date beat"));
        leader.term = 5;
        let (local, changed) = b.received_beat(&leader, &mut rng).unwrap();
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
}
