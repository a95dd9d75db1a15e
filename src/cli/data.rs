//! The store's data as a whole: `parley backup` (a consistent copy of a
//! SQLite store while `serve` runs), `parley purge` (`[retention]`, once)
//! and `parley erase` (a participant, for a data-protection request).

use std::path::Path;

use super::App;
use crate::address;
use crate::config::Config;
use crate::error::Failure;
use crate::setup::{self, Setup};
use crate::store::{Cutoffs, StoreError, now_ms};

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

/// `parley purge [--dry-run]`: deletes once what `[retention]` says is old
/// enough, and prints what.
pub async fn purge(app: &App, dry_run: bool) -> Result<(), Failure> {
    let retention = &app.config.retention;
    if !retention.enabled() {
        println!(
            "nothing to purge: retention.raw_mail_days and retention.notifications_days are 0 \
             (kept forever)"
        );
        return Ok(());
    }
    let purged = app
        .store()
        .purge(Cutoffs::of(retention, now_ms()), dry_run)
        .await?;
    let verb = if dry_run { "would delete" } else { "deleted" };
    if retention.raw_mail_days > 0 {
        println!(
            "{verb} {} raw mail(s), {} bytes, of tickets closed with no activity for {} days",
            purged.raw_mails, purged.raw_bytes, retention.raw_mail_days
        );
    }
    if retention.notifications_days > 0 {
        println!(
            "{verb} {} notification(s) sent more than {} days ago",
            purged.notifications, retention.notifications_days
        );
    }
    Ok(())
}

/// `parley erase --participant ADDR [--as NAME]`: erases a participant
/// (src/store/erasure.rs says what that does) and prints a summary.
pub async fn erase(app: &App, participant: &str, actor: &str) -> Result<(), Failure> {
    if !address::is_address(participant) {
        return Err(Failure::Usage(format!(
            "{participant:?} is not an email address"
        )));
    }
    let wanted = address::normalize(participant);
    let ours = app.config.queues.iter().any(|q| {
        q.intake
            .iter()
            .chain(&q.staff)
            .any(|a| address::normalize(a) == wanted)
    });
    if ours {
        return Err(Failure::Rejected(format!(
            "{wanted} is an intake or staff address of a queue: take it out of [[queues]] first"
        )));
    }
    let erased = match app.store().erase_participant(&wanted, actor).await {
        Err(StoreError::Conflict(why)) => return Err(Failure::Rejected(why)),
        other => other?,
    };
    let tickets: Vec<String> = erased.tickets.iter().map(|n| format!("#{n}")).collect();
    println!("erased {wanted}: it reads {} now", erased.placeholder);
    println!(
        "tickets: {} (each has a participant.erased entry)",
        tickets.join(" ")
    );
    println!("messages masked: {}", erased.messages);
    println!("raw mails deleted: {}", erased.raw_mails);
    println!(
        "notifications cancelled: {}",
        erased.notifications_cancelled
    );
    println!(
        "other values naming it rewritten: {}",
        erased.values_rewritten
    );
    Ok(())
}
