//! Reading the inspected program's memory, without ever faulting.
//!
//! Nothing here dereferences an address taken from the program: a future's
//! fields are read through [`Memory`], so a dangling pointer, a freed box or
//! an address that was never valid comes back as [`Unreadable`].

use std::collections::BTreeMap;

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

    fn pid(&self) -> Option<u32> {
        u32::try_from(self.pid).ok()
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
