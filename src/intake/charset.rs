//! Charset fallbacks for what mail-parser decodes wrongly or lossily.
//!
//! mail-parser decodes by the declared charset and does it well when the
//! label is right (it already reads `iso-8859-1` and `us-ascii` as
//! windows-1252, as browsers do). It has no fallback when the label is
//! wrong or missing, and real mail gets that wrong in a few common ways:
//!
//! - Latin-1/windows-1252 bytes under `charset=utf-8`, no charset or an
//!   unknown label: mail-parser gives `caf\u{fffd}` (lost); here `café`.
//! - UTF-8 bytes labelled `us-ascii`, `iso-8859-1` or `windows-1252`:
//!   mail-parser gives `cafÃ©` (mojibake); here `café`.
//! - ISO-2022-JP without a charset label: mail-parser keeps the escape
//!   sequences; here Japanese text.
//! - Labels mail-parser does not know (`CHINESEBIG5`, `cp949`, `latin-1`,
//!   `win-1251`, `iso-2022-jp-2`, …): read as UTF-8, lost; here their
//!   charset.
//! - An RFC 2047 header whose UTF-8 character is split over two encoded
//!   words: mail-parser gives `caf\u{fffd}\u{fffd}`; here `café`.
//! - Raw 8-bit Latin-1 in a header: mail-parser gives `caf\u{fffd}` in
//!   the value and drops the header from [`Message::headers_raw`]; here
//!   `café` ([`subject`], [`headers_raw`]).
//!
//! Not repaired: unlabelled text in a legacy charset other than
//! windows-1252 (windows-1251 Russian, Shift_JIS, GBK, Big5 without a
//! label) comes out as windows-1252 mojibake where mail-parser gave
//! U+FFFD; telling those apart needs statistical detection (`chardetng`),
//! which is not a dependency.
//!
//! The rules, in [`decode`]: text that is valid UTF-8 is UTF-8 unless its
//! label names a real legacy charset other than Latin-1; bytes that are
//! not valid UTF-8 under a UTF-8 (or missing, or unknown) label are read
//! as windows-1252 one invalid sequence at a time, so the UTF-8 parts of a
//! mixed text survive; a Latin-1 label on text that is valid UTF-8 with
//! non-ASCII in it is taken as a mistake (Latin-1 text is practically never
//! valid UTF-8 by chance: every accented letter would have to be followed
//! by a byte from 0x80–0xBF). Every other declared charset is trusted.
//!
//! [`body_text`], [`body_html`] and [`subject`] are what `parse` takes from
//! mail-parser, with these fallbacks applied only where mail-parser's
//! result shows the problem (a U+FFFD, an escape character, non-ASCII
//! under a Latin-1 label), so well-labelled mail costs nothing extra.

use std::borrow::Cow;

use super::reply::html_to_text;
use mail_parser::decoders::base64::base64_decode;
use mail_parser::decoders::charsets::DecoderFnc;
use mail_parser::decoders::charsets::map::charset_decoder;
use mail_parser::decoders::quoted_printable::quoted_printable_decode;
use mail_parser::{Encoding, GetHeader, HeaderName, Message, MessagePart, MimeHeaders, PartType};

/// What a charset label tells us.
#[derive(Debug, Clone, Copy)]
enum Label {
    /// None, a UTF-8 label, or one nobody knows: mail-parser reads UTF-8.
    Utf8OrUnknown,
    /// US-ASCII, ISO-8859-1, windows-1252 and their aliases: mail-parser
    /// reads windows-1252. Often put on UTF-8 text by mistake.
    Latin1,
    /// Any other charset that can be decoded: trusted.
    Other(DecoderFnc),
}

