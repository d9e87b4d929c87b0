//! `ClientBeatProcessor` and `ClientBeatCheckTask` (spec R2.10, R2.13–R2.16): a beat refreshes
//! its instance's `lastBeat` (and health) on the health executor right after the reply; every
//! 5 s the responsible server marks instances unhealthy past their beat timeout and deletes
//! them past their delete timeout, both with a strict `>` on its own clock.

use super::registry::InstanceRef;
use super::{Call, NamingServer, Out, SERVER_HTTP_TIMEOUTS};
use crate::naming::wire::*;
use crate::time::Dur;
use std::rc::Rc;

/// `ClientBeatCheckTask` period (R2.13).
pub const CLIENT_BEAT_CHECK_MS: i64 = 5000;

impl NamingServer {
    /// The task's run, then its next one 5 s after it finished. A removed service's task was
    /// cancelled (`Service.destroy()`), also when a service of the same name exists again: that
    /// one runs its own task, on its own phase. Up to 1.4.1 a task may outlive its Service's
    /// place in the map (V12): it then runs over that orphan Service's instances.
    pub(super) fn client_beat_check_task(&mut self, now_ms: i64, task: Rc<ServiceKey>, out: &mut Out) {
        let in_map = self.services.get(&task).is_some_and(|s| Rc::ptr_eq(&s.check_task, &task));
        let orphan =
            if in_map { None } else { self.orphans.iter().position(|o| Rc::ptr_eq(&o.service.check_task, &task)) };
        if !in_map && orphan.is_none() {
            return;
        }
        self.client_beat_check(now_ms, &task, orphan, out);
        out.set_timer(Dur::from_millis(CLIENT_BEAT_CHECK_MS), Timer::Server(ServerTimer::ClientBeatCheck(task)));
    }

    /// `ClientBeatProcessor.run` (R2.10).
    pub(super) fn client_beat_process(&mut self, now_ms: i64, beat: &Rc<BeatReq>, out: &mut Out) {
        // Java walks the cluster's whole ephemeral list; it is sorted and unique by (ip, port),
        // so a look-up finds the same instance.
        let Some(i) = &self.services.beat_target(beat).ephemeral else { return };
        let svc = &beat.service;
        i.last_beat.set(now_ms);
        if !i.marked && !i.healthy.get() {
            i.healthy.set(true);
            out.observe(Observation::InstanceHealthy { service: svc.name.clone(), ip: i.ip.clone(), port: i.port });
            self.service_changed(svc, out);
        }
    }

    /// `ClientBeatCheckTask.run` (R2.14) over the service in the map, or over orphan number
    /// `orphan`: unhealthy past the beat timeout, delete past the delete timeout, both with
    /// strict `>` on this server's clock.
    fn client_beat_check(&mut self, now_ms: i64, svc: &ServiceKey, orphan: Option<usize>, out: &mut Out) {
        if !self.mapper.responsible(&svc.name) || !self.switches.health_check_enabled || !self.health_check_on {
            return;
        }
        let service = match orphan {
            Some(at) => &self.orphans[at].service,
            None => &self.services[svc],
        };
        // The instances are borrowed, not cloned: a clone writes each instance's reference
        // count, one more cache line dirtied per instance per run.
        let mut changed = false;
        for i in service.all_ips(true) {
            if now_ms - i.last_beat.get() > i.heart_beat_timeout() && !i.marked && i.healthy.get() {
                i.healthy.set(false);
                changed = true;
                out.observe(Observation::InstanceUnhealthy {
                    service: svc.name.clone(),
                    ip: i.ip.clone(),
                    port: i.port,
                    last_beat_ms: i.last_beat.get(),
                });
            }
        }
        let expired = |i: &&InstanceRef| !i.marked && now_ms - i.last_beat.get() > i.ip_delete_timeout();
        let doomed: Vec<InstanceRef> = match self.switches.expire_instance {
            true => service.all_ips(true).filter(expired).cloned().collect(),
            false => Vec::new(),
        };
        // pushService.serviceChanged pushes what the service in the map holds.
        if changed {
            self.service_changed(svc, out);
        }
        for i in doomed {
            out.observe(Observation::DeleteRequested { service: svc.name.clone(), ip: i.ip.clone(), port: i.port });
            // deleteIp: an HTTP DELETE to itself, through the filters (R2.15).
            let msg = Msg::Deregister(Rc::new(DeregisterReq {
                service: svc.clone(),
                ip: i.ip.clone(),
                port: i.port,
                cluster: i.cluster.clone(),
                ephemeral: true,
                agent: Agent::Server,
            }));
            let x = out.request(self.config.id, msg, SERVER_HTTP_TIMEOUTS);
            self.calls.insert(x, Call::SelfDelete);
        }
    }
}
