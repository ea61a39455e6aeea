//! The binary, mapped read-only, and the reader type the DWARF is parsed with.
//!
//! The file is mapped rather than read so that a large binary costs address
//! space and page cache, not heap: only the pages the decoder touches are
//! ever loaded.

use std::fmt;
use std::fs::File;
use std::ops::{Deref, Range};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::ptr::NonNull;
use std::sync::Arc;

use stable_deref_trait::{CloneStableDeref, StableDeref};

/// A read-only private mapping of a whole file.
pub(crate) struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is read-only and never written through, so sharing it
// between threads is sharing immutable bytes.
unsafe impl Send for Mapping {}
// SAFETY: as above; `&Mapping` only ever yields `&[u8]`.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// Maps `path` whole.
    ///
    /// The file should not shrink while it is mapped (reading a truncated
    /// page raises SIGBUS). A running executable cannot be written to
    /// (`ETXTBSY`), which is the case this is built for.
    pub(crate) fn open(path: &Path) -> std::io::Result<Mapping> {
        let file = File::open(path)?;
        let len = usize::try_from(file.metadata()?.len())
            .map_err(|_| std::io::Error::other("file too large to map"))?;
        if len == 0 {
            return Ok(Mapping {
                ptr: NonNull::dangling(),
                len: 0,
            });
        }
        // SAFETY: a fresh private read-only mapping of an open file: it
        // aliases no Rust object, and `len` is the file's length. The fd may
        // be closed afterwards; the mapping stays valid until `munmap`.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_PRIVATE,
                file.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        let ptr = NonNull::new(ptr.cast::<u8>())
            .ok_or_else(|| std::io::Error::other("mmap returned null"))?;
        Ok(Mapping { ptr, len })
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        // SAFETY: `ptr` is the start of a readable mapping of `len` bytes
        // (or dangling with `len == 0`) that lives until `self` is dropped,
        // and nothing writes to it.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        if self.len != 0 {
            // SAFETY: unmaps exactly the mapping made in `open`; no borrow of
            // it outlives `self` because every `SectionBytes` holds an `Arc`.
            unsafe {
                libc::munmap(self.ptr.as_ptr().cast(), self.len);
            }
        }
    }
}

impl fmt::Debug for Mapping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mapping").field("len", &self.len).finish()
    }
}

/// A section's bytes: a range of a shared [`Mapping`].
#[derive(Clone)]
pub(crate) struct SectionBytes {
    map: Arc<Mapping>,
    range: Range<usize>,
}

impl SectionBytes {
    /// The bytes `range` of `map`; an out-of-bounds range gives no bytes.
    pub(crate) fn new(map: Arc<Mapping>, range: Range<usize>) -> SectionBytes {
        let range = if range.start <= range.end && range.end <= map.len {
            range
        } else {
            0..0
        };
        SectionBytes { map, range }
    }
}

impl Deref for SectionBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.map.bytes()[self.range.clone()]
    }
}

impl fmt::Debug for SectionBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SectionBytes({:?})", self.range)
    }
}

// SAFETY: `deref` returns a slice of the mapping, whose address is fixed from
// `mmap` to `munmap`; moving a `SectionBytes` moves only the `Arc`, and the
// `Arc` keeps the mapping alive.
unsafe impl StableDeref for SectionBytes {}
// SAFETY: a clone shares the same `Arc<Mapping>` and range, so it derefs to
// the very same bytes.
unsafe impl CloneStableDeref for SectionBytes {}

/// The reader all DWARF is parsed with.
pub(crate) type Reader = gimli::EndianReader<gimli::RunTimeEndian, SectionBytes>;
