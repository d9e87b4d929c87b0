//! `ServiceController` (the `/v1/ns/service` endpoints): PUT `/service`, the console's edit of a
//! service's protect threshold and metadata, and DELETE `/service`. Not `@CanDistro`: the
//! server the console is opened on serves them. An edit sets the fields on its own `Service`
//! at once and writes the service through the CP store (`addOrReplaceService`), from which
//! every server applies them; a delete removes the service's meta key from the CP store, and
//! every server removes the service with its instances (`ServiceManager.onDelete`).

use super::key_builder::service_meta_key;
use super::raft::{RaftValue, ServiceFields, Then, Waiter};
use super::{error, NamingServer, Out};
use crate::engine::{ExchangeId, NodeId};
use crate::naming::wire::{Msg, ServiceKey, ServiceUpdateReq};
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

    /// DELETE `/service` (`easyRemoveService`): the meta key's removal through the CP store,
    /// answered when it ends. Nacos does not refuse a service that still has instances. A
    /// standalone server holds the store alone and removes the service at once.
    pub(super) fn delete_service(
        &mut self,
        now_ms: i64,
        id: ExchangeId,
        from: NodeId,
        svc: &ServiceKey,
        rng: &mut ChaCha8Rng,
        out: &mut Out,
    ) {
        let waiter = Waiter { id, from, api: Some("DELETE /nacos/v1/ns/service"), on_ok: None };
        if !self.services.contains_key(svc) {
            let reply = error(400, &format!("caused: specified service not exist, serviceName : {};", svc.name));
            return self.answer_waiter(waiter, reply, out);
        }
        if self.cluster_mode() {
            return self.raft_remove(now_ms, service_meta_key(svc), Then::Answer(waiter), rng, out);
        }
        self.remove_service(svc, out);
        self.answer_waiter(waiter, Msg::Ok, out);
    }

    /// `Service.update` from the service the CP store holds (and the controller's own
    /// `setProtectThreshold`): the threshold takes effect on the next list; the checksum is
    /// recalculated.
    pub(crate) fn apply_service_fields(&mut self, svc: &ServiceKey, fields: &ServiceFields) {
        if let Some(service) = self.services.get_mut(svc) {
            service.protect_threshold = f32::from_bits(fields.protect_threshold_bits);
            service.metadata = fields.metadata.clone();
            service.recalculate_checksum_later();
        }
    }
}
