//! The 1.0–1.2 `ServerListManager` (spec R5.33): instead of member probes, every server sends a
//! status beat to every other server every 2 s (15 s up to 1.1.3); a member is alive while its
//! last beat is under 10 s old (30 s), measured from its arrival, or up to 1.1.0 from the time
//! the sender wrote into it (versions.md V4); any change of the alive list switches health
//! checks off until the list has been stable for 60 s.

use crate::naming::server::{NamingServer, Out};
use crate::naming::wire::*;
use crate::time::Dur;
use std::rc::Rc;

/// The health-check protection of `ServerListManager` (R5.33); its timing is the release's
/// ([`ServerListTiming`](crate::naming::versions::ServerListTiming)).
const DISTRO_THRESHOLD: f64 = 0.7;
const STABLE_PERIOD_MS: i64 = 60_000;

impl NamingServer {
    /// `ServerStatusReporter`: a status beat to every other server and to itself, every period;
    /// health checks come back once the list has been stable for more than 60 s.
    pub(crate) fn server_list_report(&mut self, now_ms: i64, out: &mut Out) {
        let beat = StatusBeat { address: self.config.address.clone(), timestamp: now_ms };
        self.tell_peers(Msg::ServerStatusBeat(Rc::new(beat)), out);
        self.distro_beats.insert(self.config.address.clone(), now_ms);
        self.recompute_healthy_list(now_ms, out);
        let ratio = self.mapper.healthy.len() as f64 / self.members.members.len() as f64;
        if !self.health_check_on && ratio > DISTRO_THRESHOLD && now_ms - self.last_list_change > STABLE_PERIOD_MS {
            self.health_check_on = true;
            out.observe(Observation::HealthCheckSwitched { enabled: true });
        }
        let period = self.switches.behaviour.server_list.period_ms;
        out.set_timer(Dur::from_millis(period), Timer::Server(ServerTimer::ServerListReport));
    }

    pub(crate) fn on_server_status_beat(&mut self, now_ms: i64, beat: &StatusBeat, out: &mut Out) -> Msg {
        if self.member_node(&beat.address).is_some() {
            let at = if self.switches.behaviour.server_list.sender_clock { beat.timestamp } else { now_ms };
            self.distro_beats.insert(beat.address.clone(), at);
            self.recompute_healthy_list(now_ms, out);
        }
        Msg::Ok
    }

    /// Alive = a status beat younger than the expiry; any change of the list disables health checks.
    fn recompute_healthy_list(&mut self, now_ms: i64, out: &mut Out) {
        let expired = self.switches.behaviour.server_list.expired_ms;
        let alive: Vec<Str> = self
            .members
            .members
            .iter()
            .filter(|m| self.distro_beats.get(&m.address).is_some_and(|t| now_ms - t < expired))
            .map(|m| m.address.clone())
            .collect();
        if alive == self.mapper.healthy {
            return;
        }
        out.observe(Observation::HealthyListChanged { members: alive.clone() });
        self.mapper.healthy = alive;
        // `lastHealthServerMillis` is set only by the change that switches checks off: later
        // changes while they are off do not restart the stable period (versions.md V6).
        if self.health_check_on {
            self.last_list_change = now_ms;
            self.health_check_on = false;
            out.observe(Observation::HealthCheckSwitched { enabled: false });
        }
    }
}
