//! Cache hints for the beat path, the one hot-path trick the naming cores carry, kept here so
//! the protocol files hold protocol only. The engine calls [`Node::prefetch_msg`] and
//! [`Node::prefetch_timer`](crate::engine::Node::prefetch_timer) for events that come up soon;
//! a [`Process`] answers by hinting the lines handling them will read. Hints change no value,
//! so no trace hash depends on them.
//!
//! What they hint: a client's beat timer brings its `BeatEntry` first, then the beat request
//! the entry sends; a beat on its way to a server brings the memo slot that remembers its
//! instance ([`ServiceMap::beat_target`](super::server::registry::ServiceMap::beat_target))
//! when it is sent, and just before it arrives the request itself and the instance the slot
//! names. `BeatReq` and `Instance` keep what a beat reads next to their reference count
//! (`repr(C)`, offsets pinned by tests in their files), so [`rc_head`] covers it in two lines;
//! a client's `BeatEntry` is aligned to a line.
//!
//! What they pay, measured with every trace hash unchanged (process wall time, medians of 8
//! interleaved runs on the 2-core development machine): naming-10k (the whole run) takes
//! 1.1 s with the hints against 1.65 s without, and distro-100k over 120 s 10.2 s against
//! 11.4 s. The layouts add 15 % on naming-10k (1.03 s against 1.21 s without them) and 5 % on
//! distro-100k (10.0 s against 10.6 s). Cachegrind counts instructions and cannot see any of it.
//!
//! [`Node::prefetch_msg`]: crate::engine::Node::prefetch_msg

use super::client::NamingClient;
use super::server::NamingServer;
use super::wire::{ClientTimer, Msg, Timer};
use super::Process;
use crate::engine::prefetch;
use std::rc::Rc;

/// Hints for the events the engine says come next.
impl Process {
    pub(super) fn hint_msg(&self, msg: &Msg, near: bool) {
        if let (Process::Server(s), Msg::Beat(_)) = (self, msg) {
            beat_delivery(s, msg, near);
        }
    }

    pub(super) fn hint_timer(&self, timer: &Timer, near: bool) {
        if let Process::Client(c) = self {
            beat_timer(c, timer, near);
        }
    }
}

/// A beat on its way to `s`: far ahead, the memo slot; just before, the request and the
/// instance the slot remembers.
fn beat_delivery(s: &NamingServer, msg: &Msg, near: bool) {
    let Msg::Beat(req) = msg else { return };
    if !near {
        if let Some(slot) = s.services.beat_memo_slot(req) {
            prefetch(slot);
        }
        return;
    }
    rc_head(req);
    if let Some(i) = s.services.remembered_beat_target(req) {
        rc_head(i);
    }
}

/// A beat timer of `c` fires soon: far ahead, its entry's slot; near, the request it sends.
fn beat_timer(c: &NamingClient, timer: &Timer, near: bool) {
    let Timer::Client(ClientTimer::Beat(task)) = timer else { return };
    let beats = c.beat_reactor();
    if !near {
        if let Some(slot) = beats.slot(*task) {
            prefetch(slot);
        }
    } else if let Some(entry) = beats.entry(*task) {
        rc_head(beats.request(entry));
    }
}

/// The reference count (16 bytes in front of the value) and the first 48 bytes of an `Rc`'s
/// value: at most 64 bytes from a 16-byte aligned allocation, so two lines, with a point in
/// each 64 bytes apart.
fn rc_head<T>(rc: &Rc<T>) {
    let p = Rc::as_ptr(rc) as *const u8;
    prefetch(p.wrapping_sub(16));
    prefetch(p.wrapping_add(48));
}
