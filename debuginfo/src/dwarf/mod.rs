//! The DWARF of one binary, parsed on demand.
//!
//! Nothing is read at construction but the unit headers' offsets. A unit is
//! parsed the first time a type in it is needed; its scope index (which
//! namespace or type each DIE sits in, for qualified names) the first time a
//! name in it is needed; the address → unit table the first time an anchor is
//! looked up; the vtable table the first time a `dyn` pointer is followed.
//! Parsed types are cached by offset. So memory grows with what was decoded,
//! not with the size of the binary.

mod awaits;
mod scopes;
mod types;

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use gimli::{AttributeValue, DebugInfoOffset, Reader as _, UnitOffset};

use crate::Error;
use crate::mapping::Reader;
use crate::tree::SourceLine;

pub(crate) use awaits::AwaitSites;
use scopes::Scopes;
pub(crate) use types::{Kind, Member, Struct, Type, Variant, VariantPart};

/// A type (or any DIE), named by its offset in `.debug_info`.
pub(crate) type DieId = DebugInfoOffset<usize>;

type Unit = gimli::Unit<Reader>;

/// A map keyed by a DIE's offset or an address: looked up several times
/// for each future decoded, so hashed with one multiplication rather than
/// SipHash (the keys come from the binary, not from an adversary).
type OffsetMap<K, V> = HashMap<K, V, BuildHasherDefault<OffsetHasher>>;

/// Hashes the integers an [`OffsetMap`] is keyed by (Fibonacci hashing,
/// folded so that the low bits mix in the high ones).
#[derive(Default)]
struct OffsetHasher(u64);

impl Hasher for OffsetHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.write_u64(u64::from(byte));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }

    fn finish(&self) -> u64 {
        self.0 ^ (self.0 >> 29)
    }
}

/// A DIE found: its unit's index, the unit, and its offset in the unit.
type Located = (usize, Arc<Unit>, UnitOffset<usize>);

/// One compilation unit, parsed when first used.
struct UnitSlot {
    offset: DebugInfoOffset<usize>,
    unit: OnceLock<Result<Arc<Unit>, Error>>,
    scopes: OnceLock<Result<Scopes, Error>>,
}

/// An address range of code and the unit that describes it.
#[derive(Debug, Clone, Copy)]
struct Arange {
    begin: u64,
    end: u64,
    slot: usize,
}

/// The parsed-on-demand DWARF of one binary.
pub(crate) struct Dwarf {
    path: PathBuf,
    dwarf: gimli::Dwarf<Reader>,
    slots: Vec<UnitSlot>,
    /// Link-time addresses of the binary's code: a range outside is a
    /// discarded function's (see `is_code`).
    code: std::ops::Range<u64>,
    aranges: OnceLock<Result<Vec<Arange>, Error>>,
    vtables: OnceLock<Result<HashMap<u64, DieId>, Error>>,
    types: Mutex<OffsetMap<DieId, Arc<Type>>>,
    /// The type each anchor address named, or why it named none (every
    /// task of one future type shares its anchor: looked up once, also
    /// when the lookup fails, as for a crate without type debuginfo).
    anchors: Mutex<OffsetMap<u64, Result<DieId, Error>>>,
    /// The await sites of each state machine type whose await lines were
    /// asked for (see `awaits`).
    await_sites: Mutex<OffsetMap<DieId, AwaitSites>>,
    /// The type each impl namespace (`app::{impl#3}`) is an impl of, as a
    /// method's `self` showed it: for the async blocks and `self`-less
    /// fns of that impl.
    impl_names: Mutex<HashMap<String, String>>,
}

impl std::fmt::Debug for Dwarf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dwarf")
            .field("path", &self.path)
            .field("units", &self.slots.len())
            .finish_non_exhaustive()
    }
}

