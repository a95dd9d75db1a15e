//! Who may see what, decided in one place for every door (the HTTP API,
//! its live events, search, the console pages).
//!
//! Pure rules over stored tickets and messages, as [`crate::tickets`] is
//! for statuses and [`crate::moderation`] for what the other party sees:
//!
//! - A **moderator** (or admin) sees every conversation and every message,
//!   held and rejected ones included, with the original text, the policy's
//!   hits and the elided quotes.
//! - The **marketplace** (a platform key that names no user) sees every
//!   conversation as the parties see it: shown messages only, each in the
//!   text the other party sees.
//! - A **person** (a user token, or a platform key acting for a user) sees
//!   the conversations they sit in: as a participant (by address), or on
//!   the seller side as a staff address of the ticket's queue. Of a shown
//!   message they see what the other party sees ([`moderation::visible_text`]);
//!   of their own messages, what they wrote, held or rejected ones too
//!   (marked as such: nobody learns anything from their own words). A
//!   client does not see a deleted conversation; the seller side does (the
//!   trash), to restore it.
//! - Of the event log ([`sees_event`]), a viewer sees the events of the
//!   conversations they may see, narrowed by each event's audience: a
//!   held message's events reach moderators and its author alone; a
//!   forward, the seller side (with the marketplace and moderators); a
//!   read marker, its reader alone.
//!
//! Who may write in a conversation ([`may_write`]): the people who see
//! it; a key writes only as a person.
//!
//! Who may do what to a conversation besides writing in it ([`may`]): a
//! moderator and the marketplace anything but take it (taking needs a
//! person); the seller side everything; a client only mark it resolved
//! (their question is answered), nothing that files, routes or deletes
//! the seller side's work.

use crate::address;
use crate::moderation;
use crate::store::{Audience, Message, Moderation, Participant, Ticket};
use crate::tickets::{Role, Status};

/// Who is looking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Viewer<'a> {
    /// A moderator or an admin.
    Moderator,
    /// The marketplace backend acting as itself.
    Marketplace,
    /// One person, by their address.
    Person { address: &'a str },
}

/// Which side of a conversation a person is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Client,
    /// A seller or staff participant, or a staff address of the queue.
    Seller,
}

/// What a viewer is to one ticket, when they may see it at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Moderator,
    Marketplace,
    /// A person on `side`; `participant` is their row on the ticket, `None`
    /// for a queue's staff address that has not joined it yet.
    Party {
        side: Side,
        participant: Option<i64>,
    },
}

/// What is known of a ticket to decide access.
#[derive(Debug, Clone, Copy)]
pub struct TicketFacts<'a> {
    pub ticket: &'a Ticket,
    pub participants: &'a [Participant],
    /// The staff addresses of the ticket's queue.
    pub queue_staff: &'a [String],
}

/// What `viewer` is to the ticket; `None`: they may not see it.
pub fn access(viewer: Viewer<'_>, facts: TicketFacts<'_>) -> Option<Access> {
    let address = match viewer {
        Viewer::Moderator => return Some(Access::Moderator),
        Viewer::Marketplace => return Some(Access::Marketplace),
        Viewer::Person { address } => address::normalize(address),
    };
    let row = facts.participants.iter().find(|p| p.address == address);
    let side = match row.map(|p| p.role) {
        Some(Role::Client) => Side::Client,
        Some(Role::Seller | Role::Staff) => Side::Seller,
        None if facts.queue_staff.contains(&address) => Side::Seller,
        None => return None,
    };
    if facts.ticket.deleted && side == Side::Client {
        return None;
    }
    Some(Access::Party {
        side,
        participant: row.map(|p| p.id),
    })
}

/// How a message stands, as the viewer may know it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Delivered to the other side.
    Shown,
    /// Waits for a moderator.
    Held,
    /// A moderator kept it from the other side.
    Rejected,
}

/// One message as a viewer sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageView<'m> {
    /// The text to show this viewer.
    pub text: &'m str,
    pub standing: Standing,
    /// The viewer wrote it.
    pub own: bool,
    /// The original text, the policy's hits (a JSON array) and the elided
    /// quotes: for moderators only.
    pub moderation: Option<ModeratorView<'m>>,
}

/// What only a moderator sees of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModeratorView<'m> {
    pub original: &'m str,
    pub hits: &'m str,
    pub elided: &'m str,
}

fn standing(message: &Message) -> Standing {
    match message.moderation {
        Moderation::Held => Standing::Held,
        Moderation::Rejected => Standing::Rejected,
        _ => Standing::Shown,
    }
}

