//! Failures of a command and their exit codes, mapped in one place.
//!
//! Exit codes follow sysexits.h where an MTA reads them (`parley ingest`
//! runs as a pipe: 75 makes the MTA retry, 67 and 77 make it bounce), and
//! 2 for a bad configuration so that systemd does not restart-loop
//! (`RestartPreventExitStatus=2`).

use std::process::ExitCode;

use crate::config::ConfigError;
use crate::setup::NotSetUp;
use crate::store::StoreError;

pub const EX_OK: u8 = 0;
/// Something went wrong that retrying will not fix.
pub const EX_FAILURE: u8 = 1;
/// The configuration is invalid.
pub const EX_CONFIG: u8 = 2;
/// The command line is wrong.
pub const EX_USAGE: u8 = 64;
/// Parley is not set up where the command looked: no store, or no key
/// file (sysexits' "cannot open input").
pub const EX_NOINPUT: u8 = 66;
/// No recipient of the message is ours.
pub const EX_NOUSER: u8 = 67;
/// Temporary failure: the store is unavailable; try again later.
pub const EX_TEMPFAIL: u8 = 75;
/// The message was refused (too large, a closed ticket that rejects).
pub const EX_NOPERM: u8 = 77;

/// Why a command failed. The message is for the person at the terminal
/// (or, for `ingest`, for the bounce the MTA writes): no internals.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error("{0}")]
    Usage(String),
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),
    #[error(transparent)]
    NotSetUp(#[from] NotSetUp),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    NotFound(String),
    #[error("no recipient of this message is served here")]
    NoMatch,
    #[error("refused: {0}")]
    Rejected(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl Failure {
    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::Usage(_) => EX_USAGE,
            Failure::Config(_) => EX_CONFIG,
            Failure::NotSetUp(_) => EX_NOINPUT,
            Failure::Store(e) if e.is_temporary() => EX_TEMPFAIL,
            Failure::Store(StoreError::NotFound(_)) | Failure::NotFound(_) => EX_FAILURE,
            Failure::Store(_) => EX_FAILURE,
            Failure::NoMatch => EX_NOUSER,
            Failure::Rejected(_) => EX_NOPERM,
            Failure::Io(_) => EX_FAILURE,
        }
    }

    /// For a mail pipe, anything that is not the message's own fault is
    /// temporary: the MTA keeps the message and retries, nothing is lost
    /// (a store that is not set up yet included: bouncing would lose mail
    /// that `parley migrate` is about to make deliverable).
    pub fn exit_code_for_pipe(&self) -> u8 {
        match self {
            Failure::Usage(_) => EX_USAGE,
            Failure::NoMatch => EX_NOUSER,
            Failure::Rejected(_) => EX_NOPERM,
            _ => EX_TEMPFAIL,
        }
    }
}

pub fn exit(code: u8) -> ExitCode {
    ExitCode::from(code)
}

/// Runs a mail pipe's command (`parley ingest`). A panic is a bug of
/// ours, never the message's fault, so it exits with [`EX_TEMPFAIL`]: the
/// MTA keeps the message and retries. Left to Rust it exits with 101,
/// which an MTA takes for a permanent failure and bounces (Postfix's pipe:
/// "Command died with status 101", bounced; only 75 defers). The panic's
/// message is on stderr first, where the MTA logs it. A panic caught
/// further in (the mail parser's, `intake/parse.rs`) never gets here.
pub fn pipe_guard(command: impl FnOnce() -> ExitCode) -> ExitCode {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(command))
        .unwrap_or_else(|_| exit(EX_TEMPFAIL))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pipe_that_panics_asks_the_mta_to_retry() {
        let code = pipe_guard(|| panic!("a bug on some input"));
        assert_eq!(code, ExitCode::from(EX_TEMPFAIL));
    }

    #[test]
    fn a_pipe_that_returns_keeps_its_exit_code() {
        assert_eq!(pipe_guard(|| exit(EX_NOUSER)), ExitCode::from(EX_NOUSER));
        assert_eq!(pipe_guard(|| exit(EX_OK)), ExitCode::from(EX_OK));
    }
}
