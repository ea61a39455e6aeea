//! Expression text as a person would write it, from tokens.
//!
//! `Span::source_text` only covers one token on stable, so the text is
//! rebuilt from the token stream with the spacing people use:
//! `fetch_posts(user.id)`, not `fetch_posts (user . id)`.

use proc_macro2::{Delimiter, Spacing, TokenStream, TokenTree};

pub(crate) fn tidy(tokens: TokenStream) -> String {
    let mut out = String::new();
    write_stream(&mut out, tokens);
    out
}

#[derive(Clone, Copy, PartialEq)]
enum Last {
    Start,
    Word,
    Group,
    /// A punct after which no space goes (`.`, `&`, `!`, a joint `:`).
    Tight,
    /// A punct after which a space goes (`,`, `=`, `+`, `=>`).
    Spaced,
}

fn write_stream(out: &mut String, tokens: TokenStream) {
    let mut last = Last::Start;
    // Open `::<` generic argument lists, written without inner spaces.
    let mut turbofish = 0usize;
    // Inside a closure's `|args|`.
    let mut closure_args = false;
    for token in tokens {
        match token {
            TokenTree::Ident(ident) => {
                if matches!(last, Last::Word | Last::Group | Last::Spaced) {
                    out.push(' ');
                }
                out.push_str(&ident.to_string());
                last = Last::Word;
            }
            TokenTree::Literal(literal) => {
                if matches!(last, Last::Word | Last::Group | Last::Spaced) {
                    out.push(' ');
                }
                out.push_str(&literal.to_string());
                last = Last::Word;
            }
            TokenTree::Group(group) => {
                let (open, close) = match group.delimiter() {
                    Delimiter::Parenthesis => ("(", ")"),
                    Delimiter::Bracket => ("[", "]"),
                    Delimiter::Brace => ("{ ", " }"),
                    Delimiter::None => ("", ""),
                };
                let call_like = matches!(
                    group.delimiter(),
                    Delimiter::Parenthesis | Delimiter::Bracket
                ) && matches!(last, Last::Word | Last::Group | Last::Tight);
                if !call_like && matches!(last, Last::Word | Last::Group | Last::Spaced) {
                    out.push(' ');
                }
                out.push_str(open);
                write_stream(out, group.stream());
                out.push_str(close);
                last = Last::Group;
            }
            TokenTree::Punct(punct) => {
                let c = punct.as_char();
                let joint = punct.spacing() == Spacing::Joint;
                if c == '<' && out.ends_with("::") {
                    turbofish += 1;
                    out.push(c);
                    last = Last::Tight;
                    continue;
                }
                if c == '|' && closure_args {
                    closure_args = false;
                    out.push(c);
                    last = Last::Spaced;
                    continue;
                }
                if c == '|' && matches!(last, Last::Start | Last::Spaced) {
                    if last == Last::Spaced {
                        out.push(' ');
                    }
                    closure_args = true;
                    out.push(c);
                    last = Last::Tight;
                    continue;
                }
                if c == '>' && turbofish > 0 {
                    turbofish -= 1;
                    out.push(c);
                    last = Last::Word;
                    continue;
                }
                // A macro's bang (`format!(..)`) hugs its name; `!=` does not.
                let bang = c == '!' && !joint && last == Last::Word;
                let tight_before = bang || matches!(c, '.' | ',' | ';' | '?' | ':');
                if !tight_before && matches!(last, Last::Word | Last::Group | Last::Spaced) {
                    out.push(' ');
                }
                out.push(c);
                let path = c == ':' && out.ends_with("::");
                last = if joint || path || matches!(c, '.' | '&' | '!' | '*' | '#' | '\'') {
                    Last::Tight
                } else {
                    Last::Spaced
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::tidy;
    use quote::quote;

    #[test]
    fn reads_like_source() {
        assert_eq!(tidy(quote!(fetch_posts(user.id))), "fetch_posts(user.id)");
        assert_eq!(
            tidy(quote!(tokio::time::sleep(Duration::from_secs(5)))),
            "tokio::time::sleep(Duration::from_secs(5))"
        );
        assert_eq!(
            tidy(quote!(client.get(&url).send())),
            "client.get(&url).send()"
        );
        assert_eq!(tidy(quote!(rx)), "rx");
        assert_eq!(tidy(quote!(a(x, y + 1)[0])), "a(x, y + 1)[0]");
        assert_eq!(tidy(quote!(Box::pin(f::<u8>()))), "Box::pin(f::<u8>())");
        assert_eq!(tidy(quote!(lock.lock())), "lock.lock()");
        assert_eq!(tidy(quote!(*x)), "*x");
        assert_eq!(tidy(quote!(send(format!("{k}")))), "send(format!(\"{k}\"))");
        assert_eq!(tidy(quote!(f(a != b, !c))), "f(a != b, !c)");
        assert_eq!(
            tidy(quote!(rx.wait_for(|v| *v > 1))),
            "rx.wait_for(|v| *v > 1)"
        );
        assert_eq!(
            tidy(quote!(run(move || go(), a | b))),
            "run(move || go(), a | b)"
        );
    }
}
