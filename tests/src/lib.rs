//! Integration-test support.
pub mod scripted;
pub mod sink;
pub mod skip;
pub mod support;
pub mod testbed;
