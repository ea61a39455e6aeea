//! Reading the inspected program's memory, without ever faulting.
//!
//! Nothing here dereferences an address taken from the program: a future's
//! fields are read through [`Memory`], so a dangling pointer, a freed box or
//! an address that was never valid comes back as [`Unreadable`].

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};

use crate::Unreadable;

/// A source of the inspected program's bytes.
pub trait Memory {
    /// Fills `buf` with the bytes at `addr`.
    ///
    /// # Errors
    ///
    /// [`Unreadable`] when any byte of the range cannot be read; `buf`'s
    /// contents are then unspecified.
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), Unreadable>;

    /// Fills each buffer of `reads` with the bytes at its address, as
    /// [`Memory::read`] would, each read succeeding or failing on its own;
    /// the results in the same order. The default reads them one by one; a
    /// live process does many in one system call.
    ///
    /// ```
    /// use async_inspect_debuginfo::{Memory, SliceMemory};
    ///
    /// let mut mem = SliceMemory::new();
    /// mem.insert(0x1000, vec![1, 2, 3, 4]);
    /// let (mut a, mut b) = ([0; 2], [0; 2]);
    /// let results = mem.read_each(&mut [(0x1002, &mut a[..]), (0x2000, &mut b[..])]);
    /// assert_eq!(a, [3, 4]);
    /// assert!(results[0].is_ok() && results[1].is_err());
    /// ```
    fn read_each(&self, reads: &mut [(u64, &mut [u8])]) -> Vec<Result<(), Unreadable>> {
        reads
            .iter_mut()
            .map(|(addr, buf)| self.read(*addr, buf))
            .collect()
    }

    /// The process whose memory this is, when it is a live process whose
    /// `/proc` entries this one may read (its sockets are then described
    /// by their addresses); `None` by default.
    fn pid(&self) -> Option<u32> {
        None
    }
}

/// The memory of a live process, read with `process_vm_readv(2)`.
///
/// For this process that is a checked read: the kernel reports `EFAULT` for
/// an unmapped address instead of delivering a signal. For another process
/// it needs the same permission as `ptrace` (same user, and a Yama
/// `ptrace_scope` that allows it).
#[derive(Debug, Clone, Copy)]
pub struct ProcessMemory {
    pid: libc::pid_t,
}

impl ProcessMemory {
    /// The memory of the calling process.
    ///
    /// ```
    /// use async_inspect_debuginfo::{Memory, ProcessMemory};
    ///
    /// let value = 0x1234_5678_u32;
    /// let mut buf = [0; 4];
    /// ProcessMemory::this_process()
    ///     .read(&value as *const u32 as u64, &mut buf)
    ///     .unwrap();
    /// assert_eq!(u32::from_ne_bytes(buf), value);
    /// assert!(ProcessMemory::this_process().read(8, &mut buf).is_err());
    /// ```
    pub fn this_process() -> ProcessMemory {
        ProcessMemory {
            pid: std::process::id() as libc::pid_t,
        }
    }

    /// The memory of process `pid`.
    pub fn of(pid: u32) -> ProcessMemory {
        ProcessMemory {
            pid: pid as libc::pid_t,
        }
    }
}

impl Memory for ProcessMemory {
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), Unreadable> {
        let mut done = 0usize;
        while done < buf.len() {
            let rest = &mut buf[done..];
            let at = addr.wrapping_add(done as u64);
            let local = libc::iovec {
                iov_base: rest.as_mut_ptr().cast(),
                iov_len: rest.len(),
            };
            let remote = libc::iovec {
                iov_base: at as usize as *mut libc::c_void,
                iov_len: rest.len(),
            };
            // SAFETY: `local` describes `rest`, a live, writable buffer of
            // exactly `iov_len` bytes that nothing else borrows during the
            // call. `remote` is only an address for the kernel to check and
            // copy from; it is never dereferenced by this process, and a bad
            // one makes the call fail with EFAULT/ESRCH instead of faulting.
            let n = unsafe { libc::process_vm_readv(self.pid, &local, 1, &remote, 1, 0) };
            if n <= 0 {
                return Err(Unreadable {
                    addr: at,
                    len: rest.len(),
                });
            }
            // A short read stops at the first unreadable page; the loop then
            // retries from there and reports that page.
            done += n as usize;
        }
        Ok(())
    }

    /// In calls of up to [`IOV_MAX`] reads; a read the kernel stops at (a
    /// range not wholly readable) is done again on its own with
    /// [`Memory::read`], which reports where it failed, and the batch goes
    /// on after it.
    fn read_each(&self, reads: &mut [(u64, &mut [u8])]) -> Vec<Result<(), Unreadable>> {
        let mut results = Vec::with_capacity(reads.len());
        while results.len() < reads.len() {
            let end = reads.len().min(results.len() + IOV_MAX);
            let batch = &mut reads[results.len()..end];
            let local: Vec<libc::iovec> = batch
                .iter_mut()
                .map(|(_, buf)| libc::iovec {
                    iov_base: buf.as_mut_ptr().cast(),
                    iov_len: buf.len(),
                })
                .collect();
            let remote: Vec<libc::iovec> = batch
                .iter()
                .map(|(addr, buf)| libc::iovec {
                    iov_base: *addr as usize as *mut libc::c_void,
                    iov_len: buf.len(),
                })
                .collect();
            // SAFETY: each of `local` describes one buffer of `batch`, live
            // and writable for exactly its `iov_len` bytes, borrowed by
            // nothing else during the call; `remote` holds addresses for
            // the kernel to check and copy from, never dereferenced here
            // (a bad one ends the transfer there, with no fault).
            let n = unsafe {
                libc::process_vm_readv(
                    self.pid,
                    local.as_ptr(),
                    local.len() as libc::c_ulong,
                    remote.as_ptr(),
                    remote.len() as libc::c_ulong,
                    0,
                )
            };
            let mut copied = usize::try_from(n).unwrap_or(0);
            let whole = batch
                .iter()
                .take_while(|(_, buf)| {
                    let fits = copied >= buf.len();
                    copied = copied.saturating_sub(buf.len());
                    fits
                })
                .count();
            let stopped = whole < batch.len();
            results.extend((0..whole).map(|_| Ok(())));
            // Where the transfer stopped: read alone, to say where it fails.
            if stopped {
                let (addr, buf) = &mut reads[results.len()];
                results.push(self.read(*addr, buf));
            }
        }
        results
    }

    fn pid(&self) -> Option<u32> {
        u32::try_from(self.pid).ok()
    }
}

