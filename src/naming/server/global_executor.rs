//! `GlobalExecutor`: the threads a naming server does its work on, and what work costs here.
//!
//! Nacos gives each kind of work its own executor, so one kind never waits for another:
//! Tomcat's request threads (200) serve requests side by side; `submitLoadDataTask` runs the
//! Distro snapshot load on the load thread; `submitDistroNotifyTask` runs the Distro
//! `Notifier`, one thread that applies queued changes to their Services one after another;
//! the health, push and timer pools run the check tasks, pushes and periodic tasks. Only work
//! whose cost grows with the data takes simulated time, on the thread that does it:
//! - parsing a snapshot (`DistroConsistencyServiceImpl.processData` deserialises the whole
//!   map first, R5.20), on the load thread;
//! - applying a datum to its Service (`Service.onChange` → `updateIPs`), on the load thread
//!   during a snapshot load and on the notifier thread otherwise: a change queued behind a
//!   large one waits for it;
//! - a push round (`PushService.onApplicationEvent`'s task), on the one `udpSender` thread:
//!   building each subscriber's data and sending it. A round due while another runs waits.
//!
//! - parsing a Distro sync batch (`DistroController.onSyncDatum` deserialises the body before
//!   `onPut`s each datum), on the request thread: the batch applies, and the sync is answered,
//!   once parsed;
//! - serialising the datums a peer fetches or loads (`/distro/datum` for a verification's
//!   keys, `/distro/datums` for a whole snapshot), on the request thread: the answer, holding the
//!   data as it was when the request came, leaves once serialised;
//! - comparing a verification's checksums (`onReceiveChecksums`, on the request thread that
//!   serves `/distro/checksum`): `Instances.getChecksum` sorts and hashes the local datum of
//!   every listed key afresh, so the work grows with those instances. The source's
//!   verification stays marked in progress meanwhile, and its answer waits;
//! - creating a service for a first registration (`createServiceIfAbsent`, on the request
//!   thread): from finding no service to putting the new one in the map. A second first
//!   registration of that service on another request thread in that window also finds none
//!   (V12, up to 1.4.1: both create one).
//!
//! Everything else (a beat, a small request, a timer) takes no time. The per-instance figures
//! are calibrated so that a 300 000-instance snapshot takes about 16 s to load (Nacos #7697:
//! "a 300k-instance snapshot takes ~16 s", longer than the 15 s beat timeout).

use crate::time::Dur;

/// Parsing one instance of a datum's JSON: 40 µs.
const PARSE_NS_PER_INSTANCE: f64 = 40_000.0;
/// `updateIPs` for one instance: 13 µs. With parsing, 53 µs: 300k instances ≈ 15.9 s.
const APPLY_NS_PER_INSTANCE: f64 = 13_000.0;
/// Building one instance of a subscriber's push data (`prepareHostsData`: the service JSON,
/// gzipped when large): 10 µs. No measurement is reported; of the order of the costs above.
const PUSH_BUILD_NS_PER_INSTANCE: f64 = 10_000.0;
/// Sending one push datagram (`udpSocket.send`, the ack entry, the retransmit schedule): 20 µs.
const PUSH_SEND_NS: f64 = 20_000.0;
/// Serialising one instance of a datum to JSON: 10 µs. Not measured; a quarter of parsing it.
const SERIALIZE_NS_PER_INSTANCE: f64 = 10_000.0;
/// `Instances.getChecksum` over one instance (a formatted string of its fields, then MD5):
/// 2 µs. Not measured; a small part of parsing the same instance.
const CHECKSUM_NS_PER_INSTANCE: f64 = 2_000.0;
/// `createServiceIfAbsent` from its `getService` to `putService` (a `new Service`, its
/// checksum and `validate`): 50 µs. Not measured; a first registration's own order of cost.
const SERVICE_INIT_NS: f64 = 50_000.0;
/// No cost exceeds about 31 years, so `now + cost` stays far from overflow.
const MAX_COST_NS: f64 = 1e18;

/// What data-sized work costs on one server: the defaults divided by its `speed` (1 = the
/// calibrated default; 0.5 takes twice as long).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WorkCost {
    pub speed: f64,
}

impl Default for WorkCost {
    fn default() -> Self {
        WorkCost { speed: 1.0 }
    }
}

impl WorkCost {
    /// Deserialising datums holding `instances` instances in all.
    pub fn parse(&self, instances: usize) -> Dur {
        self.cost(PARSE_NS_PER_INSTANCE, instances)
    }

    /// Applying a datum of `instances` instances to its Service.
    pub fn apply(&self, instances: usize) -> Dur {
        self.cost(APPLY_NS_PER_INSTANCE, instances)
    }

    /// Building and sending one subscriber's push of `instances` instances.
    pub fn push(&self, instances: usize) -> Dur {
        Dur(((PUSH_SEND_NS + PUSH_BUILD_NS_PER_INSTANCE * instances as f64) / self.speed).min(MAX_COST_NS) as i64)
    }

    /// Serialising datums holding `instances` instances in all.
    pub fn serialize(&self, instances: usize) -> Dur {
        self.cost(SERIALIZE_NS_PER_INSTANCE, instances)
    }

    /// Computing the local checksums of datums holding `instances` instances in all.
    pub fn checksums(&self, instances: usize) -> Dur {
        self.cost(CHECKSUM_NS_PER_INSTANCE, instances)
    }

    /// Creating a service for a first registration, until the map holds it.
    pub fn service_init(&self) -> Dur {
        self.cost(SERVICE_INIT_NS, 1)
    }

    fn cost(&self, ns_per_instance: f64, instances: usize) -> Dur {
        Dur((ns_per_instance * instances as f64 / self.speed).min(MAX_COST_NS) as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_300k_snapshot_costs_about_16_s_and_speed_scales_it() {
        let c = WorkCost::default();
        let total = c.parse(300_000) + c.apply(300_000);
        assert_eq!(total, Dur::from_millis(15_900));
        let slow = WorkCost { speed: 0.5 };
        assert_eq!(slow.parse(300_000) + slow.apply(300_000), Dur::from_millis(31_800));
        assert_eq!(WorkCost { speed: 1e-300 }.parse(1), Dur(MAX_COST_NS as i64));
        assert_eq!(c.push(2), Dur(40_000));
        assert_eq!(slow.push(0), Dur(40_000));
        assert_eq!((c.service_init(), slow.service_init()), (Dur(50_000), Dur(100_000)));
        assert_eq!((c.checksums(100_000), slow.checksums(0)), (Dur::from_millis(200), Dur::ZERO));
        assert_eq!(c.serialize(300_000), Dur::from_millis(3_000));
    }
}
