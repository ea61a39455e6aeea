//! What a traced fn is, as the `#[trace]` macro writes it into a `static`:
//! its name, where it is, and its own `.await`s. Plain data every part of
//! the hot path names (frames, events, breakpoints, lints), below all of
//! them.

/// A traced function, as the `#[trace]` macro describes it in a `static`.
#[derive(Debug)]
pub struct FnInfo {
    /// The function's name.
    pub name: &'static str,
    /// `module_path!()` of the function.
    pub module_path: &'static str,
    /// The source file of the function and of its awaits.
    pub file: &'static str,
    /// Line of the function's name.
    pub line: u32,
    /// Column of the function's name.
    pub column: u32,
    /// The function's own `.await`s, in source order.
    pub awaits: &'static [AwaitInfo],
}

/// One `.await` of a traced function.
#[derive(Debug)]
pub struct AwaitInfo {
    /// The awaited expression as written, e.g. `fetch_posts(user.id)`.
    pub expr: &'static str,
    /// Line of the `.await`.
    pub line: u32,
    /// Column of the `.await`.
    pub column: u32,
}
