//! `#[main]` and `#[test]`: build a tokio runtime as `#[tokio::main]` and
//! `#[tokio::test]` do (or block on smol or async-std with `runtime = …`),
//! and run the body as the inspected root task.

use proc_macro2::TokenStream;
use quote::quote;
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{Expr, ExprLit, ItemFn, Lit, MetaNameValue, Token};

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Main,
    Test,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Flavor {
    CurrentThread,
    MultiThread,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Runtime {
    Tokio,
    Smol,
    AsyncStd,
}

struct Options {
    runtime: Runtime,
    /// `timeout = "30s"`, for tests.
    timeout: Option<syn::LitStr>,
    flavor: Flavor,
    worker_threads: Option<usize>,
    start_paused: bool,
    /// Every task of the runtime, through tokio's unstable hooks.
    all_tasks: bool,
}

fn parse_options(attr: TokenStream, kind: Kind) -> syn::Result<Options> {
    let pairs = Punctuated::<MetaNameValue, Token![,]>::parse_terminated.parse2(attr)?;
    let mut runtime = Runtime::Tokio;
    let mut timeout = None;
    let mut tokio_option = None;
    let mut flavor = None;
    let mut worker_threads = None;
    let mut start_paused = false;
    let mut all_tasks = false;
    for pair in pairs {
        let key = pair
            .path
            .get_ident()
            .map(ToString::to_string)
            .unwrap_or_default();
        let literal = match &pair.value {
            Expr::Lit(ExprLit { lit, .. }) => lit.clone(),
            other => return Err(syn::Error::new_spanned(other, "expected a literal")),
        };
        if key != "runtime" && key != "timeout" {
            tokio_option.get_or_insert_with(|| pair.path.clone());
        }
        match (key.as_str(), &literal) {
            ("timeout", Lit::Str(s)) if kind == Kind::Test => timeout = Some(s.clone()),
            ("timeout", _) if kind == Kind::Main => {
                return Err(syn::Error::new_spanned(
                    &pair.path,
                    "`timeout` is for `#[async_inspect::test]`",
                ));
            }
            ("runtime", Lit::Str(s)) => {
                runtime = match s.value().as_str() {
                    "tokio" => Runtime::Tokio,
                    "smol" => Runtime::Smol,
                    "async-std" | "async_std" => Runtime::AsyncStd,
                    other => {
                        return Err(syn::Error::new_spanned(
                            s,
                            format!(
                                "unknown runtime `{other}`; expected `tokio`, `smol` or `async-std`"
                            ),
                        ));
                    }
                };
            }
            ("flavor", Lit::Str(s)) => {
                flavor = Some(match s.value().as_str() {
                    "current_thread" => Flavor::CurrentThread,
                    "multi_thread" => Flavor::MultiThread,
                    other => {
                        return Err(syn::Error::new_spanned(
                            s,
                            format!(
                                "unknown flavor `{other}`; expected `current_thread` or `multi_thread`"
                            ),
                        ));
                    }
                });
            }
            ("worker_threads", Lit::Int(n)) => {
                let n: usize = n.base10_parse()?;
                if n == 0 {
                    return Err(syn::Error::new_spanned(
                        literal,
                        "`worker_threads` may not be 0",
                    ));
                }
                worker_threads = Some(n);
            }
            ("start_paused", Lit::Bool(b)) => start_paused = b.value,
            ("all_tasks", Lit::Bool(b)) => all_tasks = b.value,
            (
                "runtime" | "timeout" | "flavor" | "worker_threads" | "start_paused" | "all_tasks",
                _,
            ) => {
                return Err(syn::Error::new_spanned(
                    literal,
                    format!("wrong kind of value for `{key}`"),
                ));
            }
            _ => {
                return Err(syn::Error::new_spanned(
                    &pair.path,
                    "unknown option; expected `runtime`, `timeout`, `flavor`, `worker_threads`, `start_paused` or `all_tasks`",
                ));
            }
        }
    }
    if let (Runtime::Smol | Runtime::AsyncStd, Some(option)) = (runtime, tokio_option) {
        return Err(syn::Error::new_spanned(
            option,
            "this option is tokio's; smol and async-std take only `runtime`",
        ));
    }
    let flavor = flavor.unwrap_or(match (kind, worker_threads) {
        (_, Some(_)) | (Kind::Main, None) => Flavor::MultiThread,
        (Kind::Test, None) => Flavor::CurrentThread,
    });
    if flavor == Flavor::CurrentThread && worker_threads.is_some() {
        return Err(syn::Error::new(
            proc_macro2::Span::call_site(),
            "`worker_threads` needs `flavor = \"multi_thread\"`",
        ));
    }
    Ok(Options {
        runtime,
        timeout,
        flavor,
        worker_threads,
        start_paused,
        all_tasks,
    })
}

pub(crate) fn expand(attr: TokenStream, item: TokenStream, kind: Kind) -> TokenStream {
    let function = match syn::parse2::<ItemFn>(item.clone()) {
        Ok(function) => function,
        Err(_) => return item,
    };
    let options = match parse_options(attr, kind) {
        Ok(options) => options,
        Err(error) => return without_body(function, error),
    };
    if function.sig.asyncness.is_none() {
        let error = syn::Error::new(
            function.sig.fn_token.span,
            "the `async` keyword is missing from the function declaration",
        );
        return with_error(item, error);
    }
    let ItemFn {
        attrs,
        vis,
        mut sig,
        block,
        ..
    } = function;
    sig.asyncness = None;
    let name = sig.ident.to_string();
    let test_attr = (kind == Kind::Test).then(|| quote!(#[::core::prelude::v1::test]));
    let return_hint = crate::expand::return_hint(&sig.output);
    let stmts = &block.stmts;
    // A test runs under the watchdog (a no-op without a timeout), and fails
    // with the report of where it is stuck when it does not end in time.
    let watched = (kind == Kind::Test).then(|| {
        let timeout = match &options.timeout {
            Some(text) => quote!(::core::option::Option::Some(#text)),
            None => quote!(::core::option::Option::None),
        };
        quote! {
            let __async_inspect_body = ::async_inspect::__private::watch_test(
                #name,
                #timeout,
                __async_inspect_body,
            );
        }
    });
    let run = match options.runtime {
        Runtime::Tokio => {
            let builder = match options.flavor {
                Flavor::CurrentThread => quote!(new_current_thread),
                Flavor::MultiThread => quote!(new_multi_thread),
            };
            let workers = options.worker_threads.map(|n| quote!(.worker_threads(#n)));
            let paused = options.start_paused.then(|| quote!(.start_paused(true)));
            // Checked in the user's crate, which is what the flag builds.
            let all_tasks = options.all_tasks.then(|| quote! {
                #[cfg(tokio_unstable)]
                ::async_inspect::__private::instrument_runtime(&mut __async_inspect_builder);
                #[cfg(not(tokio_unstable))]
                ::core::compile_error!(
                    "`all_tasks` needs tokio's unstable task hooks: build with RUSTFLAGS=\"--cfg tokio_unstable\""
                );
            });
            quote! {
                {
                    let mut __async_inspect_builder =
                        ::async_inspect::__private::tokio::runtime::Builder::#builder();
                    __async_inspect_builder #workers .enable_all() #paused;
                    #all_tasks
                    __async_inspect_builder
                        .build()
                        .expect("Failed building the Runtime")
                        .block_on(::async_inspect::__private::root_task(#name, __async_inspect_body))
                }
            }
        }
        Runtime::Smol => quote! {
            ::async_inspect::smol::block_on_named(#name, __async_inspect_body)
        },
        Runtime::AsyncStd => quote! {
            ::async_inspect::async_std::block_on_named(#name, __async_inspect_body)
        },
    };
    let finish = match kind {
        Kind::Test => quote!(::async_inspect::__private::stuck_is_failure(#run)),
        Kind::Main => run,
    };
    quote! {
        #test_attr
        #(#attrs)*
        #vis #sig {
            let __async_inspect_body = async move {
                #return_hint
                #(#stmts)*
            };
            #watched
            #[allow(clippy::expect_used, clippy::diverging_sub_expression)]
            {
                return #finish;
            }
        }
    }
}

/// The function, no longer `async` and with a body that type-checks, next to
/// `error`: the user sees our error alone rather than also "`main` function
/// is not allowed to be `async`".
fn without_body(function: ItemFn, error: syn::Error) -> TokenStream {
    let ItemFn {
        attrs,
        vis,
        mut sig,
        ..
    } = function;
    sig.asyncness = None;
    let error = error.to_compile_error();
    quote! {
        #(#attrs)*
        #vis #sig { ::core::panic!("async-inspect: invalid options") }
        #error
    }
}

fn with_error(item: TokenStream, error: syn::Error) -> TokenStream {
    let mut out = item;
    out.extend(error.to_compile_error());
    out
}
