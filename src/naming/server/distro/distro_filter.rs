//! `DistroFilter` (spec R5.6): a `@CanDistro` write (register, deregister, beat, metadata batch) that reaches a
//! server not responsible for its service is proxied to the responsible one, once: a request
//! that already comes from a server is refused rather than forwarded again.

use crate::engine::{ExchangeId, HttpError, HttpTimeouts, NodeId};
use crate::naming::server::{error, Call, NamingServer, Out};
use crate::naming::wire::*;
use crate::time::Dur;
use std::rc::Rc;

/// `DistroFilter` proxy timeouts (R5.6).
const DISTRO_FILTER_TIMEOUTS: HttpTimeouts =
    HttpTimeouts { connect: Dur::from_millis(2000), read: Dur::from_millis(2000) };

impl NamingServer {
    /// Forwards `msg` if another server is responsible for it; returns it back if this server
    /// handles it itself.
    pub(crate) fn distro_filter(&mut self, id: ExchangeId, from: NodeId, msg: Msg, out: &mut Out) -> Option<Msg> {
        let Some((svc, agent)) = can_distro(&msg) else { return Some(msg) };
        if self.mapper.responsible(&svc.name) {
            return Some(msg);
        }
        if *agent == Agent::Server {
            self.answer(id, from, &msg, error(400, "receive invalid redirect request from peer"), out);
            return None;
        }
        let target_addr = self.mapper.map_srv(&svc.name);
        match self.member_node(&target_addr) {
            Some(target) => {
                let service = svc.name.clone();
                let api = msg.client_api().unwrap_or_default();
                let fwd = forwarded(msg);
                let x = out.request(target, fwd, DISTRO_FILTER_TIMEOUTS);
                self.calls.insert(x, Call::Forward { original: id, from, api, service, target });
            }
            None => self.answer(id, from, &msg, error(500, "distro target is not a member"), out),
        }
        None
    }

    /// The responsible server's answer goes back to the original caller; a failed proxy
    /// call answers 500.
    pub(crate) fn on_forward_result(
        &mut self,
        (original, from, api): (ExchangeId, NodeId, &'static str),
        service: Str,
        target: NodeId,
        result: Result<Msg, HttpError>,
        out: &mut Out,
    ) {
        let reply = match result {
            Ok(m) => m,
            Err(e) => {
                out.observe(Observation::ForwardFailed {
                    service,
                    target: self.member_address(target),
                    error: format!("{e:?}"),
                });
                error(500, &format!("{e:?}"))
            }
        };
        self.observe_answer(from, api, &reply, out);
        out.respond(original, reply);
    }
}

/// The `@CanDistro` writes and who sent them.
fn can_distro(msg: &Msg) -> Option<(&ServiceKey, &Agent)> {
    match msg {
        Msg::Register(r) | Msg::Update(r) => Some((&r.service, &r.agent)),
        Msg::Deregister(r) => Some((&r.service, &r.agent)),
        Msg::Beat(r) => Some((&r.service, &r.agent)),
        Msg::MetadataBatch(r) => Some((&r.service, &r.agent)),
        _ => None,
    }
}

/// The forwarded copy of a request: same everything, User-Agent `Nacos-Server`.
fn forwarded(msg: Msg) -> Msg {
    match msg {
        Msg::Register(r) => Msg::Register(Rc::new(RegisterReq { agent: Agent::Server, ..(*r).clone() })),
        Msg::Update(r) => Msg::Update(Rc::new(RegisterReq { agent: Agent::Server, ..(*r).clone() })),
        Msg::Deregister(r) => Msg::Deregister(Rc::new(DeregisterReq { agent: Agent::Server, ..(*r).clone() })),
        Msg::Beat(r) => Msg::Beat(Rc::new(r.with(|r| r.agent = Agent::Server))),
        Msg::MetadataBatch(r) => Msg::MetadataBatch(Rc::new(MetadataBatchReq { agent: Agent::Server, ..(*r).clone() })),
        other => other,
    }
}
