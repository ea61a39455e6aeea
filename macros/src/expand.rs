//! Expansion of `#[trace]`.
//!
//! ```text
//! #[trace] async fn fetch(user: u64) -> T { body }
//! ```
//! becomes, with the signature untouched,
//! ```text
//! async fn fetch(user: u64) -> T {
//!     static FN: FnInfo = FnInfo { name: "fetch", awaits: &[..], args: &["user"], .. };
//!     Traced::new(&FN, async move {
//!         // Only when the call is recorded: the values if they are all
//!         // `ArgValue`s, else their text.
//!         record_args(
//!             || (&ArgsProbe((&user,))).__async_inspect_values(),
//!             || format_args_list(&[("user", &user)]),
//!         );
//!         body with each own `.await` wrapped
//!     }).await
//! }
//! ```

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::visit_mut::{self, VisitMut};
use syn::{Expr, FnArg, ItemFn, Pat, ReturnType, Type};

use crate::attr::TraceArgs;
use crate::text::tidy;

pub(crate) fn trace(attr: TokenStream, item: TokenStream) -> TokenStream {
    let args = match syn::parse2::<TraceArgs>(attr) {
        Ok(args) => args,
        Err(error) => return with_error(item, error),
    };
    let function = match syn::parse2::<ItemFn>(item.clone()) {
        Ok(function) => function,
        // Let the compiler report the user's own syntax error.
        Err(_) => return item,
    };
    if function.sig.asyncness.is_none() {
        let error = syn::Error::new(
            function.sig.fn_token.span,
            "`#[trace]` goes on an `async fn`: it records the fn's `.await`s",
        );
        return with_error(item, error);
    }
    match expand(args, function) {
        Ok(tokens) => tokens,
        Err(error) => with_error(item, error),
    }
}

fn with_error(item: TokenStream, error: syn::Error) -> TokenStream {
    let mut out = item;
    out.extend(error.to_compile_error());
    out
}

struct Await {
    expr: String,
    span: Span,
}

/// Wraps each of a body's own `.await`s, leaving closures, async blocks,
/// nested items and macro bodies alone: their awaits are not the fn's steps.
#[derive(Default)]
struct Awaits {
    found: Vec<Await>,
}

impl VisitMut for Awaits {
    fn visit_expr_mut(&mut self, expr: &mut Expr) {
        match expr {
            Expr::Closure(_) | Expr::Async(_) | Expr::Macro(_) => {}
            Expr::Await(_) => {
                visit_mut::visit_expr_mut(self, expr);
                let Expr::Await(await_expr) = expr else {
                    unreachable!("matched above")
                };
                let index = u16::try_from(self.found.len()).unwrap_or(u16::MAX);
                let base = &await_expr.base;
                self.found.push(Await {
                    expr: tidy(base.to_token_stream()),
                    span: await_expr.await_token.span,
                });
                let await_token = &await_expr.await_token;
                let dot = &await_expr.dot_token;
                let attrs = &await_expr.attrs;
                *expr = syn::parse_quote_spanned! {base.span()=>
                    #(#attrs)* ::async_inspect::__private::await_point::<#index, _>(#base) #dot #await_token
                };
            }
            _ => visit_mut::visit_expr_mut(self, expr),
        }
    }

    fn visit_item_mut(&mut self, _item: &mut syn::Item) {}
}

/// Finds the body `#[tracing::instrument]` moved into
/// `let __tracing_instrument_future = async move { … };` and wraps the
/// awaits there (tracing's own awaits of it are not the fn's steps).
struct InstrumentedBody<'a> {
    awaits: &'a mut Awaits,
    found: bool,
}

impl VisitMut for InstrumentedBody<'_> {
    fn visit_local_mut(&mut self, local: &mut syn::Local) {
        let named = matches!(&local.pat, Pat::Ident(p) if p.ident == "__tracing_instrument_future");
        if let (true, Some(init)) = (named, &mut local.init)
            && let Expr::Async(body) = &mut *init.expr
        {
            self.awaits.visit_block_mut(&mut body.block);
            self.found = true;
        }
    }

    fn visit_expr_closure_mut(&mut self, _: &mut syn::ExprClosure) {}

    fn visit_item_mut(&mut self, _: &mut syn::Item) {}
}

