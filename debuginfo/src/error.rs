//! Errors: every failure is a value naming its input.

use std::path::PathBuf;

/// What to tell a user whose binary cannot be decoded for lack of debuginfo.
const SET_DEBUGINFO: &str = "build with full debuginfo and keep it in the binary: \
     `[profile.release] debug = \"full\"` and `strip = false` (or the profile you build with)";

/// Why a program could not be opened or a future not decoded.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file could not be opened or mapped.
    #[error("cannot read {path}: {message}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's message.
        message: String,
    },
    /// The file is not an ELF object this reader understands.
    #[error("{path} is not a readable ELF file: {message}")]
    Object {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        message: String,
    },
    /// The binary carries no DWARF at all (stripped, or built with `debug = 0`).
    #[error("{path} has no DWARF debuginfo{hint}; to decode async state machines, {SET_DEBUGINFO}")]
    NoDebugInfo {
        /// The file.
        path: PathBuf,
        /// Extra detail, such as a separate debuginfo file it points to.
        hint: String,
    },
    /// The anchor's code has no DWARF, or only line tables: the crate that
    /// holds it was built without full debuginfo.
    #[error(
        "the debuginfo of {path} does not describe the type anchor at {pc:#x}{function}: \
         its crate has no type debuginfo; {SET_DEBUGINFO}"
    )]
    NoTypeInfo {
        /// The file.
        path: PathBuf,
        /// The link-time address of the anchor.
        pc: u64,
        /// `" (in fn_name)"` when the function is known, empty otherwise.
        function: String,
    },
    /// The debuginfo is split into `.dwo`/`.dwp` files, which are not read.
    #[error(
        "{path} keeps its debuginfo in split DWARF files (.dwo/.dwp), which this reader does not \
         load; build with `split-debuginfo = \"off\"` in the profile"
    )]
    SplitDwarf {
        /// The file.
        path: PathBuf,
    },
    /// A debug section is compressed, which this reader does not inflate.
    #[error(
        "{path}: section {section} is compressed, which this reader does not support; \
         link without `--compress-debug-sections`"
    )]
    CompressedSection {
        /// The file.
        path: PathBuf,
        /// The section's name.
        section: String,
    },
    /// The DWARF is malformed or uses a form this reader does not handle.
    #[error("malformed DWARF in {path} at .debug_info+{offset:#x}: {message}")]
    Dwarf {
        /// The file.
        path: PathBuf,
        /// The offset in `.debug_info` closest to the problem.
        offset: u64,
        /// What is wrong.
        message: String,
    },
    /// The anchor's type is not the size that was recorded for the future:
    /// the anchor and the address do not belong together.
    #[error(
        "the anchor names type {type_name} of {dwarf_size} bytes, but the future at hand is {recorded_size} bytes"
    )]
    SizeMismatch {
        /// The type the anchor names.
        type_name: String,
        /// Its size according to the DWARF.
        dwarf_size: u64,
        /// The size recorded with the future.
        recorded_size: u64,
    },
    /// The future's own memory could not be read.
    #[error("cannot read the future: {0}")]
    Unreadable(#[from] Unreadable),
    /// The program is not mapped in the process the bias was asked for.
    #[error("{path} is not mapped in {maps}")]
    NotMapped {
        /// The program.
        path: PathBuf,
        /// The maps file that was searched.
        maps: String,
    },
}

impl Error {
    /// Whether it concerns the whole program (no debuginfo, or debuginfo
    /// this reader cannot load) rather than one future: no other decode in
    /// the same program can do better.
    pub fn concerns_the_program(&self) -> bool {
        matches!(
            self,
            Error::Io { .. }
                | Error::Object { .. }
                | Error::NoDebugInfo { .. }
                | Error::SplitDwarf { .. }
                | Error::CompressedSection { .. }
                | Error::NotMapped { .. }
        )
    }
}

/// Memory that could not be read: unmapped, protected, or gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("memory at {addr:#x} ({len} bytes) is unreadable")]
pub struct Unreadable {
    /// The first address that could not be read.
    pub addr: u64,
    /// How many bytes were asked for from there.
    pub len: usize,
}

impl Error {
    pub(crate) fn io(path: &std::path::Path, err: &std::io::Error) -> Error {
        Error::Io {
            path: path.to_owned(),
            message: err.to_string(),
        }
    }
}
