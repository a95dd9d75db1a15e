//! The live side of the event log: one hub per process reads new events
//! from the store and fans them out to every open stream
//! (`GET /api/v1/events`, [`super::api::events`]).
//!
//! - The **hub** is one task (started by the first stream). It wakes
//!   right after a commit of this process that appended events (the
//!   store's [`event_signal`](crate::store::EventStore::event_signal)), and
//!   at least every [`POLL`] for the events other processes append
//!   (`parley ingest`, another `parley serve` on the same PostgreSQL). It
//!   reads `id > last` in pages, attaches each event's ticket access facts
//!   (cached per ticket, read again when an event may change them) and
//!   sends it once, as an `Arc`, on a `tokio::sync::broadcast` channel. No
//!   stream ever polls the store while it keeps up.
//! - A **follower** ([`Follow`]) is one stream's place in the log: it
//!   replays from the store what came after the client's last event id up
//!   to what the hub had published when it subscribed, then takes the
//!   hub's events, skipping ids it has passed. A follower that falls more
//!   than [`CHANNEL`] events behind (the channel dropped some for it)
//!   reads the gap from the store and goes on: nothing lost, nothing twice.
//!
//! Who sees which event is not decided here: [`Live::access`] gives the
//! viewer's [`Access`] to the event's ticket and the stream asks
//! [`crate::access::sees_event`].

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use tokio::sync::{OnceCell, broadcast, watch};

use crate::access::{self, Access, TicketFacts, Viewer};
use crate::store::{Event, Participant, Store, StoreError, Ticket};

/// How often the hub looks for events written by other processes.
pub const POLL: Duration = Duration::from_millis(500);
/// Events the channel keeps for a slow follower before it must read the
/// store (each an `Arc`: the channel holds pointers).
pub const CHANNEL: usize = 1024;
/// Events read from the store at once.
const PAGE: i64 = 500;
/// How long a ticket's cached access facts are trusted without an event
/// that changes them: a queue's staff addresses change by config, which
/// writes no event.
const FACTS_TTL: Duration = Duration::from_secs(60);
/// Tickets whose facts are cached; past it the cache starts over.
const FACTS_MAX: usize = 50_000;

/// What decides who may see a ticket's events (owned: shared by every
/// stream as an `Arc`).
#[derive(Debug)]
pub struct Facts {
    pub ticket: Ticket,
    pub participants: Vec<Participant>,
    pub queue_staff: Vec<String>,
}

impl Facts {
    pub fn view(&self) -> TicketFacts<'_> {
        TicketFacts {
            ticket: &self.ticket,
            participants: &self.participants,
            queue_staff: &self.queue_staff,
        }
    }

    async fn read(store: &dyn Store, number: i64) -> Result<Option<Facts>, StoreError> {
        let Some(ticket) = store.ticket(number).await? else {
            return Ok(None);
        };
        let participants = store.participants(number).await?;
        let queue_staff = match store.queue(&ticket.queue).await? {
            Some(queue) => queue.staff,
            None => Vec::new(),
        };
        Ok(Some(Facts {
            ticket,
            participants,
            queue_staff,
        }))
    }
}

/// One event on its way to the streams, with what decides who sees it and
/// its JSON, rendered once for all ([`super::api::events`]).
#[derive(Debug)]
pub struct Live {
    pub event: Event,
    /// `None`: the ticket does not exist (only moderators see the event).
    pub facts: Option<Arc<Facts>>,
    /// The JSON with the actor, and with it hidden.
    rendered: [OnceLock<String>; 2],
}

impl Live {
    fn new(event: Event, facts: Option<Arc<Facts>>) -> Live {
        Live {
            event,
            facts,
            rendered: [OnceLock::new(), OnceLock::new()],
        }
    }

    /// What `viewer` is to the event's ticket; `None`: nothing.
    pub fn access(&self, viewer: Viewer<'_>) -> Option<Access> {
        match (&self.facts, viewer) {
            (Some(facts), _) => access::access(viewer, facts.view()),
            (None, Viewer::Moderator) => Some(Access::Moderator),
            (None, _) => None,
        }
    }

    /// The event's JSON with the actor shown or hidden, rendered by
    /// `render` the first time either is asked for.
    pub fn json(&self, show_actor: bool, render: impl FnOnce(&Event, bool) -> String) -> &str {
        self.rendered[usize::from(show_actor)].get_or_init(|| render(&self.event, show_actor))
    }
}

