//! `PersistentServiceProcessor` and `JRaftServer` (spec R7.21–R7.22): 1.4.x's persistent
//! store. The group runs from boot on every member; once `ClusterVersionJudgement` stops the
//! legacy Raft, persistent writes go here: a write on the leader is appended and answered once
//! applied (or fails after 10 s, `JRaftProtocol.write`), a write elsewhere is forwarded to the
//! leader it knows (failing after the 5 s RPC timeout, or at once without a leader). Every node
//! applies committed entries to its `NamingKvStorage` and runs the same listeners as the legacy
//! Raft. `isAvailable` is `hasLeader`, which turns true at the group's first leader and never
//! back: after the switch, a node whose group never had one is DOWN and answers clients 503.

use super::node_impl::{Append, Disk, NodeImpl, Step, Vote, ELECTION_TIMEOUT_MS, HEARTBEAT_MS};
use crate::engine::{HttpError, HttpTimeouts};
use crate::naming::server::raft::{DeletedVia, RaftValue, Then};
use crate::naming::server::{error, Call, NamingServer, Out};
use crate::naming::wire::*;
use crate::time::Dur;
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use std::rc::Rc;

/// JRaft's RPCs between members: they give up after the election timeout.
const RPC_TIMEOUTS: HttpTimeouts =
    HttpTimeouts { connect: Dur::from_millis(ELECTION_TIMEOUT_MS), read: Dur::from_millis(ELECTION_TIMEOUT_MS) };
/// `rpcRequestTimeoutMs`: a write forwarded to the leader.
const FORWARD_TIMEOUTS: HttpTimeouts = HttpTimeouts { connect: Dur::from_millis(5000), read: Dur::from_millis(5000) };
/// `JRaftProtocol.write`'s wait for its own apply.
const WRITE_TIMEOUT_MS: i64 = 10_000;

pub struct JRaft {
    pub node: NodeImpl,
    /// `NamingKvStorage`: what the applied entries wrote.
    pub kv: BTreeMap<Str, RaftValue>,
    /// `hasLeader`: the group had a leader once.
    pub has_leader: bool,
    /// Writes proposed here as leader, by log index: the entry's term, key, what follows, and
    /// the number of its timeout.
    waiting: BTreeMap<u64, (u64, Str, Then, u64)>,
    seq: u64,
}

/// A write forwarded to the leader.
#[derive(Clone)]
pub struct Forwarded {
    key: Str,
    then: Then,
}

impl NamingServer {
    /// The group starts with the server: a lone member leads at once, others wait for their
    /// election timeout. A restarted member resumes from its disk.
    pub(crate) fn start_jraft(&mut self, now_ms: i64, rng: &mut ChaCha8Rng, out: &mut Out) {
        if !self.switches.behaviour.legacy_raft_stops_at_1_4 {
            return;
        }
        let mut members: Vec<Str> = self.config.members.iter().map(|(a, _)| a.clone()).collect();
        if members.is_empty() {
            members.push(self.config.address.clone());
        }
        let disk = self.jraft_disk.take().unwrap_or_default();
        let node = NodeImpl::new(members, &self.config.address, disk, now_ms, rng);
        let has_leader = node.is_leader();
        if !has_leader {
            out.set_timer(Dur::from_millis(node.election_due_ms - now_ms), Timer::Server(ServerTimer::JRaftElection));
        }
        self.jraft = Some(JRaft { node, kv: BTreeMap::new(), has_leader, waiting: BTreeMap::new(), seq: 0 });
    }

    /// What a crash leaves on disk.
    pub(crate) fn jraft_disk_after_crash(&mut self) -> Option<Disk> {
        self.jraft.take().map(|j| j.node.disk())
    }

    /// The persistent store in force: JRaft once the legacy Raft stopped.
    pub(crate) fn jraft_in_force(&self) -> bool {
        self.jraft.is_some() && self.raft.as_ref().is_none_or(|r| r.stopped)
    }

    /// `PersistentServiceProcessor.isAvailable` after the switch: `hasLeader`.
    pub(crate) fn persistent_available(&self) -> bool {
        !self.jraft_in_force() || self.jraft.as_ref().is_some_and(|j| j.has_leader)
    }

    /// The election timer: exactly one is pending; it acts only once the deadline it was set
    /// for has come (a heartbeat since moved it).
    pub(crate) fn jraft_election(&mut self, now_ms: i64, rng: &mut ChaCha8Rng, out: &mut Out) {
        let Some(j) = self.jraft.as_mut() else { return };
        let steps = if j.node.is_leader() { Vec::new() } else { j.node.on_election_timeout(now_ms, rng) };
        let next = if j.node.is_leader() { now_ms + ELECTION_TIMEOUT_MS } else { j.node.election_due_ms };
        out.set_timer(Dur::from_millis(next - now_ms), Timer::Server(ServerTimer::JRaftElection));
        self.jraft_steps(now_ms, steps, rng, out);
    }

