//! One pass over one mailbox.

use std::time::Duration;

use futures_util::TryStreamExt;
use tokio::net::TcpStream;

use crate::config::{ImapAfter, ImapConfig, ImapTls};
use crate::intake::{Envelope, Intake, Outcome, parse};
use crate::store::{ImapCursor, NewRaw, Source, StoreError};

use super::tls::{self, ImapStream};

/// A logged-in session, whatever the `tls` mode.
pub type Session = async_imap::Session<ImapStream>;

/// The longest a connection may take to be ready: TCP, TLS (STARTTLS),
/// greeting, login.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(60);

/// Why a pass stopped. All of them are retried with backoff.
#[derive(Debug, thiserror::Error)]
pub enum ImapError {
    #[error("cannot connect: {0}")]
    Connect(std::io::Error),
    #[error("timed out")]
    Timeout,
    #[error("TLS with {host}: the server's certificate is refused: {reason}")]
    Certificate { host: String, reason: String },
    #[error("TLS with {host}: {reason}")]
    Tls { host: String, reason: String },
    #[error("login refused: {0}")]
    Login(String),
    #[error("IMAP: {0}")]
    Imap(#[from] async_imap::error::Error),
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Protocol(String),
    #[error("{0}")]
    Config(#[from] crate::config::ConfigError),
}

/// What a pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    /// Committed (new, threaded, or recognised as already stored).
    pub taken: usize,
    /// Kept raw in quarantine and moved to the quarantine folder.
    pub quarantined: usize,
}

/// Connects, takes every message above the cursor, logs out.
pub async fn poll_once(config: &ImapConfig, intake: &Intake) -> Result<Pass, ImapError> {
    let (mut session, _) = connect(config).await?;
    let pass = take_new(&mut session, config, intake).await;
    let _ = session.logout().await;
    pass
}

/// A logged-in session; `true` when the server offers IDLE. The `tls`
/// mode decides the stream: TLS from the first byte, STARTTLS before
/// login, or plain (loopback only, checked by the config's validation).
pub async fn connect(config: &ImapConfig) -> Result<(Session, bool), ImapError> {
    let mut session = tokio::time::timeout(CONNECT_TIMEOUT, log_in(config))
        .await
        .map_err(|_| ImapError::Timeout)??;
    let idle = session.capabilities().await?.has_str("IDLE");
    Ok((session, idle))
}

async fn log_in(config: &ImapConfig) -> Result<Session, ImapError> {
    let address = (config.host.trim(), config.port());
    let tcp = TcpStream::connect(address)
        .await
        .map_err(ImapError::Connect)?;
    let client = match config.tls {
        ImapTls::Plain => greeted(ImapStream::Plain(tcp)).await?,
        ImapTls::Tls => greeted(tls::handshake(config, tcp).await?).await?,
        ImapTls::Starttls => {
            let mut plain = greeted(tcp).await?;
            plain
                .run_command_and_check_ok("STARTTLS", None)
                .await
                .map_err(|e| ImapError::Tls {
                    host: config.host.trim().to_string(),
                    reason: format!("STARTTLS failed: {e}"),
                })?;
            // Anything the server sent after its OK is dropped with the
            // plain client's buffer; no greeting follows the handshake.
            let tls = tls::handshake(config, plain.into_inner()).await?;
            async_imap::Client::new(tls)
        }
    };
    let password = config.password()?;
    client
        .login(&config.username, &password)
        .await
        .map_err(|(e, _)| ImapError::Login(e.to_string()))
}

/// A client on `stream` once the server's greeting is read.
async fn greeted<S>(stream: S) -> Result<async_imap::Client<S>, ImapError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + std::fmt::Debug + Send,
{
    let mut client = async_imap::Client::new(stream);
    client
        .read_response()
        .await
        .map_err(ImapError::Connect)?
        .ok_or_else(|| ImapError::Protocol("no greeting".into()))?;
    Ok(client)
}

/// Takes every message above the cursor (selecting the folder).
pub async fn take_new(
    session: &mut Session,
    config: &ImapConfig,
    intake: &Intake,
) -> Result<Pass, ImapError> {
    let mut pass = Pass::default();
    ensure_folder(session, &config.quarantine_folder).await?;
    if config.after == ImapAfter::Move {
        ensure_folder(session, &config.move_to).await?;
    }
    let mailbox = session.select(&config.folder).await?;
    let validity = i64::from(
        mailbox
            .uid_validity
            .ok_or_else(|| ImapError::Protocol("the server gives no UIDVALIDITY".into()))?,
    );
    let key = config.key();
    let store = intake.store();
    let start = match store.imap_cursor(&key).await? {
        Some(cursor) if cursor.uidvalidity == validity => cursor.last_uid + 1,
        Some(_) => {
            tracing::warn!(mailbox = %key, "UIDVALIDITY changed: the folder is read again; stored messages are recognised");
            1
        }
        None => 1,
    };
    if mailbox.exists == 0 {
        return Ok(pass);
    }
    // "UID n:*" also answers the highest UID when it is below n.
    let mut uids: Vec<u32> = session
        .uid_search(format!("UID {start}:*"))
        .await?
        .into_iter()
        .filter(|&uid| i64::from(uid) >= start)
        .collect();
    uids.sort_unstable();
    let recipients = match config.queue.as_str() {
        "" => Vec::new(),
        name => {
            let queue = store
                .queue(name)
                .await?
                .ok_or_else(|| ImapError::Protocol(format!("queue {name:?} does not exist")))?;
            queue.intake.into_iter().take(1).collect()
        }
    };
    for chunk in uids.chunks(config.batch.max(1)) {
        let set = uid_set(chunk);
        let sizes: Vec<(u32, u32)> = session
            .uid_fetch(&set, "(UID RFC822.SIZE)")
            .await?
            .try_filter_map(|f| async move { Ok(f.uid.zip(f.size)) })
            .try_collect()
            .await?;
        let limit = intake.max_message_bytes();
        let envelope = Envelope {
            sender: None,
            recipients: recipients.clone(),
            source: Source::Imap,
        };
        // (uid, outcome) for every message of the chunk still there.
        let mut settled: Vec<(u32, Result<Taken, ImapError>)> = Vec::new();
        let (small, large): (Sizes, Sizes) = sizes
            .into_iter()
            .partition(|(_, size)| *size as usize <= limit);
        for group in by_bytes(&small, FETCH_BYTES) {
            // One round trip for the bodies; the deliveries run at once, so
            // the group committer puts them in few transactions.
            let bodies = fetch(session, &uid_set(&group), "BODY.PEEK[]").await?;
            let envelope = &envelope;
            let deliveries = bodies
                .into_iter()
                .map(|(uid, raw)| async move { (uid, settle(intake, raw, envelope).await) });
            settled.extend(futures_util::future::join_all(deliveries).await);
        }
        if !large.is_empty() {
            let uids: Vec<u32> = large.iter().map(|(uid, _)| *uid).collect();
            for (uid, header) in fetch(session, &uid_set(&uids), "BODY.PEEK[HEADER]").await? {
                let size = large.iter().find(|(u, _)| *u == uid).map_or(0, |(_, s)| *s);
                let detail =
                    format!("{size} bytes, over the limit of {limit}: only the header was fetched");
                let kept = quarantine(intake, header, &envelope, "too_large", &detail).await;
                settled.push((uid, kept.map(|()| Taken::Quarantined)));
            }
        }
        settled.sort_by_key(|(uid, _)| *uid);
        // Everything below the first failure is done; the cursor stops there.
        let failed = settled.iter().position(|(_, r)| r.is_err());
        let done = &settled[..failed.unwrap_or(settled.len())];
        let stored: Vec<u32> = done
            .iter()
            .filter(|(_, r)| matches!(r, Ok(Taken::Stored)))
            .map(|(uid, _)| *uid)
            .collect();
        let kept: Vec<u32> = done
            .iter()
            .filter(|(_, r)| matches!(r, Ok(Taken::Quarantined)))
            .map(|(uid, _)| *uid)
            .collect();
        if !stored.is_empty() {
            after(session, config, &uid_set(&stored)).await?;
        }
        if !kept.is_empty() {
            session
                .uid_mv(uid_set(&kept), &config.quarantine_folder)
                .await?;
        }
        pass.taken += stored.len();
        pass.quarantined += kept.len();
        let last = match failed {
            Some(i) => settled[i].0.checked_sub(1),
            None => chunk.last().copied(),
        };
        if let Some(last) = last.filter(|&uid| i64::from(uid) >= start) {
            let cursor = ImapCursor {
                uidvalidity: validity,
                last_uid: i64::from(last),
            };
            store.set_imap_cursor(&key, cursor).await?;
        }
        if let Some(i) = failed {
            let (_, error) = settled.swap_remove(i);
            return Err(error
                .err()
                .unwrap_or_else(|| ImapError::Protocol("lost error".into())));
        }
    }
    Ok(pass)
}

enum Taken {
    Stored,
    Quarantined,
}

/// (UID, RFC822.SIZE) pairs.
type Sizes = Vec<(u32, u32)>;

/// The most message bytes fetched in one round trip.
const FETCH_BYTES: usize = 32 * 1024 * 1024;

/// `1,5,7`: a UID set for a command.
fn uid_set(uids: &[u32]) -> String {
    uids.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// Groups of UIDs (in order) whose sizes add up to at most `max` bytes
/// (a single larger message makes a group of its own).
fn by_bytes(sizes: &[(u32, u32)], max: usize) -> Vec<Vec<u32>> {
    let mut groups: Vec<Vec<u32>> = Vec::new();
    let mut bytes = 0usize;
    for &(uid, size) in sizes {
        let size = size as usize;
        match groups.last_mut() {
            Some(group) if bytes + size <= max => group.push(uid),
            _ => {
                groups.push(vec![uid]);
                bytes = 0;
            }
        }
        bytes += size;
    }
    groups
}

/// `item` (a body section) of every message of `set`, by UID.
async fn fetch(
    session: &mut Session,
    set: &str,
    item: &str,
) -> Result<Vec<(u32, Vec<u8>)>, ImapError> {
    let fetched = session
        .uid_fetch(set, item)
        .await?
        .try_filter_map(|f| async move {
            let bytes = f.body().or_else(|| f.header()).map(<[u8]>::to_vec);
            Ok(f.uid.zip(bytes))
        })
        .try_collect()
        .await?;
    Ok(fetched)
}

/// Commits one message, or keeps it in quarantine when intake cannot place
/// it.
async fn settle(intake: &Intake, raw: Vec<u8>, envelope: &Envelope) -> Result<Taken, ImapError> {
    match intake.deliver(raw.clone(), envelope).await? {
        Outcome::Stored { .. } | Outcome::Duplicate { .. } | Outcome::Bounced(_) => {
            Ok(Taken::Stored)
        }
        Outcome::Quarantined { .. } => Ok(Taken::Quarantined),
        Outcome::NoMatch => {
            let detail = "no recipient matched: no reply token, reference, subject tag or intake address (set the mailbox's queue)";
            quarantine(intake, raw, envelope, "no_match", detail).await?;
            Ok(Taken::Quarantined)
        }
        Outcome::Rejected { reason } => {
            quarantine(intake, raw, envelope, "rejected", &reason).await?;
            Ok(Taken::Quarantined)
        }
    }
}

async fn quarantine(
    intake: &Intake,
    raw: Vec<u8>,
    envelope: &Envelope,
    reason: &str,
    detail: &str,
) -> Result<(), ImapError> {
    let stored = NewRaw {
        sha256: parse::sha256(&raw),
        bytes: raw,
        envelope_from: None,
        envelope_to: envelope.recipients.clone(),
        source: Source::Imap,
    };
    intake.store().quarantine(&stored, reason, detail).await?;
    Ok(())
}

/// What happens to a committed message in the mailbox.
async fn after(session: &mut Session, config: &ImapConfig, set: &str) -> Result<(), ImapError> {
    match config.after {
        ImapAfter::Seen => {
            let _: Vec<_> = session
                .uid_store(&set, "+FLAGS (\\Seen)")
                .await?
                .try_collect()
                .await?;
        }
        ImapAfter::Move => session.uid_mv(&set, &config.move_to).await?,
        ImapAfter::Delete => {
            let _: Vec<_> = session
                .uid_store(&set, "+FLAGS (\\Deleted)")
                .await?
                .try_collect()
                .await?;
            let _: Vec<_> = session.uid_expunge(&set).await?.try_collect().await?;
        }
    }
    Ok(())
}

/// Creates `folder` unless it exists.
async fn ensure_folder(session: &mut Session, folder: &str) -> Result<(), ImapError> {
    let found: Vec<_> = session
        .list(None, Some(folder))
        .await?
        .try_collect()
        .await?;
    if found.is_empty() {
        session.create(folder).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{by_bytes, uid_set};

    #[test]
    fn groups_stay_under_the_byte_budget_in_order() {
        let sizes = [(1, 40), (2, 40), (3, 30), (4, 200), (5, 10)];
        assert_eq!(
            by_bytes(&sizes, 100),
            [vec![1, 2], vec![3], vec![4], vec![5]]
        );
        assert_eq!(by_bytes(&sizes, 1000), [vec![1, 2, 3, 4, 5]]);
        assert!(by_bytes(&[], 100).is_empty());
        assert_eq!(uid_set(&[3, 9, 10]), "3,9,10");
    }
}
