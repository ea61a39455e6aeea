//! How much one decode may read and print.

/// Bounds on one decode, so that a huge or corrupt future costs little.
///
/// The future's own bytes are always read once; `max_bytes` bounds what is
/// read *through pointers* (string and vector contents, boxes, boxed
/// futures). Whatever a bound cuts is marked: values end in `…` and the
/// node's `truncated` flag is set.
///
/// ```
/// use async_inspect_debuginfo::Budget;
///
/// let mut budget = Budget::default();
/// budget.max_items = 3;
/// assert_eq!(budget.max_depth, 32);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Budget {
    /// Bytes read through pointers, for the whole tree.
    pub max_bytes: u64,
    /// Nesting of futures: a chain deeper than this ends in an opaque node.
    pub max_depth: u32,
    /// Nesting inside one value (fields of fields, pointers followed).
    pub max_value_depth: u32,
    /// Elements of a sequence, fields of a struct, locals of a state.
    pub max_items: u32,
    /// Bytes of one string.
    pub max_string: u32,
}

impl Default for Budget {
    fn default() -> Budget {
        Budget {
            max_bytes: 256 * 1024,
            max_depth: 32,
            max_value_depth: 4,
            max_items: 16,
            max_string: 256,
        }
    }
}
