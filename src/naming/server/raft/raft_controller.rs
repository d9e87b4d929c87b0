//! `RaftController` (spec R7.G): the `/raft/vote` and `/raft/beat` endpoints, and the glue
//! that runs `RaftCore`'s timers on a server and sends what they ask for.

use super::raft_core::{RaftAction, TICK_MS};
use super::RaftPeer;
use crate::engine::HttpError;
use crate::naming::server::{error, Call, NamingServer, Out, SERVER_HTTP_TIMEOUTS};
use crate::naming::wire::*;
use crate::time::Dur;
use rand_chacha::ChaCha8Rng;
use std::rc::Rc;

/// `ClusterVersionJudgement`'s period, and its first run after start (R7.21).
const JUDGEMENT_MS: i64 = 5000;

impl NamingServer {
    /// `RaftCore.init`: the peers, then `MasterElection` and `HeartBeat` from time zero.
    pub(crate) fn start_raft(&mut self, rng: &mut ChaCha8Rng, out: &mut Out) {
        if !self.cluster_mode() {
            return;
        }
        let members: Vec<Str> = self.config.members.iter().map(|(a, _)| a.clone()).collect();
        self.raft = Some(super::RaftCore::new(&members, &self.config.address, rng));
        out.set_timer(Dur::ZERO, Timer::Server(ServerTimer::MasterElection));
        out.set_timer(Dur::ZERO, Timer::Server(ServerTimer::RaftHeartBeat));
        if self.switches.behaviour.legacy_raft_stops_at_1_4 {
            out.set_timer(Dur::from_millis(JUDGEMENT_MS), Timer::Server(ServerTimer::ClusterVersionJudgement));
        }
    }

    /// `MasterElection` or `HeartBeat` ticks: the core counts down and may ask for votes or
    /// a beat; the timer re-arms until the legacy Raft stops.
    pub(crate) fn raft_tick(&mut self, timer: ServerTimer, rng: &mut ChaCha8Rng, out: &mut Out) {
        let Some(raft) = self.raft.as_mut().filter(|r| !r.stopped) else { return };
        let action = match timer {
            ServerTimer::MasterElection => raft.master_election(rng),
            _ => raft.heart_beat(rng),
        };
        out.set_timer(Dur::from_millis(TICK_MS), Timer::Server(timer));
        match action {
            Some(RaftAction::RequestVotes(local)) => {
                out.observe(Observation::RaftVoteStarted { term: local.term });
                self.tell_raft_peers(Msg::RaftVote(Rc::new(local)), Call::RaftVote, out);
            }
            Some(RaftAction::Beat(local)) => self.tell_raft_peers(Msg::RaftBeat(Rc::new(local)), Call::RaftBeat, out),
            None => {}
        }
    }

    /// An asynchronous POST to every other Raft peer, DOWN members included (R7.2).
    fn tell_raft_peers(&mut self, msg: Msg, call: Call, out: &mut Out) {
        let Some(raft) = self.raft.as_ref() else { return };
        let targets: Vec<_> = raft.peers.others().filter_map(|a| self.member_node(a)).collect();
        for t in targets {
            let x = out.request(t, msg.clone(), SERVER_HTTP_TIMEOUTS);
            self.calls.insert(x, call.clone());
        }
    }

    /// 1.4 `ClusterVersionJudgement` (R7.21): once every other member has reported (its
    /// report carries its 1.4 version), the legacy Raft stops; until then, again in 5 s.
    pub(crate) fn cluster_version_judgement(&mut self, out: &mut Out) {
        let all = self.config.members.iter().all(|(a, _)| *a == self.config.address || self.reported.contains(a));
        if !all {
            out.set_timer(Dur::from_millis(JUDGEMENT_MS), Timer::Server(ServerTimer::ClusterVersionJudgement));
            return;
        }
        if let Some(raft) = self.raft.as_mut() {
            raft.stopped = true;
            out.observe(Observation::RaftStopped);
        }
    }

    /// POST `/raft/vote` (R7.6).
    pub(crate) fn on_raft_vote(&mut self, candidate: &RaftPeer, rng: &mut ChaCha8Rng) -> Msg {
        match self.raft.as_mut() {
            Some(raft) if !raft.stopped => Msg::RaftPeerAnswer(Rc::new(raft.received_vote(candidate, rng))),
            _ => error(500, "old raft protocol already stop work"),
        }
    }

    /// POST `/raft/beat` (R7.10).
    pub(crate) fn on_raft_beat(&mut self, leader: &RaftPeer, rng: &mut ChaCha8Rng, out: &mut Out) -> Msg {
        let Some(raft) = self.raft.as_mut().filter(|r| !r.stopped) else {
            return error(500, "old raft protocol already stop work");
        };
        match raft.received_beat(leader, rng) {
            Ok((local, changed)) => {
                if changed {
                    out.observe(Observation::RaftLeaderChanged { leader: leader.ip.clone(), term: leader.term });
                }
                Msg::RaftPeerAnswer(Rc::new(local))
            }
            Err(reason) => {
                out.observe(Observation::RaftBeatRefused { leader: leader.ip.clone(), reason: reason.clone() });
                error(500, &reason)
            }
        }
    }

    /// A vote's answer: the voter's peer, counted by `decideLeader` (R7.7), even after this
    /// node's own election is over.
    pub(crate) fn on_vote_answer(&mut self, result: Result<Msg, HttpError>, out: &mut Out) {
        let (Some(raft), Ok(Msg::RaftPeerAnswer(peer))) = (self.raft.as_mut(), result) else { return };
        if let Some(leader) = raft.peers.decide_leader((*peer).clone()) {
            let term = raft.peers.term_of(&leader);
            out.observe(Observation::RaftLeaderChanged { leader, term });
        }
    }

    /// A beat's answer: the follower's peer replaces our copy (`peers.update`, R7.9).
    pub(crate) fn on_beat_answer(&mut self, result: Result<Msg, HttpError>) {
        if let (Some(raft), Ok(Msg::RaftPeerAnswer(peer))) = (self.raft.as_mut(), result) {
            raft.peers.update((*peer).clone());
        }
    }
}