    /// A leader's heartbeat, every 500 ms while it leads.
    pub(crate) fn jraft_heartbeat(&mut self, now_ms: i64, rng: &mut ChaCha8Rng, out: &mut Out) {
        let Some(j) = self.jraft.as_mut() else { return };
        if !j.node.is_leader() {
            return;
        }
        let steps = j.node.on_heartbeat(now_ms);
        if j.node.is_leader() {
            out.set_timer(Dur::from_millis(HEARTBEAT_MS), Timer::Server(ServerTimer::JRaftHeartbeat));
        }
        self.jraft_steps(now_ms, steps, rng, out);
    }

    /// Carries out what the node asked: messages, and what to record.
    fn jraft_steps(&mut self, now_ms: i64, steps: Vec<Step>, rng: &mut ChaCha8Rng, out: &mut Out) {
        for step in steps {
            match step {
                Step::RequestVotes(v) => {
                    let Some(j) = self.jraft.as_ref() else { return };
                    let msg = Msg::JRaftVote(Rc::new(v));
                    let targets: Vec<(usize, Str)> =
                        j.node.peers.iter().cloned().enumerate().filter(|(_, p)| p != &self.config.address).collect();
                    for (peer, address) in targets {
                        if let Some(node) = self.member_node(&address) {
                            let x = out.request(node, msg.clone(), RPC_TIMEOUTS);
                            self.calls.insert(x, Call::JRaftVote { peer });
                        }
                    }
                }
                Step::Append(appends) => {
                    for (peer, a) in appends {
                        let Some(address) = self.jraft.as_ref().map(|j| j.node.peers[peer].clone()) else { return };
                        if let Some(node) = self.member_node(&address) {
                            let x = out.request(node, Msg::JRaftAppend(Rc::new(a)), RPC_TIMEOUTS);
                            self.calls.insert(x, Call::JRaftAppend { peer });
                        }
                    }
                }
                Step::Leader { leader, term } => {
                    let Some(j) = self.jraft.as_mut() else { return };
                    j.has_leader = true;
                    if j.node.is_leader() {
                        out.set_timer(Dur::from_millis(HEARTBEAT_MS), Timer::Server(ServerTimer::JRaftHeartbeat));
                    }
                    out.observe(Observation::JraftLeader { leader, term });
                }
                Step::SteppedDown { term } => out.observe(Observation::JraftSteppedDown { term }),
            }
        }
        self.jraft_apply(now_ms, rng, out);
    }

    /// The state machine's `onApply`: committed entries, in order, into the KV storage and
    /// through the listeners; a write waiting here is answered.
    fn jraft_apply(&mut self, now_ms: i64, rng: &mut ChaCha8Rng, out: &mut Out) {
        let Some(j) = self.jraft.as_mut() else { return };
        let committed = j.node.take_committed();
        for (index, e) in committed {
            let Some(j) = self.jraft.as_mut() else { return };
            let waiter = match j.waiting.remove(&index) {
                Some((term, _, then, _)) if term == e.term => Some(then),
                _ => None,
            };
            match e.value {
                Some(v) => {
                    j.kv.insert(e.key.clone(), v);
                    let (key, term, timestamp) = (e.key.clone(), e.term as i64, index as i64);
                    out.observe(Observation::RaftPublishApplied { key, term, timestamp, via: "jraft" });
                    self.raft_changed(now_ms, &e.key, out);
                }
                None => {
                    j.kv.remove(&e.key);
                    self.raft_deleted(now_ms, &e.key, DeletedVia::Jraft, rng, out);
                }
            }
            if let Some(then) = waiter {
                self.raft_write_done(now_ms, &e.key, then, Ok(()), rng, out);
            }
        }
    }

