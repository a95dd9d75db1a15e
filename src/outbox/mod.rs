//! The outbox: notification rows written with the change they announce.
//!
//! A notification threads its answer back with the recipient's reply token
//! and a Message-ID of ours (`<TOKEN.SEQ@reply domain>`, see
//! `docs/token.md`), minted by [`crate::token::Minter`] when the store
//! writes the row. [`compose`] writes the mail of a row from what [`draft`]
//! reads; [`worker`] claims due rows, hands them to the [`transport`]
//! `[relay]` configures — the relay ([`relay`]: pooled connections to it)
//! or, with none configured, a local [`maildir`] — and records the answer
//! (started by `parley serve`). [`reminders`] writes the rows of tickets
//! past their queue's response target.

pub mod compose;
pub mod draft;
pub mod maildir;
pub mod relay;
pub mod reminders;
pub mod throttle;
pub mod transport;
pub mod worker;

// Minting lives below the store, beside the tokens it mints; the name is
// kept here for callers written against `outbox::Minter`.
pub use crate::token::Minter;
