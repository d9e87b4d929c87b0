//! `OperatorController.updateSwitch` → `SwitchManager.update` (PUT `/operator/switches`). In
//! debug mode the entry is written into this server's own `SwitchDomain`, which every core
//! reads at its next use. Without `debug` the entry is set on the cluster's `SwitchDomain` as
//! the CP store holds it (or a copy of this server's, before the first such write), written
//! back through the store, and every server copies it when the write reaches it.

use super::key_builder::SWITCH_DOMAIN_KEY;
use super::raft::{RaftValue, SwitchFields, Then, Waiter};
use super::{error, NamingServer, Out, ServerStatus, Switches};
use crate::engine::{ExchangeId, NodeId};
use crate::naming::wire::{Msg, SwitchReq};
use rand_chacha::ChaCha8Rng;
use std::rc::Rc;

/// The entries `set_switch` can change, as Nacos names them (`SwitchEntry`).
pub const SWITCH_ENTRIES: &[&str] = &[
    "check",
    "pushEnabled",
    "lightBeatEnabled",
    "distro",
    "clientBeatInterval",
    "defaultCacheMillis",
    "pushCacheMillis",
    "overriddenServerStatus",
];

/// `SwitchEntry.MIN_PUSH_CACHE_TIME_MIILIS` and `MIN_CACHE_TIME_MIILIS`.
const MIN_PUSH_CACHE_MILLIS: i64 = 10_000;
const MIN_CACHE_MILLIS: i64 = 1000;

impl NamingServer {
    /// Debug mode: applies one entry to this server's switches.
    pub(super) fn update_switch(&mut self, r: &SwitchReq) -> Msg {
        if let Err(refusal) = set_entry(&mut self.switches, r) {
            return refusal;
        }
        self.mapper.distro_enabled = self.switches.distro_enabled;
        Msg::Ok
    }

    /// Without `debug`: the entry set on the stored `SwitchDomain` and written back through
    /// the CP store; answered when the write ends.
    pub(super) fn update_switch_persistent(
        &mut self,
        now_ms: i64,
        id: ExchangeId,
        from: NodeId,
        r: &SwitchReq,
        rng: &mut ChaCha8Rng,
        out: &mut Out,
    ) {
        let waiter = Waiter { id, from, api: Some("PUT /nacos/v1/ns/operator/switches"), on_ok: None };
        let mut domain = self.switches.clone();
        if let Some(RaftValue::SwitchDomain(stored)) = self.persistent_value(SWITCH_DOMAIN_KEY) {
            stored.apply_to(&mut domain);
        }
        if let Err(refusal) = set_entry(&mut domain, r) {
            return self.answer_waiter(waiter, refusal, out);
        }
        let value = RaftValue::SwitchDomain(Rc::new(SwitchFields::of(&domain)));
        self.raft_put(now_ms, SWITCH_DOMAIN_KEY.into(), value, Then::Answer(waiter), rng, out);
    }

    /// `SwitchManager.onChange`: the stored `SwitchDomain` replaces this server's switches.
    pub(crate) fn switch_domain_changed(&mut self, fields: &SwitchFields) {
        fields.apply_to(&mut self.switches);
        self.mapper.distro_enabled = self.switches.distro_enabled;
    }
}

/// Sets one entry; a value that does not parse is the Java `NumberFormatException` (an
/// `IllegalArgumentException`: 400 with its message), an entry no branch names changes
/// nothing, as in Nacos.
fn set_entry(sw: &mut Switches, r: &SwitchReq) -> Result<(), Msg> {
    let v = &*r.value;
    // Boolean.parseBoolean: only "true", in any case, is true.
    let flag = v.eq_ignore_ascii_case("true");
    let long = || v.parse::<i64>().map_err(|_| error(400, &format!("For input string: \"{v}\"")));
    match &*r.entry {
        "check" => sw.health_check_enabled = flag,
        "pushEnabled" => sw.push_enabled = flag,
        "lightBeatEnabled" => sw.light_beat_enabled = flag,
        "distro" => sw.distro_enabled = flag,
        "clientBeatInterval" => sw.client_beat_interval = long()?,
        "defaultCacheMillis" => match long()? {
            n if n < MIN_CACHE_MILLIS => return Err(error(400, "min default cache time  is too small(<1000)")),
            n => sw.default_cache_millis = n,
        },
        "pushCacheMillis" => match long()? {
            n if n < MIN_PUSH_CACHE_MILLIS => {
                return Err(error(400, "min cache time for http or tcp is too small(<10000)"))
            }
            n => sw.push_cache_millis = n,
        },
        // Stored as text; `ServerStatusManager` applies it at its next run ("null" clears it).
        "overriddenServerStatus" => sw.overridden_status = ServerStatus::parse(v),
        _ => {}
    }
    Ok(())
}
