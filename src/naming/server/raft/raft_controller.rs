//! `RaftController` (spec R7.G): the `/raft/vote` and `/raft/beat` endpoints, and the glue
//! that runs `RaftCore`'s timers on a server and sends what they ask for. The datum endpoints
//! are in `raft_consistency_service.rs`, with the write paths they serve.

use super::raft_core::{RaftAction, STOPPED, TICK_MS};
use super::{RaftBeat, RaftPeer};
use crate::engine::HttpError;
use crate::naming::server::{error, Call, NamingServer, Out, SERVER_HTTP_TIMEOUTS};
use crate::naming::wire::*;
use crate::time::Dur;
use rand_chacha::ChaCha8Rng;
use std::rc::Rc;

/// `ClusterVersionJudgement`'s period, and its first run after start (R7.21).
const JUDGEMENT_MS: i64 = 5000;

impl NamingServer {
    /// `RaftCore.init`: the peers, the datums on disk, then `MasterElection` and `HeartBeat`
    /// from time zero (in cluster mode: standalone, this node leads alone).
    pub(crate) fn start_raft(&mut self, now_ms: i64, rng: &mut ChaCha8Rng, out: &mut Out) {
        if !self.cluster_mode() {
            let mut raft = super::RaftCore::standalone(&self.config.address);
            // Standalone, 1.4 switches to JRaft at once (R7.21).
            raft.stopped = self.switches.behaviour.legacy_raft_stops_at_1_4;
            self.raft = Some(raft);
            self.load_raft_store(now_ms, out);
            return;
        }
        let members: Vec<Str> = self.config.members.iter().map(|(a, _)| a.clone()).collect();
        self.raft = Some(super::RaftCore::new(&members, &self.config.address, rng));
        self.load_raft_store(now_ms, out);
        let b = &self.switches.behaviour;
        if b.legacy_raft_stops_at_1_4 && self.switches.use_new_raft_first {
            // RaftConsistencyServiceImpl.init shuts the legacy Raft down before its timers run.
            if let Some(raft) = self.raft.as_mut() {
                raft.stopped = true;
                raft.datums.clear();
            }
            return;
        }
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
            Some(RaftAction::Beat(beat)) => self.tell_raft_peers(Msg::RaftBeat(Rc::new(beat)), Call::RaftBeat, out),
            None => {}
        }
    }

    /// An asynchronous POST to every other Raft peer, DOWN members included (R7.2).
    pub(super) fn tell_raft_peers(&mut self, msg: Msg, call: Call, out: &mut Out) {
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
            // RaftCore.shutdown: the timers stop and the datums leave memory.
            raft.stopped = true;
            raft.datums.clear();
            out.observe(Observation::RaftStopped);
        }
    }

    /// POST `/raft/vote` (R7.6).
    pub(crate) fn on_raft_vote(&mut self, candidate: &RaftPeer, rng: &mut ChaCha8Rng) -> Msg {
        match self.raft.as_mut() {
            Some(raft) if !raft.stopped => Msg::RaftPeerAnswer(Rc::new(raft.received_vote(candidate, rng))),
            _ => error(500, STOPPED),
        }
    }

    /// POST `/raft/beat` (R7.10): followed, then the catch-up.
    pub(crate) fn on_raft_beat(&mut self, now_ms: i64, beat: &RaftBeat, rng: &mut ChaCha8Rng, out: &mut Out) -> Msg {
        let Some(raft) = self.raft.as_mut() else { return error(500, "raft not running") };
        let leader = &beat.peer;
        match raft.received_beat(leader, &beat.keys, rng) {
            Ok((local, changed, catch_up)) => {
                if changed {
                    out.observe(Observation::RaftLeaderElected { leader: leader.ip.clone(), term: leader.term });
                }
                self.raft_catch_up(now_ms, &leader.ip, leader.term, catch_up, rng, out);
                Msg::RaftPeerAnswer(Rc::new(local))
            }
            Err(reason) => {
                out.observe(Observation::RaftBeatRejected { from: leader.ip.clone(), reason: reason.clone() });
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
            out.observe(Observation::RaftLeaderElected { leader, term });
        }
    }

    /// A beat's answer: the follower's peer replaces our copy (`peers.update`, R7.9).
    pub(crate) fn on_beat_answer(&mut self, result: Result<Msg, HttpError>) {
        if let (Some(raft), Ok(Msg::RaftPeerAnswer(peer))) = (self.raft.as_mut(), result) {
            raft.peers.update((*peer).clone());
        }
    }
}
