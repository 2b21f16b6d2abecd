//! The library's top-level error type. `main` maps each variant to an exit
//! code and prints it with its cause chain.

use crate::config::ConfigError;
use crate::pipeline::PipelineError;
use crate::preflight::PreflightError;

/// Every failure kmirror reports to its caller.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad configuration: nothing was started.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A start-up check failed: nothing was consumed.
    #[error(transparent)]
    Preflight(#[from] PreflightError),
    /// A side's TLS files or brokers failed the TLS preflight (a
    /// configuration problem: fix the files or the settings).
    #[error(transparent)]
    Tls(#[from] crate::preflight::tls::TlsError),
    /// The mirror stopped on a failure; only delivered offsets were committed.
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
}

impl Error {
    /// The process exit code for this error: 2 for configuration errors
    /// (fix the input), 1 for everything found at run time.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Config(_) | Error::Tls(_) => 2,
            Error::Preflight(_) | Error::Pipeline(_) => 1,
        }
    }
}
