//! Contact details: what lets two people reach each other without the
//! marketplace.
//!
//! Four scanners, each in its own file, each pure and linear in the text:
//!
//! - [`email`]: addresses (`email`) and obfuscated ones
//!   (`email_obfuscated`: "maria dot lopez at gmail dot com",
//!   "peter(at)hotmail(dot)com", "m a r i a @ g m a i l . c o m",
//!   "my gmail is tony1977");
//! - [`phone`]: numbers in national and international formats (`phone`)
//!   and spelled out or mixed ("five five five one two …", "4I5-555-26seven1":
//!   `phone_spelled`), skipping prices, dates, dimensions and the numbers of
//!   lots, orders, serials and the like;
//! - [`web`]: URLs (`url`), bare domains with a real top-level domain
//!   (`domain`: `shop.co.uk` yes, `photo.jpg` no) and link shorteners
//!   (`shortener`);
//! - [`handle`]: social and messenger handles (`handle`: "my snapchat is
//!   dan_the_collector", "@vintage_vera") and invitations to a messenger
//!   without one (`messenger`: "hit me up on telegram").
//!
//! Their hits may overlap ("john@shop.com" is an address and contains a
//! domain): a hit that lies inside another one is dropped, so the evidence
//! is the most specific rule covering the longest span.

mod email;
mod handle;
mod phone;
mod web;

use super::Hit;

/// Appends the contact details found in `text` to `hits`.
pub fn detect(text: &str, hits: &mut Vec<Hit>) {
    let mut found = Vec::new();
    email::detect(text, &mut found);
    web::detect(text, &mut found);
    phone::detect(text, &mut found);
    handle::detect(text, &mut found);
    drop_contained(&mut found);
    hits.append(&mut found);
}

/// Sorts hits by position and drops each hit that lies inside an earlier
/// (or longer) one.
fn drop_contained(found: &mut Vec<Hit>) {
    found.sort_by(|a, b| a.start.cmp(&b.start).then(b.end.cmp(&a.end)));
    let mut covered_to = 0;
    found.retain(|h| {
        if h.end <= covered_to {
            return false;
        }
        covered_to = h.end;
        true
    });
}

/// The char before byte `at` of `text` (`at` on a char boundary).
fn char_before(text: &str, at: usize) -> Option<char> {
    text[..at].chars().next_back()
}

/// The char at byte `at` of `text` (`at` on a char boundary).
fn char_at(text: &str, at: usize) -> Option<char> {
    text[at..].chars().next()
}

/// A hit of the contact category.
fn hit(rule: &'static str, start: usize, end: usize, value: String) -> Hit {
    Hit {
        rule,
        category: super::Category::Contact,
        start,
        end,
        value,
    }
}

#[cfg(test)]
mod tests;