    /// `protocol.write` of a put (`value`) or a remove (`None`).
    pub(crate) fn jraft_write(
        &mut self,
        now_ms: i64,
        key: Str,
        value: Option<RaftValue>,
        then: Then,
        rng: &mut ChaCha8Rng,
        out: &mut Out,
    ) {
        let Some(j) = self.jraft.as_mut() else { return };
        if j.node.is_leader() {
            let (index, steps) = j.node.propose(key.clone(), value);
            j.seq += 1;
            let seq = j.seq;
            j.waiting.insert(index, (j.node.term, key, then, seq));
            out.set_timer(Dur::from_millis(WRITE_TIMEOUT_MS), Timer::Server(ServerTimer::JRaftWriteTimeout(seq)));
            return self.jraft_steps(now_ms, steps, rng, out);
        }
        let Some(leader) = j.node.leader.clone().and_then(|l| self.member_node(&l)) else {
            let reason = "NoLeaderException: The Raft Group [naming_persistent_service] did not find the Leader node";
            return self.raft_write_done(now_ms, &key, then, Err(reason.into()), rng, out);
        };
        let x = out.request(leader, Msg::JRaftWrite(Rc::new((key.clone(), value))), FORWARD_TIMEOUTS);
        self.calls.insert(x, Call::JRaftForward(Box::new(Forwarded { key, then })));
    }

    /// A write waited 10 s for its apply: the caller's `future.get` times out.
    pub(crate) fn jraft_write_timeout(&mut self, now_ms: i64, seq: u64, rng: &mut ChaCha8Rng, out: &mut Out) {
        let Some(j) = self.jraft.as_mut() else { return };
        let Some(index) = j.waiting.iter().find(|(_, w)| w.3 == seq).map(|(i, _)| *i) else { return };
        let (_, key, then, _) = j.waiting.remove(&index).expect("found above");
        self.raft_write_done(now_ms, &key, then, Err("java.util.concurrent.TimeoutException".into()), rng, out);
    }

    /// The leader answered a forwarded write.
    pub(crate) fn on_jraft_forward_answer(
        &mut self,
        now_ms: i64,
        f: Forwarded,
        result: Result<Msg, HttpError>,
        rng: &mut ChaCha8Rng,
        out: &mut Out,
    ) {
        let result = match result {
            Ok(Msg::Ok) => Ok(()),
            Ok(Msg::Error { message, .. }) => Err(message.to_string()),
            Ok(other) => Err(format!("{other:?}")),
            Err(e) => Err(format!("{e:?}")),
        };
        self.raft_write_done(now_ms, &f.key, f.then, result, rng, out);
    }

    /// A forwarded write arrives: applied if this node leads, refused otherwise.
    pub(crate) fn on_jraft_write(
        &mut self,
        now_ms: i64,
        waiter: crate::naming::server::raft::Waiter,
        w: &(Str, Option<RaftValue>),
        rng: &mut ChaCha8Rng,
        out: &mut Out,
    ) {
        if !self.jraft.as_ref().is_some_and(|j| j.node.is_leader()) {
            return self.answer_waiter(waiter, error(500, "Could not find leader : naming_persistent_service"), out);
        }
        self.jraft_write(now_ms, w.0.clone(), w.1.clone(), Then::Answer(waiter), rng, out);
    }

    pub(crate) fn on_jraft_vote(&mut self, now_ms: i64, v: &Vote, rng: &mut ChaCha8Rng, out: &mut Out) -> Msg {
        let Some(j) = self.jraft.as_mut() else { return error(500, "no raft group") };
        let (answer, steps) = j.node.on_vote(v, now_ms, rng);
        self.jraft_steps(now_ms, steps, rng, out);
        Msg::JRaftAnswer(Rc::new(answer))
    }

    pub(crate) fn on_jraft_append(&mut self, now_ms: i64, a: &Append, rng: &mut ChaCha8Rng, out: &mut Out) -> Msg {
        let Some(j) = self.jraft.as_mut() else { return error(500, "no raft group") };
        let (answer, steps) = j.node.on_append(a, now_ms, rng);
        self.jraft_steps(now_ms, steps, rng, out);
        Msg::JRaftAnswer(Rc::new(answer))
    }

    /// A vote or append answer from peer number `peer`.
    pub(crate) fn on_jraft_answer(
        &mut self,
        now_ms: i64,
        peer: usize,
        vote: bool,
        result: Result<Msg, HttpError>,
        rng: &mut ChaCha8Rng,
        out: &mut Out,
    ) {
        let (Some(j), Ok(Msg::JRaftAnswer(a))) = (self.jraft.as_mut(), result) else { return };
        let steps =
            if vote { j.node.on_vote_answer(peer, &a, now_ms, rng) } else { j.node.on_append_answer(peer, &a, now_ms) };
        self.jraft_steps(now_ms, steps, rng, out);
    }

    /// The value a persistent key holds here: JRaft's storage once in force, else the legacy
    /// Raft's datum.
    pub(crate) fn jraft_value(&self, key: &str) -> Option<RaftValue> {
        self.jraft.as_ref().and_then(|j| j.kv.get(key).cloned())
    }
}
