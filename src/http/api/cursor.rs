//! The opaque `cursor` of the API's keyset pages (the conversation list,
//! the pool): the last row's sort key and number, `KEY.NUMBER` in
//! base64url. A page starts after the row it names.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::http::error::Problem;

/// The cursor of the row with this sort key and number.
pub fn encode(key: i64, number: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{key}.{number}"))
}

/// A cursor back into its (sort key, number); 400 when it is not one.
pub fn decode(text: &str) -> Result<(i64, i64), Problem> {
    let bad = || Problem::bad_request("cursor: not a cursor of this list");
    let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let (key, number) = text.split_once('.').ok_or_else(bad)?;
    Ok((
        key.parse().map_err(|_| bad())?,
        number.parse().map_err(|_| bad())?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_and_nothing_else_is_one() {
        assert_eq!(
            encode(1_700_000_000_000, 42),
            URL_SAFE_NO_PAD.encode("1700000000000.42")
        );
        assert_eq!(
            decode(&encode(1_700_000_000_000, 42)).unwrap(),
            (1_700_000_000_000, 42)
        );
        for bad in [
            "x",
            "",
            &URL_SAFE_NO_PAD.encode("12"),
            &URL_SAFE_NO_PAD.encode("a.1"),
        ] {
            assert_eq!(decode(bad).unwrap_err().kind().status(), 400, "{bad:?}");
        }
    }
}
