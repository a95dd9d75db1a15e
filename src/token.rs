//! Signed tokens that ride in reply addresses (`reply+TOKEN@<reply domain>`).
//!
//! A token names a (ticket, participant) pair and carries a truncated
//! HMAC-SHA256 over it, so nobody can post into a ticket by guessing numbers.
//! Layout before encoding (see `docs/token.md`):
//!
//! ```text
//! version (1 byte) ‖ LEB128(ticket) ‖ LEB128(participant) ‖ HMAC[..12]
//! ```
//!
//! The HMAC covers a domain-separation label, the version byte and both
//! numbers. The bytes are written in lowercase RFC 4648 base32 without
//! padding: MTAs that fold the case of local parts do not break it, and the
//! longest possible token (two 64-bit numbers) keeps `reply+TOKEN` within the
//! 64 characters RFC 5321 §4.5.3.1.1 allows for a local part.
//!
//! A second kind, the bounce token, rides in the VERP envelope sender of
//! every notification (`bounce+TOKEN@<reply domain>`) and names one outbound
//! message (its outbox row id), so a bounce is matched to the exact
//! notification it refers to:
//!
//! ```text
//! version 0x02 (1 byte) ‖ LEB128(outbox id) ‖ HMAC[..12]
//! ```
//!
//! Its HMAC covers its own label (`parley/bounce/v1`) and its own version
//! byte, so a reply token never verifies as a bounce token nor the reverse.

mod mint;

use hmac::{Hmac, Mac};
use sha2::Sha256;

pub use mint::Minter;

/// Bytes of the HMAC kept in a token: 96 bits, above the 80-bit floor.
const MAC_LEN: usize = 12;
/// Version byte of reply tokens. A new layout gets a new byte.
const REPLY_V1: u8 = 1;
/// Label mixed into the HMAC so a token of one kind never verifies as another.
const REPLY_LABEL: &[u8] = b"parley/reply/v1";
/// Version byte of bounce (VERP) tokens: distinct from every reply version.
const BOUNCE_V1: u8 = 2;
/// HMAC label of bounce tokens.
const BOUNCE_LABEL: &[u8] = b"parley/bounce/v1";

/// What a verified reply token names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyToken {
    pub ticket: i64,
    pub participant: i64,
}

/// Why a token was refused. Never fatal to intake: a refused token is simply
/// not used for threading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("token is not lowercase base32")]
    Encoding,
    #[error("token has an unknown version or a broken layout")]
    Layout,
    #[error("token signature does not verify")]
    Signature,
}

/// Signs and verifies tokens under one secret key.
#[derive(Clone)]
pub struct Signer {
    key: Vec<u8>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer(<redacted>)")
    }
}

impl Signer {
    pub fn new(key: &[u8]) -> Self {
        Signer { key: key.to_vec() }
    }

