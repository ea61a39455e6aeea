//! Turning a future's bytes into a [`StateNode`](crate::StateNode) tree.
//!
//! A [`Decoder`] lives for one decode. It copies the root future's bytes
//! once, then every other block it decodes (a boxed future, a vector's
//! elements) once more, each copy counted against the [`Budget`]; fields
//! are then read from those copies, so a decode makes few system calls and
//! sees each block at a single instant.

mod combinator;
mod future;
mod known;
mod value;

use std::cell::{Cell, RefCell};

use crate::dwarf::{DieId, Dwarf, Kind, Type, VariantPart};
use crate::{Budget, LoadBias, Memory};

/// Why bytes could not be had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadError {
    /// The memory at this address is unreadable.
    Unreadable(u64),
    /// The budget's `max_bytes` is spent.
    Budget,
}

/// The state of one decode.
pub(crate) struct Decoder<'a> {
    dwarf: &'a Dwarf,
    memory: &'a dyn Memory,
    bias: LoadBias,
    budget: &'a Budget,
    little_endian: bool,
    /// Copies of blocks already read: (address, bytes).
    blocks: RefCell<Vec<(u64, Vec<u8>)>>,
    /// Bytes read beyond the root future.
    spent: Cell<u64>,
    /// Set when something was cut since the current node began.
    truncated: Cell<bool>,
    /// Members visited by the current combinator search.
    visited: Cell<u32>,
    /// Future nodes built so far: a bound on pointer chains through
    /// garbage memory, which may cycle without reading new bytes.
    nodes: Cell<u32>,
    /// Owned guards and permits met on the way.
    guards: RefCell<Vec<FoundGuard>>,
}

/// An owned guard or permit, or a channel's end, met in a task's future:
/// the task holds it now, whoever took it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FoundGuard {
    /// The lock's or channel end's resource id.
    pub(crate) resource: u64,
    /// The task that took it (for an end: that used it last).
    pub(crate) taken_by: u64,
    /// Which holding: a shared holding's key, an end's address; a guard
    /// met twice in one future (a moved-from slot) is one guard.
    pub(crate) which: u64,
    /// Where it was taken or made (`file:line:col`), when the value says:
    /// it picks which of the taker's holdings moved.
    pub(crate) site: Option<String>,
}

/// The most future nodes one decode builds.
const MAX_NODES: u32 = 4096;

