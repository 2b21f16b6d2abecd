//! kmirror: a no-data-loss Kafka cross-cluster replicator for secured
//! (Kerberos / TLS) clusters, with a MirrorMaker-compatible command line.
//!
//! The crate is a library with a thin binary (`src/main.rs`). Modules:
//! - [`config`]: raw CLI and file values (properties, JAAS) and the one
//!   validated [`config::Config`] built from them.
//! - [`security`]: applying security settings to librdkafka, Kerberos,
//!   keytabs, TLS, principals.
//! - [`preflight`]: checks done before a byte moves (topics, ACLs).
//! - [`pipeline`]: consume → produce → commit, with contiguous-prefix offsets.
//! - [`observe`]: metrics, lag, audit.

// Errors carry the context a user needs (topic, partition, offset, cluster,
// the broker's message); they are rare, so their size does not matter.
#![allow(clippy::result_large_err)]

pub mod config;
pub mod error;
pub mod failover;
pub mod observe;
pub mod pipeline;
pub mod preflight;
pub mod security;
mod table;

pub use error::Error;