fn label(declared: Option<&str>) -> Label {
    let Some(declared) = declared else {
        return Label::Utf8OrUnknown;
    };
    let name = declared
        .trim()
        .trim_matches(['"', '\'', ' '])
        .to_ascii_lowercase()
        .replace('-', "_");
    // Labels seen in real mail that mail-parser does not know.
    let name = match name.as_str() {
        "latin_1" | "iso_latin_1" | "cp_1252" | "win_1252" | "win1252" => "windows_1252",
        "chinesebig5" | "big_5" | "x_big5" => "big5",
        "cp949" | "ms949" | "uhc" | "ks_c_5601" | "ksc5601_1987" => "euc_kr",
        "iso_2022_jp_1" | "iso_2022_jp_2" | "iso_2022_jp_3" | "iso_2022_jp_ms" => "iso_2022_jp",
        "x_mac_japanese" | "shift_jisx0213" | "cp932" => "shift_jis",
        "unicode_1_1_utf_7" | "x_unicode_1_1_utf_7" => "utf_7",
        "win_1250" | "cp_1250" => "windows_1250",
        "win_1251" | "cp_1251" | "win1251" => "windows_1251",
        "win_1253" | "cp_1253" => "windows_1253",
        "win_1254" | "cp_1254" => "windows_1254",
        "gb_2312" | "euc_cn" | "x_euc_cn" | "cp_936" => "gbk",
        other => other,
    };
    match name {
        "utf_8" | "utf8" | "unicode_1_1_utf_8" | "unicode11utf8" | "unicode20utf8"
        | "x_unicode20utf8" => Label::Utf8OrUnknown,
        "us_ascii" | "ascii" | "us" | "csascii" | "iso646_us" | "iso_ir_6" | "ansi_x3.4_1968"
        | "ansi_x3.4_1986" | "iso_8859_1" | "iso8859_1" | "iso88591" | "iso_8859_1:1987"
        | "latin1" | "l1" | "cp819" | "ibm819" | "csisolatin1" | "iso_ir_100" | "windows_1252"
        | "cp1252" | "x_cp1252" | "cswindows1252" => Label::Latin1,
        _ => charset_decoder(name.as_bytes()).map_or(Label::Utf8OrUnknown, Label::Other),
    }
}

/// Decodes `bytes` declared as `declared` (a MIME charset label), with the
/// fallbacks described in the module documentation. Never fails.
pub fn decode(bytes: &[u8], declared: Option<&str>) -> String {
    match label(declared) {
        Label::Utf8OrUnknown if is_iso2022jp(bytes) => decode_with("iso-2022-jp", bytes),
        Label::Utf8OrUnknown => utf8_or_cp1252(bytes).into_owned(),
        Label::Latin1 => match std::str::from_utf8(bytes) {
            Ok(text) => text.to_string(),
            Err(_) => decode_with("windows-1252", bytes),
        },
        Label::Other(decoder) => decoder(bytes),
    }
}

fn decode_with(charset: &str, bytes: &[u8]) -> String {
    match charset_decoder(charset.as_bytes()) {
        Some(decoder) => decoder(bytes),
        None => utf8_or_cp1252(bytes).into_owned(),
    }
}

/// UTF-8 where the bytes are valid UTF-8, windows-1252 for each byte that
/// is not: nothing is lost to U+FFFD except the five bytes windows-1252
/// leaves undefined.
pub fn utf8_or_cp1252(bytes: &[u8]) -> Cow<'_, str> {
    let mut rest = match std::str::from_utf8(bytes) {
        Ok(text) => return Cow::Borrowed(text),
        Err(_) => bytes,
    };
    let mut out = String::with_capacity(bytes.len() + bytes.len() / 2);
    while !rest.is_empty() {
        match std::str::from_utf8(rest) {
            Ok(text) => {
                out.push_str(text);
                break;
            }
            Err(e) => {
                let (valid, after) = rest.split_at(e.valid_up_to());
                // Safe: from_utf8 said so.
                out.push_str(std::str::from_utf8(valid).unwrap_or_default());
                let bad = e.error_len().unwrap_or(after.len());
                out.extend(after[..bad].iter().map(|&b| cp1252_char(b)));
                rest = &after[bad..];
            }
        }
    }
    Cow::Owned(out)
}

