//! One pass over one mailbox.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
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
    /// Another instance of `parley serve` holds the mailbox's lease now.
    #[error("another instance polls this mailbox now")]
    Elsewhere,
}

/// What a pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    /// Committed (new, threaded, or recognised as already stored).
    pub taken: usize,
    /// Kept raw in quarantine and moved to the quarantine folder.
    pub quarantined: usize,
}

/// Connects, takes every message above the cursor, logs out. `strikes`
/// carries the fetch timeouts from one pass to the next.
pub async fn poll_once(
    config: &ImapConfig,
    intake: &Arc<Intake>,
    strikes: &mut Strikes,
) -> Result<Pass, ImapError> {
    let (mut session, _) = connect(config).await?;
    let pass = take_new(&mut session, config, intake, strikes).await;
    log_out(session, config).await;
    pass
}

/// Says LOGOUT, waiting at most the command timeout.
pub async fn log_out(mut session: Session, config: &ImapConfig) {
    let _ = tokio::time::timeout(config.timeout(), session.logout()).await;
}

/// `command`, or [`ImapError::Timeout`] once `limit` has passed (the
/// session is then in an unknown state and must be dropped).
pub async fn within<T, E>(
    limit: Duration,
    command: impl Future<Output = Result<T, E>>,
) -> Result<T, ImapError>
where
    ImapError: From<E>,
{
    match tokio::time::timeout(limit, command).await {
        Ok(done) => done.map_err(ImapError::from),
        Err(_) => Err(ImapError::Timeout),
    }
}

/// How often fetching each UID timed out, kept by a mailbox's task across
/// connections. A UID that timed out is fetched alone; after
/// [`MAX_TIMEOUTS`] only its header is fetched, into quarantine.
#[derive(Debug, Default)]
pub struct Strikes {
    uidvalidity: i64,
    counts: HashMap<u32, u32>,
}

/// Fetch timeouts after which a message is given up (quarantined with the
/// header only).
pub const MAX_TIMEOUTS: u32 = 3;

impl Strikes {
    fn of(&self, uid: u32) -> u32 {
        self.counts.get(&uid).copied().unwrap_or(0)
    }

    fn add(&mut self, uids: &[u32]) {
        for &uid in uids {
            *self.counts.entry(uid).or_default() += 1;
        }
    }

    /// Forgets the counts of another UIDVALIDITY and of UIDs now done.
    fn keep(&mut self, uidvalidity: i64, from_uid: i64) {
        if self.uidvalidity != uidvalidity {
            self.counts.clear();
            self.uidvalidity = uidvalidity;
        }
        self.counts.retain(|&uid, _| i64::from(uid) >= from_uid);
    }
}

