//! `BeatReactor` and its `BeatTask` (spec R2.1–R2.5): one BeatInfo per registered ephemeral
//! instance, a beat every period, the server's interval and light-beat flag adopted from each
//! reply, and re-registration on 20404.

use super::naming_proxy::Then;
use super::{NamingClient, Out};
use crate::naming::versions::ClientBehaviour;
use crate::naming::wire::*;
use crate::slab::Slab;
use crate::time::{Dur, Time};
use std::collections::BTreeMap;
use std::rc::Rc;

/// A live `BeatInfo` and the two requests it sends, built once. `period` is the info's, kept
/// here so rescheduling reads only this entry. What a beat reads (the slot check, the request,
/// the period) comes first in an entry aligned to a cache line: sending a beat and
/// rescheduling it each read one line of it.
#[repr(C, align(64))]
pub(crate) struct BeatEntry {
    generation: u64,
    period: i64,
    light: Rc<BeatReq>,
    full: Rc<BeatReq>,
    key: BeatKey,
    info: Rc<BeatInfo>,
}

pub(crate) struct BeatReactor {
    /// `dom2Beat`: each key's live BeatInfo.
    dom2beat: BTreeMap<BeatKey, BeatTaskId>,
    /// The live BeatInfos, found by slot: every beat looks its entry up twice.
    tasks: Slab<BeatEntry>,
    generation: u64,
    /// Reactor-wide, starts false (R2.5).
    light_beat_enabled: bool,
    /// What this client's release does (light beats, 20404, the beat task's death).
    release: ClientBehaviour,
}

impl BeatReactor {
    pub(super) fn new(release: ClientBehaviour) -> BeatReactor {
        BeatReactor {
            dom2beat: BTreeMap::new(),
            tasks: Slab::default(),
            generation: 0,
            light_beat_enabled: false,
            release,
        }
    }

    /// The keys of the live BeatInfos.
    pub(super) fn keys(&self) -> impl Iterator<Item = &BeatKey> {
        self.dom2beat.keys()
    }

    pub(super) fn contains(&self, key: &BeatKey) -> bool {
        self.dom2beat.contains_key(key)
    }

    /// `removeBeatInfo`: the key's task stops at its next run.
    pub(super) fn remove_beat_info(&mut self, key: &BeatKey) {
        if let Some(task) = self.dom2beat.remove(key) {
            self.remove_task(task);
        }
    }

    fn remove_task(&mut self, task: BeatTaskId) {
        if self.entry(task).is_some() {
            self.tasks.remove(task.slot);
        }
    }

    /// The live BeatInfo of `task`, unless it was since replaced or removed.
    pub(crate) fn entry(&self, task: BeatTaskId) -> Option<&BeatEntry> {
        self.tasks.get(task.slot).filter(|e| e.generation == task.generation)
    }

    /// The slot a beat task's entry lives in, live or not ([`crate::naming::cache_hints`]).
    pub(crate) fn slot(&self, task: BeatTaskId) -> Option<*const Option<BeatEntry>> {
        self.tasks.slot(task.slot)
    }

    /// The request a beat of `entry` sends now: light once the server said so.
    pub(crate) fn request<'a>(&self, entry: &'a BeatEntry) -> &'a Rc<BeatReq> {
        if self.light_beat_enabled {
            &entry.light
        } else {
            &entry.full
        }
    }
}

impl NamingClient {
    /// `addBeatInfo` (R2.3): replaces (stops) any previous BeatInfo of the key and schedules
    /// the first beat one period later.
    pub(super) fn add_beat_info(&mut self, info: BeatInfo, out: &mut Out) {
        let key = BeatKey { service: info.service.clone(), ip: info.ip.clone(), port: info.port };
        let r = &mut self.beat_reactor;
        r.generation += 1;
        let generation = r.generation;
        let period = info.period;
        let info = Rc::new(info);
        let req = BeatReq::new(
            ServiceKey { namespace: self.config.namespace.clone(), name: key.service.clone() },
            info.cluster.clone(),
            key.ip.clone(),
            key.port,
            Some(info.clone()),
            Agent::JavaClient(self.config.version.clone()),
        );
        let light = Rc::new(req.with(|r| r.beat = None));
        let entry = BeatEntry { generation, period, light, full: Rc::new(req), key: key.clone(), info };
        let task = BeatTaskId { slot: r.tasks.insert(entry), generation };
        if let Some(stopped) = r.dom2beat.insert(key, task) {
            r.remove_task(stopped);
        }
        out.set_timer(Dur::from_millis(period), Timer::Client(ClientTimer::Beat(task)));
    }

    /// `BeatTask.run` (R2.5 steps 1–3).
    pub(super) fn beat_task(&mut self, now: Time, task: BeatTaskId, out: &mut Out) {
        let r = &self.beat_reactor;
        let Some(entry) = r.entry(task) else {
            return; // stopped
        };
        let msg = Msg::Beat(r.request(entry).clone());
        self.req_api(now, "sendBeat", msg, Then::Beat(task), out);
    }

    /// `BeatTask.run` steps 4–7: adopt the server's interval and light-beat flag, re-register
    /// on 20404, and schedule the next beat after this one returned.
    pub(super) fn beat_done(&mut self, now: Time, task: BeatTaskId, result: Result<Msg, ()>, out: &mut Out) {
        let Some(entry) = self.beat_reactor.entry(task) else { return };
        let key = &entry.key;
        let mut next = entry.period;
        if let Ok(Msg::Garbled) = result {
            // Parsing the reply throws something other than NacosException.
            if self.beat_reactor.release.beat_task_dies_on_error {
                out.observe(Observation::BeatTaskDied {
                    service: key.service.clone(),
                    ip: key.ip.clone(),
                    port: key.port,
                });
                return;
            }
            // @1.4.2+: the reschedule sits in `finally`.
        }
        let mut reregister = None;
        if let Ok(Msg::BeatReply { client_beat_interval, code, light_beat_enabled }) = result {
            if client_beat_interval > 0 {
                next = client_beat_interval;
            }
            // Before 1.2.0 a client has no 20404 branch: it beats on with the full body (C1).
            if code == 20404 && self.beat_reactor.release.light_beats_and_reregister {
                out.observe(Observation::Reregister {
                    service: key.service.clone(),
                    ip: key.ip.clone(),
                    port: key.port,
                });
                let info = &entry.info;
                let instance = InstanceData {
                    ip: info.ip.clone(),
                    port: info.port,
                    cluster: info.cluster.clone(),
                    weight: info.weight,
                    healthy: true,
                    enabled: true,
                    ephemeral: true,
                    marked: false,
                    metadata: info.metadata.clone(),
                    instance_id: "".into(),
                    last_beat: 0,
                };
                let svc = ServiceKey { namespace: self.config.namespace.clone(), name: key.service.clone() };
                reregister = Some(Msg::Register(Rc::new(RegisterReq { service: svc, instance, agent: self.agent() })));
            }
            let r = &mut self.beat_reactor;
            r.light_beat_enabled = r.release.light_beats_and_reregister && light_beat_enabled.unwrap_or(false);
        }
        if let Some(msg) = reregister {
            self.req_api(now, "registerInstance", msg, Then::Register, out);
        }
        out.set_timer(Dur::from_millis(next), Timer::Client(ClientTimer::Beat(task)));
    }
}
