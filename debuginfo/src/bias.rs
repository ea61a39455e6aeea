//! Load bias: the distance between where the linker put the program and
//! where the loader did (non-zero for every position-independent executable).

use std::path::Path;

/// The offset a process loaded a program at.
///
/// DWARF speaks in link-time addresses; a running PIE adds a bias chosen at
/// exec. Addresses taken at run time (a type anchor, a vtable pointer)
/// become link-time ones with [`LoadBias::to_link_time`].
///
/// ```
/// use async_inspect_debuginfo::LoadBias;
///
/// let bias = LoadBias::new(0x5555_5555_4000);
/// assert_eq!(bias.to_link_time(0x5555_5555_5234), 0x1234);
/// assert_eq!(bias.to_runtime(0x1234), 0x5555_5555_5234);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LoadBias(u64);

impl LoadBias {
    /// No bias: a non-PIE executable, or addresses already at link time.
    pub const NONE: LoadBias = LoadBias(0);

    /// A bias of `bias` bytes.
    pub const fn new(bias: u64) -> LoadBias {
        LoadBias(bias)
    }

    /// The bias in bytes.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// The link-time address of a run-time one.
    pub const fn to_link_time(self, runtime: u64) -> u64 {
        runtime.wrapping_sub(self.0)
    }

    /// The run-time address of a link-time one.
    pub const fn to_runtime(self, link_time: u64) -> u64 {
        link_time.wrapping_add(self.0)
    }
}

/// A loadable segment of the program, as its program headers say.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Segment {
    pub(crate) vaddr: u64,
    pub(crate) offset: u64,
    pub(crate) filesz: u64,
}

/// How to recognise the program's lines in a maps file.
#[derive(Debug, Clone)]
pub(crate) struct FileIdentity {
    /// Device (major, minor) and inode of the file.
    pub(crate) dev_ino: Option<((u64, u64), u64)>,
    /// The file's canonical path.
    pub(crate) path: Option<std::path::PathBuf>,
}

impl FileIdentity {
    pub(crate) fn of(path: &Path) -> FileIdentity {
        use std::os::unix::fs::MetadataExt;
        let dev_ino = std::fs::metadata(path).ok().map(|m| {
            let dev = m.dev();
            let major = ((dev >> 32) & 0xffff_f000) | ((dev >> 8) & 0xfff);
            let minor = ((dev >> 12) & 0xffff_ff00) | (dev & 0xff);
            ((major, minor), m.ino())
        });
        FileIdentity {
            dev_ino,
            path: std::fs::canonicalize(path).ok(),
        }
    }
}

/// One line of a maps file.
#[derive(Debug, PartialEq, Eq)]
struct MapLine<'a> {
    start: u64,
    offset: u64,
    dev: (u64, u64),
    inode: u64,
    path: &'a str,
}

fn parse_map_line(line: &str) -> Option<MapLine<'_>> {
    let mut fields = line.splitn(6, ' ');
    let range = fields.next()?;
    let _perms = fields.next()?;
    let offset = u64::from_str_radix(fields.next()?, 16).ok()?;
    let (major, minor) = fields.next()?.split_once(':')?;
    let inode = fields.next()?.parse().ok()?;
    let path = fields.next().unwrap_or("").trim_start();
    let path = path.strip_suffix(" (deleted)").unwrap_or(path);
    Some(MapLine {
        start: u64::from_str_radix(range.split_once('-')?.0, 16).ok()?,
        offset,
        dev: (
            u64::from_str_radix(major, 16).ok()?,
            u64::from_str_radix(minor, 16).ok()?,
        ),
        inode,
        path,
    })
}

/// Finds the bias of the program identified by `id` in the text of a maps
/// file, given its loadable segments.
pub(crate) fn bias_from_maps(
    maps: &str,
    id: &FileIdentity,
    segments: &[Segment],
) -> Option<LoadBias> {
    const PAGE: u64 = 4096;
    maps.lines().filter_map(parse_map_line).find_map(|line| {
        let same_file = id
            .dev_ino
            .is_some_and(|(dev, ino)| line.inode != 0 && line.dev == dev && line.inode == ino)
            || id
                .path
                .as_deref()
                .is_some_and(|p| !line.path.is_empty() && Path::new(line.path) == p);
        if !same_file {
            return None;
        }
        let segment = segments.iter().find(|s| {
            s.offset & !(PAGE - 1) <= line.offset
                && line.offset < s.offset.saturating_add(s.filesz.max(1))
        })?;
        let bias = line
            .start
            .wrapping_sub(segment.vaddr)
            .wrapping_add(segment.offset)
            .wrapping_sub(line.offset);
        Some(LoadBias(bias))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAPS: &str = "\
55d0c0a00000-55d0c0a3c000 r--p 00000000 fd:01 1234 /usr/bin/app
55d0c0a3c000-55d0c0b00000 r-xp 0003c000 fd:01 1234 /usr/bin/app
7f0000000000-7f0000001000 rw-p 00000000 00:00 0 
7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0                          [stack]
";

    #[test]
    fn a_map_line_is_parsed_with_and_without_a_path() {
        let line = parse_map_line(
            "55d0c0a3c000-55d0c0b00000 r-xp 0003c000 fd:01 1234 /usr/bin/my app (deleted)",
        )
        .unwrap();
        assert_eq!(
            line,
            MapLine {
                start: 0x55d0_c0a3_c000,
                offset: 0x3c000,
                dev: (0xfd, 1),
                inode: 1234,
                path: "/usr/bin/my app",
            }
        );
        assert_eq!(
            parse_map_line("7f0000000000-7f0000001000 rw-p 00000000 00:00 0 ")
                .unwrap()
                .path,
            ""
        );
    }

    #[test]
    fn the_bias_of_a_pie_is_where_its_first_segment_was_mapped() {
        let id = FileIdentity {
            dev_ino: Some(((0xfd, 1), 1234)),
            path: None,
        };
        let segments = [
            Segment {
                vaddr: 0,
                offset: 0,
                filesz: 0x3b000,
            },
            Segment {
                vaddr: 0x3c000,
                offset: 0x3b500,
                filesz: 0x10000,
            },
        ];
        assert_eq!(
            bias_from_maps(MAPS, &id, &segments),
            Some(LoadBias(0x55d0_c0a0_0000))
        );
    }

    #[test]
    fn a_program_that_is_not_mapped_has_no_bias() {
        let id = FileIdentity {
            dev_ino: Some(((0xfd, 1), 99)),
            path: Some("/usr/bin/other".into()),
        };
        let segments = [Segment {
            vaddr: 0,
            offset: 0,
            filesz: 0x3b000,
        }];
        assert_eq!(bias_from_maps(MAPS, &id, &segments), None);
    }
}