/// `message` as seen with `access`; `None`: this viewer does not see it
/// (someone else's message that is held or rejected).
pub fn message<'m>(access: Access, message: &'m Message) -> Option<MessageView<'m>> {
    let standing = standing(message);
    match access {
        Access::Moderator => Some(MessageView {
            text: moderation::visible_text(message).unwrap_or(&message.reply_text),
            standing,
            own: false,
            moderation: Some(ModeratorView {
                original: &message.reply_text,
                hits: &message.policy_hits,
                elided: &message.elided,
            }),
        }),
        Access::Marketplace => Some(MessageView {
            text: moderation::visible_text(message)?,
            standing,
            own: false,
            moderation: None,
        }),
        Access::Party { participant, .. } => {
            let own = participant.is_some() && message.author == participant;
            let text = match own {
                true => &message.reply_text,
                false => moderation::visible_text(message)?,
            };
            Some(MessageView {
                text,
                standing,
                own,
                moderation: None,
            })
        }
    }
}

/// Whether a message counts as unread for a person with `access`: shown
/// to them and not their own. (A moderator and the marketplace have no
/// read horizon of their own.)
pub fn counts_as_unread(access: Access, message: &Message) -> bool {
    match access {
        Access::Party { .. } => self::message(access, message).is_some_and(|v| !v.own),
        Access::Moderator | Access::Marketplace => false,
    }
}

/// What someone does to a conversation besides writing in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deed {
    /// Set its status.
    Status(Status),
    /// Become its assignee (a person on the seller side).
    Take,
    /// Give it to someone on the seller side.
    Assign,
    /// Send its transcript to a staff address.
    Forward,
    Delete,
    Restore,
    Archive,
    Unarchive,
}

/// Whether a viewer with `access` may do `deed` to the conversation.
///
/// A client may mark their conversation `resolved` and nothing else: a
/// buyer whose question is answered says so (as help desks let a
/// requester mark a request solved; their next message reopens it, by the
/// usual rule), but the status they may set never hides work from the
/// seller side (closing archives it; only the seller side closes), and
/// assignment, forwarding, the archive and the trash are the seller
/// side's own filing of its work.
pub fn may(access: Access, deed: Deed) -> bool {
    match access {
        Access::Moderator | Access::Marketplace => deed != Deed::Take,
        Access::Party {
            side: Side::Seller, ..
        } => true,
        Access::Party {
            side: Side::Client, ..
        } => deed == Deed::Status(Status::Resolved),
    }
}

/// Whether a viewer with `access` may write in the conversation: a person
/// who sees it (a client, the seller side). A moderator and the
/// marketplace see it but write only as a person (the API's `?as=`): a
/// message needs an author the other side can answer.
pub fn may_write(access: Access) -> bool {
    matches!(access, Access::Party { .. })
}

/// Whether `viewer`, who is `access` to an event's ticket (`None`: they
/// may not see the ticket), sees an event meant for `audience`.
pub fn sees_event(viewer: Viewer<'_>, access: Option<Access>, audience: &Audience) -> bool {
    let Some(access) = access else {
        return false;
    };
    let is = |person: &str| match viewer {
        Viewer::Person { address } => address::normalize(address) == person,
        _ => false,
    };
    match audience {
        Audience::Ticket => true,
        Audience::SellerSide => !matches!(
            access,
            Access::Party {
                side: Side::Client,
                ..
            }
        ),
        // As with the message itself: the marketplace sees shown ones only.
        Audience::Held { author } => {
            access == Access::Moderator || author.as_deref().is_some_and(is)
        }
        Audience::Reader { address } => is(address),
    }
}

