//! The shapes of the writing endpoints: what they take and what they
//! answer (docs/json.md, "A written message").

use serde::{Deserialize, Serialize};

use crate::tickets::Status;

/// The longest ref, title, name or user id taken, in characters.
pub(super) const MAX_FIELD_CHARS: usize = 500;
/// The longest listing URL taken, in characters.
pub(super) const MAX_URL_CHARS: usize = 2000;

/// `POST /api/v1/conversations`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartRequest {
    /// The queue, by name. Give this or `seller`.
    #[schema(example = "desk")]
    pub queue: Option<String>,
    /// The seller, by an address: the queue whose intake or staff address
    /// it is. Give this or `queue`.
    #[schema(example = "desk@shop.example")]
    pub seller: Option<String>,
    /// Who writes. With a user token it is the token's user (leave it out,
    /// or give the same address); with a platform key it is required.
    pub client: Option<ClientIn>,
    /// The listing it is about.
    pub listing: Option<ListingIn>,
    /// The auction the listing is in.
    pub auction: Option<AuctionIn>,
    /// At most 300 characters.
    #[schema(example = "Is the sideboard still available?")]
    pub subject: String,
    /// The message (at most 100,000 bytes).
    #[schema(example = "Hello, can it be shipped to Oslo?")]
    pub text: String,
}

/// The client starting a conversation.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientIn {
    #[schema(example = "maria@buyer.example")]
    pub address: String,
    #[schema(example = "Maria")]
    pub name: Option<String>,
    /// The marketplace's own id of the user, kept on the participant.
    #[schema(example = "u-1042")]
    pub user_id: Option<String>,
}

/// A listing, as the marketplace knows it.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ListingIn {
    #[serde(rename = "ref")]
    #[schema(example = "L-77")]
    pub reference: Option<String>,
    #[schema(example = "Oak sideboard, 1960s")]
    pub title: Option<String>,
    /// Its page (`http` or `https`).
    #[schema(example = "https://shop.example/l/77")]
    pub url: Option<String>,
}

/// An auction, as the marketplace knows it.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AuctionIn {
    #[serde(rename = "ref")]
    #[schema(example = "A-12")]
    pub reference: Option<String>,
    #[schema(example = "Spring estate sale")]
    pub title: Option<String>,
    /// Its manager: a staff address of the queue, who gets the new
    /// conversation. Unset: the queue's `managers` map, else nobody.
    #[schema(example = "agent@shop.example")]
    pub manager: Option<String>,
}

/// `POST …/messages`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageRequest {
    /// The message (at most 100,000 bytes).
    #[schema(example = "Yes, shipping to Oslo is 40 EUR.")]
    pub text: String,
}

/// What became of a message written over HTTP.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WrittenAnswer {
    /// The conversation's number.
    pub conversation: i64,
    /// The message's id.
    pub message: i64,
    /// Whether the message opened the conversation (also when a message
    /// on a closed conversation opened a new one).
    pub new: bool,
    /// The conversation's status after it.
    pub status: Status,
    /// Who on the seller side has it (the manager it was routed to).
    pub assignee: Option<String>,
    /// Notifications queued for the other side (0 while held).
    pub notifications: usize,
    /// Present when the content policy holds the message for a moderator.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub moderation: Option<HeldState>,
}

/// A held message's moderation state.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct HeldState {
    /// `held`.
    #[schema(example = "held")]
    pub state: String,
    /// The rules that hold it.
    #[schema(example = json!(["venmo"]))]
    pub rules: Vec<String>,
}
