//! A program on disk: its ELF headers now, its DWARF when first needed.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use object::{Object, ObjectSection, ObjectSegment};

use crate::bias::{self, FileIdentity, Segment};
use crate::decode::{Decoder, FoundGuard};
use crate::dwarf::Dwarf;
use crate::mapping::{Mapping, Reader, SectionBytes};
use crate::{Budget, Error, LoadBias, Memory, StateNode};

/// A future to decode: where it is, how big, and what type it has.
///
/// Record all three when the future is pinned (its first poll): `address`
/// is `&*pinned as *const _ as u64`, `size` is `size_of_val(&*pinned)`, and
/// the anchor is `anchor::<F> as fn() -> &'static str as usize`, made
/// link-time with [`LoadBias::to_link_time`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RootFuture {
    /// The link-time address of the type anchor instantiated with the
    /// future's type (see [`anchor`](crate::anchor)).
    pub anchor_pc: u64,
    /// The run-time address of the pinned future.
    pub address: u64,
    /// The future's size in bytes.
    pub size: u64,
}

/// An executable (or shared object) and its debuginfo.
///
/// Opening maps the file and reads its ELF headers; the DWARF is indexed
/// lazily, piece by piece, as decodes need it, and parsed types are cached,
/// so a `Program` is meant to be opened once and kept. It is `Send + Sync`.
///
/// ```
/// use async_inspect_debuginfo::{Program, anchor};
///
/// let program = Program::open("/proc/self/exe")?;
/// let bias = program.bias_for_self()?;
/// let runtime = anchor::<Vec<u8>> as fn() -> &'static str as usize as u64;
/// match program.anchor_type_name(bias.to_link_time(runtime)) {
///     Ok(name) => assert_eq!(name, "alloc::vec::Vec<u8, alloc::alloc::Global>"),
///     // Doctests are built without debuginfo; the error says what to set.
///     Err(e) => assert!(e.to_string().contains("debug = \"full\"")),
/// }
/// # Ok::<(), async_inspect_debuginfo::Error>(())
/// ```
#[derive(Debug)]
pub struct Program {
    path: PathBuf,
    map: Arc<Mapping>,
    endian: gimli::RunTimeEndian,
    /// (name, file range) of the sections the DWARF is read from.
    sections: Vec<(String, std::ops::Range<usize>)>,
    segments: Vec<Segment>,
    identity: FileIdentity,
    has_debuglink: bool,
    /// The link-time addresses of its code (its executable sections).
    code: std::ops::Range<u64>,
    dwarf: OnceLock<Result<Dwarf, Error>>,
}

