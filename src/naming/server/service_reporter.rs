//! `ServiceManager.ServiceReporter` and the health-status channel (spec R5.24–R5.26): every 5 s
//! (from 60 s after start) the responsible server sends the checksums of its services to every
//! peer; a peer whose checksum differs pulls `/instance/statuses` and takes the health it is
//! given (`updatedHealthStatus`).

use super::{error, Call, NamingServer, Out, SERVER_HTTP_TIMEOUTS};
use crate::engine::HttpError;
use crate::naming::wire::*;
use crate::time::Dur;
use std::collections::BTreeMap;
use std::rc::Rc;

/// `ServiceReporter`: first run 60 s after start, then every
/// `serviceStatusSynchronizationPeriodMillis` (R5.24).
pub(super) const SERVICE_REPORT_INITIAL_MS: i64 = 60_000;
const SERVICE_REPORT_PERIOD_MS: i64 = 5000;

impl NamingServer {
    pub(super) fn service_report(&mut self, out: &mut Out) {
        let mut checksums = Vec::new();
        for (key, service) in self.services.iter() {
            if service.is_empty() || !self.mapper.responsible(&key.name) {
                continue;
            }
            let sum = service.recalculate_checksum();
            checksums.push((key.clone(), sum));
        }
        let msg = Msg::ServiceStatus(Rc::new(Sourced { source: self.config.address.clone(), checksums }));
        self.tell_peers(msg, out);
        out.set_timer(Dur::from_millis(SERVICE_REPORT_PERIOD_MS), Timer::Server(ServerTimer::ServiceReport));
    }

    /// POST `/service/status` (R5.25): pull the statuses of every service whose checksum differs.
    pub(super) fn on_service_status(&mut self, source: &Str, checksums: &[(ServiceKey, Str)], out: &mut Out) -> Msg {
        let Some(node) = self.member_node(source) else { return error(400, "source is not a member") };
        for (svc, sum) in checksums {
            let Some(service) = self.services.get(svc) else { continue };
            let local = service.recalculate_checksum();
            if local != *sum {
                let x = out.request(node, Msg::InstanceStatuses(Rc::new(svc.clone())), SERVER_HTTP_TIMEOUTS);
                self.calls.insert(x, Call::Statuses { service: svc.clone(), source: source.clone() });
            }
        }
        Msg::Ok
    }

    /// GET `/instance/statuses`.
    pub(super) fn on_instance_statuses(&self, svc: &ServiceKey) -> Msg {
        let Some(service) = self.services.get(svc) else { return error(500, "service not found") };
        let list = service.all_ips(true).chain(service.all_ips(false)).map(|i| (i.ip.clone(), i.port, i.healthy.get()));
        Msg::Statuses(Rc::new(list.collect()))
    }

    /// `updatedHealthStatus` (R5.26): every local instance takes the source's health; absent
    /// ones become unhealthy.
    pub(super) fn on_statuses_result(
        &mut self,
        svc: ServiceKey,
        source: Str,
        result: Result<Msg, HttpError>,
        out: &mut Out,
    ) {
        let Ok(Msg::Statuses(list)) = result else { return };
        let Some(service) = self.services.get(&svc) else { return };
        let remote: BTreeMap<(&str, u16), bool> = list.iter().map(|(ip, port, h)| ((&**ip, *port), *h)).collect();
        let mut changed = false;
        for i in service.all_ips(true).chain(service.all_ips(false)) {
            let valid = remote.get(&(&*i.ip, i.port)).copied().unwrap_or(false);
            if valid != i.healthy.get() {
                i.healthy.set(valid);
                changed = true;
                out.observe(Observation::StatusSynced {
                    service: svc.name.clone(),
                    ip: i.ip.clone(),
                    port: i.port,
                    healthy: valid,
                    source: source.clone(),
                });
            }
        }
        if changed {
            self.service_changed(&svc, out);
        }
    }
}
