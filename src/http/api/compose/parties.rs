//! Who writes and where, for a new conversation: the client (the person
//! acting, or the one the marketplace names) and the queue (by name, or
//! by a seller's address).

use super::shapes::{ClientIn, MAX_FIELD_CHARS};
use crate::address;
use crate::http::AppState;
use crate::http::error::Problem;
use crate::http::viewer::Acting;
use crate::intake::written::Person;

/// The client: the person acting (a user token's, or `?as=`; the body may
/// only repeat it), or the one the marketplace names in the body.
pub(super) fn client_of(acting: &Acting, given: Option<&ClientIn>) -> Result<Person, Problem> {
    let checked = |c: &ClientIn| -> Result<(), Problem> {
        for (name, value) in [("client.name", &c.name), ("client.user_id", &c.user_id)] {
            if value
                .as_ref()
                .is_some_and(|v| v.chars().count() > MAX_FIELD_CHARS)
            {
                return Err(Problem::invalid(format!(
                    "{name} is over {MAX_FIELD_CHARS} characters"
                )));
            }
        }
        Ok(())
    };
    match acting {
        Acting::Person {
            address,
            user_id,
            name,
        } => {
            if let Some(c) = given {
                checked(c)?;
                if address::normalize(&c.address) != *address {
                    return Err(Problem::forbidden(format!(
                        "{address} starts conversations as themselves only"
                    )));
                }
            }
            Ok(Person {
                address: address.clone(),
                display_name: name.clone().or_else(|| given.and_then(|c| c.name.clone())),
                user_id: user_id
                    .clone()
                    .or_else(|| given.and_then(|c| c.user_id.clone())),
            })
        }
        Acting::Marketplace { .. } => {
            let c = given.ok_or_else(|| {
                Problem::invalid("client is required with a platform key: who writes")
            })?;
            checked(c)?;
            Ok(Person {
                address: c.address.clone(),
                display_name: c.name.clone(),
                user_id: c.user_id.clone(),
            })
        }
        Acting::Moderator { .. } => Err(Problem::forbidden(
            "a moderator's key starts no conversations; the marketplace does, for its users",
        )),
    }
}

/// The queue's name: `queue`, or the queue whose intake or staff address
/// `seller` is (exactly one of them given).
pub(super) fn queue_of(
    state: &AppState,
    queue: Option<&str>,
    seller: Option<&str>,
) -> Result<String, Problem> {
    match (queue, seller) {
        (Some(queue), None) => Ok(queue.to_string()),
        (None, Some(seller)) => {
            let seller = address::normalize(seller);
            let is = |list: &[String]| list.iter().any(|a| address::normalize(a) == seller);
            let queues = &state.config.queues;
            if let Some(q) = queues.iter().find(|q| is(&q.intake)) {
                return Ok(q.name.clone());
            }
            let staff: Vec<&str> = queues
                .iter()
                .filter(|q| is(&q.staff))
                .map(|q| q.name.as_str())
                .collect();
            match staff.as_slice() {
                [one] => Ok(one.to_string()),
                [] => Err(Problem::invalid(format!(
                    "seller {seller} is no queue's intake or staff address"
                ))),
                several => Err(Problem::invalid(format!(
                    "seller {seller} is staff of several queues ({}); name the queue",
                    several.join(", ")
                ))),
            }
        }
        _ => Err(Problem::invalid("give either queue or seller")),
    }
}
