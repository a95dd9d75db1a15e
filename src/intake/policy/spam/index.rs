//! The scoring index: a token's hash → its [`Clue`], looked up for every
//! word and pair of every message a stranger sends.
//!
//! Beyond its few instructions, a lookup costs the memory it touches:
//! the model knows tens of thousands of tokens, and a `HashMap<u64, Clue>`
//! of them (24-byte entries and a control byte each, in a table with room
//! to spare) is ≈ 1.5 MB, more than a core's cache holds, so most words
//! of a message miss it. Here a slot is 8 bytes: 32 bits of the hash and
//! the number of the token's clue in a table of the distinct clues
//! (tokens with the same counts share one: far fewer clues than tokens);
//! the slots of the shipped model take 512 kB, and a lookup reads one or
//! two of their cache lines and one of the small clue table's.
//!
//! Open addressing with linear probing: a token's first slot is its
//! hash's low bits, its key the high 32 (never 0, which marks a free
//! slot), and the slots probed (a few adjacent ones, the table being at
//! most 5/8 full) are compared by key. A token the model does not know
//! is taken for one it knows about once in a billion lookups or so: a
//! false match, like two tokens sharing a 64-bit hash ([`super::hash`]),
//! costs a little accuracy and nothing else.

use std::collections::HashMap;

use super::Clue;

#[derive(Debug, Clone, Default)]
pub(super) struct Index {
    /// `(key, clue number)`; a key of 0 is a free slot.
    slots: Vec<(u32, u32)>,
    clues: Vec<Clue>,
}

impl Index {
    /// The index of `entries`; the same entries give the same index in any
    /// order.
    pub(super) fn new(entries: impl IntoIterator<Item = (u64, Clue)>) -> Index {
        let mut entries: Vec<(u64, Clue)> = entries.into_iter().collect();
        entries.sort_unstable_by_key(|&(hash, _)| hash);
        // At most 5/8 full: probes stay short (a token it does not hold
        // reads ≈ 3 slots on average, 24 bytes), and the shipped model's
        // 35,800 tokens fit 65,536 slots.
        let len = (entries.len() * 8 / 5).next_power_of_two().max(16);
        let mut index = Index {
            slots: vec![(0, 0); len],
            clues: Vec::new(),
        };
        let mut numbers: HashMap<[u32; 3], u32> = HashMap::new();
        for (hash, clue) in entries {
            let bits = [
                clue.distance.to_bits(),
                clue.ln_p.to_bits(),
                clue.ln_not_p.to_bits(),
            ];
            let number = *numbers.entry(bits).or_insert_with(|| {
                index.clues.push(clue);
                (index.clues.len() - 1) as u32
            });
            let mut slot = index.home(hash);
            while index.slots[slot].0 != 0 {
                slot = (slot + 1) & (len - 1);
            }
            index.slots[slot] = (key(hash), number);
        }
        index
    }

    /// The clue of the token with `hash`, if the model knows it.
    pub(super) fn get(&self, hash: u64) -> Option<Clue> {
        if self.clues.is_empty() {
            return None;
        }
        let (want, mask) = (key(hash), self.slots.len() - 1);
        let mut slot = self.home(hash);
        loop {
            let (key, number) = self.slots[slot];
            if key == want {
                return Some(self.clues[number as usize]);
            }
            if key == 0 {
                return None;
            }
            slot = (slot + 1) & mask;
        }
    }

    fn home(&self, hash: u64) -> usize {
        hash as usize & (self.slots.len() - 1)
    }

    /// How many distinct clues the tokens have.
    #[cfg(test)]
    pub(super) fn distinct_clues(&self) -> usize {
        self.clues.len()
    }
}

/// The high 32 bits of a hash, never 0.
fn key(hash: u64) -> u32 {
    ((hash >> 32) as u32).max(1)
}

impl PartialEq for Index {
    /// Equal when they hold the same tokens with the same clues.
    fn eq(&self, other: &Index) -> bool {
        let entries = |index: &Index| -> Vec<(u32, [u32; 3])> {
            index
                .slots
                .iter()
                .filter(|s| s.0 != 0)
                .map(|&(key, n)| {
                    let c = index.clues[n as usize];
                    (key, [c.distance, c.ln_p, c.ln_not_p].map(f32::to_bits))
                })
                .collect()
        };
        self.slots.len() == other.slots.len() && entries(self) == entries(other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intake::policy::spam::hash::token_hash;

    fn clue(p: f32) -> Clue {
        Clue {
            distance: (p - 0.5).abs(),
            ln_p: p.ln(),
            ln_not_p: (1.0 - p).ln(),
        }
    }

    #[test]
    fn finds_what_it_holds_and_nothing_else() {
        let words: Vec<String> = (0..5_000).map(|i| format!("token{i}")).collect();
        let index = Index::new(words.iter().enumerate().map(|(i, w)| {
            (
                token_hash(w.as_bytes()),
                clue((i % 97) as f32 / 100.0 + 0.01),
            )
        }));
        for (i, w) in words.iter().enumerate() {
            let want = clue((i % 97) as f32 / 100.0 + 0.01);
            assert_eq!(index.get(token_hash(w.as_bytes())), Some(want), "{w}");
        }
        for i in 0..5_000 {
            assert_eq!(index.get(token_hash(format!("other{i}").as_bytes())), None);
        }
        // Tokens with the same counts share their clue.
        assert_eq!(index.distinct_clues(), 97);
    }

    #[test]
    fn hashes_that_share_a_home_or_a_key_are_told_apart() {
        // The same low bits (one home slot), then the same high bits.
        let same_home = [
            0x0000_0001_0000_0005,
            0x0000_0002_0000_0005,
            0x0000_0003_0000_0005,
        ];
        let same_key = [0x0000_0009_0000_0001, 0x0000_0009_0000_0002];
        let index = Index::new(
            same_home
                .iter()
                .chain(&same_key)
                .enumerate()
                .map(|(i, &h)| (h, clue(0.1 * (i + 1) as f32))),
        );
        for (i, &h) in same_home.iter().chain(&same_key).enumerate() {
            assert_eq!(index.get(h), Some(clue(0.1 * (i + 1) as f32)), "{h:#x}");
        }
        assert_eq!(index.get(0x0000_0004_0000_0005), None);
        assert_eq!(Index::default().get(5), None);
    }

    #[test]
    fn the_order_of_the_entries_does_not_matter() {
        let entries: Vec<(u64, Clue)> = (0..300u64)
            .map(|i| {
                (
                    i.wrapping_mul(0x9e37_79b9_7f4a_7c15),
                    clue((i % 7) as f32 / 10.0 + 0.05),
                )
            })
            .collect();
        let forward = Index::new(entries.clone());
        let backward = Index::new(entries.into_iter().rev());
        assert_eq!(forward, backward);
        assert_eq!(forward.slots, backward.slots);
    }
}