/// One byte as windows-1252.
fn cp1252_char(b: u8) -> char {
    const HIGH: [char; 32] = [
        '€', '\u{fffd}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{fffd}', 'Ž',
        '\u{fffd}', '\u{fffd}', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ',
        '\u{fffd}', 'ž', 'Ÿ',
    ];
    match b {
        0x80..=0x9f => HIGH[(b - 0x80) as usize],
        _ => char::from(b),
    }
}

/// 7-bit text with the ISO-2022-JP escapes into JIS X 0208 (`ESC $ B`,
/// `ESC $ @`) or JIS X 0212 (`ESC $ ( D`).
fn is_iso2022jp(bytes: &[u8]) -> bool {
    bytes.is_ascii()
        && bytes
            .windows(3)
            .any(|w| w == b"\x1b$B" || w == b"\x1b$@" || w == b"\x1b$(")
}

/// The bytes of a part as sent: transfer encoding undone, charset not.
/// `None` for multiparts, and when the transfer encoding cannot be undone
/// again (mail-parser's own decoding is more lenient).
pub fn part_bytes<'a>(
    message: &'a Message<'_>,
    part: &'a MessagePart<'_>,
) -> Option<Cow<'a, [u8]>> {
    match &part.body {
        PartType::Binary(bytes) | PartType::InlineBinary(bytes) => Some(Cow::Borrowed(bytes)),
        PartType::Message(nested) => Some(Cow::Borrowed(nested.raw_message())),
        PartType::Multipart(_) => None,
        PartType::Text(_) | PartType::Html(_) => {
            let raw = message
                .raw_message
                .get(part.offset_body as usize..part.offset_end as usize)?;
            match part.encoding {
                Encoding::Base64 => base64_decode(raw).map(Cow::Owned),
                Encoding::QuotedPrintable => quoted_printable_decode(raw).map(Cow::Owned),
                Encoding::None => Some(Cow::Borrowed(raw)),
            }
        }
    }
}

/// The text of a text or HTML part: mail-parser's, unless it shows a
/// charset problem; then the part's bytes through [`decode`]. `None` for
/// parts that are not text.
pub fn part_text<'a>(message: &Message<'_>, part: &'a MessagePart<'_>) -> Option<Cow<'a, str>> {
    let (PartType::Text(text) | PartType::Html(text)) = &part.body else {
        return None;
    };
    let declared = part.content_type().and_then(|ct| ct.attribute("charset"));
    let suspect = match label(declared) {
        Label::Utf8OrUnknown => text.contains(['\u{fffd}', '\u{1b}']),
        Label::Latin1 => !text.is_ascii(),
        // mail-parser did not know the label, this module does.
        Label::Other(_) => {
            declared.is_none_or(|d| charset_decoder(d.as_bytes()).is_none())
                && text.contains('\u{fffd}')
        }
    };
    if !suspect {
        return Some(Cow::Borrowed(text.as_ref()));
    }
    match part_bytes(message, part) {
        Some(bytes) => Some(Cow::Owned(decode(&bytes, declared))),
        None => Some(Cow::Borrowed(text.as_ref())),
    }
}

/// [`Message::body_text`]`(0)` with the charset fallbacks: the first text
/// body part, or the HTML body part converted to text.
pub fn body_text(message: &Message<'_>) -> Option<String> {
    let part = message.text_part(0)?;
    let text = part_text(message, part)?;
    Some(match part.body {
        PartType::Html(_) => html_to_text(&text),
        _ => text.into_owned(),
    })
}

/// The first HTML body part, if it is a real HTML part (not text that
/// mail-parser would wrap), with the charset fallbacks.
pub fn body_html(message: &Message<'_>) -> Option<String> {
    let part = message.html_part(0)?;
    match part.body {
        PartType::Html(_) => part_text(message, part).map(Cow::into_owned),
        _ => None,
    }
}