/// Whether the marketplace sees an event of `ticket` (`None`: no such
/// ticket) meant for `audience`: what a webhook may be sent. The
/// marketplace's access to a ticket does not depend on who sits in it,
/// so the ticket alone decides; the rules are [`access`] and
/// [`sees_event`], as for the marketplace's event stream.
pub fn marketplace_sees_event(ticket: Option<&Ticket>, audience: &Audience) -> bool {
    let access = ticket.and_then(|ticket| {
        let facts = TicketFacts {
            ticket,
            participants: &[],
            queue_staff: &[],
        };
        access(Viewer::Marketplace, facts)
    });
    sees_event(Viewer::Marketplace, access, audience)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Direction;

    fn ticket(deleted: bool) -> Ticket {
        Ticket {
            number: 7,
            queue: "desk".into(),
            subject: "Oak sideboard".into(),
            status: Status::Open,
            assignee: None,
            item_ref: None,
            item_title: None,
            item_url: None,
            auction_ref: None,
            auction_title: None,
            created_at: 0,
            updated_at: 0,
            archived: false,
            deleted,
            waiting_since: None,
        }
    }

    fn participant(id: i64, address: &str, role: Role) -> Participant {
        Participant {
            id,
            ticket: 7,
            address: address.into(),
            display_name: None,
            user_id: None,
            role,
            failing_since: None,
        }
    }

    fn held(id: i64, author: i64) -> Message {
        Message {
            id,
            ticket: 7,
            author: Some(author),
            direction: Direction::Inbound,
            reply_text: "Call 0151 2345 6789, pay by Venmo".into(),
            html: None,
            raw_id: None,
            message_id: None,
            matched_by: "token".into(),
            flags: Vec::new(),
            auto: "none".into(),
            elided: "> earlier".into(),
            signature: String::new(),
            created_at: 0,
            policy_action: "hold".into(),
            policy_hits: r#"[{"rule":"phone","action":"redact"}]"#.into(),
            redacted_text: Some("Call [contact removed], pay by [payment removed]".into()),
            masked_text: Some("Call [contact removed], pay by Venmo".into()),
            moderation: Moderation::Held,
        }
    }

    const STAFF: &[&str] = &["desk-staff@seller.example"];

    fn people() -> Vec<Participant> {
        vec![
            participant(1, "maria@buyer.example", Role::Client),
            participant(2, "agent@seller.example", Role::Seller),
        ]
    }

    fn facts<'a>(
        ticket: &'a Ticket,
        people: &'a [Participant],
        staff: &'a [String],
    ) -> TicketFacts<'a> {
        TicketFacts {
            ticket,
            participants: people,
            queue_staff: staff,
        }
    }

    #[test]
    fn who_sees_a_ticket() {
        let staff: Vec<String> = STAFF.iter().map(|s| s.to_string()).collect();
        let people = people();
        for deleted in [false, true] {
            let t = ticket(deleted);
            let f = facts(&t, &people, &staff);
            assert_eq!(access(Viewer::Moderator, f), Some(Access::Moderator));
            assert_eq!(access(Viewer::Marketplace, f), Some(Access::Marketplace));
            let client = access(
                Viewer::Person {
                    address: "Maria@Buyer.example",
                },
                f,
            );
            assert_eq!(
                client,
                (!deleted).then_some(Access::Party {
                    side: Side::Client,
                    participant: Some(1)
                }),
                "a client does not see a deleted ticket"
            );
            assert_eq!(
                access(
                    Viewer::Person {
                        address: "agent@seller.example"
                    },
                    f
                ),
                Some(Access::Party {
                    side: Side::Seller,
                    participant: Some(2)
                })
            );
            assert_eq!(
                access(Viewer::Person { address: STAFF[0] }, f),
                Some(Access::Party {
                    side: Side::Seller,
                    participant: None
                }),
                "a queue's staff address sees its tickets"
            );
            assert_eq!(
                access(
                    Viewer::Person {
                        address: "eve@elsewhere.example"
                    },
                    f
                ),
                None
            );
        }
    }

    #[test]
    fn who_may_do_what() {
        let client = Access::Party {
            side: Side::Client,
            participant: Some(1),
        };
        let seller = Access::Party {
            side: Side::Seller,
            participant: None,
        };
        let mut deeds = vec![
            Deed::Take,
            Deed::Assign,
            Deed::Forward,
            Deed::Delete,
            Deed::Restore,
            Deed::Archive,
            Deed::Unarchive,
        ];
        deeds.extend(Status::ALL.map(Deed::Status));
        for deed in deeds {
            assert!(may(seller, deed), "{deed:?}");
            let keys = deed != Deed::Take;
            assert_eq!(may(Access::Moderator, deed), keys, "{deed:?}");
            assert_eq!(may(Access::Marketplace, deed), keys, "{deed:?}");
            let resolve = deed == Deed::Status(Status::Resolved);
            assert_eq!(may(client, deed), resolve, "{deed:?}");
        }
        // Writing: the parties; the keys only as a person.
        assert!(may_write(client) && may_write(seller));
        assert!(!may_write(Access::Moderator) && !may_write(Access::Marketplace));
    }

    #[test]
    fn who_sees_a_message() {
        let client = Access::Party {
            side: Side::Client,
            participant: Some(1),
        };
        let seller = Access::Party {
            side: Side::Seller,
            participant: Some(2),
        };
        let mut m = held(10, 1);
        // Held: its author sees what they wrote, marked held; the other
        // side and the marketplace see nothing; a moderator everything.
        let own = message(client, &m).expect("the author sees it");
        assert_eq!(
            (own.text, own.standing, own.own),
            (m.reply_text.as_str(), Standing::Held, true)
        );
        assert_eq!(message(seller, &m), None);
        assert_eq!(message(Access::Marketplace, &m), None);
        let moderator = message(Access::Moderator, &m).expect("a moderator sees it");
        let original = moderator.moderation.expect("with the original");
        assert_eq!(original.original, m.reply_text);
        assert_eq!(original.elided, "> earlier");
        assert!(!counts_as_unread(client, &m) && !counts_as_unread(seller, &m));

        // Approved plainly: the other side sees the masked text, never the
        // number; it is unread for them, never for its author.
        m.moderation = Moderation::Approved;
        let other = message(seller, &m).expect("shown");
        assert_eq!(other.text, "Call [contact removed], pay by Venmo");
        assert!(other.moderation.is_none());
        assert_eq!(
            message(Access::Marketplace, &m).map(|v| v.text),
            Some("Call [contact removed], pay by Venmo")
        );
        assert!(counts_as_unread(seller, &m));
        assert!(!counts_as_unread(client, &m));

        // Rejected: hidden from everyone but its author and moderators.
        m.moderation = Moderation::Rejected;
        assert_eq!(message(seller, &m), None);
        assert_eq!(
            message(client, &m).map(|v| v.standing),
            Some(Standing::Rejected)
        );
    }

    #[test]
    fn who_sees_an_event() {
        let staff: Vec<String> = STAFF.iter().map(|s| s.to_string()).collect();
        let people = people();
        let t = ticket(false);
        let f = facts(&t, &people, &staff);
        let maria = Viewer::Person {
            address: "Maria@Buyer.example",
        };
        let agent = Viewer::Person {
            address: "agent@seller.example",
        };
        let eve = Viewer::Person {
            address: "eve@elsewhere.example",
        };
        let viewers = [
            Viewer::Moderator,
            Viewer::Marketplace,
            maria,
            agent,
            Viewer::Person { address: STAFF[0] },
            eve,
        ];
        let sees = |audience: &Audience| -> Vec<bool> {
            viewers
                .iter()
                .map(|v| sees_event(*v, access(*v, f), audience))
                .collect()
        };
        // Everyone who may see the ticket; never a stranger.
        assert_eq!(
            sees(&Audience::Ticket),
            [true, true, true, true, true, false]
        );
        assert_eq!(
            sees(&Audience::SellerSide),
            [true, true, false, true, true, false]
        );
        let held = Audience::Held {
            author: Some("maria@buyer.example".into()),
        };
        assert_eq!(sees(&held), [true, false, true, false, false, false]);
        let no_author = Audience::Held { author: None };
        assert_eq!(sees(&no_author), [true, false, false, false, false, false]);
        let read = Audience::Reader {
            address: "agent@seller.example".into(),
        };
        assert_eq!(sees(&read), [false, false, false, true, false, false]);
        // A deleted ticket: its client sees none of its events.
        let gone = ticket(true);
        let f = facts(&gone, &people, &staff);
        assert!(!sees_event(maria, access(maria, f), &Audience::Ticket));
        assert!(sees_event(agent, access(agent, f), &Audience::Ticket));
    }

    #[test]
    fn what_a_webhook_may_be_sent() {
        let staff: Vec<String> = STAFF.iter().map(|s| s.to_string()).collect();
        let people = people();
        let held = Audience::Held {
            author: Some("maria@buyer.example".into()),
        };
        let read = Audience::Reader {
            address: "maria@buyer.example".into(),
        };
        for deleted in [false, true] {
            let t = ticket(deleted);
            let f = facts(&t, &people, &staff);
            let market = Viewer::Marketplace;
            for audience in [
                Audience::Ticket,
                Audience::SellerSide,
                held.clone(),
                read.clone(),
            ] {
                assert_eq!(
                    marketplace_sees_event(Some(&t), &audience),
                    sees_event(market, access(market, f), &audience),
                    "{audience:?}, deleted {deleted}: as the marketplace's stream"
                );
            }
        }
        let t = ticket(false);
        assert!(marketplace_sees_event(Some(&t), &Audience::Ticket));
        assert!(!marketplace_sees_event(Some(&t), &read), "a reader's alone");
        assert!(!marketplace_sees_event(Some(&t), &held), "held: moderators");
        assert!(
            !marketplace_sees_event(None, &Audience::Ticket),
            "no ticket"
        );
    }
}