impl Program {
    /// Maps the ELF file at `path` and reads its headers.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if it cannot be opened, [`Error::Object`] if it is not
    /// ELF, [`Error::CompressedSection`] if its debug sections are
    /// compressed. A binary without debuginfo opens; decoding then fails
    /// with [`Error::NoDebugInfo`].
    pub fn open(path: impl AsRef<Path>) -> Result<Program, Error> {
        let path = path.as_ref();
        let map = Arc::new(Mapping::open(path).map_err(|e| Error::io(path, &e))?);
        let file = object::File::parse(map.bytes()).map_err(|e| Error::Object {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        let endian = if file.is_little_endian() {
            gimli::RunTimeEndian::Little
        } else {
            gimli::RunTimeEndian::Big
        };
        let mut sections = Vec::new();
        for section in file.sections() {
            let Ok(name) = section.name() else { continue };
            if name.starts_with(".zdebug") {
                return Err(Error::CompressedSection {
                    path: path.to_owned(),
                    section: name.to_owned(),
                });
            }
            if !name.starts_with(".debug") {
                continue;
            }
            let compressed = section.compressed_file_range().map_err(|e| Error::Object {
                path: path.to_owned(),
                message: e.to_string(),
            })?;
            if compressed.format != object::CompressionFormat::None {
                return Err(Error::CompressedSection {
                    path: path.to_owned(),
                    section: name.to_owned(),
                });
            }
            if let Some((offset, size)) = section.file_range() {
                let start = usize::try_from(offset).unwrap_or(usize::MAX);
                let end = start.saturating_add(usize::try_from(size).unwrap_or(usize::MAX));
                sections.push((name.to_owned(), start..end));
            }
        }
        let segments = file
            .segments()
            .map(|s| {
                let (offset, filesz) = s.file_range();
                Segment {
                    vaddr: s.address(),
                    offset,
                    filesz,
                }
            })
            .collect();
        let has_debuglink = file.section_by_name(".gnu_debuglink").is_some();
        // Where code is, at link time: the DWARF of functions the linker
        // discarded stays, their addresses set to 0 (or 1, or -1): those
        // ranges are no code, and an address near 0 is in none.
        let code = file
            .sections()
            .filter(|s| s.kind() == object::SectionKind::Text && s.size() > 0)
            .map(|s| s.address()..s.address().saturating_add(s.size()))
            .reduce(|a, b| a.start.min(b.start)..a.end.max(b.end))
            .unwrap_or(0..u64::MAX);
        Ok(Program {
            path: path.to_owned(),
            identity: FileIdentity::of(path),
            map: map.clone(),
            endian,
            sections,
            segments,
            has_debuglink,
            code,
            dwarf: OnceLock::new(),
        })
    }

    /// The path the program was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The load bias of this program in the calling process.
    ///
    /// # Errors
    ///
    /// [`Error::NotMapped`] if this program is not the one running (or a
    /// library it loaded), [`Error::Io`] if `/proc/self/maps` is unreadable.
    pub fn bias_for_self(&self) -> Result<LoadBias, Error> {
        self.bias_from("/proc/self/maps")
    }

    /// The load bias of this program in process `pid`, from
    /// `/proc/PID/maps`.
    ///
    /// # Errors
    ///
    /// As [`Program::bias_for_self`].
    pub fn bias_for_pid(&self, pid: u32) -> Result<LoadBias, Error> {
        self.bias_from(&format!("/proc/{pid}/maps"))
    }

    fn bias_from(&self, maps_path: &str) -> Result<LoadBias, Error> {
        let maps =
            std::fs::read_to_string(maps_path).map_err(|e| Error::io(Path::new(maps_path), &e))?;
        bias::bias_from_maps(&maps, &self.identity, &self.segments).ok_or_else(|| {
            Error::NotMapped {
                path: self.path.clone(),
                maps: maps_path.to_owned(),
            }
        })
    }

    /// Decodes the state machine tree of a future.
    ///
    /// `bias` is the program's load bias in the process `memory` reads from
    /// (it turns vtable pointers read from memory into link-time addresses).
    ///
    /// # Errors
    ///
    /// Errors that concern the whole future: no usable debuginfo, an
    /// anchor that does not match the size, the future's own bytes
    /// unreadable. Trouble further down (an unreadable box, a type the
    /// DWARF does not describe) is reported inside the tree instead, as an
    /// opaque node or an `<unreadable 0x…>` value.
    pub fn decode(
        &self,
        root: &RootFuture,
        memory: &dyn Memory,
        bias: LoadBias,
        budget: &Budget,
    ) -> Result<StateNode, Error> {
        self.decode_with_guards(root, None, memory, bias, budget)
            .map(|(tree, _)| tree)
    }

    /// [`Program::decode`], with the owned guards and permits met on the
    /// way: (resource id, id of the task that took it); `read` holds the
    /// root future's bytes when the caller read them already.
    pub(crate) fn decode_with_guards(
        &self,
        root: &RootFuture,
        read: Option<Vec<u8>>,
        memory: &dyn Memory,
        bias: LoadBias,
        budget: &Budget,
    ) -> Result<(StateNode, Vec<FoundGuard>), Error> {
        let dwarf = self.dwarf()?;
        let ty = dwarf.anchor_type(root.anchor_pc)?;
        let decoder = Decoder::new(dwarf, memory, bias, budget, self.endian);
        let tree = decoder.decode_root(ty, root.address, root.size, read)?;
        Ok((tree, decoder.take_guards()))
    }

    /// The type name the anchor at link-time address `anchor_pc` names.
    ///
    /// # Errors
    ///
    /// As [`Program::decode`], for the anchor lookup.
    pub fn anchor_type_name(&self, anchor_pc: u64) -> Result<String, Error> {
        let dwarf = self.dwarf()?;
        let ty = dwarf.anchor_type(anchor_pc)?;
        Ok(dwarf.ty(ty)?.name.clone())
    }

    /// Builds now what decodes would otherwise build on first need: the
    /// DWARF handle, the address table and the vtable table.
    ///
    /// The vtable table costs one pass over `.debug_info` (tens of
    /// milliseconds for a 100 MB section) and keeps one entry per vtable;
    /// without this call the first decode that follows a `dyn Future` pays
    /// it. Useful before a latency-sensitive decode, or to surface a missing
    /// debuginfo error early.
    ///
    /// # Errors
    ///
    /// As [`Program::decode`]: no debuginfo, malformed DWARF.
    pub fn prepare(&self) -> Result<(), Error> {
        self.dwarf()?.prepare()
    }

    fn dwarf(&self) -> Result<&Dwarf, Error> {
        self.dwarf
            .get_or_init(|| self.load_dwarf())
            .as_ref()
            .map_err(Clone::clone)
    }

    fn section(&self, name: &str) -> SectionBytes {
        let range = self
            .sections
            .iter()
            .find(|(n, _)| n == name)
            .map_or(0..0, |(_, r)| r.clone());
        SectionBytes::new(self.map.clone(), range)
    }

    fn load_dwarf(&self) -> Result<Dwarf, Error> {
        if self.section(".debug_info").is_empty() {
            let hint = if self.has_debuglink {
                " (it was moved to a separate file named by .gnu_debuglink, which is not read)"
            } else {
                " (stripped, or built with `debug = 0`)"
            };
            return Err(Error::NoDebugInfo {
                path: self.path.clone(),
                hint: hint.to_owned(),
            });
        }
        let dwarf = gimli::Dwarf::load(|id| -> Result<Reader, Error> {
            Ok(Reader::new(self.section(id.name()), self.endian))
        })?;
        Dwarf::new(&self.path, dwarf, self.code.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_program_can_be_shared_between_threads() {
        fn shared<T: Send + Sync>() {}
        shared::<Program>();
    }

    #[test]
    fn opening_reads_headers_only_and_decoding_needs_debuginfo() {
        let program = Program::open("/proc/self/exe").unwrap();
        assert!(program.dwarf.get().is_none(), "DWARF parsed at open");
        program.prepare().unwrap();
        assert!(program.dwarf.get().is_some());
    }
}
