//! Distro, the AP consistency protocol of ephemeral instances (spec §5), one file per Nacos
//! class: [`data_store`] (`DataStore`), [`consistency_service`]
//! (`DistroConsistencyServiceImpl` and its `Notifier`), [`distro_mapper`] (`DistroMapper`),
//! [`distro_filter`] (`DistroFilter`), [`distro_protocol`] (`DistroProtocol`, the verify and
//! load tasks, the `DistroController` reads), [`delay_engine`] (the 1.4.x sync pipeline),
//! [`task_dispatcher`] (the 1.2–1.3 pipeline) and [`server_list_manager`] (1.0–1.1 membership).

pub mod consistency_service;
pub mod data_store;
pub mod delay_engine;
pub mod distro_filter;
pub mod distro_mapper;
pub mod distro_protocol;
pub mod server_list_manager;
pub mod task_dispatcher;

pub use consistency_service::{ChecksumWork, Notifier, NotifyAction};
pub use data_store::{datum_checksum, DataStore, Datum};
pub use delay_engine::DelayEngine;
pub use distro_mapper::{distro_hash, java_hash_code, DistroMapper};
pub use distro_protocol::SnapshotLoad;
pub use task_dispatcher::TaskDispatcher;
