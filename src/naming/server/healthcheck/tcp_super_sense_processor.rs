//! `TcpSuperSenseProcessor` and the task's run (spec R8.3–R8.5): on the server responsible for
//! the service, every round probes each persistent instance of the cluster with a TCP connect
//! to its address, 500 ms at most. The probed host answers as its process and host do: the
//! kernel accepts while the host is up and reachable (even with the process paused), refuses
//! when the process is down, and says nothing when the host is down or cut off.

use super::health_check_common::Verdict;
use super::health_check_task::{ClusterKey, HealthCheckTask, TCP_MAX_MS};
use crate::engine::HttpError;
use crate::naming::server::{Call, NamingServer, Out};
use crate::naming::wire::*;
use crate::time::Dur;
use rand_chacha::ChaCha8Rng;
use std::rc::Rc;

/// `CONNECT_TIMEOUT_MS` of a probe.
const CONNECT_TIMEOUT_MS: i64 = 500;

impl NamingServer {
    /// A datum put persistent instances in these clusters: those without a task get one
    /// (drawn on the next step, which has the RNG).
    pub(crate) fn want_health_checks(&mut self, svc: &ServiceKey, out: &mut Out) {
        let Some(service) = self.services.get(svc) else { return };
        for (name, cluster) in &service.clusters {
            let key = (svc.clone(), name.clone());
            if cluster.set(false).is_empty() || self.health.tasks.contains_key(&key) {
                continue;
            }
            if !self.health.pending.contains(&key) {
                self.health.pending.push(key);
                if self.health.pending.len() == 1 {
                    out.set_timer(Dur::ZERO, Timer::Server(ServerTimer::HealthCheckInit));
                }
            }
        }
    }

    /// The tasks asked for: each on its cluster's phase (see `health_check_task.rs`).
    pub(crate) fn health_check_init(&mut self, now_ms: i64, rng: &mut ChaCha8Rng, out: &mut Out) {
        for key in std::mem::take(&mut self.health.pending) {
            let Some(created) = self.services.get(&key.0).and_then(|s| s.clusters.get(&key.1)).map(|c| c.created_ms)
            else {
                continue;
            };
            let token: ClusterKey = Rc::new(key.clone());
            let task = HealthCheckTask::new(token.clone(), rng);
            let at = task.first_run(created, now_ms);
            out.set_timer(Dur::from_millis(at - now_ms), Timer::Server(ServerTimer::HealthCheck(token)));
            self.health.tasks.insert(key, task);
        }
    }

    /// `HealthCheckTask.run` (R8.3): probe if responsible and enabled, then re-arm with the
    /// delay as it is now (this round's results come later).
    pub(crate) fn health_check_run(&mut self, now_ms: i64, token: ClusterKey, out: &mut Out) {
        if !self.health.tasks.get(&*token).is_some_and(|t| Rc::ptr_eq(&t.token, &token)) {
            return;
        }
        if self.mapper.responsible(&token.0.name) && self.health_checks_on() {
            self.tcp_process(&token, out);
        }
        let task = self.health.tasks.get_mut(&*token).expect("checked above");
        task.start_ms = now_ms;
        out.set_timer(Dur::from_millis(task.normalized), Timer::Server(ServerTimer::HealthCheck(token)));
    }

    fn health_checks_on(&self) -> bool {
        self.switches.health_check_enabled && self.health_check_on
    }