impl Dwarf {
    /// Reads the unit headers of `dwarf`.
    pub(crate) fn new(
        path: &Path,
        dwarf: gimli::Dwarf<Reader>,
        code: std::ops::Range<u64>,
    ) -> Result<Dwarf, Error> {
        let mut slots = Vec::new();
        let mut headers = dwarf.units();
        loop {
            let header = match headers.next() {
                Ok(Some(header)) => header,
                Ok(None) => break,
                Err(e) => return Err(dwarf_error(path, 0, e)),
            };
            if let Some(offset) = header.debug_info_offset() {
                slots.push(UnitSlot {
                    offset,
                    unit: OnceLock::new(),
                    scopes: OnceLock::new(),
                });
            }
        }
        Ok(Dwarf {
            path: path.to_owned(),
            dwarf,
            slots,
            code,
            aranges: OnceLock::new(),
            vtables: OnceLock::new(),
            types: Mutex::default(),
            anchors: Mutex::default(),
            await_sites: Mutex::default(),
            impl_names: Mutex::new(HashMap::new()),
        })
    }

    pub(crate) fn error(&self, offset: usize, err: impl std::fmt::Display) -> Error {
        dwarf_error(&self.path, offset, err)
    }

    /// The index of the unit holding `id`.
    fn slot_of(&self, id: DieId) -> Result<usize, Error> {
        let after = self.slots.partition_point(|s| s.offset.0 <= id.0);
        after
            .checked_sub(1)
            .ok_or_else(|| self.error(id.0, "offset outside every unit"))
    }

    /// The parsed unit `slot`.
    fn unit(&self, slot: usize) -> Result<Arc<Unit>, Error> {
        let s = &self.slots[slot];
        s.unit
            .get_or_init(|| {
                let header = self
                    .dwarf
                    .unit_header(s.offset)
                    .map_err(|e| self.error(s.offset.0, e))?;
                let unit = self
                    .dwarf
                    .unit(header)
                    .map_err(|e| self.error(s.offset.0, e))?;
                if unit.dwo_id.is_some() {
                    return Err(Error::SplitDwarf {
                        path: self.path.clone(),
                    });
                }
                Ok(Arc::new(unit))
            })
            .clone()
    }

    /// The unit holding `id` and `id` relative to it.
    fn locate(&self, id: DieId) -> Result<Located, Error> {
        let slot = self.slot_of(id)?;
        let unit = self.unit(slot)?;
        let offset = id
            .to_unit_offset(&unit.header)
            .ok_or_else(|| self.error(id.0, "offset outside its unit"))?;
        Ok((slot, unit, offset))
    }

    /// The global id of a DIE that `unit` refers to with `value`.
    fn reference(&self, unit: &Unit, value: AttributeValue<Reader>) -> Option<DieId> {
        match value {
            AttributeValue::UnitRef(offset) => offset.to_debug_info_offset(&unit.header),
            AttributeValue::DebugInfoRef(offset) => Some(offset),
            _ => None,
        }
    }

    fn string(&self, unit: &Unit, value: AttributeValue<Reader>) -> Option<String> {
        let s = self.dwarf.attr_string(unit, value).ok()?;
        Some(s.to_string_lossy().ok()?.into_owned())
    }

    /// The `DW_AT_name` of an entry.
    fn name_of(
        &self,
        unit: &Unit,
        entry: &gimli::DebuggingInformationEntry<Reader>,
    ) -> Option<String> {
        self.string(unit, entry.attr_value(gimli::DW_AT_name)?)
    }

    /// The path of file `index` of `unit`'s line program.
    fn file_name(&self, unit: &Unit, index: u64) -> Option<String> {
        let header = unit.line_program.as_ref()?.header();
        let file = header.file(index)?;
        let mut path = PathBuf::new();
        if let Some(dir) = file.directory(header) {
            path.push(self.string(unit, dir)?);
        }
        path.push(self.string(unit, file.path_name())?);
        // As the compiler was given it (what `file!()` says): a file under
        // the compilation directory stays relative to it.
        if let Some(comp_dir) = &unit.comp_dir
            && let Ok(comp_dir) = comp_dir.to_string_lossy()
            && let Ok(relative) = path.strip_prefix(Path::new(comp_dir.as_ref()))
        {
            path = relative.to_path_buf();
        }
        Some(path.to_string_lossy().into_owned())
    }

