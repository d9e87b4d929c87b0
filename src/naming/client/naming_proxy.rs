//! `NamingProxy` (spec R2.6–R2.7): every call the client makes to the server list, with the
//! server choice of `reqApi` (`java.util.Random` seeded with the client's clock) and the walk
//! to the next server when one fails.

use super::{NamingClient, Out};
use crate::engine::{ExchangeId, HttpError, HttpTimeouts, NodeId};
use crate::naming::wire::*;
use crate::time::{Dur, Time};
use std::collections::VecDeque;

/// Client HTTP timeouts (`com.alibaba.nacos.client.naming.ctimeout/rtimeout`, R2.6).
pub const CLIENT_HTTP_TIMEOUTS: HttpTimeouts =
    HttpTimeouts { connect: Dur::from_millis(3000), read: Dur::from_millis(50_000) };
/// `namingRequestDomainMaxRetryCount` for a single configured server (R2.7).
const DOMAIN_MAX_RETRY: usize = 3;

/// What to do when an exchange completes.
#[derive(Clone, Debug)]
pub(super) enum Then {
    Beat(BeatTaskId),
    Register,
    Deregister,
    /// `updateServiceNow` at subscription: the answer is processed, then the service's
    /// `UpdateTask` is scheduled (`scheduleUpdateIfAbsent` runs after the call returned).
    PullNow {
        key: Str,
    },
    /// An `UpdateTask` run's call: a full pull, or `refreshOnly` (answer ignored).
    Update {
        key: Str,
        refresh_only: bool,
    },
    /// A one-shot query (`getServiceInfoDirectlyFromServer`); the answer is observed.
    Query {
        service: Str,
        healthy: Option<bool>,
    },
}

/// One `reqApi` in progress: where its walk over the server list started, how many tries it
/// has, and how far it got.
struct Call {
    api: &'static str,
    msg: Msg,
    start: usize,
    tries: usize,
    attempt: usize,
    then: Then,
}

/// The calls in flight.
#[derive(Default)]
pub(super) struct NamingProxy {
    /// By exchange id. Ids only grow, so pushing keeps the deque sorted, and calls end roughly
    /// in the order they started, so removal rarely shifts much; unlike a map, nothing is
    /// allocated per call once the deque has grown.
    calls: VecDeque<(ExchangeId, Call)>,
}

impl NamingClient {
    /// `reqApi` (R2.7): one server → up to 3 tries of it; several → a start index from
    /// `new Random(now)` and each server once, in order.
    pub(super) fn req_api(&mut self, now: Time, api: &'static str, msg: Msg, then: Then, out: &mut Out) {
        let (start, tries) = match self.config.servers.len() {
            0 => (0, 0),
            1 => (0, DOMAIN_MAX_RETRY),
            n => (JavaRandom::new(now.as_millis()).next_int(n as i32) as usize, n),
        };
        let call = Call { api, msg, start, tries, attempt: 0, then };
        self.send_call(now, call, out);
    }

    /// The server of a call's current attempt.
    fn call_server(&self, call: &Call) -> Option<NodeId> {
        let n = self.config.servers.len();
        (call.attempt < call.tries).then(|| self.config.servers[(call.start + call.attempt) % n].0)
    }

    fn send_call(&mut self, now: Time, call: Call, out: &mut Out) {
        match self.call_server(&call) {
            Some(server) => {
                let id = out.request(server, call.msg.clone(), CLIENT_HTTP_TIMEOUTS);
                let calls = &mut self.proxy.calls;
                debug_assert!(calls.back().is_none_or(|(last, _)| *last < id), "exchange ids grow");
                calls.push_back((id, call));
            }
            None => {
                out.observe(Observation::RequestGaveUp { api: call.api });
                self.complete(now, call.then, Err(()), out);
            }
        }
    }

    /// An answer: a failure moves to the next server, anything else completes the call.
    pub(super) fn on_response(&mut self, now: Time, id: ExchangeId, result: Result<Msg, HttpError>, out: &mut Out) {
        let calls = &mut self.proxy.calls;
        let Ok(i) = calls.binary_search_by_key(&id, |(c, _)| *c) else { return };
        let (_, mut call) = calls.remove(i).expect("found");
        let failure = match result {
            Ok(Msg::Error { status, message }) => format!("HTTP {status}: {message}"),
            Ok(m) => return self.complete(now, call.then, Ok(m), out),
            Err(e) => format!("{e:?}"),
        };
        let n = self.config.servers.len();
        let name = self.config.servers[(call.start + call.attempt) % n].1.to_string();
        out.observe(Observation::RequestFailed { api: call.api, server: name, error: failure });
        call.attempt += 1;
        self.send_call(now, call, out);
    }

    fn complete(&mut self, now: Time, then: Then, result: Result<Msg, ()>, out: &mut Out) {
        match then {
            Then::Beat(task) => self.beat_done(now, task, result, out),
            Then::Register | Then::Deregister => {}
            Then::PullNow { key } => {
                // updateServiceNow logs a failure and returns.
                if let Ok(Msg::Service(info)) = result {
                    self.process_service_json(info, out);
                }
                self.schedule_update_if_absent(key, out);
            }
            Then::Update { key, refresh_only } => self.update_done(key, refresh_only, result, out),
            Then::Query { service, healthy } => self.query_done(service, healthy, result, out),
        }
    }
}

/// Java `java.util.Random`, bit for bit: the client picks its first server with
/// `new Random(System.currentTimeMillis()).nextInt(n)` (R2.7), so the choice is a function of the
/// client's clock, exactly as in Nacos.
pub struct JavaRandom {
    seed: i64,
}

impl JavaRandom {
    const MULT: i64 = 0x5DEE_CE66D;
    const MASK: i64 = (1 << 48) - 1;

    pub fn new(seed: i64) -> JavaRandom {
        JavaRandom { seed: (seed ^ Self::MULT) & Self::MASK }
    }

    fn next(&mut self, bits: u32) -> i32 {
        self.seed = (self.seed.wrapping_mul(Self::MULT).wrapping_add(0xB)) & Self::MASK;
        (self.seed >> (48 - bits)) as i32
    }

    pub fn next_int(&mut self, bound: i32) -> i32 {
        assert!(bound > 0, "bound must be positive");
        if bound & (-bound) == bound {
            return ((bound as i64 * self.next(31) as i64) >> 31) as i32;
        }
        loop {
            let bits = self.next(31);
            let val = bits % bound;
            if bits.wrapping_sub(val).wrapping_add(bound - 1) >= 0 {
                return val;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_random_matches_the_jdk() {
        // Pinned against a JDK 17 run of the same calls.
        let mut r = JavaRandom::new(42);
        let v: Vec<i32> = (0..5).map(|_| r.next_int(10)).collect();
        assert_eq!(v, vec![0, 3, 8, 4, 0]);
        let mut r = JavaRandom::new(1_600_000_000_123);
        let v: Vec<i32> = (0..5).map(|_| r.next_int(3)).collect();
        assert_eq!(v, vec![2, 1, 2, 2, 2]);
    }
}
