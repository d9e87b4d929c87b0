//! The trace hash: a platform-independent 64-bit digest over every observation and every
//! delivered message, so two runs can be compared by one number.
//!
//! `std::hash::Hash` is used to walk values, but the hasher below fixes everything the standard
//! hashers leave to the platform: integers are hashed little-endian and `usize`/`isize` (enum
//! discriminants, lengths) are widened to 64 bits, so debug, release and any target agree.

use std::hash::{Hash, Hasher};

#[derive(Clone)]
pub struct StableHasher {
    h: u64,
}

const K: u64 = 0x9E37_79B9_7F4A_7C15;

impl Default for StableHasher {
    fn default() -> Self {
        StableHasher { h: 0xcbf2_9ce4_8422_2325 }
    }
}

impl StableHasher {
    #[inline]
    fn mix(&mut self, x: u64) {
        self.h = (self.h ^ x).wrapping_mul(K).rotate_left(29);
    }

    /// Hashes any `Hash` value into a fresh digest (used for message fingerprints).
    pub fn digest<T: Hash + ?Sized>(v: &T) -> u64 {
        let mut h = StableHasher::default();
        v.hash(&mut h);
        h.finish()
    }
}

/// splitmix64's finalizer: every input bit reaches every output bit, so nearby inputs give
/// unrelated outputs (digests, and the low bits a hash index masks off).
pub fn avalanche(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Hasher for StableHasher {
    fn finish(&self) -> u64 {
        avalanche(self.h)
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.mix(u64::from_le_bytes(c.try_into().expect("8-byte chunk")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            // The tail as a little-endian word, built byte by byte: short strings are the
            // common case and a copy into a buffer would be a library call.
            let tail = rest.iter().rev().fold(0u64, |w, &b| (w << 8) | b as u64);
            self.mix(tail ^ ((rest.len() as u64) << 56));
        }
    }
    fn write_u8(&mut self, i: u8) {
        self.mix(i as u64);
    }
    fn write_u16(&mut self, i: u16) {
        self.mix(i as u64);
    }
    fn write_u32(&mut self, i: u32) {
        self.mix(i as u64);
    }
    fn write_u64(&mut self, i: u64) {
        self.mix(i);
    }
    fn write_u128(&mut self, i: u128) {
        self.mix(i as u64);
        self.mix((i >> 64) as u64);
    }
    fn write_usize(&mut self, i: usize) {
        self.mix(i as u64);
    }
    fn write_i8(&mut self, i: i8) {
        self.mix(i as u64);
    }
    fn write_i16(&mut self, i: i16) {
        self.mix(i as u64);
    }
    fn write_i32(&mut self, i: i32) {
        self.mix(i as u64);
    }
    fn write_i64(&mut self, i: i64) {
        self.mix(i as u64);
    }
    fn write_isize(&mut self, i: isize) {
        self.mix(i as i64 as u64);
    }
}

/// Running digest of a simulation: fold in observations and deliveries in the order they happen.
#[derive(Clone, Default)]
pub struct TraceHash {
    h: StableHasher,
}

impl TraceHash {
    pub fn add<T: Hash + ?Sized>(&mut self, tag: u8, at: i64, node: u32, v: &T) {
        self.h.write_u8(tag);
        self.h.write_i64(at);
        self.h.write_u32(node);
        v.hash(&mut self.h);
    }
    pub fn value(&self) -> u64 {
        self.h.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_is_pinned() {
        // Pinned so that a change of the hash function (which would invalidate every recorded
        // replay hash) is a deliberate act.
        assert_ne!(StableHasher::digest(&(1u32, "nacos")), StableHasher::digest(&(2u32, "nacos")));
        assert_eq!(StableHasher::digest(&0u64), 3_854_192_178_756_780_324);
        assert_eq!(StableHasher::digest(&(7usize, "nacos", -5i64)), StableHasher::digest(&(7u64, "nacos", -5i64)));
    }
}
