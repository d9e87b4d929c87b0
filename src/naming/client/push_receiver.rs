//! `PushReceiver` (spec R4.13): a UDP push is processed like a pull answer, then acked to the
//! address it came from.

use super::{NamingClient, Out};
use crate::engine::NodeId;
use crate::naming::wire::*;
use std::rc::Rc;

impl NamingClient {
    /// A `dom` push: `processServiceJson`, then the ack with the push's `lastRefTime`.
    pub(super) fn on_push(&mut self, from: NodeId, last_ref_time: i64, data: Rc<ServiceInfo>, out: &mut Out) {
        let service = data.name.clone();
        self.process_service_json(data, out);
        out.observe(Observation::PushReceived { service });
        out.send_udp(from, Msg::PushAck { last_ref_time });
    }
}