    /// `process(task)` (R8.4): a probe per persistent, unmarked instance; one still in flight
    /// doubles into the delay instead.
    fn tcp_process(&mut self, key: &ClusterKey, out: &mut Out) {
        let Some(cluster) = self.services.get(&key.0).and_then(|s| s.clusters.get(&key.1)) else { return };
        let targets: Vec<(Str, u16)> =
            cluster.set(false).iter().filter(|i| !i.marked).map(|i| (i.ip.clone(), i.port)).collect();
        for (ip, port) in targets {
            let status = self.health.status.entry((key.clone(), ip.clone(), port)).or_default();
            if status.checking {
                let task = self.health.tasks.get_mut(&**key).expect("the task runs");
                task.re_evaluate(task.normalized * 2);
                continue;
            }
            status.checking = true;
            let call = Call::HealthProbe { cluster: key.clone(), ip: ip.clone(), port };
            match self.config.address_book.by_ip.get(&ip) {
                Some(&node) => {
                    let x = out.probe(node, Msg::TcpProbe, Dur::from_millis(CONNECT_TIMEOUT_MS));
                    self.calls.insert(x, call);
                }
                // An address no simulated host has: nothing answers.
                None => {
                    let lost = ServerTimer::HealthProbeLost(Rc::new((key.clone(), ip, port)));
                    out.set_timer(Dur::from_millis(CONNECT_TIMEOUT_MS), Timer::Server(lost));
                }
            }
        }
    }

    /// A probe's outcome (R8.5): connected, refused (fail now, rt 5 s), or no answer within
    /// 500 ms (fail, rt twice the delay); then the counters, and the delay moves toward rt.
    pub(crate) fn on_probe_result(
        &mut self,
        now_ms: i64,
        key: ClusterKey,
        ip: Str,
        port: u16,
        result: Result<Msg, HttpError>,
        out: &mut Out,
    ) {
        let Some(task) = self.health.tasks.get(&*key) else { return };
        let (outcome, rt) = match result {
            Ok(_) => (Probed::Connected, now_ms - task.start_ms),
            Err(HttpError::ConnectionRefused) => (Probed::Refused, TCP_MAX_MS),
            Err(HttpError::ConnectTimeout | HttpError::ReadTimeout) => (Probed::TimedOut, task.normalized * 2),
            Err(_) => (Probed::Failed, TCP_MAX_MS),
        };
        out.observe(Observation::HealthCheckResult {
            service: key.0.name.clone(),
            ip: ip.clone(),
            port,
            ok: outcome == Probed::Connected,
            rt_ms: rt,
        });
        let live = self
            .services
            .get(&key.0)
            .and_then(|s| s.clusters.get(&key.1))
            .and_then(|c| c.set(false).iter().find(|i| i.ip == ip && i.port == port).cloned());
        let responsible = self.health_checks_on() && self.mapper.responsible(&key.0.name);
        let status = self.health.status.entry((key.clone(), ip, port)).or_default();
        let verdict = match &live {
            None => {
                status.checking = false;
                Verdict::Unchanged
            }
            // `responsible(cluster, ip)` also asks for the task (live) and the instance (found).
            Some(i) => match outcome {
                Probed::Connected => status.check_ok(i, responsible),
                Probed::Refused => status.check_fail_now(i, responsible),
                Probed::TimedOut | Probed::Failed => status.check_fail(i, responsible),
            },
        };
        if let Some(task) = self.health.tasks.get_mut(&*key) {
            task.re_evaluate(rt);
        }
        let Some(i) = live else { return };
        let (service, ip, port) = (key.0.name.clone(), i.ip.clone(), i.port);
        match verdict {
            Verdict::Unchanged => return,
            Verdict::Healthy => {
                if !i.healthy.replace(true) {
                    out.observe(Observation::InstanceHealthy { service, ip, port });
                }
            }
            Verdict::Unhealthy => {
                if i.healthy.replace(false) {
                    out.observe(Observation::InstanceUnhealthy { service, ip, port, last_beat_ms: i.last_beat.get() });
                }
            }
        }
        if let Some(s) = self.services.get_mut(&key.0) {
            s.last_modified = now_ms;
        }
        self.service_changed(&key.0, out);
    }

    /// Instances that left a cluster take their counters with them (`Cluster.updateIps`).
    pub(crate) fn forget_health_status(&mut self, svc: &ServiceKey, removed: &[(Str, u16)]) {
        if removed.is_empty() || self.health.status.is_empty() {
            return;
        }
        self.health.status.retain(|(k, ip, port), _| k.0 != *svc || !removed.iter().any(|(i, p)| i == ip && p == port));
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Probed {
    Connected,
    Refused,
    TimedOut,
    Failed,
}
