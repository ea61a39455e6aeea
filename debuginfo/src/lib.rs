//! Decoding suspended async state machines from a program's debuginfo.
//!
//! Every `async fn` and `async {}` block compiles to a state machine whose
//! layout rustc describes in DWARF. Given where a future lives, its size and
//! a *type anchor* (a function monomorphised for the future's type, see
//! [`anchor`]), this crate reads the future's bytes from a process and
//! tells, with no annotation in the code: which fn it is, at which `.await`
//! (file and line) it is suspended, the locals saved across that await with
//! their values, and, recursively, the futures it awaits.
//!
//! ```no_run
//! use std::future::Future;
//! use std::pin::pin;
//! use std::task::{Context, Waker};
//!
//! use async_inspect_debuginfo::{anchor, Budget, Program, ProcessMemory, RootFuture};
//!
//! async fn app() {
//!     std::future::pending::<()>().await
//! }
//!
//! let program = Program::open("/proc/self/exe")?;
//! let bias = program.bias_for_self()?;
//! let mut fut = pin!(app());
//! let _ = fut.as_mut().poll(&mut Context::from_waker(Waker::noop()));
//! let root = RootFuture {
//!     anchor_pc: bias.to_link_time(anchor_of(&*fut)),
//!     address: &*fut as *const _ as u64,
//!     size: std::mem::size_of_val(&*fut) as u64,
//! };
//! let tree = program.decode(&root, &ProcessMemory::this_process(), bias, &Budget::default())?;
//! assert!(tree.path.ends_with("::app"));
//! # fn anchor_of<F>(_: &F) -> u64 { anchor::<F> as fn() -> &'static str as usize as u64 }
//! # Ok::<(), async_inspect_debuginfo::Error>(())
//! ```
//!
//! # Layering
//!
//! The tree it produces is the model's (`async-inspect-model`'s
//! `state_machine`); it depends on nothing else of async-inspect, so the
//! CLI can use it without the program side. Inside, `error`, `budget`,
//! `bias`, `memory` and `mapping` (the mapped file) sit below `dwarf` (the
//! lazy index and types), below `decode` (reading a future through the
//! types), below `program` (the entry point) and `task` (a snapshot's
//! tasks).
//!
//! # How it reads
//!
//! In the manner of `gimli` and `addr2line`: [`Program::open`] maps the ELF
//! file and reads its headers only; units, their scope indexes, the address
//! table and the vtable table are built the first time a decode needs them,
//! and types are parsed once and cached. Memory is read through [`Memory`]
//! (`process_vm_readv` for a live process), so a bad pointer is an error
//! value, never a fault. Each decode is bounded by a [`Budget`].
//!
//! # DWARF facts this relies on (rustc 1.95, x86_64 Linux)
//!
//! - A state machine is a struct `{async_fn_env#N}` (or
//!   `{async_block_env#N}`) inside the namespaces of its fn, with generic
//!   arguments appended (`{async_fn_env#0}<u8>`). Its `DW_TAG_variant_part`
//!   is selected by an artificial `__state` member; the variants are structs
//!   named `Unresumed`, `Returned`, `Panicked`, `Suspend0`, `Suspend1`….
//! - The member holding each variant carries `DW_AT_decl_file` and
//!   `DW_AT_decl_line`: for `SuspendN` the line of the `.await`, for
//!   `Unresumed` the fn's own line, for `Returned`/`Panicked` its closing
//!   brace. There is no column.
//! - A `SuspendN` struct lists the locals saved across that await, the
//!   awaited future as `__awaitee` stored inline, then the upvars shared by
//!   all variants (an async fn's arguments, a block's captures). `Returned`
//!   holds only those. An async fn moves its arguments into locals before it
//!   first awaits, so in a Suspend state the shared slots are stale; they
//!   are hidden (a block's captures are used in place and are shown).
//!   Unnamed temporaries held across an await appear as `__0`, `__1`….
//! - The anchor's `DW_TAG_subprogram` has a `DW_TAG_template_type_parameter`
//!   naming `F`.
//! - `Box<dyn Future>` is a struct with `pointer` and `vtable`; each vtable
//!   is a top-level `DW_TAG_variable` `<T as Trait>::{vtable}` at a fixed
//!   address whose type has `DW_AT_containing_type` = `T`.
//! - `Box<T>` is a pointer type named `Box<…>`; `Box<[T]>`, `&[T]` and
//!   `&str` are structs of `data_ptr` and `length`; an enum's generic
//!   parameters sit on its variant structs, not on the enum.
//! - A closure inside an async fn lives in namespace `fn::{async_fn#0}`.
//!
//! # Combinators
//!
//! A future that is not a state machine is searched, a few levels deep,
//! for the futures it holds (fields, active enum variants, pointees, boxed
//! slice elements). `MaybeDone<F>` shows as `F` (returned once done), and a
//! tuple holding futures, which `join!`/`select!` build, shows every
//! element as a branch. This covers tokio's `join!`, `select!` and
//! `timeout`, and futures' `join!` and `join_all`.
//!
//! # Caveats
//!
//! - Split DWARF (`.dwo`/`.dwp`), compressed debug sections and separate
//!   debuginfo files are reported as errors, not read. A binary without
//!   type debuginfo gives [`Error::NoDebugInfo`] or [`Error::NoTypeInfo`],
//!   whose message says what to set in `Cargo.toml`.
//! - An await written by a macro (`join!`, `select!`) carries a line of
//!   the macro's crate; the line shown is the macro's call site instead,
//!   read from the `__awaitee` variable of the fn that resumes the state
//!   machine (see `dwarf::awaits`), whose line rustc collapses to it.
//! - Methods are named after the type of their `self` upvar
//!   (`app::Handler::get`); an associated async fn without `self` keeps
//!   rustc's impl namespace (`app::{impl#0}::new`).
//! - Leaf details (a timer's deadline, a oneshot's state, a channel's
//!   senders) read private fields of tokio 1.x by name: a version that
//!   renames them loses the detail, never shows a wrong one.
//! - Release builds (`opt-level = 3`, `debug = "full"`) decode the same:
//!   the state machine layout is fixed before LLVM optimises, so chains,
//!   await lines, saved locals, boxes and combinators all read as in debug.
//! - The bytes are copied while the task may run on another thread: decode
//!   a task that is not being polled, or expect a torn read to come back
//!   as odd values or an error, never as a fault.
//!
//! # Costs
//!
//! Opening maps the file (about 0.1 ms). The first decode parses the units
//! it touches; later ones hit the cache (about 0.3 ms for a chain of three
//! async fns). Following a `dyn Future` first builds the vtable table, one
//! pass over `.debug_info` (about 0.1 s and 2 MB of heap for 29 MB of
//! DWARF; the mapped file pages are page cache); [`Program::prepare`] does
//! it ahead of time.
#![warn(
    missing_docs,
    missing_debug_implementations,
    clippy::undocumented_unsafe_blocks
)]

