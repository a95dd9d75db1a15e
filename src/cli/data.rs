//! The store's data as a whole: `parley backup` (a consistent copy of a
//! SQLite store while `serve` runs).

use std::path::Path;

use crate::config::Config;
use crate::error::Failure;
use crate::setup::{self, Setup};

/// `parley backup FILE`: copies the SQLite store into the new file FILE
/// (never over an existing one). A PostgreSQL store is copied with
/// `pg_dump`: exit 64 with a message saying so.
pub async fn backup(config: &Config, file: &Path) -> Result<(), Failure> {
    if !config.store.url.starts_with("sqlite:") {
        return Err(Failure::Usage(format!(
            "parley backup copies a SQLite store; the store at {} is PostgreSQL: back it up \
             with pg_dump (for example `pg_dump --format=custom --file=parley.dump DBNAME`, \
             restored with pg_restore; see README, Operations)",
            crate::config::redact_url_password(&config.store.url)
        )));
    }
    if file.exists() || file.is_symlink() {
        return Err(Failure::Usage(format!(
            "{} exists already: parley backup writes a new file and never overwrites one",
            file.display()
        )));
    }
    // Opened as every command opens it: exit 66 when there is no store
    // where the config points (rather than copying nothing), migrations
    // applied first.
    let (store, _secret) = setup::open(config, Setup::Existing).await?;
    drop(store);
    let size = crate::store::backup(&config.store, file).await?;
    println!(
        "backed up the store to {} ({size} bytes)",
        crate::config::absolute(file)
    );
    println!(
        "to restore: stop parley serve, copy this file to the path of store.url, start it again; \
         keep the key file (token.secret_file) with it"
    );
    Ok(())
}
