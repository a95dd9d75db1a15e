//! Who a request acts as, and what that person is to a conversation: the
//! HTTP side of [`crate::access`], shared by every conversation endpoint.
//!
//! A moderator's or admin's key sees as a moderator; a user token as its
//! participant; a platform key as the marketplace itself, or, naming a
//! user with `?as=ADDRESS` on any endpoint, as that user (the marketplace
//! backend acts for the users it serves). A conversation the caller may
//! not see is "not found", never "forbidden": nobody learns that it
//! exists.

use serde::Deserialize;

use super::AppState;
use super::auth::Caller;
use super::error::Problem;
use crate::access::{self, Access, TicketFacts, Viewer};
use crate::address;
use crate::store::{Participant, Ticket};

/// The `?as=` query parameter every conversation endpoint takes.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ActAs {
    /// With a platform key: act as this user (their address), seeing and
    /// writing what they may. Refused for any other caller.
    #[serde(rename = "as")]
    #[param(rename = "as", example = "maria@buyer.example")]
    pub as_user: Option<String>,
}

/// Whom a request acts as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acting {
    Moderator {
        key: String,
    },
    Marketplace {
        key: String,
    },
    /// One person: by their user token, or named by a platform key.
    Person {
        address: String,
        user_id: Option<String>,
        name: Option<String>,
    },
}

impl Acting {
    /// Whom `caller` acts as, with the `?as=` it gave.
    pub fn of(caller: &Caller, act_as: &ActAs) -> Result<Acting, Problem> {
        let named = act_as.as_user.as_deref().map(str::trim);
        match (caller, named) {
            (Caller::Platform { key }, None) => Ok(Acting::Marketplace { key: key.clone() }),
            (Caller::Platform { .. }, Some(address)) => {
                let address = address::normalize(address);
                if !address::is_address(&address) {
                    return Err(Problem::bad_request(format!(
                        "as: {address:?} is not an email address"
                    )));
                }
                Ok(Acting::Person {
                    address,
                    user_id: None,
                    name: None,
                })
            }
            (_, Some(_)) => Err(Problem::forbidden(format!(
                "only a platform key may act for a user (as=); the caller is {}",
                caller.role()
            ))),
            (Caller::Moderator { key } | Caller::Admin { key }, None) => {
                Ok(Acting::Moderator { key: key.clone() })
            }
            (
                Caller::User {
                    address,
                    user_id,
                    name,
                    ..
                },
                None,
            ) => Ok(Acting::Person {
                address: address.clone(),
                user_id: user_id.clone(),
                name: name.clone(),
            }),
        }
    }

    /// The viewer of [`crate::access`].
    pub fn viewer(&self) -> Viewer<'_> {
        match self {
            Acting::Moderator { .. } => Viewer::Moderator,
            Acting::Marketplace { .. } => Viewer::Marketplace,
            Acting::Person { address, .. } => Viewer::Person { address },
        }
    }

    /// Who it is in the audit log: the key's name, or the address.
    pub fn actor(&self) -> String {
        match self {
            Acting::Moderator { key } | Acting::Marketplace { key } => format!("key:{key}"),
            Acting::Person { address, .. } => address.clone(),
        }
    }

    /// The person's address, when a person acts.
    pub fn address(&self) -> Option<&str> {
        match self {
            Acting::Person { address, .. } => Some(address),
            _ => None,
        }
    }
}

/// A conversation with what the viewer is to it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub ticket: Ticket,
    pub participants: Vec<Participant>,
    pub access: Access,
}

/// Ticket `number` as `acting` may see it; 404 when it does not exist or
/// they may not see it (the same answer, on purpose).
pub async fn conversation(state: &AppState, acting: &Acting, number: i64) -> Result<Seen, Problem> {
    let store = state.intake.store();
    let not_found = || Problem::not_found(format!("conversation {number} does not exist"));
    let ticket = store.ticket(number).await?.ok_or_else(not_found)?;
    let participants = store.participants(number).await?;
    let staff = match store.queue(&ticket.queue).await? {
        Some(queue) => queue.staff,
        None => Vec::new(),
    };
    let facts = TicketFacts {
        ticket: &ticket,
        participants: &participants,
        queue_staff: &staff,
    };
    let access = access::access(acting.viewer(), facts).ok_or_else(not_found)?;
    Ok(Seen {
        ticket,
        participants,
        access,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> Caller {
        Caller::User {
            address: "maria@buyer.example".into(),
            user_id: Some("u-1".into()),
            name: None,
            expires: 0,
        }
    }

    #[test]
    fn whom_a_request_acts_as() {
        let platform = Caller::Platform { key: "shop".into() };
        let none = ActAs::default();
        let named = ActAs {
            as_user: Some(" Maria@Buyer.example ".into()),
        };
        assert_eq!(
            Acting::of(&platform, &none).unwrap(),
            Acting::Marketplace { key: "shop".into() }
        );
        let person = Acting::of(&platform, &named).unwrap();
        assert_eq!(person.address(), Some("maria@buyer.example"));
        assert_eq!(person.actor(), "maria@buyer.example");
        let bad = ActAs {
            as_user: Some("not an address".into()),
        };
        assert_eq!(
            Acting::of(&platform, &bad).unwrap_err().kind().status(),
            400
        );
        // Only a platform key may name a user.
        for caller in [user(), Caller::Moderator { key: "m".into() }] {
            let err = Acting::of(&caller, &named).unwrap_err();
            assert_eq!(err.kind().status(), 403, "{caller:?}");
        }
        assert_eq!(
            Acting::of(&Caller::Admin { key: "a".into() }, &none)
                .unwrap()
                .viewer(),
            Viewer::Moderator
        );
        let token = Acting::of(&user(), &none).unwrap();
        assert_eq!(
            token.viewer(),
            Viewer::Person {
                address: "maria@buyer.example"
            }
        );
    }
}