fn expand(args: TraceArgs, function: ItemFn) -> syn::Result<TokenStream> {
    let ItemFn {
        attrs,
        vis,
        sig,
        mut block,
        ..
    } = function;

    for skipped in &args.skip {
        let known = sig.inputs.iter().any(|arg| match arg {
            FnArg::Typed(typed) => matches!(&*typed.pat, Pat::Ident(p) if p.ident == *skipped),
            FnArg::Receiver(_) => skipped == "self",
        });
        if !known {
            return Err(syn::Error::new(
                skipped.span(),
                format!("`skip({skipped})`: the function has no argument `{skipped}`"),
            ));
        }
    }

    let mut awaits = Awaits::default();
    // Under `#[tracing::instrument]` (expanded first when written above
    // this attribute) the body is tracing's: the fn's own awaits are in
    // the async block it instruments.
    let mut instrumented = InstrumentedBody {
        awaits: &mut awaits,
        found: false,
    };
    instrumented.visit_block_mut(&mut block);
    if !instrumented.found {
        awaits.visit_block_mut(&mut block);
    }

    let name = match &args.name {
        Some(name) => name.value(),
        None => sig.ident.to_string(),
    };
    let ident_span = sig.ident.span();
    let fn_line = quote_spanned!(ident_span=> ::core::line!());
    let fn_column = quote_spanned!(ident_span=> ::core::column!());
    let await_infos = awaits.found.iter().map(|a| {
        let expr = &a.expr;
        let line = quote_spanned!(a.span=> ::core::line!());
        let column = quote_spanned!(a.span=> ::core::column!());
        quote! {
            ::async_inspect::__private::AwaitInfo { expr: #expr, line: #line, column: #column }
        }
    });

    let recorded_idents: Vec<syn::Ident> = if args.skip_all {
        Vec::new()
    } else {
        sig.inputs
            .iter()
            .filter_map(|arg| match arg {
                FnArg::Typed(typed) => match &*typed.pat {
                    Pat::Ident(p) if !args.skip.contains(&p.ident) => Some(p.ident.clone()),
                    _ => None,
                },
                FnArg::Receiver(_) => None,
            })
            .collect()
    };
    let (checks, recorded): (Vec<_>, Vec<_>) = recorded_idents.iter().map(debug_arg).unzip();
    let arg_names = recorded_idents
        .iter()
        .map(|ident| ident.to_string().trim_start_matches("r#").to_owned());

    // The body's first statement: nothing to hand over, nothing emitted.
    let record_args = if recorded.is_empty() {
        TokenStream::new()
    } else {
        quote! {
            {
                #[allow(unused_imports)]
                use ::async_inspect::__private::{FormatNow as _, KeepValues as _};
                ::async_inspect::__private::record_args(
                    || (&::async_inspect::__private::ArgsProbe((#(&#recorded_idents,)*)))
                        .__async_inspect_values(),
                    || ::async_inspect::__private::format_args_list(&[#(#recorded),*]),
                );
            }
        }
    };
    // A method: its frames are named `Type::method` (three `run`s of three
    // types are told apart); `Self` is known in the body, not in a static.
    let owner = if sig.inputs.iter().any(|a| matches!(a, FnArg::Receiver(_))) {
        quote!(::async_inspect::__private::OwnerOf<Self>)
    } else {
        quote!(::async_inspect::__private::NoOwner)
    };
    let return_hint = return_hint(&sig.output);
    let stmts = &block.stmts;
    let body = quote! {
        static __ASYNC_INSPECT_FN: ::async_inspect::__private::FnInfo =
            ::async_inspect::__private::FnInfo {
                name: #name,
                module_path: ::core::module_path!(),
                file: ::core::file!(),
                line: #fn_line,
                column: #fn_column,
                awaits: &[#(#await_infos),*],
                args: &[#(#arg_names),*],
            };
        #(#checks)*
        ::async_inspect::__private::traced::<#owner, _>(
            &__ASYNC_INSPECT_FN,
            async move {
                #return_hint
                #record_args
                #(#stmts)*
            },
        )
        .await
    };
    Ok(quote! {
        #(#attrs)*
        #vis #sig {
            #body
        }
    })
}

/// For one recorded argument: a trait whose diagnostic names the argument
/// and suggests `skip` when its type is not `Debug`, and the `(name, &dyn
/// Debug)` pair the frame records.
fn debug_arg(ident: &syn::Ident) -> (TokenStream, TokenStream) {
    let raw = ident.to_string();
    let name = raw.trim_start_matches("r#").to_owned();
    let check = format_ident!("__AsyncInspectDebugArg_{}", name);
    let message = format!(
        "`#[trace]` records the argument `{name}` with `Debug`, but its type `{{Self}}` does not implement `Debug`"
    );
    let label = format!("`{name}` is not `Debug`");
    let note = format!(
        "skip it with `#[trace(skip({name}))]`, or every argument with `#[trace(skip_all)]`"
    );
    let span = ident.span();
    let item = quote! {
        #[allow(non_camel_case_types)]
        #[diagnostic::on_unimplemented(message = #message, label = #label, note = #note)]
        trait #check {
            fn __async_inspect_debug(&self) -> &dyn ::core::fmt::Debug;
        }
        #[diagnostic::do_not_recommend]
        impl<T: ::core::fmt::Debug> #check for T {
            fn __async_inspect_debug(&self) -> &dyn ::core::fmt::Debug {
                self
            }
        }
    };
    let pair = quote_spanned! {span=>
        (#name, #check::__async_inspect_debug(&#ident))
    };
    (item, pair)
}

/// `if false { let r: Ret = loop {}; return r; }`: tells the async block
/// its output type, so `?` and early `return` infer as in the original fn.
/// Left out when the type cannot be written in a `let` (`impl Trait`).
pub(crate) fn return_hint(output: &ReturnType) -> TokenStream {
    let ty = match output {
        ReturnType::Default => quote!(()),
        ReturnType::Type(_, ty) if mentions_impl_trait(ty) => return TokenStream::new(),
        ReturnType::Type(_, ty) => ty.to_token_stream(),
    };
    quote! {
        #[allow(unreachable_code, clippy::diverging_sub_expression, clippy::let_unit_value, clippy::needless_return)]
        if false {
            let __async_inspect_return: #ty = loop {};
            return __async_inspect_return;
        }
    }
}

fn mentions_impl_trait(ty: &Type) -> bool {
    struct Finder(bool);
    impl<'ast> syn::visit::Visit<'ast> for Finder {
        fn visit_type_impl_trait(&mut self, _: &'ast syn::TypeImplTrait) {
            self.0 = true;
        }
    }
    let mut finder = Finder(false);
    syn::visit::Visit::visit_type(&mut finder, ty);
    finder.0
}
