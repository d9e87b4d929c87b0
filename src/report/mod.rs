//! Reports built from many simulated runs: statistics, closed-form models and plots.

pub mod expiry;
pub mod stats;
pub mod svg;
pub mod theory;