/// The hub of one process: cheap to clone.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    sender: broadcast::Sender<Arc<Live>>,
    /// The newest id the hub has sent (stored before the send: see
    /// [`Hub::follow`]).
    published: AtomicI64,
    facts: FactsCache,
    /// Set once the task runs.
    started: OnceCell<()>,
    /// True once the process stops: every stream ends.
    closed: watch::Sender<bool>,
    /// Streams open now, and the most allowed.
    streams: AtomicUsize,
    max_streams: usize,
}

impl Hub {
    /// A hub over `store` that serves at most `max_streams` streams at
    /// once. Its task starts with the first stream.
    pub fn new(store: Arc<dyn Store>, max_streams: usize) -> Hub {
        Hub::with_channel(store, max_streams, CHANNEL)
    }

    /// As [`Hub::new`] with a channel of `capacity` events (tests: a small
    /// one makes a follower fall behind and read the store).
    pub fn with_channel(store: Arc<dyn Store>, max_streams: usize, capacity: usize) -> Hub {
        Hub {
            inner: Arc::new(Inner {
                store,
                sender: broadcast::channel(capacity).0,
                published: AtomicI64::new(0),
                facts: FactsCache::default(),
                started: OnceCell::new(),
                closed: watch::channel(false).0,
                streams: AtomicUsize::new(0),
                max_streams,
            }),
        }
    }

    /// Ends every stream and the hub's task (`parley serve` stopping).
    pub fn close(&self) {
        self.inner.closed.send_replace(true);
    }

    /// Streams open now.
    pub fn streams(&self) -> usize {
        self.inner.streams.load(Ordering::SeqCst)
    }

    /// A place in the log after `after` (`None`: after the newest event:
    /// live events only), or `Ok(None)` when [`Hub::new`]'s `max_streams`
    /// are open already. Starts the hub on first use.
    pub async fn follow(&self, after: Option<i64>) -> Result<Option<Follow>, StoreError> {
        self.start().await?;
        let inner = &self.inner;
        let taken = inner.streams.fetch_add(1, Ordering::SeqCst);
        let slot = StreamSlot(self.inner.clone());
        if taken >= inner.max_streams {
            return Ok(None);
        }
        // Subscribed first, then the mark: an event sent before the
        // subscription has an id at most the mark (the hub stores it
        // before sending) and is replayed from the store; one sent after
        // comes through the channel.
        let live = inner.sender.subscribe();
        let mark = inner.published.load(Ordering::SeqCst);
        let cursor = after.unwrap_or(mark);
        Ok(Some(Follow {
            hub: self.clone(),
            live,
            closed: inner.closed.subscribe(),
            cursor,
            replay_to: mark,
            backlog: VecDeque::new(),
            _slot: slot,
        }))
    }

    async fn start(&self) -> Result<(), StoreError> {
        let inner = &self.inner;
        inner
            .started
            .get_or_try_init(|| async {
                let newest = inner.store.newest_event().await?;
                inner.published.store(newest, Ordering::SeqCst);
                let task = run(
                    Arc::downgrade(inner),
                    inner.store.event_signal(),
                    inner.closed.subscribe(),
                    newest,
                );
                tokio::spawn(task);
                Ok::<_, StoreError>(())
            })
            .await?;
        Ok(())
    }

    fn published(&self) -> i64 {
        self.inner.published.load(Ordering::SeqCst)
    }

    /// The event with its ticket's facts.
    async fn live(&self, event: Event) -> Result<Arc<Live>, StoreError> {
        let facts = self
            .inner
            .facts
            .for_event(&*self.inner.store, &event)
            .await?;
        Ok(Arc::new(Live::new(event, facts)))
    }
}

/// The hub's task: wakes on a commit of this process, on [`POLL`], and
/// sends what is new; ends when the process stops or the hub is gone.
async fn run(
    inner: Weak<Inner>,
    mut signal: watch::Receiver<u64>,
    mut closed: watch::Receiver<bool>,
    mut last: i64,
) {
    let mut signalled = true;
    loop {
        tokio::select! {
            changed = signal.changed(), if signalled => signalled = changed.is_ok(),
            () = tokio::time::sleep(POLL) => {}
            _ = closed.wait_for(|closed| *closed) => return,
        }
        let Some(inner) = inner.upgrade() else {
            return;
        };
        let hub = Hub { inner };
        if let Err(e) = hub.publish_after(&mut last).await {
            tracing::warn!(error = %e, after = last, "event hub: reading the event log failed; trying again");
        }
    }
}

