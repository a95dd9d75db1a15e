//! The ticket domain: statuses, roles and how a message moves a ticket.
//!
//! Pure rules, no I/O: intake and the CLI decide with these, the store
//! records what they decided.

use serde::{Deserialize, Serialize};

/// Where a conversation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Nobody on the seller side has answered yet.
    Open,
    /// The seller side answered; the ball is with the client.
    AwaitingClient,
    /// The client wrote; the ball is with the seller side.
    AwaitingSeller,
    Resolved,
    Closed,
}

impl Status {
    pub const ALL: [Status; 5] = [
        Status::Open,
        Status::AwaitingClient,
        Status::AwaitingSeller,
        Status::Resolved,
        Status::Closed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::AwaitingClient => "awaiting_client",
            Status::AwaitingSeller => "awaiting_seller",
            Status::Resolved => "resolved",
            Status::Closed => "closed",
        }
    }

    /// Resolved and closed tickets are finished; a client writing again
    /// is handled by [`OnClosedReply`].
    pub fn is_finished(self) -> bool {
        matches!(self, Status::Resolved | Status::Closed)
    }
}

impl std::str::FromStr for Status {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Status::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Status::ALL.iter().map(|s| s.as_str()).collect();
                format!("unknown status {s:?} (one of: {})", names.join(", "))
            })
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which side of the conversation a participant is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The buyer or bidder.
    Client,
    /// The seller or desk (a queue's staff addresses).
    Seller,
    /// Someone a ticket was forwarded to; answers for the seller side.
    Staff,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Client => "client",
            Role::Seller => "seller",
            Role::Staff => "staff",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        [Role::Client, Role::Seller, Role::Staff]
            .into_iter()
            .find(|r| r.as_str() == s)
    }

    pub fn is_seller_side(self) -> bool {
        !matches!(self, Role::Client)
    }
}

/// What a client message on a resolved or closed ticket does
/// (`tickets.on_closed_reply`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnClosedReply {
    /// The ticket is reopened (awaiting_seller).
    Reopen,
    /// A new ticket is opened in the same queue.
    NewTicket,
    /// The message is refused.
    Reject,
}

/// What a message from `author` does to a ticket in `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// Status becomes the given one (may equal the current one).
    To(Status),
    /// Open a new ticket instead (client wrote on a finished ticket).
    NewTicket,
    /// Refuse the message (client wrote on a finished ticket).
    Reject,
}

/// The automatic status rule: a client message puts the ball with the
/// seller side, a seller-side message with the client. A seller-side
/// message on a finished ticket leaves it finished (a closing remark).
pub fn on_message(status: Status, author: Role, on_closed: OnClosedReply) -> Transition {
    match (author.is_seller_side(), status.is_finished()) {
        (true, true) => Transition::To(status),
        (true, false) => Transition::To(Status::AwaitingClient),
        (false, false) => Transition::To(Status::AwaitingSeller),
        (false, true) => match on_closed {
            OnClosedReply::Reopen => Transition::To(Status::AwaitingSeller),
            OnClosedReply::NewTicket => Transition::NewTicket,
            OnClosedReply::Reject => Transition::Reject,
        },
    }
}

/// Whether a ticket is archived once its status moves from `from` to `to`;
/// `None`: as it was. The one rule relating status and archive, applied by
/// every write that moves a status (`tickets status`, a message, a
/// moderator's decision): closing archives; a conversation that comes
/// alive again (`open`, awaiting either side: reopened by a status
/// change or by a message) comes back from the archive; resolving, or no
/// change, leaves it where it is. Archiving and unarchiving by hand move
/// no status (a closed conversation may be unarchived to keep it in view).
pub fn archived_on(from: Status, to: Status) -> Option<bool> {
    if from == to {
        return None;
    }
    match to {
        Status::Closed => Some(true),
        Status::Resolved => None,
        Status::Open | Status::AwaitingClient | Status::AwaitingSeller => Some(false),
    }
}

/// A participant as the notification rule sees it: (id, address, role).
pub type Person = (i64, String, Role);

