//! The byte and pair pre-pass every detector's searches go through ([`Text`], [`Needles`]) and
//! the small string helpers the detectors share.

/// A fixed keyword list for a detector. Each needle keeps the set of its bytes and of its
/// adjacent byte pairs; a search only looks for the needles the text could hold (checked
/// against the text's sets at the cost of a few word operations), each with a prebuilt
/// vectorised substring finder.
pub(crate) struct Needles {
    needles: Vec<Needle>,
}

struct Needle {
    word: &'static str,
    bytes: [u64; 4],
    /// The needle's pair bits, as (word index, mask) for the words that have any.
    pairs: Vec<(usize, u64)>,
    finder: memchr::memmem::Finder<'static>,
}

impl Needles {
    pub fn new(words: &'static [&'static str]) -> Needles {
        let needles = words
            .iter()
            .map(|w| {
                let sets = Sets::of(w);
                Needle {
                    word: w,
                    bytes: sets.bytes,
                    pairs: (0..sets.pairs.len())
                        .filter(|&i| sets.pairs[i] != 0)
                        .map(|i| (i, sets.pairs[i]))
                        .collect(),
                    finder: memchr::memmem::Finder::new(w.as_bytes()),
                }
            })
            .collect();
        Needles { needles }
    }

    /// The needles that could occur in `t`.
    fn candidates<'s>(&'s self, t: &'s Text<'_>) -> impl Iterator<Item = &'s Needle> + 's {
        self.needles.iter().filter(|n| t.sets.covers(n))
    }

    pub fn is_match(&self, t: &Text<'_>) -> bool {
        let hay = t.s.as_bytes();
        self.candidates(t).any(|n| n.finder.find(hay).is_some())
    }

    /// Every occurrence, overlapping: `(needle, start)`, grouped by needle.
    pub fn all<'t>(&'t self, t: &'t Text<'t>) -> impl Iterator<Item = (&'static str, usize)> + 't {
        let hay = t.s.as_bytes();
        self.candidates(t).flat_map(move |n| {
            let mut from = 0;
            std::iter::from_fn(move || {
                let p = from + n.finder.find(hay.get(from..)?)?;
                from = p + 1;
                Some((n.word, p))
            })
        })
    }
}

/// The bytes and the adjacent byte pairs (hashed into 1,024 bits) of a string: a string can
/// only contain a needle whose sets are covered by its own.
#[derive(Clone, Copy)]
pub(crate) struct Sets {
    bytes: [u64; 4],
    pairs: [u64; 16],
}

impl Sets {
    fn of(s: &str) -> Sets {
        let mut sets = Sets {
            bytes: [0; 4],
            pairs: [0; 16],
        };
        // The byte set is built in registers (an in-memory read-modify-write per byte would
        // chain every iteration on the previous one's store).
        let (mut ascii, mut high) = (0u128, 0u128);
        let mut prev: Option<u8> = None;
        for &c in s.as_bytes() {
            if c < 128 {
                ascii |= 1 << c;
            } else {
                high |= 1 << (c - 128);
            }
            if let Some(p) = prev {
                let h = pair_hash(p, c);
                sets.pairs[h >> 6] |= 1 << (h & 63);
            }
            prev = Some(c);
        }
        sets.bytes = [
            ascii as u64,
            (ascii >> 64) as u64,
            high as u64,
            (high >> 64) as u64,
        ];
        sets
    }

    #[inline]
    fn has_byte(&self, c: u8) -> bool {
        self.bytes[usize::from(c >> 6)] & (1 << (c & 63)) != 0
    }

    #[inline]
    fn covers(&self, needle: &Needle) -> bool {
        (needle.bytes[0] & !self.bytes[0])
            | (needle.bytes[1] & !self.bytes[1])
            | (needle.bytes[2] & !self.bytes[2])
            | (needle.bytes[3] & !self.bytes[3])
            == 0
            && needle.pairs.iter().all(|&(i, m)| m & !self.pairs[i] == 0)
    }

