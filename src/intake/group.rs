//! Group commit: many concurrent deliveries, one transaction, one flush.
//!
//! Deliveries hand their [`Post`] to the committer tasks. A committer
//! takes whatever has queued up while the transactions before were
//! running (up to `max_batch`) and writes it with
//! [`TicketStore::post_many`](crate::store::TicketStore::post_many); no
//! delivery waits for a timer, and under load each disk flush carries many
//! messages. One committer by default; on PostgreSQL several may run, so
//! that a transaction's round trips and inserts overlap with another's
//! flush (`intake.commit_concurrency`). Two transactions racing on one
//! ticket are the case of two instances on one store: a duplicate is
//! refused by a unique index and its transaction runs again.
//! If a batch fails, every post in it is retried alone, so one bad post
//! fails only its own delivery.

use std::sync::Arc;

use tokio::sync::{Mutex, mpsc, oneshot};

use crate::store::{Post, Posted, Store, StoreError};
use crate::token::Minter;

type Reply = oneshot::Sender<Result<Posted, StoreError>>;

/// A handle to the committer task; cheap to clone.
#[derive(Clone)]
pub struct GroupCommit {
    jobs: mpsc::Sender<(Post, Reply)>,
}

impl GroupCommit {
    /// Starts `committers` committer tasks on the current tokio runtime.
    /// They stop when every handle is dropped.
    pub fn spawn(
        store: Arc<dyn Store>,
        minter: Minter,
        max_batch: usize,
        committers: usize,
    ) -> Self {
        let max_batch = max_batch.max(1);
        let committers = committers.max(1);
        let (jobs, rx) = mpsc::channel(max_batch * 4 * committers);
        let rx = Arc::new(Mutex::new(rx));
        for _ in 0..committers {
            tokio::spawn(run(store.clone(), minter.clone(), rx.clone(), max_batch));
        }
        GroupCommit { jobs }
    }

    /// Commits `post` with whatever else is waiting; returns once it is
    /// durable (or failed).
    pub async fn post(&self, post: Post) -> Result<Posted, StoreError> {
        let (reply, answer) = oneshot::channel();
        let stopped = || StoreError::Unavailable(sqlx::Error::PoolClosed);
        self.jobs.send((post, reply)).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

async fn run(
    store: Arc<dyn Store>,
    minter: Minter,
    rx: Arc<Mutex<mpsc::Receiver<(Post, Reply)>>>,
    max_batch: usize,
) {
    let mut batch = Vec::with_capacity(max_batch);
    // The receiver is held only while waiting for work: the next committer
    // takes what queues up while this one writes.
    while rx.lock().await.recv_many(&mut batch, max_batch).await > 0 {
        let (posts, replies): (Vec<Post>, Vec<Reply>) = batch.drain(..).unzip();
        let started = std::time::Instant::now();
        let committed = store.post_many(&posts, &minter).await;
        tracing::trace!(
            size = posts.len(),
            micros = started.elapsed().as_micros() as u64,
            "group commit"
        );
        match committed {
            Ok(results) => {
                for (reply, result) in replies.into_iter().zip(results) {
                    let _ = reply.send(Ok(result));
                }
            }
            Err(e) if posts.len() == 1 => {
                let _ = replies.into_iter().next().map(|r| r.send(Err(e)));
            }
            Err(e) => {
                tracing::warn!(error = %e, size = posts.len(), "group commit failed; committing one by one");
                for (post, reply) in posts.iter().zip(replies) {
                    let _ = reply.send(store.post(post, &minter).await);
                }
            }
        }
    }
}
