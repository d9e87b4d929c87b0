//! `ServiceController` (the `/v1/ns/service` endpoints): PUT `/service`, the console's edit of a
//! service's protect threshold and metadata. Not `@CanDistro`: the server the console is
//! opened on serves it, sets the fields on its own `Service` at once, and writes the service
//! through the CP store (`addOrReplaceService`), from which every server applies them.

use super::key_builder::service_meta_key;
use super::raft::{RaftValue, ServiceFields, Then, Waiter};
use super::{error, NamingServer, Out};
use crate::engine::{ExchangeId, NodeId};
use crate::naming::wire::{ServiceKey, ServiceUpdateReq};
use rand_chacha::ChaCha8Rng;
use std::rc::Rc;

impl NamingServer {
    /// PUT `/service`: answered when the CP write ends (`ok`, or the write's failure).
    pub(super) fn update_service(
        &mut self,
        now_ms: i64,
        id: ExchangeId,
        from: NodeId,
        r: &ServiceUpdateReq,
        rng: &mut ChaCha8Rng,
        out: &mut Out,
    ) {
        let api = Some("PUT /nacos/v1/ns/service");
        let waiter = Waiter { id, from, api, on_ok: None };
        if !self.services.contains_key(&r.service) {
            let reply = error(400, &format!("caused: service {} not found!;", r.service.name));
            return self.answer_waiter(waiter, reply, out);
        }
        // `NumberUtils.toFloat`: 0 for what does not parse.
        let threshold: f32 = r.protect_threshold.trim().parse().unwrap_or(0.0);
        let fields =
            Rc::new(ServiceFields { protect_threshold_bits: threshold.to_bits(), metadata: r.metadata.clone() });
        self.apply_service_fields(&r.service, &fields);
        let key = service_meta_key(&r.service);
        self.raft_put(now_ms, key, RaftValue::ServiceFields(fields), Then::Answer(waiter), rng, out);
    }

    /// `Service.update` from the service the CP store holds (and the controller's own
    /// `setProtectThreshold`): the threshold takes effect on the next list; the checksum is
    /// recalculated.
    pub(crate) fn apply_service_fields(&mut self, svc: &ServiceKey, fields: &ServiceFields) {
        if let Some(service) = self.services.get_mut(svc) {
            service.protect_threshold = f32::from_bits(fields.protect_threshold_bits);
            service.recalculate_checksum_later();
        }
    }
}
