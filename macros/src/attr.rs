//! Parsing of `#[trace(...)]`'s arguments.

use std::collections::HashSet;

use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Ident, LitStr, Token, parenthesized};

/// `#[trace]`, `#[trace(skip(a, b))]`, `#[trace(skip_all)]`,
/// `#[trace(name = "label")]`.
#[derive(Default)]
pub(crate) struct TraceArgs {
    pub(crate) skip: HashSet<Ident>,
    pub(crate) skip_all: bool,
    pub(crate) name: Option<LitStr>,
}

impl Parse for TraceArgs {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut args = TraceArgs::default();
        while !input.is_empty() {
            let key: Ident = input.parse()?;
            match key.to_string().as_str() {
                "skip" => {
                    let content;
                    parenthesized!(content in input);
                    let names = Punctuated::<Ident, Token![,]>::parse_terminated(&content)?;
                    args.skip.extend(names);
                }
                "skip_all" => args.skip_all = true,
                "name" => {
                    input.parse::<Token![=]>()?;
                    args.name = Some(input.parse()?);
                }
                _ => {
                    return Err(syn::Error::new(
                        key.span(),
                        format!(
                            "unknown `#[trace]` argument `{key}`; expected `skip(arg, ..)`, `skip_all` or `name = \"..\"`"
                        ),
                    ));
                }
            }
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
        }
        Ok(args)
    }
}
