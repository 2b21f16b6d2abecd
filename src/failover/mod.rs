//! Failover to the target cluster: the exact offset map (where each source
//! record landed), its storage on the target, and the translation and sync
//! of consumer groups' positions (docs/failover.md).

pub mod map;
