//! Small helpers shared by the checks.

/// Separator between the fields of a multi-field input (SASL challenges,
/// header texts): 0xFF never occurs in UTF-8, so text fields stay intact.
pub const FIELD_SEP: u8 = 0xff;

/// Splits an input into fields at [`FIELD_SEP`].
pub fn fields(data: &[u8]) -> Vec<&[u8]> {
    data.split(|&b| b == FIELD_SEP).collect()
}

/// FNV-1a: a seed for chunk sizes that follows the input, so a mutation
/// of the content also tries another way of splitting it.
pub fn fnv(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in data {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// A tiny deterministic generator (xorshift64*) for chunk sizes.
pub struct Rng(u64);

impl Rng {
    /// A generator seeded from `seed` (never zero).
    pub fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    /// The next pseudo-random value.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A chunk length in `1..=max`, biased towards short chunks so that
    /// boundaries land between a CR and its LF often.
    pub fn chunk_len(&mut self, max: usize) -> usize {
        let max = max.max(1);
        let r = self.next_u64();
        let cap = match r % 4 {
            0 => 1,
            1 => 3,
            2 => 16,
            _ => max,
        };
        1 + (r >> 8) as usize % cap.min(max)
    }
}

/// Splits `data` into consecutive non-empty chunks of pseudo-random length.
pub fn chunks(data: &[u8], seed: u64) -> Vec<&[u8]> {
    let mut rng = Rng::new(seed);
    let mut out = Vec::new();
    let mut rest = data;
    // Each round consumes at least one byte: bounded by the input length.
    while !rest.is_empty() {
        let n = rng.chunk_len(rest.len()).min(rest.len());
        let (chunk, tail) = rest.split_at(n);
        out.push(chunk);
        rest = tail;
    }
    out
}

// The byte-by-byte references of the DATA line rules, shared with
// smtp-core's unit and property tests and the workspace suites.
#[path = "../../smtp-core/tests/reference/wire.rs"]
mod wire_reference;
pub use wire_reference::{crlf_only, data_content, normalise};

/// Finds `needle` in `hay` (naive; inputs are small).
pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || needle.len() > hay.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}
