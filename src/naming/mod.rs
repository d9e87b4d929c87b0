//! The sans-IO Nacos naming cores, one module per Nacos component, and [`Process`], the world
//! node that is either a server or a client.

pub mod client;
pub mod invariants;
pub mod server;
pub mod wire;

use crate::engine::{Input, Node, Outputs};
use crate::time::Time;
use client::{ClientCmd, NamingClient};
use rand_chacha::ChaCha8Rng;
use server::NamingServer;
use wire::{Msg, Observation, Timer};

/// One simulated process.
pub enum Process {
    Server(Box<NamingServer>),
    Client(Box<NamingClient>),
}

impl Node for Process {
    type Msg = Msg;
    type Timer = Timer;
    type Cmd = ClientCmd;
    type Obs = Observation;

    fn handle(
        &mut self,
        now: Time,
        input: Input<Msg, Timer, ClientCmd>,
        rng: &mut ChaCha8Rng,
        out: &mut Outputs<Msg, Timer, Observation>,
    ) {
        match self {
            Process::Server(s) => {
                let input = match input {
                    Input::Start => Input::Start,
                    Input::Datagram { from, msg } => Input::Datagram { from, msg },
                    Input::Request { from, id, msg } => Input::Request { from, id, msg },
                    Input::Response { id, result } => Input::Response { id, result },
                    Input::Timer { id, timer } => Input::Timer { id, timer },
                    Input::Command(_) => return, // servers take no workload commands
                };
                s.handle(now, input, rng, out)
            }
            Process::Client(c) => c.handle(now, input, rng, out),
        }
    }

    fn garbled() -> Option<Msg> {
        Some(Msg::Garbled)
    }

    fn crash(&mut self) {
        match self {
            Process::Server(s) => s.crash(),
            Process::Client(c) => c.crash(),
        }
    }
}
