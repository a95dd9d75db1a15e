//! parley: an email gateway and ticketing daemon for marketplaces.
//!
//! Data flows one way (see `docs/flow.md`):
//!
//! ```text
//! adapters (parley ingest, SMTP/LMTP, IMAP, HTTP) ─► intake ─► store ─► outbox
//! ```
//!
//! - [`http`] is the HTTP door (an adapter too): the JSON API under
//!   `/api/v1` for the marketplace (API keys with roles, user tokens,
//!   `application/problem+json` errors, limits, the OpenAPI document);
//!   handlers authorise and call the same functions the CLI calls
//!   (conversations are started and written in through [`intake::Intake::write`],
//!   a retried POST replayed by [`http::idempotency`]). Its
//!   live event streams are fed by [`http::hub`], the one reader per
//!   process of the store's event log.
//! - [`console`] is the console (an adapter on the HTTP listener): the
//!   pages sellers' staff, operators and moderators log in to, over the
//!   same functions the JSON API calls; accounts and sessions are
//!   [`store::ConsoleStore`], made with `parley users`; operators'
//!   availability and the queues' texts edited there are
//!   [`store::DeskStore`].
//! - [`smtp`] is the SMTP and LMTP listener (an adapter): recipients checked
//!   at RCPT by [`intake::recipient`] (the one rule that says what an
//!   address is to parley, and the one place tokens are verified), "250"
//!   only after the commit; [`serve`] is `parley serve`, the daemon that
//!   runs the listeners, pollers, the outbox worker and the webhooks'
//!   worker; [`imap`] is the IMAP poller (an adapter): one task per
//!   mailbox, a cursor per mailbox, IDLE.
//! - [`intake`] takes raw bytes and an envelope and runs the stages:
//!   [`intake::parse`] (mail-parser), [`intake::thread`] (token ▸
//!   References to our mail ▸ References to a participant's mail ▸ subject
//!   tag ▸ new ticket), [`intake::reply`] (the text the
//!   author wrote), [`intake::policy`] (contact details, payment off the
//!   platform, spam, abuse: allow, redact, hold or reject) and
//!   [`intake::replies`] (the acknowledgement and the after-hours reply a
//!   client gets, by the queue's greeting, working hours and whether its
//!   operators are available). The stages
//!   decide and read; only the commit writes. Held messages wait for a
//!   moderator (`parley moderation`).
//! - [`tickets`] holds the domain rules: statuses, roles, transitions;
//!   [`moderation`] what the other party sees of a message and what a
//!   moderator's decision on a held one does; [`access`] who may see
//!   which conversation and message (moderators, the marketplace, a
//!   person), and who may do what to it, for every door; [`actions`] does
//!   what people do to a ticket besides writing in it (status, take,
//!   assign, forward, delete, archive) and lists the pool, for the CLI
//!   and the HTTP API alike. [`search`] says what a word is to search
//!   (one tokeniser for both backends), what a query asks and the snippet
//!   a hit shows; the index and the scoped query are
//!   [`store::SearchStore`].
//! - [`store`] is the storage: one trait per concern (tickets, moderation,
//!   mail, outbox, IMAP cursors, filing, the event log, the conversation
//!   list and read markers, search, webhooks, the API's idempotency
//!   keys), each a file with its SQL,
//!   summed up in [`store::Store`]; one implementation for SQLite and
//!   PostgreSQL. A message, its ticket change, its audit entry, its
//!   notification rows and its events commit in one transaction.
//! - [`outbox`] composes each notification and runs the worker of
//!   `parley serve` that claims due rows, sends them through the relay
//!   (with none configured, into a local Maildir) and retries.
//! - [`webhooks`] POSTs the events the marketplace may see (by
//!   [`access`]) to each `[[webhooks]]` URL, signed (HMAC-SHA256), from a
//!   durable queue of deliveries fed by the event log (a cursor per
//!   webhook, [`store::WebhookStore`]), retried on the outbox's schedule;
//!   its worker runs in `parley serve`.
//! - [`retention`] deletes what is no longer needed (`[retention]`: raw
//!   mail of long-closed tickets, sent notifications) from `parley serve`
//!   every so often, as `parley purge` does once; `parley erase` wipes a
//!   participant for a data-protection request ([`store::ErasureStore`]).
//! - [`token`] signs and verifies the reply tokens in reply addresses;
//!   [`token::Minter`] mints them and our Message-IDs for notification rows
//!   (below the store, which mints inside its transactions).
//! - [`metrics`] counts what the doors and workers do (`GET /metrics`);
//!   [`systemd`] tells the service manager `parley serve` is ready,
//!   reloading or stopping, and feeds its watchdog.
//! - [`config`] loads the layered, validated configuration; [`address`]
//!   says what an email address is to parley; [`setup`] opens the store and
//!   the key, which only `serve` and `migrate` may create.
//! - [`cli`] is the command line (`src/main.rs` only calls it); [`error`]
//!   maps failures to exit codes in one place.

pub mod access;
pub mod actions;
pub mod address;
pub mod cli;
pub mod config;
pub mod console;
pub mod error;
pub mod http;
pub mod imap;
pub mod intake;
pub mod metrics;
pub mod moderation;
pub mod outbox;
pub mod retention;
pub mod search;
pub mod serve;
pub mod setup;
pub mod smtp;
pub mod store;
pub mod systemd;
pub mod tickets;
pub mod token;
pub mod webhooks;
