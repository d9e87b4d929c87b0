//! The legacy Raft of Nacos 1.x (`RaftCore`, spec §7), which stores persistent data: its peers
//! and its election and heartbeat rules.

pub mod raft_controller;
pub mod raft_core;
pub mod raft_peer_set;

pub use raft_core::RaftCore;
pub use raft_peer_set::{RaftPeer, RaftPeerSet, RaftState};