    fn mac(&self, label: &[u8], body: &[u8]) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(label);
        mac.update(body);
        mac
    }

    /// The token for `(ticket, participant)`.
    pub fn reply_token(&self, ticket: i64, participant: i64) -> String {
        self.seal(REPLY_V1, REPLY_LABEL, &[ticket, participant])
    }

    /// Checks a token (any letter case) and returns what it names.
    pub fn verify_reply(&self, token: &str) -> Result<ReplyToken, TokenError> {
        let [ticket, participant] = self.open(REPLY_V1, REPLY_LABEL, token)?;
        Ok(ReplyToken {
            ticket,
            participant,
        })
    }

    /// The bounce token naming outbound message `outbox_id` (an outbox row
    /// id; ids are positive, a negative one yields a token that never
    /// verifies).
    pub fn bounce_token(&self, outbox_id: i64) -> String {
        self.seal(BOUNCE_V1, BOUNCE_LABEL, &[outbox_id])
    }

    /// Checks a bounce token (any letter case) and returns the outbox row id
    /// it names.
    pub fn verify_bounce(&self, token: &str) -> Result<i64, TokenError> {
        let [outbox_id] = self.open(BOUNCE_V1, BOUNCE_LABEL, token)?;
        Ok(outbox_id)
    }

    /// `version ‖ LEB128(numbers…) ‖ HMAC(label ‖ body)[..MAC_LEN]`, base32.
    fn seal(&self, version: u8, label: &[u8], numbers: &[i64]) -> String {
        let mut body = vec![version];
        for &n in numbers {
            leb128_push(&mut body, n as u64);
        }
        let tag = self.mac(label, &body).finalize().into_bytes();
        body.extend_from_slice(&tag[..MAC_LEN]);
        base32_encode(&body)
    }

    /// The N numbers of a token of this version and label: layout checked
    /// first, then the signature, then that each number fits an i64.
    fn open<const N: usize>(
        &self,
        version: u8,
        label: &[u8],
        token: &str,
    ) -> Result<[i64; N], TokenError> {
        let bytes = base32_decode(token).ok_or(TokenError::Encoding)?;
        if bytes.len() < 1 + N + MAC_LEN || bytes[0] != version {
            return Err(TokenError::Layout);
        }
        let (body, tag) = bytes.split_at(bytes.len() - MAC_LEN);
        let mut rest = &body[1..];
        let mut numbers = [0u64; N];
        for n in &mut numbers {
            *n = leb128_take(&mut rest).ok_or(TokenError::Layout)?;
        }
        if !rest.is_empty() {
            return Err(TokenError::Layout);
        }
        self.mac(label, body)
            .verify_truncated_left(tag)
            .map_err(|_| TokenError::Signature)?;
        let mut out = [0i64; N];
        for (o, n) in out.iter_mut().zip(numbers) {
            *o = i64::try_from(n).map_err(|_| TokenError::Layout)?;
        }
        Ok(out)
    }
}

/// Splits `reply+TOKEN@domain` into TOKEN when the address has that shape and
/// the domain is the reply domain (compared without case).
pub fn reply_token_in<'a>(address: &'a str, reply_domain: &str) -> Option<&'a str> {
    token_in(address, "reply", reply_domain)
}

/// Splits `bounce+TOKEN@domain` (a VERP envelope sender of ours) into TOKEN,
/// by the same rules as [`reply_token_in`].
pub fn bounce_token_in<'a>(address: &'a str, reply_domain: &str) -> Option<&'a str> {
    token_in(address, "bounce", reply_domain)
}

/// `PREFIX+TOKEN@<reply domain>` → TOKEN; prefix and domain without case.
fn token_in<'a>(address: &'a str, prefix: &str, reply_domain: &str) -> Option<&'a str> {
    let (local, domain) = address.rsplit_once('@')?;
    if !domain.eq_ignore_ascii_case(reply_domain) {
        return None;
    }
    let (found, token) = local.split_once('+')?;
    (found.eq_ignore_ascii_case(prefix) && !token.is_empty()).then_some(token)
}

fn leb128_push(out: &mut Vec<u8>, mut n: u64) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Reads one LEB128 number; refuses overlong encodings so that every number
/// has exactly one token.
fn leb128_take(input: &mut &[u8]) -> Option<u64> {
    let mut n: u64 = 0;
    for (i, &byte) in input.iter().enumerate().take(10) {
        let part = u64::from(byte & 0x7f);
        if i == 9 && part > 1 {
            return None;
        }
        n |= part << (7 * i);
        if byte & 0x80 == 0 {
            if byte == 0 && i > 0 {
                return None;
            }
            *input = &input[i + 1..];
            return Some(n);
        }
    }
    None
}

const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

