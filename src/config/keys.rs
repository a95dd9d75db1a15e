//! What the config types say about a key: whether it is one, and the
//! values an enum there takes. Read from the types themselves, so that
//! errors name them for every key and enum there is or will be (the
//! `config` crate's own error names the Rust type: "enum RelayTls does not
//! have variant constructor ssl").
//!
//! A probe runs a type's `Deserialize` against a deserializer that offers
//! only the fields and items on one key's path, and notes what serde asks
//! for at its end: an enum (with its variant names as written in the file,
//! renames applied) or any other value. Then it stops.

use std::cell::Cell;
use std::fmt;

use serde::de::{self, Deserialize, DeserializeSeed, IntoDeserializer, Visitor};

/// The names the enum at `key` (`tickets.on_closed_reply`, `imap[0].tls`)
/// of `T` takes; `None` when the value there is no enum (or `key` is none
/// of `T`'s).
pub fn choices<'de, T: Deserialize<'de>>(key: &str) -> Option<&'static [&'static str]> {
    match probe::<T>(key)? {
        Found::Enum(names) => Some(names),
        Found::Value => None,
    }
}

/// Whether `key` names a value, or a table, of `T`.
pub fn exists<'de, T: Deserialize<'de>>(key: &str) -> bool {
    probe::<T>(key).is_some()
}

fn probe<'de, T: Deserialize<'de>>(key: &str) -> Option<Found> {
    let path = segments(key);
    let found = Cell::new(None);
    let _ = T::deserialize(Probe {
        path: &path,
        found: &found,
    });
    found.get()
}

/// What the probe found at the end of the path.
#[derive(Debug, Clone, Copy)]
enum Found {
    Enum(&'static [&'static str]),
    Value,
}

/// One step of a key: a field, or an item of a list.
enum Segment<'k> {
    Field(&'k str),
    Item,
}

/// `imap[0].tls` → field `imap`, an item, field `tls`.
fn segments(key: &str) -> Vec<Segment<'_>> {
    let mut path = Vec::new();
    for part in key.split('.') {
        let (field, indexes) = part.split_once('[').unwrap_or((part, ""));
        path.push(Segment::Field(field));
        path.extend(
            indexes
                .split('[')
                .filter(|i| !i.is_empty())
                .map(|_| Segment::Item),
        );
    }
    path
}

/// Ends the walk: the probe found the enum, or left the path.
#[derive(Debug)]
struct Stop;

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("probe stopped")
    }
}

impl std::error::Error for Stop {}

impl de::Error for Stop {
    fn custom<M: fmt::Display>(_: M) -> Self {
        Stop
    }
}

/// The deserializer at one point of the path.
#[derive(Clone, Copy)]
struct Probe<'p> {
    path: &'p [Segment<'p>],
    found: &'p Cell<Option<Found>>,
}

impl Probe<'_> {
    /// Notes `found` when the path ends here, and stops.
    fn end<T>(self, found: Found) -> Result<T, Stop> {
        if self.path.is_empty() {
            self.found.set(Some(found));
        }
        Err(Stop)
    }
}

impl<'de> de::Deserializer<'de> for Probe<'_> {
    type Error = Stop;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
        self.end(Found::Value)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        variants: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Stop> {
        self.end(Found::Enum(variants))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Stop> {
        self.deserialize_map(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Stop> {
        match self.path.split_first() {
            Some((Segment::Field(name), rest)) => visitor.visit_map(Field {
                name: Some(name),
                value: Probe {
                    path: rest,
                    found: self.found,
                },
            }),
            _ => self.end(Found::Value),
        }
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Stop> {
        match self.path.split_first() {
            Some((Segment::Item, rest)) => visitor.visit_seq(Item(Some(Probe {
                path: rest,
                found: self.found,
            }))),
            _ => self.end(Found::Value),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Stop> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, Stop> {
        visitor.visit_newtype_struct(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct tuple tuple_struct identifier ignored_any
    }
}

/// A table with the one field on the path.
struct Field<'p> {
    name: Option<&'p str>,
    value: Probe<'p>,
}

impl<'de, 'p> de::MapAccess<'de> for Field<'p> {
    type Error = Stop;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Stop> {
        match self.name.take() {
            Some(name) => seed.deserialize(name.into_deserializer()).map(Some),
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Stop> {
        seed.deserialize(self.value)
    }
}

/// A list with the one item on the path.
struct Item<'p>(Option<Probe<'p>>);

impl<'de> de::SeqAccess<'de> for Item<'_> {
    type Error = Stop;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Stop> {
        self.0
            .take()
            .map(|probe| seed.deserialize(probe))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn finds_the_enums_of_the_config() {
        let enums: [(&str, &[&str]); 4] = [
            (
                "tickets.on_closed_reply",
                &["reopen", "new_ticket", "reject"],
            ),
            ("relay.tls", &["tls", "starttls", "none"]),
            ("imap[0].tls", &["tls", "starttls", "none"]),
            ("imap[3].after", &["seen", "move", "delete"]),
        ];
        for (key, names) in enums {
            assert_eq!(choices::<Config>(key), Some(names), "{key}");
            assert!(exists::<Config>(key), "{key}");
        }
    }

    #[test]
    fn other_keys_are_no_enums() {
        let values = [
            "store.url",
            "relay.port",
            "imap[0].port",
            "queues[0].hours.days[0]",
            "smtp.listen",
            "tickets",
        ];
        for key in values {
            assert_eq!(choices::<Config>(key), None, "{key}");
            assert!(exists::<Config>(key), "{key}");
        }
        for key in ["store.bogus", "nope", "imap.host", "store.url.x", ""] {
            assert!(!exists::<Config>(key), "{key}");
        }
    }
}