/// Who is told of a new message by `author` (a participant id, `None` when
/// the sender is none): everyone on the other side. On the seller side,
/// when the ticket has an assignee who is one of its participants, only
/// the assignee; otherwise every seller-side participant.
pub fn notified<'a>(
    people: &'a [Person],
    author: Option<i64>,
    assignee: Option<&str>,
) -> Vec<&'a Person> {
    let author_side = people
        .iter()
        .find(|p| Some(p.0) == author)
        .map(|p| p.2.is_seller_side());
    let assigned = assignee.and_then(|a| {
        people
            .iter()
            .find(|p| p.1 == a && p.2.is_seller_side())
            .map(|p| p.0)
    });
    people
        .iter()
        .filter(|p| Some(p.2.is_seller_side()) != author_side)
        .filter(|p| !p.2.is_seller_side() || assigned.is_none_or(|id| id == p.0))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use OnClosedReply::*;
    use Role::*;
    use Status::*;

    #[test]
    fn transitions() {
        let table = [
            (Open, Client, Reopen, Transition::To(AwaitingSeller)),
            (Open, Seller, Reopen, Transition::To(AwaitingClient)),
            (Open, Staff, Reopen, Transition::To(AwaitingClient)),
            (
                AwaitingClient,
                Client,
                Reopen,
                Transition::To(AwaitingSeller),
            ),
            (
                AwaitingSeller,
                Seller,
                Reopen,
                Transition::To(AwaitingClient),
            ),
            (
                AwaitingSeller,
                Client,
                Reject,
                Transition::To(AwaitingSeller),
            ),
            (Resolved, Client, Reopen, Transition::To(AwaitingSeller)),
            (Closed, Client, Reopen, Transition::To(AwaitingSeller)),
            (Closed, Client, NewTicket, Transition::NewTicket),
            (Resolved, Client, Reject, Transition::Reject),
            (Closed, Seller, Reopen, Transition::To(Closed)),
            (Resolved, Staff, Reject, Transition::To(Resolved)),
        ];
        for (status, author, on_closed, want) in table {
            assert_eq!(
                on_message(status, author, on_closed),
                want,
                "{status} {author:?} {on_closed:?}"
            );
        }
    }

    #[test]
    fn closing_archives_and_coming_alive_unarchives() {
        let table = [
            (Open, Closed, Some(true)),
            (Resolved, Closed, Some(true)),
            (Closed, AwaitingSeller, Some(false)),
            (Closed, Open, Some(false)),
            (AwaitingClient, AwaitingSeller, Some(false)),
            (Closed, Resolved, None),
            (AwaitingSeller, Resolved, None),
            (Closed, Closed, None),
            (AwaitingClient, AwaitingClient, None),
        ];
        for (from, to, want) in table {
            assert_eq!(archived_on(from, to), want, "{from} -> {to}");
        }
    }

    #[test]
    fn status_names_round_trip() {
        for status in Status::ALL {
            assert_eq!(status.as_str().parse::<Status>(), Ok(status));
        }
        assert!("pending".parse::<Status>().is_err());
    }

    #[test]
    fn notified_goes_to_the_assignee_alone() {
        let people: Vec<Person> = vec![
            (1, "maria@b.example".into(), Client),
            (2, "agent@s.example".into(), Seller),
            (3, "clerk@s.example".into(), Staff),
        ];
        let ids = |v: Vec<&Person>| v.iter().map(|p| p.0).collect::<Vec<_>>();
        assert_eq!(ids(notified(&people, Some(1), None)), [2, 3]);
        assert_eq!(
            ids(notified(&people, Some(1), Some("clerk@s.example"))),
            [3]
        );
        // An assignee who is no seller-side participant: everyone, as before.
        assert_eq!(
            ids(notified(&people, Some(1), Some("maria@b.example"))),
            [2, 3]
        );
        assert_eq!(ids(notified(&people, Some(1), Some("x@s.example"))), [2, 3]);
        // The seller side writes: the client, whoever is assigned.
        assert_eq!(
            ids(notified(&people, Some(3), Some("clerk@s.example"))),
            [1]
        );
        // No known author: both sides, the seller side narrowed.
        assert_eq!(
            ids(notified(&people, None, Some("agent@s.example"))),
            [1, 2]
        );
    }
}
