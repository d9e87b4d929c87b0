//! 1.4.x's JRaft group for persistent data (spec R7.21–R7.22): a compact model of SOFA-JRaft's
//! node, and the Nacos side that writes through it and gates availability on it.

pub mod node_impl;
pub mod persistent_service_processor;

pub use node_impl::{Answer, Append, Disk, Vote};
pub use persistent_service_processor::{Forwarded, JRaft};