impl Hub {
    /// Sends every event after `last`, in id order, moving `last` along.
    async fn publish_after(&self, last: &mut i64) -> Result<(), StoreError> {
        loop {
            let page = self.inner.store.events_after(*last, PAGE).await?;
            if page.is_empty() {
                return Ok(());
            }
            for event in page {
                let id = event.id;
                let live = self.live(event).await?;
                self.inner.published.store(id, Ordering::SeqCst);
                // No receiver is not an error: nobody is listening now.
                let _ = self.inner.sender.send(live);
                *last = id;
            }
        }
    }
}

/// Counts a stream while it lives.
struct StreamSlot(Arc<Inner>);

impl Drop for StreamSlot {
    fn drop(&mut self) {
        self.0.streams.fetch_sub(1, Ordering::SeqCst);
    }
}

/// One stream's place in the log: [`Follow::next`] hands out every event
/// after it, in id order, each once.
pub struct Follow {
    hub: Hub,
    live: broadcast::Receiver<Arc<Live>>,
    closed: watch::Receiver<bool>,
    /// The newest id passed (handed out, whoever may see it).
    cursor: i64,
    /// Read the store up to here before taking the hub's events.
    replay_to: i64,
    /// Events read from the store, not handed out yet.
    backlog: VecDeque<Arc<Live>>,
    _slot: StreamSlot,
}

impl Follow {
    /// The newest id handed out.
    pub fn cursor(&self) -> i64 {
        self.cursor
    }

    /// The next event after the cursor; `None` once the process stops.
    /// Errors are the store's, while replaying.
    pub async fn next(&mut self) -> Result<Option<Arc<Live>>, StoreError> {
        loop {
            if let Some(live) = self.backlog.pop_front() {
                self.cursor = live.event.id;
                return Ok(Some(live));
            }
            if self.cursor < self.replay_to {
                self.replay().await?;
                continue;
            }
            tokio::select! {
                received = self.live.recv() => match received {
                    Ok(live) if live.event.id > self.cursor => {
                        self.cursor = live.event.id;
                        return Ok(Some(live));
                    }
                    // Replayed from the store already.
                    Ok(_) => {}
                    // The channel dropped events for us: read them.
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        self.replay_to = self.hub.published();
                    }
                    Err(broadcast::error::RecvError::Closed) => return Ok(None),
                },
                _ = self.closed.wait_for(|closed| *closed) => return Ok(None),
            }
        }
    }

    /// Reads a page after the cursor from the store into the backlog.
    async fn replay(&mut self) -> Result<(), StoreError> {
        let store = &*self.hub.inner.store;
        let page = store.events_after(self.cursor, PAGE).await?;
        if page.is_empty() {
            // Nothing there up to the mark (pruned): follow live.
            self.replay_to = self.cursor;
        }
        for event in page {
            self.backlog.push_back(self.hub.live(event).await?);
        }
        Ok(())
    }
}

/// Each ticket's access facts, shared by the hub and the followers. An
/// entry remembers the event it was read for (`as_of`): an event that
/// may change who sees the ticket ([`Event::changes_access`]) takes
/// facts read after it, and an entry never goes back to older facts.
#[derive(Default)]
struct FactsCache {
    entries: Mutex<HashMap<i64, Cached>>,
}

struct Cached {
    as_of: i64,
    read_at: Instant,
    facts: Option<Arc<Facts>>,
}

impl FactsCache {
    async fn for_event(
        &self,
        store: &dyn Store,
        event: &Event,
    ) -> Result<Option<Arc<Facts>>, StoreError> {
        let fresh = event.changes_access();
        if let Some(hit) = self.get(event.ticket, |c| {
            (!fresh || c.as_of >= event.id) && c.read_at.elapsed() < FACTS_TTL
        }) {
            return Ok(hit);
        }
        let facts = Facts::read(store, event.ticket).await?.map(Arc::new);
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= FACTS_MAX {
            entries.clear();
        }
        let newer = entries
            .get(&event.ticket)
            .is_none_or(|c| c.as_of <= event.id);
        if newer {
            let cached = Cached {
                as_of: event.id,
                read_at: Instant::now(),
                facts: facts.clone(),
            };
            entries.insert(event.ticket, cached);
        }
        Ok(facts)
    }

    fn get(&self, ticket: i64, usable: impl Fn(&Cached) -> bool) -> Option<Option<Arc<Facts>>> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(&ticket)
            .filter(|c| usable(c))
            .map(|c| c.facts.clone())
    }
}
