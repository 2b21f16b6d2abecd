//! Observability: metrics, lag and audit.