/// The most reads one `process_vm_readv` call takes (Linux's `UIO_MAXIOV`).
const IOV_MAX: usize = 1024;

/// Reads through another [`Memory`], keeping each 4 KiB page a small read
/// touches, so that the next small reads on that page cost no system call:
/// the heap data of tasks decoded one after another (their strings, their
/// channels' shared state) lies on few pages. What it keeps is never read
/// again, so it serves reads that are as good at any moment of one window:
/// the futures of a batch of tasks whose guard words are read around the
/// whole batch.
pub(crate) struct PageCache<'m> {
    inner: &'m dyn Memory,
    /// Each page read, or `None` for one that could not be read whole.
    pages: RefCell<HashMap<u64, Option<Box<[u8]>>>>,
}

/// The page size the cache reads by.
const PAGE: u64 = 4096;
/// Reads of up to this many bytes go through the cache; longer ones
/// straight to the memory.
const SMALL_READ: usize = 512;
/// The most pages one cache keeps (8 MiB); past that, reads go straight
/// to the memory.
const MAX_PAGES: usize = 2048;

impl<'m> PageCache<'m> {
    /// An empty cache over `inner`.
    pub(crate) fn new(inner: &'m dyn Memory) -> Self {
        Self {
            inner,
            pages: RefCell::new(HashMap::new()),
        }
    }
}

impl Memory for PageCache<'_> {
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), Unreadable> {
        let page = addr & !(PAGE - 1);
        let offset = (addr - page) as usize;
        if buf.len() > SMALL_READ || offset + buf.len() > PAGE as usize {
            return self.inner.read(addr, buf);
        }
        let mut pages = self.pages.borrow_mut();
        if !pages.contains_key(&page) {
            if pages.len() >= MAX_PAGES {
                drop(pages);
                return self.inner.read(addr, buf);
            }
            let mut bytes = vec![0; PAGE as usize].into_boxed_slice();
            let whole = self.inner.read(page, &mut bytes).is_ok();
            pages.insert(page, whole.then_some(bytes));
        }
        match pages.get(&page) {
            Some(Some(bytes)) => {
                buf.copy_from_slice(&bytes[offset..offset + buf.len()]);
                Ok(())
            }
            // A page not readable whole: the memory says what it can.
            _ => {
                drop(pages);
                self.inner.read(addr, buf)
            }
        }
    }

    fn pid(&self) -> Option<u32> {
        self.inner.pid()
    }
}

/// Memory made of byte regions held in this process: for tests, and for
/// decoding a copy taken earlier (a core dump, a snapshot sent over a wire).
///
/// ```
/// use async_inspect_debuginfo::{Memory, SliceMemory};
///
/// let mut mem = SliceMemory::new();
/// mem.insert(0x1000, vec![1, 2, 3, 4]);
/// let mut buf = [0; 2];
/// mem.read(0x1001, &mut buf).unwrap();
/// assert_eq!(buf, [2, 3]);
/// assert!(mem.read(0x1003, &mut buf).is_err());
/// ```
#[derive(Debug, Clone, Default)]
pub struct SliceMemory {
    regions: BTreeMap<u64, Vec<u8>>,
}

impl SliceMemory {
    /// Empty memory: every read fails.
    pub fn new() -> SliceMemory {
        SliceMemory::default()
    }

    /// Makes `bytes` readable at `addr`, replacing a region that starts there.
    pub fn insert(&mut self, addr: u64, bytes: Vec<u8>) {
        self.regions.insert(addr, bytes);
    }
}

