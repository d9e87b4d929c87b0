//! `ServerMemberManager` (spec §6): this server's local view of the cluster. There is no
//! agreement protocol: each server probes one peer every 2 s and believes what it sees, so views
//! diverge under asymmetric faults, and responsibility (the DistroMapper) diverges with them.

use super::{Call, NamingServer, Out};
use crate::engine::{HttpError, HttpTimeouts, NodeId};
use crate::naming::versions::{Membership, ServerBehaviour};
use crate::naming::wire::*;
use crate::time::Dur;

/// `nacos.core.member.fail-access-cnt`: more consecutive failures than this ⇒ DOWN (R6.4).
pub const FAIL_ACCESS_CNT: u32 = 3;
/// First report 5 s after start, then 2 s after each (R6.3).
pub const REPORT_INITIAL_MS: i64 = 5000;
pub const REPORT_PERIOD_MS: i64 = 2000;

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum NodeState {
    Up,
    Suspicious,
    Down,
}

impl NodeState {
    pub fn name(self) -> &'static str {
        match self {
            NodeState::Up => "UP",
            NodeState::Suspicious => "SUSPICIOUS",
            NodeState::Down => "DOWN",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Member {
    pub address: Str,
    pub node: NodeId,
    pub state: NodeState,
    pub fail_access_cnt: u32,
    /// Members parsed from `cluster.conf` have no `version` extend info until their first
    /// report, which therefore always counts as a basic-info change (R6.5).
    pub reported: bool,
}

/// The member list, sorted by address, self included.
pub struct MemberManager {
    pub local: Str,
    pub members: Vec<Member>,
    cursor: usize,
    /// V8 (1.3.0): the Distro list is every member, whatever its state.
    keeps_down_members: bool,
    /// V9 (1.3.1–1.4.0): the stored failure count never grows.
    fail_count_stuck: bool,
}

/// A state change to publish as a `MembersChangeEvent`.
pub struct StateChange {
    pub member: Str,
    pub from: NodeState,
    pub to: NodeState,
}

impl MemberManager {
    /// Everyone starts UP, as parsed from `cluster.conf` (R6.1).
    pub fn new(local: Str, members: &[(Str, NodeId)], behaviour: &ServerBehaviour) -> MemberManager {
        let mut members: Vec<Member> = members
            .iter()
            .map(|(a, n)| Member {
                address: a.clone(),
                node: *n,
                state: NodeState::Up,
                fail_access_cnt: 0,
                reported: false,
            })
            .collect();
        members.sort_by(|a, b| a.address.cmp(&b.address));
        MemberManager {
            local,
            members,
            cursor: 0,
            keeps_down_members: behaviour.mapper_keeps_down_members,
            fail_count_stuck: behaviour.member_fail_count_stuck,
        }
    }

    /// UP and SUSPICIOUS members, sorted: the DistroMapper's healthy list (R5.1); on 1.3.0
    /// every member (V8).
    pub fn healthy_list(&self) -> Vec<Str> {
        let listed = |m: &&Member| self.keeps_down_members || m.state != NodeState::Down;
        self.members.iter().filter(listed).map(|m| m.address.clone()).collect()
    }

    pub fn others(&self) -> impl Iterator<Item = &Member> {
        self.members.iter().filter(|m| m.address != self.local)
    }

    /// `MemberInfoReportTask`: the next peer in round-robin order, cursor advanced first (R6.3).
    pub fn next_report_target(&mut self) -> Option<(Str, NodeId)> {
        let others: Vec<(Str, NodeId)> = self.others().map(|m| (m.address.clone(), m.node)).collect();
        if others.is_empty() {
            return None;
        }
        self.cursor = (self.cursor + 1) % others.len();
        Some(others[self.cursor].clone())
    }

    fn member_mut(&mut self, address: &str) -> Option<&mut Member> {
        self.members.iter_mut().find(|m| &*m.address == address)
    }

    /// `MemberUtil.onSuccess` (R6.3).
    pub fn on_success(&mut self, address: &str) -> Option<StateChange> {
        let m = self.member_mut(address)?;
        let from = m.state;
        m.state = NodeState::Up;
        m.fail_access_cnt = 0;
        (from != NodeState::Up).then(|| StateChange { member: m.address.clone(), from, to: NodeState::Up })
    }

    /// `MemberUtil.onFail` (R6.4): SUSPICIOUS, then DOWN after more than 3 consecutive failures
    /// or at once on "connection refused".
    pub fn on_fail(&mut self, address: &str, error: Option<HttpError>) -> Option<StateChange> {
        let stuck = self.fail_count_stuck;
        let m = self.member_mut(address)?;
        let from = m.state;
        m.state = NodeState::Suspicious;
        // V9: the count is taken on a copy and never stored, so every failure counts as the first.
        let count = m.fail_access_cnt + 1;
        if !stuck {
            m.fail_access_cnt = count;
        }
        if count > FAIL_ACCESS_CNT || error == Some(HttpError::ConnectionRefused) {
            m.state = NodeState::Down;
        }
        (from != m.state).then(|| StateChange { member: m.address.clone(), from, to: m.state })
    }

    /// A report received from a peer (R6.5): it is UP; an event is published when its basic
    /// info changed (state, or the first report adding `version`). Returns (changed, change).
    pub fn on_report(&mut self, address: &str) -> (bool, Option<StateChange>) {
        let Some(m) = self.member_mut(address) else { return (false, None) };
        let from = m.state;
        m.state = NodeState::Up;
        m.fail_access_cnt = 0;
        let first = !std::mem::replace(&mut m.reported, true);
        let change =
            (from != NodeState::Up).then(|| StateChange { member: m.address.clone(), from, to: NodeState::Up });
        (first || change.is_some(), change)
    }
}

/// The core async HTTP client used by member reports (R6.3).
const REPORT_TIMEOUTS: HttpTimeouts = HttpTimeouts { connect: Dur::from_millis(5000), read: Dur::from_millis(2500) };

impl NamingServer {
    pub(super) fn member_report(&mut self, out: &mut Out) {
        if let Some((address, node)) = self.members.next_report_target() {
            let x = out.request(node, Msg::MemberReport { address: self.config.address.clone() }, REPORT_TIMEOUTS);
            self.calls.insert(x, Call::Report { address });
        }
        out.set_timer(Dur::from_millis(REPORT_PERIOD_MS), Timer::Server(ServerTimer::MemberReport));
    }

    pub(super) fn on_report_result(&mut self, address: Str, result: Result<Msg, HttpError>, out: &mut Out) {
        let change = match result {
            Ok(Msg::Error { status: 404 | 501, .. }) => None, // "version too low"
            Ok(Msg::Error { .. }) => self.members.on_fail(&address, None),
            Ok(_) => self.members.on_success(&address),
            Err(e) => self.members.on_fail(&address, Some(e)),
        };
        if let Some(c) = change {
            self.members_changed(Some(c), out);
        }
    }

    /// POST `/core/cluster/report` (R6.5).
    pub(super) fn on_member_report(&mut self, address: &str, out: &mut Out) -> Msg {
        self.reported.insert(address.into());
        let (changed, change) = self.members.on_report(address);
        if changed {
            self.members_changed(change, out);
        }
        Msg::Ok
    }

    /// `FileConfigMemberLookup` saw `cluster.conf` change and read the same members again:
    /// `memberChange` puts a fresh `Member` for each, without the `version` its reports added.
    /// V10 (1.3.0–1.4.1): each is in its default state, UP with no failures counted; from
    /// 1.4.2 it keeps its old state. The addresses are unchanged, so no `MembersChangeEvent` is
    /// published and the DistroMapper keeps its list until the next state change. Up to 1.2
    /// `ServerListManager` re-reads the file every 5 s anyway and nothing changes.
    pub(super) fn member_lookup_reread(&mut self, out: &mut Out) {
        out.observe(Observation::MembersReread { members: self.config.members.len() as u32 });
        if self.switches.behaviour.membership != Membership::MemberProbes {
            return;
        }
        let reset = self.switches.behaviour.member_reread_resets_state;
        for m in &mut self.members.members {
            m.reported = false;
            if reset {
                if m.state != NodeState::Up {
                    out.observe(Observation::MemberStateChanged {
                        member: m.address.clone(),
                        from: m.state.name(),
                        to: NodeState::Up.name(),
                    });
                }
                m.state = NodeState::Up;
                m.fail_access_cnt = 0;
            }
        }
    }

    /// `MembersChangeEvent` → the DistroMapper recomputes its healthy list (R5.1, R6.6).
    pub(super) fn members_changed(&mut self, change: Option<StateChange>, out: &mut Out) {
        if let Some(c) = change {
            out.observe(Observation::MemberStateChanged { member: c.member, from: c.from.name(), to: c.to.name() });
        }
        self.mapper.healthy = self.members.healthy_list();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn three() -> MemberManager {
        let m: Vec<(Str, NodeId)> =
            vec![("10.0.0.2:8848".into(), 1), ("10.0.0.1:8848".into(), 0), ("10.0.0.3:8848".into(), 2)];
        MemberManager::new("10.0.0.1:8848".into(), &m, &ServerBehaviour::default())
    }

    #[test]
    fn round_robin_starts_at_index_one() {
        let mut m = three();
        let order: Vec<Str> = (0..4).map(|_| m.next_report_target().unwrap().0).collect();
        let want: Vec<Str> =
            ["10.0.0.3:8848", "10.0.0.2:8848", "10.0.0.3:8848", "10.0.0.2:8848"].map(Str::from).to_vec();
        assert_eq!(order, want);
    }

    #[test]
    fn suspicious_then_down_after_the_fourth_failure_or_at_once_when_refused() {
        let mut m = three();
        let a = "10.0.0.2:8848";
        let c = m.on_fail(a, Some(HttpError::ConnectTimeout)).unwrap();
        assert_eq!((c.from, c.to), (NodeState::Up, NodeState::Suspicious));
        assert!(m.on_fail(a, Some(HttpError::ConnectTimeout)).is_none());
        assert!(m.on_fail(a, Some(HttpError::ConnectTimeout)).is_none());
        assert_eq!(m.on_fail(a, Some(HttpError::ConnectTimeout)).unwrap().to, NodeState::Down);
        assert_eq!(m.healthy_list().len(), 2);
        assert_eq!(m.on_success(a).unwrap().to, NodeState::Up);
        assert_eq!(m.on_fail("10.0.0.3:8848", Some(HttpError::ConnectionRefused)).unwrap().to, NodeState::Down);
    }
}
