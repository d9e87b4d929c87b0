//! A tiny node for testing and benchmarking the engine on its own: every `period` it sends a UDP
//! ping (or an HTTP echo request) to each peer; it answers pings with pongs and requests with
//! echoes, and observes everything it receives.

use super::{HttpError, HttpTimeouts, Input, Node, NodeId, Outputs};
use crate::time::{Dur, Time};
use rand_chacha::ChaCha8Rng;

#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub enum PingMsg {
    Ping(u64),
    Pong(u64),
    Echo(u64),
}

#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub enum PingObs {
    Started,
    /// A timer fired; carries the node's local clock in ms as it saw it.
    Tick {
        local_ms: i64,
    },
    GotPing {
        from: NodeId,
        seq: u64,
    },
    GotPong {
        seq: u64,
    },
    EchoOk {
        seq: u64,
    },
    EchoFailed {
        err: HttpError,
    },
}

pub struct PingNode {
    pub peers: Vec<NodeId>,
    pub period: Dur,
    /// Send HTTP echo requests instead of UDP pings.
    pub http: bool,
    pub timeouts: HttpTimeouts,
    /// Volatile state, lost on crash.
    pub seq: u64,
}

impl PingNode {
    pub fn new(peers: Vec<NodeId>, period: Dur) -> PingNode {
        PingNode {
            peers,
            period,
            http: false,
            timeouts: HttpTimeouts { connect: Dur::from_millis(3000), read: Dur::from_millis(5000) },
            seq: 0,
        }
    }
}

impl Node for PingNode {
    type Msg = PingMsg;
    type Timer = ();
    type Cmd = ();
    type Obs = PingObs;

    fn handle(
        &mut self,
        now: Time,
        input: Input<PingMsg, (), ()>,
        _: &mut ChaCha8Rng,
        out: &mut Outputs<PingMsg, (), PingObs>,
    ) {
        match input {
            Input::Start => {
                out.observe(PingObs::Started);
                if !self.peers.is_empty() {
                    out.set_timer(self.period, ());
                }
            }
            Input::Timer { .. } => {
                out.observe(PingObs::Tick { local_ms: now.as_millis() });
                for &p in &self.peers {
                    self.seq += 1;
                    if self.http {
                        out.request(p, PingMsg::Echo(self.seq), self.timeouts);
                    } else {
                        out.send_udp(p, PingMsg::Ping(self.seq));
                    }
                }
                out.set_timer(self.period, ());
            }
            Input::Datagram { from, msg: PingMsg::Ping(seq) } => {
                out.observe(PingObs::GotPing { from, seq });
                out.send_udp(from, PingMsg::Pong(seq));
            }
            Input::Datagram { msg: PingMsg::Pong(seq), .. } => out.observe(PingObs::GotPong { seq }),
            Input::Datagram { .. } => {}
            Input::Request { id, msg, .. } => out.respond(id, msg),
            Input::Response { result: Ok(PingMsg::Echo(seq)), .. } => out.observe(PingObs::EchoOk { seq }),
            Input::Response { result: Ok(_), .. } => {}
            Input::Response { result: Err(err), .. } => out.observe(PingObs::EchoFailed { err }),
            Input::Command(_) => {}
        }
    }

    fn crash(&mut self, _wipe_disk: bool) {
        self.seq = 0;
    }
}
