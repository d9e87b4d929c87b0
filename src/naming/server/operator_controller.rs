//! `OperatorController.updateSwitch` → `SwitchManager.update` (PUT `/operator/switches`), in
//! debug mode: the entry is written into this server's own `SwitchDomain`, which every core
//! reads at its next use. Without `debug`, Nacos writes the switch datum through the CP store
//! instead (not modelled: a scenario must ask for `debug`).

use super::{error, NamingServer, ServerStatus};
use crate::naming::wire::{Msg, SwitchReq};

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
    /// Applies one entry; a value that does not parse is the Java `NumberFormatException`
    /// (an `IllegalArgumentException`: 400 with its message), an entry no branch names is
    /// answered `ok` and changes nothing, as in Nacos.
    pub(super) fn update_switch(&mut self, r: &SwitchReq) -> Msg {
        let v = &*r.value;
        // Boolean.parseBoolean: only "true", in any case, is true.
        let flag = v.eq_ignore_ascii_case("true");
        let long = || v.parse::<i64>().map_err(|_| error(400, &format!("For input string: \"{v}\"")));
        let sw = &mut self.switches;
        match &*r.entry {
            "check" => sw.health_check_enabled = flag,
            "pushEnabled" => sw.push_enabled = flag,
            "lightBeatEnabled" => sw.light_beat_enabled = flag,
            "distro" => {
                sw.distro_enabled = flag;
                self.mapper.distro_enabled = flag;
            }
            "clientBeatInterval" => match long() {
                Ok(n) => sw.client_beat_interval = n,
                Err(e) => return e,
            },
            "defaultCacheMillis" => match long() {
                Ok(n) if n < MIN_CACHE_MILLIS => return error(400, "min default cache time  is too small(<1000)"),
                Ok(n) => sw.default_cache_millis = n,
                Err(e) => return e,
            },
            "pushCacheMillis" => match long() {
                Ok(n) if n < MIN_PUSH_CACHE_MILLIS => {
                    return error(400, "min cache time for http or tcp is too small(<10000)")
                }
                Ok(n) => sw.push_cache_millis = n,
                Err(e) => return e,
            },
            // Stored as text; `ServerStatusManager` applies it at its next run ("null" clears it).
            "overriddenServerStatus" => sw.overridden_status = ServerStatus::parse(v),
            _ => {}
        }
        Msg::Ok
    }
}
