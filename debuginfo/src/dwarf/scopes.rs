//! Which namespace or type encloses a DIE, without a parent pointer per DIE.
//!
//! DWARF has no parent links, and rustc names a type by its last segment
//! (`String` inside namespaces `alloc`, `string`). One pass over a unit
//! records the extent of every namespace-like DIE; a DIE's enclosing scopes
//! are then a binary search and a walk up. Only scopes are stored (16 bytes
//! each, a fraction of the unit's DIEs), and only for units a decode touched.

use gimli::UnitOffset;

use crate::mapping::Reader;

/// One namespace-like DIE and the extent of its children.
#[derive(Debug, Clone, Copy)]
struct Scope {
    start: u32,
    end: u32,
    parent: u32,
}

const NO_PARENT: u32 = u32::MAX;

/// The scopes of one unit, in DIE order.
#[derive(Debug, Default)]
pub(crate) struct Scopes {
    scopes: Vec<Scope>,
}

fn is_scope(tag: gimli::DwTag) -> bool {
    matches!(
        tag,
        gimli::DW_TAG_namespace
            | gimli::DW_TAG_structure_type
            | gimli::DW_TAG_union_type
            | gimli::DW_TAG_enumeration_type
            | gimli::DW_TAG_class_type
            | gimli::DW_TAG_subprogram
    )
}

impl Scopes {
    /// Indexes the scopes of `unit` in one pass.
    pub(crate) fn build(unit: &gimli::Unit<Reader>) -> gimli::Result<Scopes> {
        let mut scopes: Vec<Scope> = Vec::new();
        // Open scopes: (depth of their children, index).
        let mut open: Vec<(isize, u32)> = Vec::new();
        let mut entries = unit.entries_raw(None)?;
        while !entries.is_empty() {
            let depth = entries.next_depth();
            let offset = entries.next_offset().0 as u32;
            let Some(abbrev) = entries.read_abbreviation()? else {
                continue;
            };
            while open.last().is_some_and(|&(d, _)| d > depth) {
                let (_, index) = open.pop().unwrap_or_default();
                scopes[index as usize].end = offset;
            }
            if abbrev.has_children() && is_scope(abbrev.tag()) && depth > 0 {
                let parent = open.last().map_or(NO_PARENT, |&(_, i)| i);
                open.push((depth + 1, scopes.len() as u32));
                scopes.push(Scope {
                    start: offset,
                    end: u32::MAX,
                    parent,
                });
            }
            entries.skip_attributes(abbrev.attributes())?;
        }
        Ok(Scopes { scopes })
    }

    /// The scopes strictly enclosing the DIE at `offset`, innermost first.
    pub(crate) fn enclosing(
        &self,
        offset: UnitOffset<usize>,
    ) -> impl Iterator<Item = UnitOffset<usize>> + '_ {
        let offset = offset.0 as u32;
        let before = self.scopes.partition_point(|s| s.start < offset);
        let mut at = before.checked_sub(1).map(|i| i as u32);
        // The last scope starting before `offset` may have closed already;
        // its ancestors are the candidates then.
        while let Some(i) = at {
            let s = self.scopes[i as usize];
            if s.end > offset {
                break;
            }
            at = (s.parent != NO_PARENT).then_some(s.parent);
        }
        std::iter::successors(at, |&i| {
            let parent = self.scopes[i as usize].parent;
            (parent != NO_PARENT).then_some(parent)
        })
        .map(|i| UnitOffset(self.scopes[i as usize].start as usize))
    }
}