/// A logged-in session; `true` when the server offers IDLE. The `tls`
/// mode decides the stream: TLS from the first byte, STARTTLS before
/// login, or plain (loopback only, checked by the config's validation).
pub async fn connect(config: &ImapConfig) -> Result<(Session, bool), ImapError> {
    let mut session = tokio::time::timeout(CONNECT_TIMEOUT, log_in(config))
        .await
        .map_err(|_| ImapError::Timeout)??;
    let idle = within(config.timeout(), session.capabilities())
        .await?
        .has_str("IDLE");
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
    intake: &Arc<Intake>,
    strikes: &mut Strikes,
) -> Result<Pass, ImapError> {
    let mut pass = Pass::default();
    let limit = config.timeout();
    ensure_folder(session, &config.quarantine_folder, limit).await?;
    if config.after == ImapAfter::Move {
        ensure_folder(session, &config.move_to, limit).await?;
    }
    let mailbox = within(limit, session.select(&config.folder)).await?;
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
    strikes.keep(validity, start);
    if mailbox.exists == 0 {
        return Ok(pass);
    }
    // "UID n:*" also answers the highest UID when it is below n.
    let mut uids: Vec<u32> = within(limit, session.uid_search(format!("UID {start}:*")))
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
    let envelope = Envelope {
        sender: None,
        recipients,
        source: Source::Imap,
    };
    let envelope = &envelope;
    let place = Place {
        key,
        uidvalidity: validity,
        start,
    };
    let max_bytes = intake.max_message_bytes();
    // The deliveries of the last group fetched, run while the next group's
    // bodies are fetched: the IMAP round trips and the commits overlap.
    let mut in_flight: Option<InFlight<'_>> = None;
    for chunk in uids.chunks(config.batch.max(1)) {
        let set = uid_set(chunk);
        let sizes: Vec<(u32, u32)> = within(limit, async {
            session
                .uid_fetch(&set, "(UID RFC822.SIZE)")
                .await?
                .try_filter_map(|f| async move { Ok(f.uid.zip(f.size)) })
                .try_collect()
                .await
        })
        .await?;
        // Messages given up after timeouts and messages over the limit are
        // quarantined first; the cursor passes them with the groups after.
        let mut settled: Vec<(u32, Result<Taken, ImapError>)> = Vec::new();
        let (given_up, sizes): (Sizes, Sizes) = sizes
            .into_iter()
            .partition(|(uid, _)| strikes.of(*uid) >= MAX_TIMEOUTS);
        for (uid, _) in given_up {
            let kept = give_up(session, config, intake, envelope, strikes, uid).await?;
            settled.push((uid, Ok(kept)));
        }
        let (small, large): (Sizes, Sizes) = sizes
            .into_iter()
            .partition(|(_, size)| *size as usize <= max_bytes);
        if !large.is_empty() {
            let uids: Vec<u32> = large.iter().map(|(uid, _)| *uid).collect();
            let headers =
                within(limit, fetch(session, &uid_set(&uids), "BODY.PEEK[HEADER]")).await?;
            for (uid, header) in headers {
                let size = large.iter().find(|(u, _)| *u == uid).map_or(0, |(_, s)| *s);
                let detail = format!(
                    "{size} bytes, over the limit of {max_bytes}: only the header was fetched"
                );
                let kept = quarantine(intake, header, envelope, "too_large", &detail).await;
                settled.push((uid, kept.map(|()| Taken::Quarantined)));
            }
        }
        finish(session, config, store, &place, settled, None, &mut pass).await?;
        let groups = by_bytes(&small, FETCH_BYTES, |uid| strikes.of(uid) > 0);
        let count = groups.len();
        for (i, group) in groups.into_iter().enumerate() {
            // One round trip for the bodies, while the group before is
            // committed. A UID that timed out before is fetched alone, so
            // that it alone is counted when it times out again.
            let set = uid_set(&group);
            let fetching = within(limit, fetch(session, &set, "BODY.PEEK[]"));
            let (before, bodies) = match in_flight.take() {
                Some(flight) => {
                    let (settled, bodies) = tokio::join!(flight.deliveries, fetching);
                    (Some((settled, flight.through)), bodies)
                }
                None => (None, fetching.await),
            };
            let bodies = match bodies {
                Err(ImapError::Timeout) => {
                    strikes.add(&group);
                    return Err(ImapError::Timeout);
                }
                fetched => fetched?,
            };
            if let Some((settled, through)) = before {
                finish(session, config, store, &place, settled, through, &mut pass).await?;
            }
            // The last group of a chunk takes the cursor to the chunk's end
            // (past UIDs expunged meanwhile).
            let last = if i + 1 == count {
                chunk.last()
            } else {
                group.last()
            };
            // The deliveries run at once, each its own task: their stages
            // (parse, reply, policy) use every core, and the group
            // committer puts them in few transactions.
            let deliveries = bodies.into_iter().map(|(uid, raw)| {
                let (intake, envelope) = (Arc::clone(intake), envelope.clone());
                let task = tokio::spawn(async move { settle(&intake, raw, &envelope).await });
                async move {
                    let settled = task.await.unwrap_or_else(|e| {
                        Err(ImapError::Protocol(format!(
                            "the delivery's task failed: {e}"
                        )))
                    });
                    (uid, settled)
                }
            });
            in_flight = Some(InFlight {
                deliveries: Box::pin(futures_util::future::join_all(deliveries)),
                through: last.copied(),
            });
        }
        if count == 0 {
            // Nothing to fetch in this chunk: the cursor passes it (after
            // the group in flight, which is below it).
            if let Some(flight) = in_flight.take() {
                flight
                    .land(session, config, store, &place, &mut pass)
                    .await?;
            }
            finish(
                session,
                config,
                store,
                &place,
                Vec::new(),
                chunk.last().copied(),
                &mut pass,
            )
            .await?;
        }
    }
    if let Some(flight) = in_flight {
        flight
            .land(session, config, store, &place, &mut pass)
            .await?;
    }
    Ok(pass)
}

/// Where a mailbox's cursor is kept, and where this pass started.
struct Place {
    key: String,
    uidvalidity: i64,
    start: i64,
}

/// A group's deliveries, and the UID the cursor may pass once all of them
/// are settled.
struct InFlight<'a> {
    deliveries: Pin<Box<dyn Future<Output = Vec<Settled>> + Send + 'a>>,
    through: Option<u32>,
}

impl InFlight<'_> {
    /// Waits for the deliveries, then [`finish`]es them.
    async fn land(
        self,
        session: &mut Session,
        config: &ImapConfig,
        store: &dyn crate::store::Store,
        place: &Place,
        pass: &mut Pass,
    ) -> Result<(), ImapError> {
        let settled = self.deliveries.await;
        finish(session, config, store, place, settled, self.through, pass).await
    }
}

/// A message's UID and what became of it.
type Settled = (u32, Result<Taken, ImapError>);