    /// Whether every byte and pair of `needle` occurs (without building the needle's sets).
    #[inline]
    fn may_hold(&self, needle: &[u8]) -> bool {
        needle.iter().all(|&c| self.has_byte(c))
            && needle.windows(2).all(|w| {
                let h = pair_hash(w[0], w[1]);
                self.pairs[h >> 6] & (1 << (h & 63)) != 0
            })
    }
}

#[inline]
fn pair_hash(a: u8, b: u8) -> usize {
    ((usize::from(a) << 5) ^ usize::from(b)) & 1023
}

/// Canonical text with the bytes and byte pairs it holds ([`Sets`]), computed in one pass: a
/// detector's needle search is skipped outright when a byte or pair of the needle is absent,
/// which is the common case (each value is checked against a few hundred needles).
pub(crate) struct Text<'a> {
    pub s: &'a str,
    sets: Sets,
}

impl<'a> Text<'a> {
    pub fn new(s: &'a str) -> Text<'a> {
        Text {
            s,
            sets: Sets::of(s),
        }
    }

    /// Whether byte `c` occurs.
    #[inline]
    pub fn byte(&self, c: u8) -> bool {
        self.sets.has_byte(c)
    }

    /// Whether any of `cs` occurs.
    #[inline]
    pub fn any(&self, cs: &[u8]) -> bool {
        cs.iter().any(|&c| self.byte(c))
    }

    /// Whether `needle` could occur (every byte and pair of it does), without searching.
    #[inline]
    pub fn may_have(&self, needle: &str) -> bool {
        self.sets.may_hold(needle.as_bytes())
    }

    #[inline]
    pub fn has(&self, needle: &str) -> bool {
        self.may_have(needle) && has(self.s, needle)
    }

    #[inline]
    pub fn find(&self, needle: &str) -> Option<usize> {
        if self.may_have(needle) {
            find(self.s, needle)
        } else {
            None
        }
    }
}

/// `s` without the leading ASCII bytes in `set` (a byte loop; the standard library's char
/// patterns decode UTF-8 on the way).
#[inline]
pub(crate) fn trim_start<'a>(s: &'a str, set: &[u8]) -> &'a str {
    let n = s.bytes().take_while(|c| set.contains(c)).count();
    // Every byte skipped is ASCII, so `n` is a character boundary.
    s.get(n..).unwrap_or("")
}

/// Whether the bytes around `text[start..end]` are not identifier characters.
pub(crate) fn word_at(text: &str, start: usize, end: usize) -> bool {
    let b = text.as_bytes();
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    (start == 0 || !ident(b[start - 1])) && (end >= b.len() || !ident(b[end]))
}

/// Whether `needle` occurs in `hay`: a first-byte scan and compare, far cheaper than the
/// standard library's two-way searcher for the short needles and values judged here.
pub(crate) fn has(hay: &str, needle: &str) -> bool {
    find(hay, needle).is_some()
}

/// Byte position of the first `needle` in `hay`: a vectorised search for the needle's first
/// byte, then a compare.
pub(crate) fn find(hay: &str, needle: &str) -> Option<usize> {
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    let Some(&first) = n.first() else {
        return Some(0);
    };
    if h.len() < n.len() {
        return None;
    }
    let last_start = h.len() - n.len();
    let mut i = 0;
    while i <= last_start {
        i += memchr::memchr(first, &h[i..=last_start])?;
        if &h[i..i + n.len()] == n {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// Non-overlapping occurrences of `needle` in `hay`.
pub(crate) fn count(hay: &str, needle: &str) -> usize {
    let mut n = 0;
    let mut from = 0;
    while let Some(p) = find(&hay[from..], needle) {
        n += 1;
        from += p + needle.len().max(1);
        if from > hay.len() {
            break;
        }
    }
    n
}

/// Position of `word` in `text` where it is not part of a longer identifier.
pub(crate) fn find_word(text: &str, word: &str) -> Option<usize> {
    let b = text.as_bytes();
    let mut from = 0;
    while let Some(p) = find(&text[from..], word) {
        let i = from + p;
        let end = i + word.len();
        let left = i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_');
        let right = end >= b.len() || !(b[end].is_ascii_alphanumeric() || b[end] == b'_');
        if left && right {
            return Some(i);
        }
        from = i + 1;
    }
    None
}
