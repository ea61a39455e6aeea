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
    /// The names of the arguments its frames show, in order (empty for
    /// none): what values kept unformatted are printed with.
    pub args: &'static [&'static str],
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

/// A traced fn's name as the views show it: `Type::method` for a method of
/// the type `owner` (its `std::any::type_name`, shortened to its last
/// segment without generic arguments), else the fn's own name.
pub(crate) fn qualified(name: &str, owner: Option<&str>) -> String {
    match owner {
        Some(owner) => {
            let base = owner.split('<').next().unwrap_or(owner);
            let short = base.rsplit("::").next().unwrap_or(base);
            format!("{short}::{name}")
        }
        None => name.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::qualified;

    #[test]
    fn a_method_is_qualified_by_its_type_without_path_or_generics() {
        assert_eq!(
            qualified("run", Some("app::server::Handler")),
            "Handler::run"
        );
        assert_eq!(
            qualified("get", Some("app::Store<alloc::string::String>")),
            "Store::get"
        );
        assert_eq!(qualified("run", None), "run");
    }
}
