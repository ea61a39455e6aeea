//! A hasher for the inspector's own keys: ids it hands out in sequence
//! and addresses of its statics, which nobody chooses to aim at
//! collisions. One multiplication instead of SipHash's rounds: every
//! contended lock hashes its waiter's id four times under the wait-for
//! graph's lock, where SipHash cost a tenth of the wait; the collector
//! looks up the call site of every traced call it names.

use std::hash::{BuildHasherDefault, Hasher};

/// Builds [`IdHasher`]s: `HashMap<u64, V, ById>`.
pub(crate) type ById = BuildHasherDefault<IdHasher>;

/// Fibonacci hashing of integer keys.
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.write_u64(u64::from(byte));
        }
    }

    fn write_u64(&mut self, id: u64) {
        // The top bits (which the table's tags take) and the low ones (its
        // buckets) both vary with every id bit.
        self.0 = (self.0 ^ id)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .rotate_left(26);
    }

    fn write_usize(&mut self, id: usize) {
        self.write_u64(id as u64);
    }
}