/// [`Message::subject`] with the fallbacks: when mail-parser's subject has
/// a U+FFFD, the raw header is decoded again by [`decode_header`].
pub fn subject(message: &Message<'_>) -> Option<String> {
    let subject = message.subject()?;
    if !subject.contains('\u{fffd}') {
        return Some(subject.to_string());
    }
    let header = message.root_part().headers.header(HeaderName::Subject)?;
    let raw = message
        .raw_message
        .get(header.offset_start as usize..header.offset_end as usize)?;
    Some(decode_header(raw))
}

/// The message's top-level headers as they arrived: name and raw value.
/// Unlike [`Message::headers_raw`], which skips a value that is not UTF-8,
/// every header is there; raw 8-bit bytes are read by [`utf8_or_cp1252`].
pub fn headers_raw<'a>(message: &'a Message<'_>) -> impl Iterator<Item = (&'a str, Cow<'a, str>)> {
    message.root_part().headers.iter().map(|header| {
        let raw = message
            .raw_message
            .get(header.offset_start as usize..header.offset_end as usize)
            .unwrap_or_default();
        (header.name.as_str(), utf8_or_cp1252(raw))
    })
}

/// Decodes an unstructured header value (RFC 2047) from its raw bytes:
/// folding undone; white space between encoded words dropped; adjacent
/// encoded words of one charset decoded together, so a character split
/// between them survives; each charset through [`decode`]; raw 8-bit text
/// as UTF-8, else windows-1252.
pub fn decode_header(raw: &[u8]) -> String {
    let mut out = String::with_capacity(raw.len());
    // Encoded words not yet decoded: their charset and bytes.
    let mut pending: Option<(String, Vec<u8>)> = None;
    // Raw text since the last encoded word.
    let mut gap: Vec<u8> = Vec::new();
    let mut i = 0;
    while i < raw.len() {
        if raw[i..].starts_with(b"=?")
            && let Some((charset, bytes, len)) = encoded_word(&raw[i..])
        {
            let only_space = gap.iter().all(u8::is_ascii_whitespace);
            match &mut pending {
                Some((open, buf)) if only_space && open.eq_ignore_ascii_case(&charset) => {
                    buf.extend_from_slice(&bytes);
                }
                _ => {
                    let had_pending = pending.is_some();
                    if let Some((open, buf)) = pending.take() {
                        out.push_str(&decode(&buf, Some(&open)));
                    }
                    if !(had_pending && only_space) {
                        out.push_str(&unfold(&gap));
                    }
                    pending = Some((charset, bytes));
                }
            }
            gap.clear();
            i += len;
            continue;
        }
        gap.push(raw[i]);
        i += 1;
    }
    if let Some((open, buf)) = pending {
        out.push_str(&decode(&buf, Some(&open)));
    }
    out.push_str(&unfold(&gap));
    out.trim().to_string()
}

fn unfold(raw: &[u8]) -> String {
    let text = utf8_or_cp1252(raw);
    text.chars()
        .filter(|c| *c != '\r' && *c != '\n')
        .map(|c| if c == '\t' { ' ' } else { c })
        .collect()
}

/// `=?charset?B|Q?text?=` at the start of `s`: the charset (without an
/// RFC 2231 language), the decoded bytes and the length taken.
fn encoded_word(s: &[u8]) -> Option<(String, Vec<u8>, usize)> {
    let body = s.strip_prefix(b"=?")?;
    let q1 = body.iter().take(76).position(|&b| b == b'?')?;
    let charset = std::str::from_utf8(&body[..q1]).ok()?;
    let charset = charset.split('*').next().unwrap_or(charset);
    if charset.is_empty() || charset.contains(|c: char| c.is_whitespace() || !c.is_ascii()) {
        return None;
    }
    let rest = &body[q1 + 1..];
    let (&encoding, rest) = rest.split_first()?;
    let rest = rest.strip_prefix(b"?")?;
    let end = rest.windows(2).position(|w| w == b"?=")?;
    let text = &rest[..end];
    if text.iter().any(|b| b.is_ascii_whitespace()) {
        return None;
    }
    let bytes = match encoding {
        b'B' | b'b' => base64_decode(text)?,
        b'Q' | b'q' => {
            let mut out = Vec::with_capacity(text.len());
            let mut j = 0;
            while j < text.len() {
                let hex = |k: usize| text.get(k).and_then(|b| (*b as char).to_digit(16));
                match (text[j], hex(j + 1), hex(j + 2)) {
                    (b'_', _, _) => {
                        out.push(b' ');
                        j += 1;
                    }
                    (b'=', Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        j += 3;
                    }
                    (b, _, _) => {
                        out.push(b);
                        j += 1;
                    }
                }
            }
            out
        }
        _ => return None,
    };
    Some((charset.to_string(), bytes, 2 + q1 + 1 + 2 + end + 2))
}

