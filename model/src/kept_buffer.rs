//! A byte buffer a thread keeps from one use to the next: an agent
//! streaming events writes a frame of a few hundred kilobytes every few
//! tens of milliseconds, and a fresh buffer each time is fresh memory the
//! kernel zeroes a page at a time.

use std::cell::Cell;
use std::thread::LocalKey;

/// Runs `write` with `kept`'s buffer, emptied, and keeps it again after
/// unless it grew past `most` bytes (a snapshot's frame may be tens of
/// megabytes: that much is let go). The buffer is taken out while in use,
/// so a use nested in `write` finds none and gets a buffer of its own.
pub(crate) fn with_kept<R>(
    kept: &'static LocalKey<Cell<Vec<u8>>>,
    most: usize,
    write: impl FnOnce(&mut Vec<u8>) -> R,
) -> R {
    let mut buffer = kept.try_with(Cell::take).unwrap_or_default();
    buffer.clear();
    let written = write(&mut buffer);
    if buffer.capacity() <= most {
        let _ = kept.try_with(|slot| slot.set(buffer));
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    thread_local! {
        static KEPT: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
    }

    #[test]
    fn a_buffer_is_kept_empty_for_the_next_use_unless_it_grew_too_big() {
        let first = with_kept(&KEPT, 1 << 10, |buffer| {
            buffer.extend_from_slice(b"frame");
            buffer.as_ptr()
        });
        let (again, was_empty) = with_kept(&KEPT, 1 << 10, |buffer| {
            let seen = (buffer.as_ptr(), buffer.is_empty());
            buffer.resize(4 << 10, 0);
            seen
        });
        assert!(was_empty, "emptied before its next use");
        assert_eq!(again, first, "the same memory");
        // Grown past the most kept: let go, the next use starts afresh.
        let capacity = with_kept(&KEPT, 1 << 10, |buffer| buffer.capacity());
        assert_eq!(capacity, 0);
    }

    #[test]
    fn a_nested_use_gets_a_buffer_of_its_own() {
        with_kept(&KEPT, 1 << 10, |outer| {
            outer.extend_from_slice(b"outer");
            with_kept(&KEPT, 1 << 10, |inner| inner.extend_from_slice(b"inner"));
            assert_eq!(outer.as_slice(), b"outer");
        });
    }
}
