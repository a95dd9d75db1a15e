//! `parley tickets search QUERY`: the operator's search, as a moderator
//! sees (every ticket, every message as written; src/store/search.rs).

use serde::Serialize;

use super::App;
use crate::access::Viewer;
use crate::error::Failure;
use crate::search::Query;
use crate::store::{Hit, Matched};
use crate::tickets::Status;

/// The most hits `--limit` may ask for.
pub const MAX_LIMIT: usize = 200;

/// A hit as `--json` prints it (docs/json.md "Search hits"; times in Unix
/// ms as the command line's JSON has them).
#[derive(Serialize)]
struct Found<'a> {
    number: i64,
    queue: &'a str,
    subject: &'a str,
    status: Status,
    matched: Matched,
    snippet: Option<&'a str>,
    message: Option<i64>,
    updated_at: i64,
    archived: bool,
    deleted: bool,
}

pub async fn run(app: &App, text: &str, limit: usize, json: bool) -> Result<(), Failure> {
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(Failure::Usage(format!(
            "--limit: {limit} is not between 1 and {MAX_LIMIT}"
        )));
    }
    let query = Query::parse(text).map_err(|e| Failure::Usage(e.to_string()))?;
    let hits = app.store().search(&query, Viewer::Moderator, limit).await?;
    if json {
        let found: Vec<Found> = hits.iter().map(found).collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&found).expect("hits serialize")
        );
        return Ok(());
    }
    for hit in &hits {
        let t = &hit.ticket;
        println!(
            "#{:<6} {:<16} {:<12} {}  {}",
            t.number,
            t.status.as_str(),
            t.queue,
            super::tickets::time(t.updated_at),
            t.subject,
        );
        if let Some(snippet) = &hit.snippet {
            println!("        {snippet}");
        }
    }
    Ok(())
}

fn found(hit: &Hit) -> Found<'_> {
    let t = &hit.ticket;
    Found {
        number: t.number,
        queue: &t.queue,
        subject: &t.subject,
        status: t.status,
        matched: hit.matched,
        snippet: hit.snippet.as_deref(),
        message: hit.message,
        updated_at: t.updated_at,
        archived: t.archived,
        deleted: t.deleted,
    }
}
