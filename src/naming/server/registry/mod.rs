//! The server registry (spec §1.A–C): the `Instance`, `Cluster` and `Service` objects of
//! `com.alibaba.nacos.naming.core`, one file each, and `ServiceManager.serviceMap`
//! ([`service_map`]). What registers and removes instances is in
//! [`service_manager`](super::service_manager).
//!
//! Instances are shared (`Rc`) between a Service's cluster sets and the Distro datum that was
//! applied to it, exactly as the Java objects are: a heartbeat's in-place `lastBeat`/`healthy`
//! update is visible through both (R1.27), which is what makes the datum-vs-Service lag and the
//! local-health-wins rule behave as in Nacos.

mod cluster;
mod instance;
mod service;
mod service_map;

pub use cluster::Cluster;
pub(crate) use cluster::{addr, addr_cmp};
pub use instance::*;
pub use service::{HostsCache, Service};
pub use service_map::{BeatTarget, ServiceMap};