fn base32_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &byte in bytes {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// Decodes unpadded base32 in either case; refuses stray characters and
/// non-zero padding bits (so one byte string has one spelling).
fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for c in text.bytes() {
        let value = match c.to_ascii_lowercase() {
            c @ b'a'..=b'z' => c - b'a',
            c @ b'2'..=b'7' => c - b'2' + 26,
            _ => return None,
        };
        buffer = (buffer << 5) | u32::from(value);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
        buffer &= (1 << bits) - 1;
    }
    (bits < 5 && buffer == 0).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> Signer {
        Signer::new(b"a test key that is long enough!!")
    }

    #[test]
    fn round_trip_and_case_folding() {
        let s = signer();
        let token = s.reply_token(1234, 56789);
        assert_eq!(token, token.to_ascii_lowercase());
        let want = ReplyToken {
            ticket: 1234,
            participant: 56789,
        };
        assert_eq!(s.verify_reply(&token), Ok(want));
        assert_eq!(s.verify_reply(&token.to_ascii_uppercase()), Ok(want));
    }

    #[test]
    fn longest_token_fits_a_local_part() {
        let token = signer().reply_token(i64::MAX, i64::MAX);
        assert!(format!("reply+{token}").len() <= 64, "{token}");
        assert!(signer().verify_reply(&token).is_ok());
    }

    #[test]
    fn forged_tokens_are_refused() {
        let s = signer();
        let token = s.reply_token(7, 9);
        let other_key = Signer::new(b"another key entirely, same size.");
        assert_eq!(other_key.verify_reply(&token), Err(TokenError::Signature));
        // Every single-character change is refused.
        for i in 0..token.len() {
            let mut bytes = token.clone().into_bytes();
            bytes[i] = if bytes[i] == b'a' { b'b' } else { b'a' };
            let forged = String::from_utf8(bytes).unwrap();
            assert!(s.verify_reply(&forged).is_err(), "{forged}");
        }
        // Truncated and extended tokens are refused.
        assert!(s.verify_reply(&token[..token.len() - 1]).is_err());
        assert!(s.verify_reply(&token[..token.len() - 8]).is_err());
        assert!(s.verify_reply(&format!("{token}a")).is_err());
        assert_eq!(s.verify_reply("not-base32!"), Err(TokenError::Encoding));
        assert!(s.verify_reply("").is_err());
    }

    #[test]
    fn reply_address_shape() {
        assert_eq!(
            reply_token_in("Reply+abc@Reply.Example.com", "reply.example.com"),
            Some("abc")
        );
        assert_eq!(
            reply_token_in("reply+abc@other.com", "reply.example.com"),
            None
        );
        assert_eq!(
            reply_token_in("reply@reply.example.com", "reply.example.com"),
            None
        );
        assert_eq!(
            reply_token_in("sales+abc@reply.example.com", "reply.example.com"),
            None
        );
    }

    #[test]
    fn base32_matches_rfc4648_vectors() {
        for (raw, enc) in [
            ("", ""),
            ("f", "my"),
            ("fo", "mzxq"),
            ("foo", "mzxw6"),
            ("foob", "mzxw6yq"),
            ("fooba", "mzxw6ytb"),
            ("foobar", "mzxw6ytboi"),
        ] {
            assert_eq!(base32_encode(raw.as_bytes()), enc);
            assert_eq!(base32_decode(enc).unwrap(), raw.as_bytes());
        }
    }

    #[test]
    fn bounce_round_trip_and_case_folding() {
        let s = signer();
        for id in [0, 1, 127, 128, 99_999, i64::MAX] {
            let token = s.bounce_token(id);
            assert_eq!(token, token.to_ascii_lowercase());
            assert_eq!(s.verify_bounce(&token), Ok(id), "{id}");
            assert_eq!(s.verify_bounce(&token.to_ascii_uppercase()), Ok(id));
            assert!(format!("bounce+{token}").len() <= 64, "{token}");
        }
        assert_ne!(s.bounce_token(1), s.bounce_token(2));
        // A negative id never makes a usable token.
        assert_eq!(
            s.verify_bounce(&s.bounce_token(-1)),
            Err(TokenError::Layout)
        );
    }

    #[test]
    fn bounce_and_reply_tokens_do_not_cross() {
        let s = signer();
        for (ticket, participant) in [(1, 2), (300, 7), (i64::MAX, i64::MAX)] {
            let reply = s.reply_token(ticket, participant);
            assert_eq!(s.verify_bounce(&reply), Err(TokenError::Layout));
        }
        for id in [1, 5, 70_000] {
            let bounce = s.bounce_token(id);
            assert_eq!(s.verify_reply(&bounce), Err(TokenError::Layout));
        }
        // Same version byte, other label: a bounce-shaped body signed as a
        // reply token does not verify.
        let mut body = vec![BOUNCE_V1, 5];
        let tag = s.mac(REPLY_LABEL, &body).finalize().into_bytes();
        body.extend_from_slice(&tag[..MAC_LEN]);
        assert_eq!(
            s.verify_bounce(&base32_encode(&body)),
            Err(TokenError::Signature)
        );
    }

    #[test]
    fn forged_bounce_tokens_are_refused() {
        let s = signer();
        let token = s.bounce_token(4242);
        let other_key = Signer::new(b"another key entirely, same size.");
        assert_eq!(other_key.verify_bounce(&token), Err(TokenError::Signature));
        for i in 0..token.len() {
            let mut bytes = token.clone().into_bytes();
            bytes[i] = if bytes[i] == b'a' { b'b' } else { b'a' };
            let forged = String::from_utf8(bytes).unwrap();
            assert!(s.verify_bounce(&forged).is_err(), "{forged}");
        }
        assert!(s.verify_bounce(&token[..token.len() - 1]).is_err());
        assert!(s.verify_bounce(&token[..token.len() - 8]).is_err());
        assert!(s.verify_bounce(&format!("{token}a")).is_err());
        assert!(s.verify_bounce(&format!("{token}aaaaaaaa")).is_err());
        assert_eq!(s.verify_bounce("not-base32!"), Err(TokenError::Encoding));
        assert!(s.verify_bounce("").is_err());
    }

    /// The key of the documented test vectors.
    const VECTOR_KEY: &[u8] = b"0123456789abcdef";

    /// The documented reply-token vectors, asserted plainly: a change of
    /// layout, label, MAC length or alphabet would change every address
    /// already sent.
    #[test]
    fn reply_token_vectors() {
        let s = Signer::new(VECTOR_KEY);
        assert_eq!(s.reply_token(1, 1), "aeaqcpusvbiiefonchf5ruo3");
        assert_eq!(s.reply_token(1234, 5678), "ahjatlrm3sxvbgzhu42yrdp6fw4a");
        let bytes = base32_decode("ahjatlrm3sxvbgzhu42yrdp6fw4a").unwrap();
        assert_eq!(hex(&bytes[..5]), "01d209ae2c");
        assert_eq!(hex(&bytes[5..]), "dcaf509b27a735888dfe2db8");
        let want = ReplyToken {
            ticket: 1234,
            participant: 5678,
        };
        assert_eq!(s.verify_reply("ahjatlrm3sxvbgzhu42yrdp6fw4a"), Ok(want));
    }

    #[test]
    fn bounce_token_vectors() {
        let s = Signer::new(VECTOR_KEY);
        assert_eq!(s.bounce_token(1), "aiauq2nktobluotobvanw7a");
        assert_eq!(s.bounce_token(300), "akwaf4qhxotywz76uf7tkynv");
        let bytes = base32_decode("akwaf4qhxotywz76uf7tkynv").unwrap();
        assert_eq!(hex(&bytes[..3]), "02ac02");
        assert_eq!(hex(&bytes[3..]), "f207bba78b67fea17f3561b5");
        assert_eq!(s.verify_bounce("akwaf4qhxotywz76uf7tkynv"), Ok(300));
    }

    /// Every row of the tables under "Test vectors" in docs/token.md,
    /// checked against this code: the page and the code cannot drift.
    #[test]
    fn documented_vectors_hold() {
        let doc = include_str!("../docs/token.md");
        let vectors = doc_section(doc, "### Test vectors");
        let s = Signer::new(doc_key(vectors).as_bytes());
        let reply = doc_table(vectors, "| ticket | participant |");
        let bounce = doc_table(vectors, "| outbox id |");
        assert!(
            reply.len() >= 2,
            "reply vectors in docs/token.md: {reply:?}"
        );
        assert!(!bounce.is_empty(), "bounce vectors in docs/token.md");
        for row in &reply {
            let [ticket, participant, body, mac, token] = row.as_slice() else {
                panic!("a reply vector has five columns: {row:?}");
            };
            let (ticket, participant) = (ticket.parse().unwrap(), participant.parse().unwrap());
            assert_eq!(s.reply_token(ticket, participant), *token, "{row:?}");
            assert_vector_bytes(token, body, mac);
            let want = ReplyToken {
                ticket,
                participant,
            };
            assert_eq!(s.verify_reply(token), Ok(want), "{row:?}");
        }
        for row in &bounce {
            let [id, body, mac, token] = row.as_slice() else {
                panic!("a bounce vector has four columns: {row:?}");
            };
            let id = id.parse().unwrap();
            assert_eq!(s.bounce_token(id), *token, "{row:?}");
            assert_vector_bytes(token, body, mac);
            assert_eq!(s.verify_bounce(token), Ok(id), "{row:?}");
        }
    }

    /// `token` decodes to `body` (hex with spaces) followed by `mac` (hex).
    fn assert_vector_bytes(token: &str, body: &str, mac: &str) {
        let bytes = base32_decode(token).unwrap_or_else(|| panic!("{token} is base32"));
        let body = body.replace(' ', "");
        assert_eq!(bytes.len(), body.len() / 2 + MAC_LEN, "{token}");
        let (head, tag) = bytes.split_at(bytes.len() - MAC_LEN);
        assert_eq!(hex(head), body, "{token}: bytes before the MAC");
        assert_eq!(hex(tag), mac, "{token}: MAC");
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The text from `heading` to the next heading of the same or a higher
    /// level.
    fn doc_section<'a>(doc: &'a str, heading: &str) -> &'a str {
        let start = doc
            .find(&format!("\n{heading}\n"))
            .unwrap_or_else(|| panic!("docs/token.md has {heading:?}"))
            + 1;
        let level = heading.split(' ').next().unwrap_or("#");
        let rest = &doc[start + heading.len()..];
        let end = rest
            .match_indices("\n#")
            .find(|(at, _)| {
                let hashes = rest[at + 1..].bytes().take_while(|&b| b == b'#').count();
                hashes <= level.len()
            })
            .map_or(rest.len(), |(at, _)| at);
        &rest[..end]
    }

    /// The key the section names: the first `…` after "the key".
    fn doc_key(section: &str) -> &str {
        let after = &section[section.find("the key `").expect("the key is named") + 9..];
        &after[..after.find('`').expect("the key is quoted")]
    }

    /// The data rows of the table whose header starts with `header`, each
    /// cell without its backquotes.
    fn doc_table(section: &str, header: &str) -> Vec<Vec<String>> {
        let Some(at) = section.find(header) else {
            return Vec::new();
        };
        section[at..]
            .lines()
            .skip(2) // the header and the |---| line
            .take_while(|l| l.starts_with('|'))
            .map(|l| {
                l.trim_matches('|')
                    .split('|')
                    .map(|c| c.trim().trim_matches('`').to_string())
                    .collect()
            })
            .collect()
    }

    #[test]
    fn bounce_address_shape() {
        assert_eq!(
            bounce_token_in("Bounce+abc@Reply.Example.com", "reply.example.com"),
            Some("abc")
        );
        assert_eq!(
            bounce_token_in("bounce+abc@other.com", "reply.example.com"),
            None
        );
        assert_eq!(
            bounce_token_in("bounce@reply.example.com", "reply.example.com"),
            None
        );
        assert_eq!(
            bounce_token_in("bounce+@reply.example.com", "reply.example.com"),
            None
        );
        assert_eq!(
            bounce_token_in("reply+abc@reply.example.com", "reply.example.com"),
            None
        );
        assert_eq!(
            reply_token_in("bounce+abc@reply.example.com", "reply.example.com"),
            None
        );
        let s = signer();
        let address = format!("bounce+{}@reply.example.com", s.bounce_token(77));
        let token = bounce_token_in(&address, "REPLY.example.com").unwrap();
        assert_eq!(s.verify_bounce(token), Ok(77));
    }
}
