//! The world outside the simulated cluster, as one engine node: real clients' HTTP requests
//! and UDP datagrams come in as commands, go to the servers through the engine (so faults and
//! the servers' executors apply to them as to any message), and their answers and the
//! servers' pushes come out in [`Gateway::outbox`] for the sockets. Sans-IO like the cores: a
//! live run's record of these commands replays bit for bit.

use super::http::{HttpRequest, Reply};
use super::open_api::{self, Render, Route};
use crate::engine::{ExchangeId, HttpTimeouts, Input, NodeId, Outputs};
use crate::naming::wire::{AckKey, Msg, Observation, Str, Timer};
use crate::naming::Command;
use crate::time::Dur;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::rc::Rc;

/// The gateway's requests wait as long as any client would: the real client's own timeout
/// fires first and it drops the connection.
const TIMEOUTS: HttpTimeouts = HttpTimeouts { connect: Dur::from_millis(3_600_000), read: Dur::from_millis(3_600_000) };

/// What a socket brought in, as the live record keeps it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutsideInput {
    /// An HTTP request to `server`; its answer goes out under `token`.
    Http { token: u64, server: NodeId, request: HttpRequest },
    /// A datagram to `server`'s push socket from `ip:port` (a push ack).
    Udp { server: NodeId, ip: String, port: u16, payload: String },
}

/// What goes out to the sockets.
#[derive(Clone, Debug, PartialEq)]
pub enum Outbound {
    Answer {
        token: u64,
        reply: Reply,
    },
    /// A push from `server`'s UDP socket.
    Datagram {
        server: NodeId,
        ip: Str,
        port: u16,
        bytes: Vec<u8>,
    },
}

#[derive(Default)]
pub struct Gateway {
    calls: BTreeMap<ExchangeId, (u64, Render)>,
    pub outbox: Vec<Outbound>,
}

impl Gateway {
    pub fn on_input(&mut self, input: Input<Msg, Timer, Command>, out: &mut Outputs<Msg, Timer, Observation>) {
        match input {
            Input::Command(cmd) => match *cmd {
                Command::Outside(OutsideInput::Http { token, server, request }) => match open_api::route(&request) {
                    Route::Core(msg, render) => {
                        let id = out.request(server, msg, TIMEOUTS);
                        self.calls.insert(id, (token, render));
                    }
                    Route::Here(status, body) => {
                        self.outbox.push(Outbound::Answer { token, reply: Reply::Response { status, body } })
                    }
                },
                Command::Outside(OutsideInput::Udp { server, ip, port, payload }) => {
                    if let Some(last_ref_time) = open_api::ack_last_ref_time(&payload) {
                        out.send_udp(server, Msg::PushAckFrom(Rc::new(AckKey { ip: ip.into(), port, last_ref_time })));
                    }
                }
                Command::Client(_) | Command::Operator(_) => {}
            },
            Input::Response { id, result } => {
                if let Some((token, render)) = self.calls.remove(&id) {
                    self.outbox.push(Outbound::Answer { token, reply: open_api::answer(result, &render) });
                }
            }
            Input::Datagram { from, msg: Msg::Push(p) } => self.outbox.push(Outbound::Datagram {
                server: from,
                ip: p.to_ip.clone(),
                port: p.to_port,
                bytes: open_api::push_datagram(&p),
            }),
            Input::Start | Input::Datagram { .. } | Input::Request { .. } | Input::Timer { .. } => {}
        }
    }
}