impl<'a> Decoder<'a> {
    pub(crate) fn new(
        dwarf: &'a Dwarf,
        memory: &'a dyn Memory,
        bias: LoadBias,
        budget: &'a Budget,
        endian: gimli::RunTimeEndian,
    ) -> Decoder<'a> {
        Decoder {
            dwarf,
            memory,
            bias,
            budget,
            little_endian: matches!(endian, gimli::RunTimeEndian::Little),
            blocks: RefCell::new(Vec::new()),
            spent: Cell::new(0),
            truncated: Cell::new(false),
            visited: Cell::new(0),
            nodes: Cell::new(0),
            guards: RefCell::new(Vec::new()),
        }
    }

    /// Notes a guard met (once: a guard seen again in one future, through a
    /// moved-from slot, is the same guard).
    pub(crate) fn note_guard(&self, found: FoundGuard) {
        let mut guards = self.guards.borrow_mut();
        if !guards.contains(&found) {
            guards.push(found);
        }
    }

    /// The owned guards and permits the decode met, for
    /// [`Snapshot::move_hold`](async_inspect_model::Snapshot::move_hold).
    pub(crate) fn take_guards(&self) -> Vec<FoundGuard> {
        std::mem::take(&mut self.guards.borrow_mut())
    }

    /// Notes that the budget cut something.
    fn truncate(&self) {
        self.truncated.set(true);
    }

    /// Copies `len` bytes at `addr` into the block cache, counted against
    /// the budget unless `free` (the root future).
    fn load_block(&self, addr: u64, len: u64, free: bool) -> Result<(), ReadError> {
        if len == 0 || self.is_cached(addr, len) {
            return Ok(());
        }
        if !free {
            let spent = self.spent.get().saturating_add(len);
            if spent > self.budget.max_bytes {
                self.truncate();
                return Err(ReadError::Budget);
            }
            self.spent.set(spent);
        }
        let len = usize::try_from(len).map_err(|_| ReadError::Unreadable(addr))?;
        let mut buf = vec![0; len];
        self.memory
            .read(addr, &mut buf)
            .map_err(|e| ReadError::Unreadable(e.addr))?;
        self.blocks.borrow_mut().push((addr, buf));
        Ok(())
    }

    /// Where a cached block holds `addr..addr+len`: (block index, range).
    fn find_cached(&self, addr: u64, len: u64) -> Option<(usize, std::ops::Range<usize>)> {
        let blocks = self.blocks.borrow();
        blocks.iter().enumerate().find_map(|(i, (start, bytes))| {
            let from = addr.checked_sub(*start)?;
            let to = from.checked_add(len)?;
            let (from, to) = (usize::try_from(from).ok()?, usize::try_from(to).ok()?);
            (to <= bytes.len()).then_some((i, from..to))
        })
    }

    fn is_cached(&self, addr: u64, len: u64) -> bool {
        self.find_cached(addr, len).is_some()
    }

    /// The bytes at `addr..addr+len` if a cached block holds them.
    fn cached(&self, addr: u64, len: u64) -> Option<Vec<u8>> {
        let (i, range) = self.find_cached(addr, len)?;
        Some(self.blocks.borrow()[i].1[range].to_vec())
    }

    /// `len` bytes at `addr`, from the cache or else read (and counted).
    fn bytes(&self, addr: u64, len: u64) -> Result<Vec<u8>, ReadError> {
        if let Some(bytes) = self.cached(addr, len) {
            return Ok(bytes);
        }
        self.load_block(addr, len, false)?;
        self.cached(addr, len).ok_or(ReadError::Unreadable(addr))
    }

    /// An unsigned integer of `size` bytes (at most 16) at `addr`.
    fn uint(&self, addr: u64, size: u64) -> Result<u128, ReadError> {
        let size = size.min(16);
        let bytes = self.bytes(addr, size)?;
        let mut value = 0u128;
        if self.little_endian {
            for &b in bytes.iter().rev() {
                value = (value << 8) | u128::from(b);
            }
        } else {
            for &b in &bytes {
                value = (value << 8) | u128::from(b);
            }
        }
        Ok(value)
    }

    /// A pointer-sized value at `addr`.
    fn pointer(&self, addr: u64) -> Result<u64, ReadError> {
        Ok(self.uint(addr, 8)? as u64)
    }

    /// The variant of `part` that the tag at `addr` selects; `Ok(None)`
    /// for a tag value no variant claims.
    fn active_variant<'p>(
        &self,
        part: &'p VariantPart,
        addr: u64,
    ) -> Result<Option<&'p crate::dwarf::Variant>, ReadError> {
        let Some(discr) = &part.discr else {
            return Ok(part.variants.first());
        };
        let size = discr
            .ty
            .and_then(|t| self.dwarf.ty(t).ok())
            .map_or(1, |t| t.size.clamp(1, 8));
        let mask = if size >= 8 {
            u64::MAX
        } else {
            (1u64 << (size * 8)) - 1
        };
        let tag = self.uint(addr.wrapping_add(discr.offset), size)? as u64 & mask;
        Ok(part
            .variants
            .iter()
            .find(|v| v.value.is_some_and(|v| v & mask == tag))
            .or_else(|| part.variants.iter().find(|v| v.value.is_none())))
    }

    /// The first thin pointer found by descending `ty`'s members in order
    /// (`Vec`'s buffer, `Box`'s `Unique`, `Arc`'s `NonNull`): its value and
    /// the type it points to.
    fn pointer_leaf(
        &self,
        ty: &Type,
        addr: u64,
        hops: u32,
    ) -> Result<Option<(u64, Option<DieId>)>, ReadError> {
        match &ty.kind {
            Kind::Pointer(target) => Ok(Some((self.pointer(addr)?, *target))),
            Kind::Struct(s) if hops < 6 && s.variants.is_none() => {
                for m in &s.members {
                    let Some(mty) = m.ty.and_then(|t| self.dwarf.ty(t).ok()) else {
                        continue;
                    };
                    if mty.size == 0 {
                        continue;
                    }
                    if let Some(found) =
                        self.pointer_leaf(&mty, addr.wrapping_add(m.offset), hops + 1)?
                    {
                        return Ok(Some(found));
                    }
                }
                Ok(None)
            }
            _ => Ok(None),
        }
    }

    /// The concrete type of the object a vtable pointer read at run time
    /// describes.
    fn vtable_target(&self, vtable: u64) -> Option<DieId> {
        self.dwarf
            .vtable_type(self.bias.to_link_time(vtable))
            .ok()
            .flatten()
    }
}

/// Whether a struct is a fat pointer (`Box<dyn T>`, `&dyn T`): a data
/// pointer and a vtable.
fn is_dyn_pointer(ty: &Type) -> bool {
    match &ty.kind {
        Kind::Struct(s) => {
            s.members.len() == 2 && s.member("pointer").is_some() && s.member("vtable").is_some()
        }
        _ => false,
    }
}

/// Whether a struct is a slice pointer (`&[T]`, `Box<[T]>`, `&str`): a
/// data pointer and a length.
fn is_slice_pointer(ty: &Type) -> bool {
    match &ty.kind {
        Kind::Struct(s) => {
            s.members.len() == 2 && s.member("data_ptr").is_some() && s.member("length").is_some()
        }
        _ => false,
    }
}

/// `name` without its generic arguments: `Vec<u8, Global>` gives `Vec`.
fn without_generics(name: &str) -> &str {
    name.split('<').next().unwrap_or(name)
}
