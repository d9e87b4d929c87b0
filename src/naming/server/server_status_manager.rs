//! `ServerStatusManager` (spec R5.7): the server's status, refreshed every 5 s, and the
//! `TrafficReviseFilter` in front of every `/v1/ns` endpoint, which answers 503 unless the
//! status lets the request through.

use super::{error, NamingServer, Out};
use crate::naming::wire::*;
use crate::time::Dur;

/// `ServerStatus` (R5.7).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum ServerStatus {
    Starting,
    Up,
    Down,
    ReadOnly,
    WriteOnly,
}

impl ServerStatus {
    pub(super) fn name(self) -> &'static str {
        match self {
            ServerStatus::Starting => "STARTING",
            ServerStatus::Up => "UP",
            ServerStatus::Down => "DOWN",
            ServerStatus::ReadOnly => "READ_ONLY",
            ServerStatus::WriteOnly => "WRITE_ONLY",
        }
    }

    /// `ServerStatus.valueOf` of an `overriddenServerStatus`; blank (or `"null"`) is none. A
    /// scenario can only set the names (in Nacos another text makes every refresh throw).
    pub fn parse(s: &str) -> Option<ServerStatus> {
        [ServerStatus::Starting, ServerStatus::Up, ServerStatus::Down, ServerStatus::ReadOnly, ServerStatus::WriteOnly]
            .into_iter()
            .find(|st| st.name() == s)
    }
}

/// `ServerStatusManager` period (R5.7).
const SERVER_STATUS_MS: i64 = 5000;

impl NamingServer {
    /// `ServerStatusManager.refreshServerStatus`: Distro is available once loaded, or at once
    /// without warm-up (R5.7, R5.22), and the persistent store while it is the legacy Raft or
    /// a JRaft group that had a leader (R7.22); an overridden status wins.
    pub(super) fn refresh_server_status(&mut self, out: &mut Out) {
        let available = (self.initialized || !self.switches.data_warmup) && self.persistent_available();
        let sw = &self.switches;
        let status = sw.overridden_status.unwrap_or(if available { ServerStatus::Up } else { ServerStatus::Down });
        if status != self.status {
            out.observe(Observation::ServerStatusChanged { from: self.status.name(), to: status.name() });
            self.status = status;
        }
        out.set_timer(Dur::from_millis(SERVER_STATUS_MS), Timer::Server(ServerTimer::ServerStatus));
    }

    /// `TrafficReviseFilter` (R5.7), ahead of every `/v1/ns` endpoint: only UP serves everyone.
    pub(super) fn traffic_revise(&self, msg: &Msg) -> Option<Msg> {
        let from_server = match msg {
            Msg::Register(r) | Msg::Update(r) => r.agent == Agent::Server,
            Msg::Deregister(r) => r.agent == Agent::Server,
            Msg::Beat(r) => r.agent == Agent::Server,
            Msg::List(r) => r.agent == Agent::Server,
            Msg::MetadataBatch(r) => r.agent == Agent::Server,
            Msg::UpdateSwitch(_) | Msg::UpdateSwitchPersistent(_) => false, // the console: a browser
            Msg::UpdateService(r) => r.agent == Agent::Server,
            Msg::DeleteService(r) => r.agent == Agent::Server,
            Msg::Metrics(agent) => **agent == Agent::Server,
            // Server-to-server endpoints carry the Nacos-Server agent.
            _ => true,
        };
        let get = matches!(
            msg,
            Msg::List(_) | Msg::InstanceStatuses(_) | Msg::DistroFetch(_) | Msg::DistroSnapshot | Msg::Metrics(_)
        );
        let pass = match self.status {
            ServerStatus::Up => true,
            _ if from_server => true,
            ServerStatus::WriteOnly => !get,
            ServerStatus::ReadOnly => get,
            _ => false,
        };
        (!pass).then(|| error(503, &format!("server is {} now, please try again later!", self.status.name())))
    }
}
