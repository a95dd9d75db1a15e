//! What parley keeps between runs — the store and the key file that signs
//! reply addresses — and who may create them.
//!
//! `parley serve` and `parley migrate` set parley up: they create what is
//! missing (a SQLite file and its folder, parley's schema in a PostgreSQL
//! database, the key file when `token.generate` allows). Every other
//! command only opens what is there. Run from the wrong directory, or with
//! the wrong `--config`, it would otherwise start an empty store and a new
//! key beside the real ones, and mail piped to it would land there; so it
//! fails instead, naming what it looked for ([`NotSetUp`]), and `ingest`
//! exits 75 so that the MTA keeps the mail.
//!
//! Both kinds apply pending migrations to a store that exists (a new
//! binary's first command upgrades it, whichever that is); the store
//! serialises migrations between processes ([`crate::store::SchemaStore::migrate`]).

use std::sync::Arc;

use crate::config::Config;
use crate::error::Failure;
use crate::store::{self, Store, StoreError};

/// Whether a command sets parley up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setup {
    /// `serve` and `migrate`: create the store and the key file when missing.
    Create,
    /// Every other command: open them, or fail with [`NotSetUp`].
    Existing,
}

/// Parley is not set up where a command looked.
#[derive(Debug, thiserror::Error)]
#[error(
    "{}.\nOnly `parley migrate` and `parley serve` create a store or a key file: run \
     `parley migrate` first, or point parley at the store and key it should use with \
     --config FILE, PARLEY_CONFIG=FILE, PARLEY__STORE__URL=… (and \
     PARLEY__TOKEN__SECRET_FILE=…), or run it from the directory its relative paths \
     start from.",
    missing.join("; ")
)]
pub struct NotSetUp {
    /// What is missing, each with where it was looked for: "no store at
    /// /srv/parley/data/parley.db", "no key file at …".
    pub missing: Vec<String>,
}

/// Opens the store (applying pending migrations) and loads the key, as
/// `setup` allows, and syncs the configured queues into the store.
pub async fn open(config: &Config, setup: Setup) -> Result<(Arc<dyn Store>, Vec<u8>), Failure> {
    let (store, secret) = match setup {
        Setup::Create => {
            let secret = config.load_secret()?;
            (store::open(&config.store).await?, secret)
        }
        Setup::Existing => existing(config).await?,
    };
    let store: Arc<dyn Store> = Arc::from(store);
    for queue in &config.queues {
        store.sync_queue(queue).await?;
    }
    Ok((store, secret))
}

/// The store and the key as they are; [`NotSetUp`] names every one missing.
async fn existing(config: &Config) -> Result<(Box<dyn Store>, Vec<u8>), Failure> {
    let secret = config.read_secret()?;
    let mut missing = Vec::new();
    let store = match store::open_existing(&config.store).await {
        Ok(store) => Some(store),
        Err(StoreError::Missing(at)) => {
            missing.push(format!("no store at {at}"));
            None
        }
        Err(e) => return Err(e.into()),
    };
    if secret.is_none() {
        let path = crate::config::absolute(&config.token.secret_file);
        missing.push(format!("no key file at {path} (token.secret_file)"));
    }
    match (store, secret) {
        (Some(store), Some(secret)) => Ok((store, secret)),
        _ => Err(NotSetUp { missing }.into()),
    }
}
