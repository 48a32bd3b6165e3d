//! A byte trie over vocabulary tokens, for WordPiece's longest-match-first search.
//!
//! `tokenizers` finds the longest vocabulary entry at a position by trying every end, longest
//! first, with one hash lookup each. Walking a trie over the word's bytes instead finds the same
//! entry in one pass: the last token end seen before the walk falls off the trie. A token is
//! valid UTF-8, so a match always ends on a char boundary of the word.
//!
//! The trie is a double array: node `s` goes to node `t = slots[s].base + byte` on `byte` iff
//! `slots[t].check == s`. One array read per byte, no search.

use std::collections::VecDeque;
use std::ops::Range;

/// `check` of a free slot.
const FREE: u32 = u32::MAX;
/// `check` of the root (slot 0), which is nobody's child.
const ROOT: u32 = u32::MAX - 1;
/// `id` of a node where no token ends.
const NO_TOKEN: u32 = u32::MAX;

#[derive(Debug, Clone)]
pub(crate) struct Trie {
    slots: Vec<Slot>,
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    /// Children of this node are at `base + byte`.
    base: u32,
    /// The parent node's slot, [`FREE`] or [`ROOT`].
    check: u32,
    /// The id of the token that ends at this node, or [`NO_TOKEN`].
    id: u32,
}

const EMPTY: Slot = Slot {
    base: 0,
    check: FREE,
    id: NO_TOKEN,
};

impl Trie {
    /// Builds the trie of `(token, id)` pairs; a token given twice keeps the last id.
    ///
    /// The double array is filled breadth-first straight from the sorted tokens: the tokens below
    /// a node are a run of the sorted list (they share its prefix), and its children are the runs
    /// within it that share one more byte. No intermediate trie is built.
    pub fn new<'a>(tokens: impl IntoIterator<Item = (&'a str, u32)>) -> Self {
        let mut keys: Vec<(&[u8], u32)> = tokens
            .into_iter()
            .map(|(token, id)| (token.as_bytes(), id))
            .collect();
        // A stable sort keeps equal tokens in the order given; each run of them keeps its last id.
        keys.sort_by(|a, b| a.0.cmp(b.0));
        keys.dedup_by(|later, kept| {
            let same = later.0 == kept.0;
            if same {
                kept.1 = later.1;
            }
            same
        });

        let mut placer = Placer::default();
        placer.grow(256);
        placer.take(0);
        placer.slots[0] = Slot {
            base: 0,
            check: ROOT,
            id: id_ending_at(&keys, 0, 0),
        };
        // Each node in the queue: its slot, the run of `keys` below it, and its depth (the length
        // of its prefix).
        let mut queue = VecDeque::from([(0usize, 0..keys.len(), 0usize)]);
        let mut kids: Vec<(u8, Range<usize>)> = Vec::new();
        while let Some((slot, run, depth)) = queue.pop_front() {
            // One child per byte at `depth` among the keys longer than the prefix; sorted, the
            // keys of each child are consecutive (and the prefix itself, if a key, comes first).
            kids.clear();
            for i in run {
                let Some(&b) = keys[i].0.get(depth) else {
                    continue;
                };
                match kids.last_mut() {
                    Some((last, kid)) if *last == b => kid.end = i + 1,
                    _ => kids.push((b, i..i + 1)),
                }
            }
            if kids.is_empty() {
                continue;
            }
            let base = placer.find_base(kids.iter().map(|&(b, _)| usize::from(b)));
            placer.slots[slot].base = base as u32;
            for (b, kid) in kids.drain(..) {
                let t = base + usize::from(b);
                placer.take(t);
                placer.slots[t] = Slot {
                    base: 0,
                    check: slot as u32,
                    id: id_ending_at(&keys, kid.start, depth + 1),
                };
                queue.push_back((t, kid, depth + 1));
            }
        }
        let mut slots = placer.slots;
        while slots.last().is_some_and(|s| s.check == FREE) {
            slots.pop();
        }
        Trie { slots }
    }

    /// The id of `token` itself, if it is one of the trie's tokens.
    pub fn get(&self, token: &[u8]) -> Option<u32> {
        let mut node = 0usize;
        for &b in token {
            let next = self.slots[node].base as usize + usize::from(b);
            match self.slots.get(next) {
                Some(slot) if slot.check == node as u32 => node = next,
                _ => return None,
            }
        }
        let id = self.slots[node].id;
        (id != NO_TOKEN).then_some(id)
    }

    /// The id and byte length of the longest non-empty token that `bytes` starts with.
    pub fn longest_prefix(&self, bytes: &[u8]) -> Option<(u32, usize)> {
        let mut node = 0usize;
        let mut best = None;
        for (i, &b) in bytes.iter().enumerate() {
            let next = self.slots[node].base as usize + usize::from(b);
            match self.slots.get(next) {
                Some(slot) if slot.check == node as u32 => node = next,
                _ => break,
            }
            let id = self.slots[node].id;
            if id != NO_TOKEN {
                best = Some((id, i + 1));
            }
        }
        best
    }
}

/// The id of the key at `i` if it is exactly `depth` bytes long: the token that ends at the node
/// whose run of sorted `keys` starts at `i` (a run's shortest key comes first).
fn id_ending_at(keys: &[(&[u8], u32)], i: usize, depth: usize) -> u32 {
    match keys.get(i) {
        Some(&(key, id)) if key.len() == depth => id,
        _ => NO_TOKEN,
    }
}