impl Memory for SliceMemory {
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), Unreadable> {
        let unreadable = Unreadable {
            addr,
            len: buf.len(),
        };
        let (&start, bytes) = self.regions.range(..=addr).next_back().ok_or(unreadable)?;
        let from = usize::try_from(addr - start).map_err(|_| unreadable)?;
        let src = from
            .checked_add(buf.len())
            .and_then(|end| bytes.get(from..end))
            .ok_or(unreadable)?;
        buf.copy_from_slice(src);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    /// Counts the reads that reach its memory.
    struct Counting(SliceMemory, Cell<usize>);

    impl Memory for Counting {
        fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), Unreadable> {
            self.1.set(self.1.get() + 1);
            self.0.read(addr, buf)
        }
    }

    #[test]
    fn small_reads_on_one_page_cost_one_read_and_others_go_through() {
        let mut slices = SliceMemory::new();
        let page: Vec<u8> = (0..PAGE).map(|i| (i % 251) as u8).collect();
        slices.insert(0x10_000, page.clone());
        // Half a page: cannot be read whole.
        slices.insert(0x20_000, vec![9; 2048]);
        let memory = Counting(slices, Cell::new(0));
        let cache = PageCache::new(&memory);
        for i in 0..100_u64 {
            let mut buf = [0; 8];
            cache.read(0x10_000 + i * 40, &mut buf).unwrap();
            let at = (i * 40) as usize;
            assert_eq!(buf[..], page[at..at + 8]);
        }
        assert_eq!(memory.1.get(), 1, "one page read for all");
        // Across the page's end, or long: straight to the memory.
        let mut buf = [0; 16];
        assert!(cache.read(0x10_000 + PAGE - 8, &mut buf).is_err());
        let mut long = vec![0; 1024];
        cache.read(0x10_000, &mut long).unwrap();
        assert_eq!(long[..], page[..1024]);
        assert_eq!(memory.1.get(), 3);
        // A page not readable whole: each read as the memory answers it.
        let mut buf = [0; 4];
        cache.read(0x20_000 + 100, &mut buf).unwrap();
        assert_eq!(buf, [9; 4]);
        assert!(cache.read(0x20_000 + 2046, &mut buf).is_err());
        assert!(cache.read(0x30_000, &mut buf).is_err());
    }

    /// Two pages, the second one unreadable: (mapping, its first byte).
    fn page_then_hole() -> (*mut libc::c_void, u64) {
        // SAFETY: an anonymous private mapping of two pages, owned by the
        // test until it unmaps it; its second page is made inaccessible.
        unsafe {
            let map = libc::mmap(
                std::ptr::null_mut(),
                8192,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            assert_ne!(map, libc::MAP_FAILED);
            std::ptr::write_bytes(map.cast::<u8>(), 7, 4096);
            assert_eq!(
                libc::mprotect(map.cast::<u8>().add(4096).cast(), 4096, libc::PROT_NONE),
                0
            );
            (map, map as u64)
        }
    }

    #[test]
    fn read_each_reads_like_read_one_by_one_past_failures_and_batches() {
        let (map, page) = page_then_hole();
        let memory = ProcessMemory::this_process();
        let values: Vec<u64> = (0..2_500).map(|i| i * 3 + 1).collect();
        let mut reads: Vec<(u64, Vec<u8>)> = values
            .iter()
            .map(|v| (std::ptr::from_ref(v) as u64, vec![0; 8]))
            .collect();
        // Among them: a range running into the hole, one wholly in it, a
        // null-page address, and a readable one after each.
        reads.insert(3, (page + 4090, vec![0; 12]));
        reads.insert(4, (page + 4096, vec![0; 8]));
        reads.insert(1500, (8, vec![0; 8]));
        let mut borrowed: Vec<(u64, &mut [u8])> =
            reads.iter_mut().map(|(a, b)| (*a, &mut b[..])).collect();
        let results = memory.read_each(&mut borrowed);
        assert_eq!(results.len(), reads.len());
        for (i, ((addr, buf), result)) in reads.iter().zip(&results).enumerate() {
            let mut alone = vec![0; buf.len()];
            let expected = memory.read(*addr, &mut alone);
            assert_eq!(result, &expected, "read {i} at {addr:#x}");
            if result.is_ok() {
                assert_eq!(buf, &alone, "read {i}");
            }
        }
        assert_eq!(
            results[3],
            Err(Unreadable {
                addr: page + 4096,
                len: 6
            })
        );
        assert!(results[4].is_err() && results[1500].is_err());
        let read_back: Vec<u64> = reads
            .iter()
            .enumerate()
            .filter(|(i, _)| ![3, 4, 1500].contains(i))
            .map(|(_, (_, buf))| u64::from_ne_bytes(buf[..].try_into().unwrap()))
            .collect();
        assert_eq!(read_back, values);
        // SAFETY: the mapping made above, used by nothing else now.
        unsafe { libc::munmap(map, 8192) };
    }
}
