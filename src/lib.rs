//! nacos-sim: a deterministic discrete-event simulator of the Nacos 1.x naming subsystem.
//!
//! Data flows one way: a [`scenario`] becomes a world, the [`engine`] steps it, the sans-IO
//! cores in [`naming`] react, and their observations feed checks and reports.

pub mod engine;
pub mod fuzz;
pub mod incidents;
pub mod live;
pub mod naming;
pub mod parallel;
pub mod report;
pub mod scenario;
pub mod slab;
pub mod sweep;
pub mod time;
pub mod timeline;