#[cfg(test)]
mod tests {
    use super::*;
    use mail_parser::MessageParser;

    #[test]
    fn labels() {
        for declared in [
            None,
            Some("UTF-8"),
            Some("utf8"),
            Some("x-unknown"),
            Some(""),
        ] {
            assert!(
                matches!(label(declared), Label::Utf8OrUnknown),
                "{declared:?}"
            );
        }
        for declared in [
            "US-ASCII",
            "\"ISO-8859-1\"",
            "Windows-1252",
            "latin-1",
            "cp-1252",
        ] {
            assert!(matches!(label(Some(declared)), Label::Latin1), "{declared}");
        }
        for declared in [
            "koi8-r",
            "Shift_JIS",
            "iso-8859-15",
            "CHINESEBIG5",
            "cp949",
            "win-1251",
        ] {
            assert!(
                matches!(label(Some(declared)), Label::Other(_)),
                "{declared}"
            );
        }
    }

    #[test]
    fn decode_fallbacks() {
        // Latin-1 under a UTF-8 label, no label, an unknown label.
        for declared in [Some("utf-8"), None, Some("x-bogus")] {
            assert_eq!(decode(b"caf\xe9 \x93ok\x94 \x80", declared), "café “ok” €");
        }
        // Mixed: the UTF-8 survives, the stray Latin-1 byte too.
        assert_eq!(decode("Grüße, caf\u{e9}".as_bytes(), None), "Grüße, café");
        assert_eq!(decode(b"Gr\xc3\xbc\xc3\x9fe, caf\xe9", None), "Grüße, café");
        // UTF-8 under a Latin-1 label.
        for declared in ["us-ascii", "iso-8859-1", "windows-1252"] {
            assert_eq!(
                decode("Grüße “Lot” €".as_bytes(), Some(declared)),
                "Grüße “Lot” €"
            );
        }
        // Real Latin-1 under a Latin-1 label: windows-1252, as mail-parser.
        assert_eq!(decode(b"caf\xe9 \x80", Some("iso-8859-1")), "café €");
        // A Latin-1 text is not taken for UTF-8 when one pair looks valid.
        assert_eq!(decode(b"\xc3\xa9t\xe9", Some("iso-8859-1")), "Ã©té");
        // ISO-2022-JP without a label.
        assert_eq!(decode(b"\x1b$B%m%C%H\x1b(B12", None), "ロット12");
        // Declared charsets are trusted, also under names mail-parser
        // does not know.
        assert_eq!(
            decode(b"\xf0\xd2\xc9\xd7\xc5\xd4", Some("koi8-r")),
            "Привет"
        );
        assert_eq!(decode(b"\xa7A\xa6n", Some("CHINESEBIG5")), "你好");
        assert_eq!(
            decode(b"\xcf\xf0\xe8\xe2\xe5\xf2", Some("win-1251")),
            "Привет"
        );
        assert_eq!(decode(b"", None), "");
        assert_eq!(decode(b"plain ascii", Some("utf-8")), "plain ascii");
    }

    #[test]
    fn cp1252_table() {
        assert_eq!(
            utf8_or_cp1252(b"\x80\x81\x8a\x9f\xa0\xff"),
            "€\u{fffd}Š\u{178}\u{a0}ÿ"
        );
        assert!(matches!(utf8_or_cp1252(b"ok"), Cow::Borrowed("ok")));
    }

