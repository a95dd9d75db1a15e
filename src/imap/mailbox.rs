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
        let set = chunk
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let sizes: Vec<(u32, u32)> = session
            .uid_fetch(&set, "(UID RFC822.SIZE)")
            .await?
            .try_filter_map(|f| async move { Ok(f.uid.zip(f.size)) })
            .try_collect()
            .await?;
        for &uid in chunk {
            let size = sizes.iter().find(|(u, _)| *u == uid).map(|(_, s)| *s);
            let Some(size) = size else {
                continue; // gone meanwhile (expunged by another client)
            };
            let taken = take_one(session, config, intake, &recipients, uid, size).await?;
            match taken {
                Taken::Stored => {
                    after(session, config, uid).await?;
                    pass.taken += 1;
                }
                Taken::Quarantined => {
                    session
                        .uid_mv(uid.to_string(), &config.quarantine_folder)
                        .await?;
                    pass.quarantined += 1;
                }
            }
            store
                .set_imap_cursor(
                    &key,
                    ImapCursor {
                        uidvalidity: validity,
                        last_uid: i64::from(uid),
                    },
                )
                .await?;
        }
    }
    Ok(pass)
}

enum Taken {
    Stored,
    Quarantined,
}

/// Fetches and commits one message (a too large one: its header only, into
/// quarantine).
async fn take_one(
    session: &mut Session,
    config: &ImapConfig,
    intake: &Intake,
    recipients: &[String],
    uid: u32,
    size: u32,
) -> Result<Taken, ImapError> {
    let limit = intake.max_message_bytes();
    let too_large = size as usize > limit;
    let item = if too_large {
        "BODY.PEEK[HEADER]"
    } else {
        "BODY.PEEK[]"
    };
    let fetched: Vec<Vec<u8>> = session
        .uid_fetch(uid.to_string(), item)
        .await?
        .try_filter_map(|f| async move { Ok(f.body().or_else(|| f.header()).map(<[u8]>::to_vec)) })
        .try_collect()
        .await?;
    let raw = fetched.into_iter().next().unwrap_or_default();
    let envelope = Envelope {
        sender: None,
        recipients: recipients.to_vec(),
        source: Source::Imap,
    };
    if too_large {
        let detail =
            format!("{size} bytes, over the limit of {limit}: only the header was fetched");
        quarantine(intake, raw, &envelope, "too_large", &detail).await?;
        return Ok(Taken::Quarantined);
    }
    match intake.deliver(raw.clone(), &envelope).await? {
        Outcome::Stored { .. } | Outcome::Duplicate { .. } | Outcome::Bounced(_) => Ok(Taken::Stored),
        Outcome::Quarantined { .. } => Ok(Taken::Quarantined),
        Outcome::NoMatch => {
            let detail = "no recipient matched: no reply token, reference, subject tag or intake address (set the mailbox's queue)";
            quarantine(intake, raw, &envelope, "no_match", detail).await?;
            Ok(Taken::Quarantined)
        }
        Outcome::Rejected { reason } => {
            quarantine(intake, raw, &envelope, "rejected", &reason).await?;
            Ok(Taken::Quarantined)
        }
    }
    .inspect(|_| tracing::debug!(mailbox = %config.key(), uid, "message taken"))
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
async fn after(session: &mut Session, config: &ImapConfig, uid: u32) -> Result<(), ImapError> {
    let set = uid.to_string();
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
