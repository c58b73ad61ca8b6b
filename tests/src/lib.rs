//! Integration-test support.
pub mod script;
pub mod scripted;
pub mod sink;
pub mod skip;
pub mod support;
pub mod testbed;
pub mod tls_support;
