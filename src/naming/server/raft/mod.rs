//! The legacy Raft of Nacos 1.x (`RaftCore`, spec §7), which stores persistent data: its peers
//! and its election, heartbeat and write rules.

pub mod raft_consistency_service;
pub mod raft_controller;
pub mod raft_core;
pub mod raft_peer_set;

pub use raft_consistency_service::{DeletedVia, OperateLock, Proxied, Then, Waiter};
pub use raft_core::{RaftBeat, RaftCore, RaftDatum, RaftValue, ServiceFields, SwitchFields};
pub use raft_peer_set::{RaftPeer, RaftPeerSet, RaftState};