/// Flags, moves or deletes what `settled` committed, moves what it kept in
/// quarantine, and takes the cursor to `through` (when given), or to just
/// below the first failure, which it returns.
async fn finish(
    session: &mut Session,
    config: &ImapConfig,
    store: &dyn crate::store::Store,
    place: &Place,
    mut settled: Vec<Settled>,
    through: Option<u32>,
    pass: &mut Pass,
) -> Result<(), ImapError> {
    let limit = config.timeout();
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
        within(limit, after(session, config, &uid_set(&stored))).await?;
    }
    if !kept.is_empty() {
        let moving = session.uid_mv(uid_set(&kept), &config.quarantine_folder);
        within(limit, moving).await?;
    }
    pass.taken += stored.len();
    pass.quarantined += kept.len();
    let last = match (failed, through) {
        (Some(i), Some(_)) => settled[i].0.checked_sub(1),
        (Some(_), None) | (None, None) => None,
        (None, Some(through)) => Some(through),
    };
    if let Some(last) = last.filter(|&uid| i64::from(uid) >= place.start) {
        let cursor = ImapCursor {
            uidvalidity: place.uidvalidity,
            last_uid: i64::from(last),
        };
        store.set_imap_cursor(&place.key, cursor).await?;
    }
    match failed {
        Some(i) => Err(settled
            .swap_remove(i)
            .1
            .err()
            .unwrap_or_else(|| ImapError::Protocol("a failed delivery lost its error".into()))),
        None => Ok(()),
    }
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
/// (a single larger message makes a group of its own, as does a UID for
/// which `alone` is true).
fn by_bytes(sizes: &[(u32, u32)], max: usize, alone: impl Fn(u32) -> bool) -> Vec<Vec<u32>> {
    let mut groups: Vec<Vec<u32>> = Vec::new();
    let mut bytes = 0usize;
    let mut open = false;
    for &(uid, size) in sizes {
        let size = size as usize;
        match groups.last_mut() {
            Some(group) if open && !alone(uid) && bytes + size <= max => group.push(uid),
            _ => {
                groups.push(vec![uid]);
                bytes = 0;
            }
        }
        open = !alone(uid);
        bytes += size;
    }
    groups
}

/// Keeps in quarantine what can be had of a message whose fetch timed out
/// [`MAX_TIMEOUTS`] times: its header, or when even that times out (once
/// more), a note naming the mailbox and UID.
async fn give_up(
    session: &mut Session,
    config: &ImapConfig,
    intake: &Intake,
    envelope: &Envelope,
    strikes: &mut Strikes,
    uid: u32,
) -> Result<Taken, ImapError> {
    let tries = strikes.of(uid);
    let detail = format!("fetching the message timed out {tries} times");
    let raw = if tries > MAX_TIMEOUTS {
        format!(
            "X-Parley-Imap-Mailbox: {}\r\nX-Parley-Imap-Uid: {}/{uid}\r\n\r\n",
            config.key(),
            strikes.uidvalidity,
        )
        .into_bytes()
    } else {
        let header = within(
            config.timeout(),
            fetch(session, &uid.to_string(), "BODY.PEEK[HEADER]"),
        )
        .await;
        match header {
            Err(ImapError::Timeout) => {
                strikes.add(&[uid]);
                return Err(ImapError::Timeout);
            }
            header => header?.pop().map(|(_, h)| h).unwrap_or_default(),
        }
    };
    let detail = match tries > MAX_TIMEOUTS {
        true => format!("{detail}; so did its header: nothing of it was fetched"),
        false => format!("{detail}: only the header was fetched"),
    };
    quarantine(intake, raw, envelope, "timeout", &detail).await?;
    Ok(Taken::Quarantined)
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
async fn ensure_folder(
    session: &mut Session,
    folder: &str,
    limit: Duration,
) -> Result<(), ImapError> {
    let found: Vec<_> = within(limit, async {
        session.list(None, Some(folder)).await?.try_collect().await
    })
    .await?;
    if found.is_empty() {
        within(limit, session.create(folder)).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{by_bytes, uid_set};

    #[test]
    fn groups_stay_under_the_byte_budget_in_order() {
        let sizes = [(1, 40), (2, 40), (3, 30), (4, 200), (5, 10)];
        let never = |_| false;
        assert_eq!(
            by_bytes(&sizes, 100, never),
            [vec![1, 2], vec![3], vec![4], vec![5]]
        );
        assert_eq!(by_bytes(&sizes, 1000, never), [vec![1, 2, 3, 4, 5]]);
        assert!(by_bytes(&[], 100, never).is_empty());
        // A UID that timed out before goes alone; the rest stay grouped.
        assert_eq!(
            by_bytes(&sizes, 1000, |uid| uid == 3),
            [vec![1, 2], vec![3], vec![4, 5]]
        );
        assert_eq!(uid_set(&[3, 9, 10]), "3,9,10");
    }
}
