//! Forwarding a ticket to a staff address, in one transaction: the address
//! joins the ticket as `staff` (who then answers for the seller side by
//! replying to the mail), a `transcript` outbox row to it with a fresh
//! reply token and Message-ID, the audit entry `ticket.forwarded`
//! {to, note} the composer reads the note from, and the `ticket.forwarded`
//! event for the seller side.

use crate::store::sql::sql_impl;

use super::assign::Known;
use crate::store::sql::get;
use crate::store::{
    Audience, EventKind, NewEvent, NewNotification, StoreError, TRANSCRIPT, now_ms,
};
use crate::tickets::Role;
use crate::token::Minter;

/// A request to forward a ticket to a staff address (`tickets forward`).
#[derive(Debug, Clone)]
pub struct Forward {
    pub ticket: i64,
    /// The address, normalized. Not a participant yet: it joins the ticket
    /// as `staff`; a seller-side participant already: reused.
    pub to: String,
    /// A note for the recipient, kept in the audit entry.
    pub note: Option<String>,
    /// Who did it, for the audit log.
    pub actor: String,
}

/// What a [`Forward`] did: a verdict, not an error, as [`super::Assignment`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Forwarding {
    /// Audited (`ticket.forwarded`) and a `transcript` row written.
    Forwarded {
        /// The participant the address is on the ticket.
        participant: i64,
        /// It joined the ticket now.
        added: bool,
        /// The outbox row of the transcript.
        notification: i64,
        /// The newest message the transcript covers (the row's `message`);
        /// `None` when the ticket has none.
        message: Option<i64>,
    },
    /// Refused: the address is the ticket's client.
    IsClient,
}

sql_impl! {
    impl SqlStore {
        /// See [`super::TicketStore::forward`].
        pub(super) async fn forward_ticket(
            &self,
            request: &Forward,
            minter: &Minter,
        ) -> Result<Forwarding, StoreError> {
            let (number, to) = (request.ticket, request.to.as_str());
            let now = now_ms();
            let mut tx = self.write.begin_with(DB::BEGIN_WRITE).await?;
            let missing = || StoreError::NotFound(format!("ticket #{number} does not exist"));
            let row = sqlx::query("SELECT deleted_at FROM tickets WHERE number = $1")
                .bind(number)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or_else(missing)?;
            if get::<Option<i64>, _>(&row, "deleted_at")?.is_some() {
                return Err(missing());
            }

            let (participant, added) = match Self::known(&mut tx, number, to).await? {
                Known::SellerSide(id) => (id, false),
                // A transcript to the client would hand them the seller side's
                // reply address: their answers would count as the seller's.
                Known::Client => return Ok(Forwarding::IsClient),
                Known::Absent => {
                    let row = sqlx::query(
                        "INSERT INTO participants (ticket, address, display_name, role, created_at) \
                         VALUES ($1, $2, NULL, $3, $4) RETURNING id",
                    )
                    .bind(number)
                    .bind(to)
                    .bind(Role::Staff.as_str())
                    .bind(now)
                    .fetch_one(&mut *tx)
                    .await?;
                    let id = get::<i64, _>(&row, "id")?;
                    Self::index_participant(&mut tx, id).await?;
                    (id, true)
                }
            };

            // The transcript covers the ticket up to its newest message (NULL: no
            // message yet); what arrives later reaches the new participant as any
            // other notification does.
            let last: Option<i64> = get(
                &sqlx::query("SELECT MAX(id) AS last FROM messages WHERE ticket = $1")
                    .bind(number)
                    .fetch_one(&mut *tx)
                    .await?,
                "last",
            )?;
            let notification = Self::write_notification(
                &mut tx,
                minter,
                now,
                NewNotification {
                    ticket: number,
                    message: last,
                    participant,
                    recipient: to,
                    kind: TRANSCRIPT,
                },
            )
            .await?;

            let detail = serde_json::json!({ "to": to, "note": request.note }).to_string();
            Self::audit(
                &mut tx,
                now,
                &request.actor,
                "ticket.forwarded",
                (Some(number), None),
                &detail,
            )
            .await?;
            // For the seller side alone (the client has no business with the
            // seller's staff); the note is the recipient's, never in the event.
            let event = NewEvent {
                kind: EventKind::TicketForwarded,
                ticket: number,
                message: last,
                actor: request.actor.clone(),
                data: serde_json::json!({ "to": to }),
                audience: Audience::SellerSide,
            };
            Self::append_events(&mut tx, now, &[event]).await?;
            tx.commit().await?;
            self.events.committed();
            Ok(Forwarding::Forwarded {
                participant,
                added,
                notification,
                message: last,
            })
        }
    }
}