    /// The declaration an entry carries (`DW_AT_decl_file`/`_line`).
    fn decl(
        &self,
        unit: &Unit,
        entry: &gimli::DebuggingInformationEntry<Reader>,
    ) -> Option<SourceLine> {
        let file = entry.attr(gimli::DW_AT_decl_file)?.udata_value()?;
        let line = entry.attr(gimli::DW_AT_decl_line)?.udata_value()?;
        Some(SourceLine {
            file: self.file_name(unit, file)?,
            line: u32::try_from(line).ok()?,
        })
    }

    /// The scope index of unit `slot`.
    fn scopes(&self, slot: usize) -> Result<&Scopes, Error> {
        let s = &self.slots[slot];
        s.scopes
            .get_or_init(|| {
                let unit = self.unit(slot)?;
                Scopes::build(&unit).map_err(|e| self.error(s.offset.0, e))
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// `name` qualified with the namespaces and types that enclose the DIE
    /// at `offset`: `String` in `alloc::string` gives `alloc::string::String`.
    fn qualify(
        &self,
        slot: usize,
        unit: &Unit,
        offset: UnitOffset<usize>,
        name: &str,
    ) -> Result<String, Error> {
        let scopes = self.scopes(slot)?;
        let mut parts = Vec::new();
        for start in scopes.enclosing(offset) {
            let entry = unit.entry(start).map_err(|e| self.error(start.0, e))?;
            if let Some(name) = self.name_of(unit, &entry) {
                parts.push(name);
            }
        }
        parts.reverse();
        parts.push(name.to_owned());
        Ok(parts.join("::"))
    }

    /// Whether `range` is code the binary has: not empty, and not a
    /// function the linker discarded (whose DWARF it kept, at address 0
    /// or a tombstone like 1 or -1).
    fn is_code(&self, range: gimli::Range) -> bool {
        range.begin < range.end && self.code.contains(&range.begin)
    }

    /// The address ranges of every unit that has code, sorted.
    fn aranges(&self) -> Result<&[Arange], Error> {
        self.aranges
            .get_or_init(|| {
                let mut out = Vec::new();
                let mut headers = self.dwarf.debug_aranges.headers();
                while let Some(header) = headers.next().map_err(|e| self.error(0, e))? {
                    let Ok(slot) = self.slot_of(header.debug_info_offset()) else {
                        continue;
                    };
                    let mut entries = header.entries();
                    while let Some(entry) = entries.next().map_err(|e| self.error(0, e))? {
                        let range = entry.range();
                        if self.is_code(range) {
                            out.push(Arange {
                                begin: range.begin,
                                end: range.end,
                                slot,
                            });
                        }
                    }
                }
                if out.is_empty() {
                    // No .debug_aranges: fall back to every unit's own ranges.
                    for slot in 0..self.slots.len() {
                        let unit = self.unit(slot)?;
                        let mut ranges = self
                            .dwarf
                            .unit_ranges(&unit)
                            .map_err(|e| self.error(0, e))?;
                        while let Some(range) = ranges.next().map_err(|e| self.error(0, e))? {
                            if self.is_code(range) {
                                out.push(Arange {
                                    begin: range.begin,
                                    end: range.end,
                                    slot,
                                });
                            }
                        }
                    }
                }
                out.sort_by_key(|a| (a.begin, a.end));
                Ok(out)
            })
            .as_deref()
            .map_err(Clone::clone)
    }

    /// The subprogram whose code contains link-time address `pc`.
    fn subprogram_at(&self, pc: u64) -> Result<Option<Located>, Error> {
        let aranges = self.aranges()?;
        let upto = aranges.partition_point(|a| a.begin <= pc);
        let mut tried = Vec::new();
        for a in aranges[..upto].iter().rev().filter(|a| pc < a.end) {
            if tried.contains(&a.slot) {
                continue;
            }
            tried.push(a.slot);
            let unit = self.unit(a.slot)?;
            let mut entries = unit.entries();
            while let Some(entry) = entries.next_dfs().map_err(|e| self.error(0, e))? {
                if entry.tag() != gimli::DW_TAG_subprogram {
                    continue;
                }
                let mut ranges = self
                    .dwarf
                    .die_ranges(&unit, entry)
                    .map_err(|e| self.error(entry.offset().0, e))?;
                while let Some(range) = ranges.next().map_err(|e| self.error(0, e))? {
                    if self.is_code(range) && range.begin <= pc && pc < range.end {
                        let offset = entry.offset();
                        return Ok(Some((a.slot, unit.clone(), offset)));
                    }
                }
            }
        }
        Ok(None)
    }

    /// The type named by the first template type parameter of the function
    /// whose code contains link-time address `pc`: the type anchor's `F`.
    pub(crate) fn anchor_type(&self, pc: u64) -> Result<DieId, Error> {
        let cached = self
            .anchors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&pc)
            .cloned();
        if let Some(found) = cached {
            return found;
        }
        let found = self.find_anchor_type(pc);
        self.anchors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(pc, found.clone());
        found
    }

    fn find_anchor_type(&self, pc: u64) -> Result<DieId, Error> {
        let no_types = |function: String| Error::NoTypeInfo {
            path: self.path.clone(),
            pc,
            function,
        };
        let Some((_, unit, offset)) = self.subprogram_at(pc)? else {
            return Err(no_types(String::new()));
        };
        // The concrete DIE may carry the parameters itself, or point to an
        // abstract or declaration DIE that does.
        let mut at = (unit.clone(), offset);
        let mut function = String::new();
        for _ in 0..4 {
            let (unit, offset) = at.clone();
            let entry = unit.entry(offset).map_err(|e| self.error(offset.0, e))?;
            if function.is_empty()
                && let Some(name) = self.name_of(&unit, &entry)
            {
                function = format!(" (in {name})");
            }
            if let Some(ty) = self.first_template_type(&unit, offset)? {
                return Ok(ty);
            }
            let origin = entry
                .attr_value(gimli::DW_AT_abstract_origin)
                .or_else(|| entry.attr_value(gimli::DW_AT_specification))
                .and_then(|v| self.reference(&unit, v));
            match origin {
                Some(id) => {
                    let (_, unit, offset) = self.locate(id)?;
                    at = (unit, offset);
                }
                None => break,
            }
        }
        Err(no_types(function))
    }

    fn first_template_type(
        &self,
        unit: &Unit,
        offset: UnitOffset<usize>,
    ) -> Result<Option<DieId>, Error> {
        let mut tree = unit
            .entries_tree(Some(offset))
            .map_err(|e| self.error(offset.0, e))?;
        let root = tree.root().map_err(|e| self.error(offset.0, e))?;
        let mut children = root.children();
        while let Some(child) = children.next().map_err(|e| self.error(offset.0, e))? {
            let entry = child.entry();
            if entry.tag() == gimli::DW_TAG_template_type_parameter {
                return Ok(entry
                    .attr_value(gimli::DW_AT_type)
                    .and_then(|v| self.reference(unit, v)));
            }
        }
        Ok(None)
    }

    /// The concrete type behind a vtable at link-time address `addr`, from
    /// the `<T as Trait>::{vtable}` variables rustc describes.
    ///
    /// The first call scans every unit once (top-level DIEs only are kept).
    pub(crate) fn vtable_type(&self, addr: u64) -> Result<Option<DieId>, Error> {
        let vtables = self
            .vtables
            .get_or_init(|| self.scan_vtables())
            .as_ref()
            .map_err(Clone::clone)?;
        let Some(&vtable_ty) = vtables.get(&addr) else {
            return Ok(None);
        };
        let (_, unit, offset) = self.locate(vtable_ty)?;
        let entry = unit.entry(offset).map_err(|e| self.error(offset.0, e))?;
        Ok(entry
            .attr_value(gimli::DW_AT_containing_type)
            .and_then(|v| self.reference(&unit, v)))
    }

    /// Notes that the impl namespace `namespace` is an impl of `name`.
    pub(crate) fn learn_impl(&self, namespace: &str, name: &str) {
        let mut names = self.impl_names.lock().unwrap_or_else(|e| e.into_inner());
        if !names.contains_key(namespace) {
            names.insert(namespace.to_owned(), name.to_owned());
        }
    }

    /// The type the impl namespace `namespace` is an impl of, if a method
    /// of it was decoded.
    pub(crate) fn impl_name(&self, namespace: &str) -> Option<String> {
        self.impl_names
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(namespace)
            .cloned()
    }

    /// Builds the address and vtable tables now.
    pub(crate) fn prepare(&self) -> Result<(), Error> {
        self.aranges()?;
        self.vtables
            .get_or_init(|| self.scan_vtables())
            .as_ref()
            .map(|_| ())
            .map_err(Clone::clone)
    }

    fn scan_vtables(&self) -> Result<HashMap<u64, DieId>, Error> {
        let mut out = HashMap::new();
        for slot in &self.slots {
            let header = self
                .dwarf
                .unit_header(slot.offset)
                .map_err(|e| self.error(slot.offset.0, e))?;
            // A transient unit: keeping every unit parsed would cost memory
            // for units no decode needs.
            let unit = self
                .dwarf
                .unit(header)
                .map_err(|e| self.error(slot.offset.0, e))?;
            let mut entries = unit
                .entries_raw(None)
                .map_err(|e| self.error(slot.offset.0, e))?;
            let mut attrs = Vec::new();
            while !entries.is_empty() {
                let depth = entries.next_depth();
                let Some(abbrev) = entries
                    .read_abbreviation()
                    .map_err(|e| self.error(slot.offset.0, e))?
                else {
                    continue;
                };
                if depth != 1 || abbrev.tag() != gimli::DW_TAG_variable {
                    entries
                        .skip_attributes(abbrev.attributes())
                        .map_err(|e| self.error(slot.offset.0, e))?;
                    continue;
                }
                entries
                    .read_attributes(abbrev.attributes(), &mut attrs)
                    .map_err(|e| self.error(slot.offset.0, e))?;
                let find = |name| attrs.iter().find(|a| a.name() == name).map(|a| a.value());
                let is_vtable = find(gimli::DW_AT_name)
                    .and_then(|v| self.dwarf.attr_string(&unit, v).ok())
                    .is_some_and(|s| s.to_slice().is_ok_and(|s| s.ends_with(b"::{vtable}")));
                if !is_vtable {
                    continue;
                }
                let ty = find(gimli::DW_AT_type).and_then(|v| self.reference(&unit, v));
                let addr = match find(gimli::DW_AT_location) {
                    Some(AttributeValue::Exprloc(expr)) => self.static_address(&unit, expr),
                    _ => None,
                };
                if let (Some(ty), Some(addr)) = (ty, addr) {
                    out.insert(addr, ty);
                }
            }
        }
        Ok(out)
    }

    /// The address of a location expression that is a single `DW_OP_addr`
    /// or `DW_OP_addrx`.
    fn static_address(&self, unit: &Unit, expr: gimli::Expression<Reader>) -> Option<u64> {
        let mut ops = expr.operations(unit.encoding());
        match ops.next().ok()?? {
            gimli::Operation::Address { address } => Some(address),
            gimli::Operation::AddressIndex { index } => self.dwarf.address(unit, index).ok(),
            _ => None,
        }
    }
}

fn dwarf_error(path: &Path, offset: usize, err: impl std::fmt::Display) -> Error {
    Error::Dwarf {
        path: path.to_owned(),
        offset: offset as u64,
        message: err.to_string(),
    }
}