    #[test]
    fn headers() {
        for (raw, want) in [
            (&b"plain subject"[..], "plain subject"),
            (
                b"=?iso-8859-1?q?Gr=FC=DFe?= aus =?utf-8?b?S8O2bG4=?=",
                "Grüße aus Köln",
            ),
            // White space between encoded words goes, also between charsets.
            (
                b"=?utf-8?q?a?= =?utf-8?q?b?=\r\n =?iso-8859-1?q?=E9?=",
                "abé",
            ),
            // A UTF-8 character split over two encoded words.
            (b"=?utf-8?q?caf=C3?= =?UTF-8?Q?=A9?=", "café"),
            (b"=?utf-8?b?5pel?= =?utf-8?b?5pys6Kqe?=", "日本語"),
            (
                b"Re: =?ISO-8859-15?Q?Preis_f=FCr_Los_12_=A4?=",
                "Re: Preis für Los 12 €",
            ),
            (b"=?utf-8*en?q?lang?=", "lang"),
            // Raw 8-bit: UTF-8, else windows-1252.
            (b"Gr\xfc\xdfe \x93Lot\x94", "Grüße “Lot”"),
            ("Grüße".as_bytes(), "Grüße"),
            // Not encoded words: kept as they are.
            (b"=?utf-8?x?abc?= =?broken", "=?utf-8?x?abc?= =?broken"),
            (b"a =?utf-8?q?has space?= b", "a =?utf-8?q?has space?= b"),
            (b"  folded\r\n\tline  ", "folded line"),
        ] {
            assert_eq!(decode_header(raw), want, "{}", String::from_utf8_lossy(raw));
        }
    }

    fn parse(raw: &[u8]) -> Message<'_> {
        MessageParser::default().parse(raw).unwrap()
    }

    #[test]
    fn body_and_subject_of_a_message() {
        let raw = b"Subject: caf\xe9 =?utf-8?q?na=C3?= =?utf-8?q?=AFve?=\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\
\r\n\
caf=E9 cr=C3=A8me=\r\n\
\x20br=FBl=E9e\r\n";
        let message = parse(raw);
        assert_eq!(subject(&message).as_deref(), Some("café naïve"));
        assert_eq!(
            body_text(&message).as_deref(),
            Some("café crème brûlée\r\n")
        );

        let html = parse(
            "Subject: x\r\nContent-Type: text/html; charset=us-ascii\r\n\r\n<p>Grüße</p>\r\n"
                .as_bytes(),
        );
        // HTML converted by the block-aware converter, trimmed.
        assert_eq!(body_text(&html).as_deref(), Some("Grüße"));
        assert_eq!(body_html(&html).as_deref(), Some("<p>Grüße</p>\r\n"));

        // Well-labelled mail is mail-parser's, untouched.
        let fine = parse(b"Subject: ok\r\nContent-Type: text/plain; charset=koi8-r\r\n\r\n\xf0\xd2\xc9\xd7\xc5\xd4\r\n");
        assert_eq!(body_text(&fine).as_deref(), Some("Привет\r\n"));
        assert_eq!(subject(&fine).as_deref(), Some("ok"));
        assert_eq!(body_html(&fine), None);

        let none = parse(b"From: a@example.com\r\n\r\n");
        assert_eq!(subject(&none), None);
    }

    #[test]
    fn raw_headers_keep_8bit_values() {
        let message =
            parse(b"Subject: Gr\xfc\xdfe\r\nX-Note: caf\xc3\xa9\r\nTo: a@example.com\r\n\r\nx\r\n");
        let headers: Vec<(String, String)> = headers_raw(&message)
            .map(|(n, v)| (n.to_string(), v.trim().to_string()))
            .collect();
        assert_eq!(
            headers,
            [
                ("Subject".to_string(), "Grüße".to_string()),
                ("X-Note".to_string(), "café".to_string()),
                ("To".to_string(), "a@example.com".to_string()),
            ]
        );
        // mail-parser's own skips the Latin-1 one.
        assert_eq!(message.headers_raw().count(), 2);
    }
}