mod bias;
mod budget;
mod decode;
mod dwarf;
mod error;
mod mapping;
mod memory;
mod program;
mod socket;
mod task;

pub use async_inspect_model::state_machine::{
    self as tree, Local, NodeKind, NodeState, SourceLine, StateNode,
};
pub use bias::LoadBias;
pub use budget::Budget;
pub use error::{Error, Unreadable};
pub use memory::{Memory, ProcessMemory, SliceMemory};
pub use program::{Program, RootFuture};
pub use task::TaskError;

/// The type anchor: a function monomorphised for `F`, whose address names
/// `F` through the debuginfo.
///
/// Record `anchor::<F> as fn() -> &'static str as usize` when a future of
/// type `F` is first polled; [`Program::decode`] finds the function
/// containing that (link-time) address and takes its first template type
/// parameter. It does not rely on this name: any generic function of this
/// shape works. The `type_name` in the body keeps LLVM from merging the
/// instances for different types into one function in release builds.
///
/// ```
/// use async_inspect_debuginfo::anchor;
///
/// assert_eq!(anchor::<u8>(), "u8");
/// let a = anchor::<u8> as fn() -> &'static str as usize;
/// let b = anchor::<u16> as fn() -> &'static str as usize;
/// assert_ne!(a, b);
/// ```
#[inline(never)]
pub fn anchor<F>() -> &'static str {
    std::hint::black_box(std::any::type_name::<F>())
}
