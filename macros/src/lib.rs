//! The macros of async-inspect: `#[trace]`, `#[main]` and `#[test]`.
//!
//! Use them through the `async-inspect` crate (`#[async_inspect::trace]`);
//! the code they generate calls only `::async_inspect::__private`.
//!
//! Parsing (`attr.rs`, `runtime.rs`) is kept apart from expansion
//! (`expand.rs`). When the input does not parse, the item is emitted
//! unchanged next to our error, so the user still sees their own compile
//! errors first.

use proc_macro::TokenStream;

mod attr;
mod expand;
mod runtime;
mod text;

/// Records a frame per active call of an `async fn`, with its arguments and
/// the progress of each of its `.await`s. See `async_inspect::trace`.
#[proc_macro_attribute]
pub fn trace(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand::trace(attr.into(), item.into()).into()
}

/// `#[trace]` with instrumentation compiled out: checks the arguments and
/// emits the function unchanged.
#[proc_macro_attribute]
pub fn trace_disabled(attr: TokenStream, item: TokenStream) -> TokenStream {
    match syn::parse::<attr::TraceArgs>(attr) {
        Ok(_) => item,
        Err(error) => {
            let mut out: proc_macro2::TokenStream = item.into();
            out.extend(error.to_compile_error());
            out.into()
        }
    }
}

/// Runs an `async fn main` on an inspected tokio runtime, its body the root
/// task named `main`. Accepts what `#[tokio::main]` accepts.
#[proc_macro_attribute]
pub fn main(attr: TokenStream, item: TokenStream) -> TokenStream {
    runtime::expand(attr.into(), item.into(), runtime::Kind::Main).into()
}

/// Runs an `async fn` test on an inspected tokio runtime, its body the root
/// task named after the test. Accepts what `#[tokio::test]` accepts.
#[proc_macro_attribute]
pub fn test(attr: TokenStream, item: TokenStream) -> TokenStream {
    runtime::expand(attr.into(), item.into(), runtime::Kind::Test).into()
}
