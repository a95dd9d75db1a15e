//! Giving a ticket to someone on the seller side, in one transaction: the
//! eligibility check, the staff participant a queue's staff address
//! becomes, the assignee, the audit entry and the `ticket.assigned` event.

use crate::store::sql::sql_impl;

use crate::store::sql::get;
use crate::store::{Audience, EventKind, NewEvent, StoreError, now_ms};
use crate::tickets::Role;

/// A request to give a ticket to someone on the seller side.
#[derive(Debug, Clone)]
pub struct Assign {
    pub ticket: i64,
    /// The new assignee, normalized: a seller-side participant of the
    /// ticket or a staff address of its queue (who then joins the ticket
    /// as a `staff` participant).
    pub address: String,
    /// Who did it, for the audit log.
    pub actor: String,
    /// Take it from whoever has it. Without, a ticket assigned to someone
    /// else is refused ([`Assignment::Taken`]).
    pub replace: bool,
}

/// What an [`Assign`] did: a verdict, not an error, so that callers map
/// refusals to their own answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Assignment {
    /// Assigned, audited (`ticket.assigned`). `added`: the address joined
    /// the ticket now, as participant `participant`.
    Assigned {
        from: Option<String>,
        participant: i64,
        added: bool,
    },
    /// It was assigned to that address already: nothing written.
    Unchanged,
    /// Refused: someone else has it (and `replace` was not set).
    Taken { by: String },
    /// Refused: the address is neither a seller-side participant of the
    /// ticket nor a staff address of its queue.
    NotEligible,
}

/// What an address is on a ticket.
pub(super) enum Known {
    Absent,
    /// On the seller side (seller or staff): its participant id.
    SellerSide(i64),
    Client,
}

sql_impl! {
    impl SqlStore {
        /// What `address` is on ticket `number`, read in the caller's transaction.
        pub(super) async fn known(
            conn: &mut DB::Connection,
            number: i64,
            address: &str,
        ) -> Result<Known, StoreError> {
            let row =
                sqlx::query("SELECT id, role FROM participants WHERE ticket = $1 AND address = $2")
                    .bind(number)
                    .bind(address)
                    .fetch_optional(&mut *conn)
                    .await?;
            let Some(row) = row else {
                return Ok(Known::Absent);
            };
            let role: String = get(&row, "role")?;
            Ok(if Role::parse(&role).is_some_and(Role::is_seller_side) {
                Known::SellerSide(get(&row, "id")?)
            } else {
                Known::Client
            })
        }

        /// See [`super::TicketStore::assign`].
        pub(super) async fn assign_ticket(
            &self,
            request: &Assign,
        ) -> Result<Assignment, StoreError> {
            let (number, to) = (request.ticket, request.address.as_str());
            let now = now_ms();
            let mut tx = self.write.begin_with(DB::BEGIN_WRITE).await?;
            let row =
                sqlx::query("SELECT assignee, queue_id, deleted_at FROM tickets WHERE number = $1")
                    .bind(number)
                    .fetch_optional(&mut *tx)
                    .await?;
            let missing = || StoreError::NotFound(format!("ticket #{number} does not exist"));
            let row = row.ok_or_else(missing)?;
            if get::<Option<i64>, _>(&row, "deleted_at")?.is_some() {
                return Err(missing());
            }
            let from: Option<String> = get(&row, "assignee")?;
            let queue: i64 = get(&row, "queue_id")?;
            if from.as_deref() == Some(to) {
                return Ok(Assignment::Unchanged);
            }
            if let (Some(by), false) = (&from, request.replace) {
                return Ok(Assignment::Taken { by: by.clone() });
            }

            let (participant, added) = match Self::known(&mut tx, number, to).await? {
                Known::SellerSide(id) => (id, false),
                Known::Client => return Ok(Assignment::NotEligible),
                Known::Absent => {
                    // A staff address of the ticket's queue joins it as staff, under
                    // the queue's name, as the seller side's addresses do.
                    let added = sqlx::query(
                        "INSERT INTO participants (ticket, address, display_name, role, created_at) \
                         SELECT $1, a.address, q.display_name, 'staff', $2 FROM queue_addresses a \
                         JOIN queues q ON q.id = a.queue_id \
                         WHERE a.queue_id = $3 AND a.kind = 'staff' AND a.address = $4 RETURNING id",
                    )
                    .bind(number)
                    .bind(now)
                    .bind(queue)
                    .bind(to)
                    .fetch_optional(&mut *tx)
                    .await?;
                    match added {
                        Some(row) => {
                            let id = get::<i64, _>(&row, "id")?;
                            Self::index_participant(&mut tx, id).await?;
                            (id, true)
                        }
                        None => return Ok(Assignment::NotEligible),
                    }
                }
            };

            // Only from what we read: of two people taking it at once (PostgreSQL
            // reads do not lock), the second finds it changed.
            let updated = sqlx::query(
                "UPDATE tickets SET assignee = $1, updated_at = $2 \
                 WHERE number = $3 AND COALESCE(assignee, '') = $4 RETURNING number",
            )
            .bind(to)
            .bind(now)
            .bind(number)
            .bind(from.as_deref().unwrap_or(""))
            .fetch_optional(&mut *tx)
            .await?;
            if updated.is_none() {
                return Err(StoreError::Conflict(format!(
                    "ticket #{number} was assigned meanwhile; look again"
                )));
            }
            let detail = serde_json::json!({ "from": from, "to": to });
            Self::audit(
                &mut tx,
                now,
                &request.actor,
                "ticket.assigned",
                (Some(number), None),
                &detail.to_string(),
            )
            .await?;
            let event = NewEvent {
                kind: EventKind::TicketAssigned,
                ticket: number,
                message: None,
                actor: request.actor.clone(),
                data: detail,
                audience: Audience::Ticket,
            };
            Self::append_events(&mut tx, now, &[event]).await?;
            tx.commit().await?;
            self.events.committed();
            Ok(Assignment::Assigned {
                from,
                participant,
                added,
            })
        }
    }
}