/// Builds the double array, keeping its free slots in a doubly linked list so that finding a
/// base skips the (many) used slots.
#[derive(Default)]
struct Placer {
    slots: Vec<Slot>,
    /// Next and previous free slot of each listed free slot; [`END`] ends the list.
    next: Vec<usize>,
    prev: Vec<usize>,
    /// How often each free slot was tried as a node's first child and did not fit.
    misses: Vec<u8>,
    head: usize,
    tail: usize,
}

/// End of [`Placer`]'s free list.
const END: usize = usize::MAX;

/// Misses after which a free slot leaves [`Placer`]'s free list.
const MAX_MISSES: u8 = 4;

impl Placer {
    /// Adds free slots up to `len`.
    fn grow(&mut self, len: usize) {
        if self.slots.is_empty() {
            self.head = END;
            self.tail = END;
        }
        for i in self.slots.len()..len {
            self.slots.push(EMPTY);
            self.next.push(END);
            self.prev.push(self.tail);
            self.misses.push(0);
            match self.tail {
                END => self.head = i,
                tail => self.next[tail] = i,
            }
            self.tail = i;
        }
    }

    /// Marks free slot `i` as used.
    fn take(&mut self, i: usize) {
        if self.misses[i] < MAX_MISSES {
            self.unlink(i);
        }
    }

    /// Takes free slot `i` off the free list.
    fn unlink(&mut self, i: usize) {
        let (prev, next) = (self.prev[i], self.next[i]);
        match prev {
            END => self.head = next,
            prev => self.next[prev] = next,
        }
        match next {
            END => self.tail = prev,
            next => self.prev[next] = prev,
        }
    }

    /// The lowest-listed base >= 1 with a free slot at `base + b` for every byte `b` (sorted).
    fn find_base(&mut self, bytes: impl Iterator<Item = usize> + Clone) -> usize {
        let lowest = bytes.clone().next().unwrap_or(0);
        let mut free = self.head;
        loop {
            if free == END {
                // Nothing fits: add a fresh block of slots past the end.
                let base = self.slots.len().max(lowest + 1) - lowest;
                self.grow(base + 256);
                return base;
            }
            if free > lowest {
                let base = free - lowest;
                if base + 255 >= self.slots.len() {
                    self.grow(base + 256);
                }
                if bytes.clone().all(|b| self.slots[base + b].check == FREE) {
                    return base;
                }
            }
            let next = self.next[free];
            // A slot that keeps failing stays free but is no longer offered, so the search
            // stays short; it can still hold a child other than a node's first.
            self.misses[free] += 1;
            if self.misses[free] == MAX_MISSES {
                self.unlink(free);
            }
            free = next;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_longest_token_prefix() {
        let trie = Trie::new([("a", 0), ("ab", 1), ("abcd", 2), ("é", 3), ("\0", 4)]);
        assert_eq!(trie.longest_prefix(b"abc"), Some((1, 2)));
        assert_eq!(trie.longest_prefix(b"abcde"), Some((2, 4)));
        assert_eq!(trie.longest_prefix(b"b"), None);
        assert_eq!(trie.longest_prefix(b""), None);
        assert_eq!(trie.longest_prefix("éa".as_bytes()), Some((3, 2)));
        assert_eq!(trie.longest_prefix(b"\0\0"), Some((4, 1)));
    }

    #[test]
    fn empty_token_and_empty_trie_match_nothing() {
        assert_eq!(Trie::new([("", 7)]).longest_prefix(b"\0a"), None);
        assert_eq!(Trie::new([]).longest_prefix(b"\0"), None);
    }

    #[test]
    fn later_duplicate_wins() {
        let trie = Trie::new([("x", 0), ("xy", 2), ("x", 5), ("x", 3)]);
        assert_eq!(trie.longest_prefix(b"x"), Some((3, 1)));
        assert_eq!(trie.get(b"x"), Some(3));
    }

    #[test]
    fn get_finds_whole_tokens_only() {
        let trie = Trie::new([("", 9), ("ab", 1), ("abcd", 2), ("é", 3)]);
        assert_eq!(trie.get(b"ab"), Some(1));
        assert_eq!(trie.get(b"abcd"), Some(2));
        assert_eq!(trie.get("é".as_bytes()), Some(3));
        assert_eq!(trie.get(b""), Some(9));
        assert_eq!(trie.get(b"abc"), None);
        assert_eq!(trie.get(b"abcde"), None);
        assert_eq!(trie.get(b"b"), None);
        assert_eq!(Trie::new([]).get(b""), None);
    }

    #[test]
    fn agrees_with_a_brute_force_search() {
        let tokens = [
            "a", "ab", "abc", "b", "bca", "c", "cab", "ca", "bb", "ééé", "é",
        ];
        let trie = Trie::new(tokens.iter().enumerate().map(|(i, t)| (*t, i as u32)));
        for text in ["abcab", "bbca", "cabb", "ééa", "bcabc", "x", "ca"] {
            for start in 0..text.len() {
                let rest = &text.as_bytes()[start..];
                let want = tokens
                    .iter()
                    .enumerate()
                    .filter(|(_, t)| rest.starts_with(t.as_bytes()))
                    .max_by_key(|(_, t)| t.len())
                    .map(|(i, t)| (i as u32, t.len()));
                assert_eq!(trie.longest_prefix(rest), want, "{text:?} at {start}");
            }
        }
    }
}
