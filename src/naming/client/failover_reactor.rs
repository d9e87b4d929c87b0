//! `FailoverReactor` (spec R4.14): the failover switch file, read every 5 s by
//! `SwitchRefresher`, and the service copies `DiskFileWriter` keeps on disk. While the switch
//! is on, `getServiceInfo` serves the copies. State only: nothing is read back from disk but
//! what this models.

use super::Out;
use crate::naming::wire::*;
use crate::time::Dur;
use std::collections::BTreeMap;
use std::rc::Rc;

const SWITCH_REFRESH_MS: i64 = 5000;
const DISK_WRITE_FIRST_MS: i64 = 10_000;
const DISK_WRITE_INITIAL_MS: i64 = 30 * 60_000;
const DISK_WRITE_PERIOD_MS: i64 = 24 * 3_600_000;

#[derive(Default)]
pub(super) struct FailoverReactor {
    /// On disk, so it survives a restart.
    disk: FailoverDisk,
    /// `switchParams`: the switch as last acted on.
    on: bool,
    /// `serviceMap`: what `getServiceInfo` serves while on.
    served: BTreeMap<Str, Rc<ServiceInfo>>,
}

/// The failover directory: the switch file and the service copies `DiskFileWriter` wrote.
#[derive(Clone, Default)]
struct FailoverDisk {
    /// Switch file content and a modification counter standing in for its mtime.
    switch: Option<(bool, u64)>,
    /// The mtime `SwitchRefresher` last acted on (in memory; a restart re-reads the file).
    seen: u64,
    copies: BTreeMap<Str, Rc<ServiceInfo>>,
}

impl FailoverReactor {
    /// `FailoverReactor.init`: `SwitchRefresher` at once, `DiskFileWriter` at +10 s if the
    /// directory is empty, then every 24 h from +30 min.
    pub(super) fn start(&self, out: &mut Out) {
        out.set_timer(Dur::ZERO, Timer::Client(ClientTimer::SwitchRefresh));
        let first = Timer::Client(ClientTimer::DiskWrite { only_if_empty: true });
        out.set_timer(Dur::from_millis(DISK_WRITE_FIRST_MS), first);
        let periodic = Timer::Client(ClientTimer::DiskWrite { only_if_empty: false });
        out.set_timer(Dur::from_millis(DISK_WRITE_INITIAL_MS), periodic);
    }

    /// `isFailoverSwitch()`.
    pub(super) fn is_on(&self) -> bool {
        self.on
    }

    /// An operator writes the switch file.
    pub(super) fn write_switch(&mut self, on: bool) {
        let mtime = self.disk.switch.map_or(1, |(_, m)| m + 1);
        self.disk.switch = Some((on, mtime));
    }

    /// What a crash keeps: the disk, with the switch file to be read again.
    pub(super) fn after_crash(&mut self) -> FailoverReactor {
        let mut disk = std::mem::take(&mut self.disk);
        disk.seen = 0;
        FailoverReactor { disk, ..FailoverReactor::default() }
    }

    /// `SwitchRefresher.run`: act on a switch file newer than the last one seen; returns the
    /// new mode when it switched.
    pub(super) fn switch_refresh(&mut self, out: &mut Out) -> Option<bool> {
        let mut switched = None;
        if let Some((on, mtime)) = self.disk.switch {
            if mtime > self.disk.seen {
                self.disk.seen = mtime;
                self.on = on;
                self.served = if on {
                    self.disk
                        .copies
                        .iter()
                        .filter(|(_, i)| !i.hosts.is_empty())
                        .map(|(k, i)| (k.clone(), i.clone()))
                        .collect()
                } else {
                    BTreeMap::new()
                };
                out.observe(Observation::FailoverSwitched { on, services: self.served.len() as u32 });
                switched = Some(on);
            }
        }
        out.set_timer(Dur::from_millis(SWITCH_REFRESH_MS), Timer::Client(ClientTimer::SwitchRefresh));
        switched
    }

    /// `DiskFileWriter.run`: copy every cached service into the failover directory.
    pub(super) fn disk_write(&mut self, cache: &BTreeMap<Str, Rc<ServiceInfo>>, only_if_empty: bool, out: &mut Out) {
        if !only_if_empty || self.disk.copies.is_empty() {
            for (k, info) in cache {
                self.disk.copies.insert(k.clone(), info.clone());
            }
        }
        if !only_if_empty {
            let next = Timer::Client(ClientTimer::DiskWrite { only_if_empty: false });
            out.set_timer(Dur::from_millis(DISK_WRITE_PERIOD_MS), next);
        }
    }
}
