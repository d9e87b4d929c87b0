//! The sans-IO Nacos naming cores, one module per Nacos component, and [`Process`], the world
//! node that is either a server or a client.

pub mod anomalies;
mod cache_hints;
pub mod client;
pub mod invariants;
pub mod server;
pub mod versions;
pub mod wire;

use crate::engine::{Input, Node, Outputs};
use crate::live::gateway::{Gateway, OutsideInput};
use crate::time::Time;
use client::{ClientCmd, NamingClient};
use rand_chacha::ChaCha8Rng;
use server::NamingServer;
use wire::{Msg, Observation, Operation, Timer};

/// Sorts `v` by `cmp` and keeps, of entries that compare equal, the last: the contents of a
/// Java map filled in `v`'s order, in key order. Input already strictly sorted is left as it is.
pub(crate) fn sorted_map_order<T>(v: &mut Vec<T>, cmp: impl Fn(&T, &T) -> std::cmp::Ordering) {
    use std::cmp::Ordering::{Equal, Less};
    if v.windows(2).all(|w| cmp(&w[0], &w[1]) == Less) {
        return;
    }
    v.sort_by(&cmp);
    v.reverse();
    v.dedup_by(|a, b| cmp(a, b) == Equal);
    v.reverse();
}

/// What the world asks of a process: an application's call on its Nacos client, an
/// operator's request to a server, or what a real socket brought in (`nacos-sim live`).
#[derive(Clone, Debug)]
pub enum Command {
    Client(ClientCmd),
    Operator(Operation),
    Outside(OutsideInput),
}

impl From<Command> for Option<ClientCmd> {
    fn from(c: Command) -> Self {
        match c {
            Command::Client(c) => Some(c),
            Command::Operator(_) | Command::Outside(_) => None,
        }
    }
}

/// One simulated process, or (in `nacos-sim live`) the real clients beyond the simulation.
pub enum Process {
    Server(Box<NamingServer>),
    Client(Box<NamingClient>),
    Outside(Box<Gateway>),
}

impl Node for Process {
    type Msg = Msg;
    type Timer = Timer;
    type Cmd = Command;
    type Obs = Observation;

    fn handle(
        &mut self,
        now: Time,
        input: Input<Msg, Timer, Command>,
        rng: &mut ChaCha8Rng,
        out: &mut Outputs<Msg, Timer, Observation>,
    ) {
        match (self, input) {
            (Process::Server(s), Input::Command(cmd)) => {
                if let Command::Operator(op) = *cmd {
                    s.on_operation(op, out);
                }
            }
            (Process::Server(s), input) => s.on_input(now, input, rng, out),
            (Process::Client(c), input) => c.on_input(now, input, rng, out),
            (Process::Outside(g), input) => g.on_input(input, out),
        }
    }

    fn garbled() -> Option<Msg> {
        Some(Msg::Garbled)
    }

    fn msg_name(msg: &Msg) -> &'static str {
        msg.name()
    }

    fn prefetch_msg(&self, msg: &Msg, near: bool) {
        self.hint_msg(msg, near);
    }

    fn prefetch_timer(&self, timer: &Timer, near: bool) {
        self.hint_timer(timer, near);
    }

    fn crash(&mut self, wipe_disk: bool) {
        match self {
            Process::Server(s) => s.crash(wipe_disk),
            Process::Client(c) => c.crash(wipe_disk),
            Process::Outside(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sorted_map_order_sorts_and_keeps_the_last_of_equal_keys() {
        let mut v = vec![("b", 1), ("a", 2), ("b", 3), ("c", 4), ("a", 5)];
        super::sorted_map_order(&mut v, |x, y| x.0.cmp(y.0));
        assert_eq!(v, [("a", 5), ("b", 3), ("c", 4)]);
        let mut sorted = vec![("a", 1), ("b", 2)];
        super::sorted_map_order(&mut sorted, |x, y| x.0.cmp(y.0));
        assert_eq!(sorted, [("a", 1), ("b", 2)]);
    }
}
