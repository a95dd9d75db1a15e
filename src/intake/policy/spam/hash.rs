//! Token hashing: the model's index is keyed by a 64-bit hash of each
//! token's text, computed the same way from the model file's text and from
//! the parts the tokenizer finds in a message.
//!
//! It must be stable across builds and platforms (std's hashers are not)
//! and fast: every word of every message is hashed at intake. Eight bytes
//! at a time, lowercased in a register, each step a folded multiply (as
//! in wyhash and foldhash: FxHash's cheaper step let two-word tokens
//! collide). A collision merges two tokens' counts, which costs a little
//! accuracy and nothing else.

use std::hash::Hasher;

/// Bytes of a token that count; the tokenizer keeps tokens shorter.
pub(crate) const MAX_TOKEN: usize = 128;

const ONES: u64 = 0x0101_0101_0101_0101;

/// ASCII-lowercases the eight bytes of `x` at once.
const fn lower8(x: u64) -> u64 {
    let heptets = x & (0x7f * ONES);
    let above_z = heptets.wrapping_add((0x7f - b'Z' as u64) * ONES);
    let from_a = heptets.wrapping_add((0x80 - b'A' as u64) * ONES);
    let ascii = !x & (0x80 * ONES);
    let upper = ascii & from_a & !above_z;
    x | (upper >> 2)
}

/// The high and low halves of the 128-bit product, folded.
const fn step(h: u64, chunk: u64) -> u64 {
    let m = ((h ^ chunk) as u128) * 0x9e37_79b9_7f4a_7c15_u128;
    (m as u64) ^ ((m >> 64) as u64)
}

/// The hash of a token's text, ASCII-lowercased; at most [`MAX_TOKEN`]
/// bytes are read.
pub(crate) const fn token_hash(bytes: &[u8]) -> u64 {
    let len = if bytes.len() < MAX_TOKEN {
        bytes.len()
    } else {
        MAX_TOKEN
    };
    let mut h = 0x243f_6a88_85a3_08d3 ^ len as u64;
    let mut i = 0;
    while i + 8 <= len {
        h = step(h, lower8(le(bytes, i, 8)));
        i += 8;
    }
    if i < len {
        h = step(h, lower8(tail(bytes, i, len)));
    }
    h
}

/// The `n` (at most 8) bytes of `bytes` from `at`, little-endian.
const fn le(bytes: &[u8], at: usize, n: usize) -> u64 {
    let mut x = 0;
    let mut k = 0;
    while k < n {
        x |= (bytes[at + k] as u64) << (8 * k);
        k += 1;
    }
    x
}

/// Bytes `from..len` of `bytes` (one to seven of them), little-endian,
/// zero above: read as at most three loads, not byte by byte (most words
/// are shorter than eight bytes: this is most of their hashing).
const fn tail(bytes: &[u8], from: usize, len: usize) -> u64 {
    let r = len - from;
    if len >= 8 {
        // The last eight bytes, the ones already hashed shifted out.
        le(bytes, len - 8, 8) >> (8 * (8 - r))
    } else if r >= 4 {
        // Two four-byte loads that overlap: the bytes both hold are
        // the same.
        le(bytes, from, 4) | (le(bytes, len - 4, 4) << (8 * (r - 4)))
    } else {
        // One to three bytes: the first, the middle and the last.
        le(bytes, from, 1)
            | (le(bytes, from + r / 2, 1) << (8 * (r / 2)))
            | (le(bytes, len - 1, 1) << (8 * (r - 1)))
    }
}

/// The hash of the concatenation of `parts`, without allocating.
pub(crate) fn parts_hash(parts: &[&str]) -> u64 {
    if let [one] = parts {
        return token_hash(one.as_bytes());
    }
    let total: usize = parts.iter().map(|p| p.len()).sum();
    // Most tokens are short: a small buffer is cheaper to clear.
    if total <= 32 {
        let mut buf = [0u8; 32];
        token_hash(join_into(parts, &mut buf))
    } else {
        let mut buf = [0u8; MAX_TOKEN];
        token_hash(join_into(parts, &mut buf))
    }
}

/// `parts` one after the other in `buf`, as many bytes as fit.
fn join_into<'b>(parts: &[&str], buf: &'b mut [u8]) -> &'b [u8] {
    let mut len = 0;
    for part in parts {
        let take = part.len().min(buf.len() - len);
        buf[len..len + take].copy_from_slice(&part.as_bytes()[..take]);
        len += take;
    }
    &buf[..len]
}

/// For tables keyed by a [`token_hash`]: it only needs its high bits
/// mixed down, as the table indexes by the low ones.
#[derive(Default)]
pub(crate) struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (n ^ (n >> 29)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowercases_ascii_only() {
        let all: Vec<u8> = (0..=255u8).collect();
        for chunk in all.chunks(8) {
            let x = u64::from_le_bytes(chunk.try_into().unwrap());
            let want: Vec<u8> = chunk.iter().map(u8::to_ascii_lowercase).collect();
            assert_eq!(lower8(x).to_le_bytes().as_slice(), want.as_slice());
        }
    }

    #[test]
    fn tails_are_read_as_byte_by_byte() {
        let text: Vec<u8> = (1..=40u8).map(|b| b.wrapping_mul(37)).collect();
        for len in 1..=text.len() {
            for from in len.saturating_sub(7)..len {
                let want = le(&text, from, len - from);
                assert_eq!(tail(&text, from, len), want, "bytes {from}..{len}");
            }
        }
    }

    #[test]
    fn parts_hash_as_their_text() {
        for parts in [
            &["subject:", "ÜBER", "Größe"][..],
            &["a"],
            &["", "exactly8", "bytes!!!", " and then some more"],
            &["x".repeat(200).leak()],
            &["twenty-nine bytes ", "of tokens", "!!"],
            &["thirty-three bytes ", "of tokens", "!!!!!"],
        ] {
            let text = parts.concat().to_ascii_lowercase();
            assert_eq!(parts_hash(parts), token_hash(text.as_bytes()), "{parts:?}");
        }
        assert_ne!(token_hash(b"ab"), token_hash(b"ab\0"));
        assert_ne!(token_hash(b""), token_hash(b"\0"));
        assert_eq!(token_hash(b"Click"), token_hash(b"click"));
    }

    #[test]
    fn no_collisions_among_many_similar_tokens() {
        let words: Vec<String> = (0..600).map(|i| format!("w{i}x")).collect();
        let mut seen = std::collections::HashSet::new();
        for a in &words {
            assert!(seen.insert(token_hash(a.as_bytes())));
            for b in &words {
                assert!(
                    seen.insert(token_hash(format!("{a} {b}").as_bytes())),
                    "{a} {b}"
                );
            }
        }
    }
}
