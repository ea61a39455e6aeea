//! Futures: compiler state machines, boxes, combinators and leaves.
//!
//! An `async fn` or block compiles to a struct named `{async_fn_env#N}` or
//! `{async_block_env#N}` (inside the fn's namespace) with a variant part:
//! `Unresumed`, `Returned`, `Panicked`, `Suspend0`…, selected by an
//! artificial `__state` member. Each `Suspend` variant carries the
//! `.await`'s file and line (on the variant's member) and, as its members,
//! the locals saved across that await, the awaited future as `__awaitee`
//! (inline, so a chain of async fns is one nested read), and finally the
//! fields every variant shares: the upvars, i.e. the arguments of an
//! `async fn` or the captures of a block. Those shared fields are the last
//! members of every variant and the only members of `Returned`.

use crate::Error;
use crate::decode::value::is_owning_or_reference;
use crate::decode::{Decoder, ReadError, is_dyn_pointer, is_slice_pointer};
use crate::dwarf::{DieId, Kind, Member, Type};
use crate::tree::{Local, NodeKind, NodeState, SourceLine, StateNode};

/// What kind of state machine a type is, if any.
pub(crate) fn coroutine_kind(ty: &Type) -> Option<NodeKind> {
    let Kind::Struct(s) = &ty.kind else {
        return None;
    };
    s.variants.as_ref()?;
    if ty.short_name.starts_with("{async_fn_env#") {
        Some(NodeKind::AsyncFn)
    } else if ty.short_name.starts_with("{async") || ty.short_name.starts_with("{coroutine") {
        Some(NodeKind::AsyncBlock)
    } else {
        None
    }
}

/// The path a state machine is shown under: `app::fetch<u8>` for an async
/// fn, `app::main::{closure#0}::{async block}` for a block.
pub(crate) fn coroutine_path(ty: &Type, kind: &NodeKind) -> String {
    let name = &ty.short_name;
    // `{async_fn_env#0}<u8>`: the generic arguments follow the brace.
    let (env, generics) = match name.find('}') {
        Some(i) => name.split_at(i + 1),
        None => (name.as_str(), ""),
    };
    let own = match kind {
        NodeKind::AsyncFn => String::new(),
        _ => match env.rsplit_once('#').map(|(_, n)| n.trim_end_matches('}')) {
            Some("0") | None => "::{async block}".to_owned(),
            Some(n) => format!("::{{async block#{n}}}"),
        },
    };
    format!("{}{own}{generics}", ty.scope)
}

impl Decoder<'_> {
    /// Decodes the root future of a task; `read` holds its bytes when the
    /// caller read them already.
    pub(crate) fn decode_root(
        &self,
        ty: DieId,
        addr: u64,
        size: u64,
        read: Option<Vec<u8>>,
    ) -> Result<StateNode, Error> {
        let t = self.dwarf.ty(ty)?;
        if t.size != size {
            return Err(Error::SizeMismatch {
                type_name: t.name.clone(),
                dwarf_size: t.size,
                recorded_size: size,
            });
        }
        let buf = match read {
            Some(buf) if buf.len() as u64 == size => buf,
            _ => {
                let mut buf = vec![0; usize::try_from(size).unwrap_or(0)];
                self.memory.read(addr, &mut buf)?;
                buf
            }
        };
        self.blocks.borrow_mut().push((addr, buf));
        Ok(self.future(ty, addr, 0))
    }

    /// The node of the future of type `ty` at `addr`; never fails: trouble
    /// becomes an opaque node that says what went wrong.
    pub(crate) fn future(&self, ty: DieId, addr: u64, depth: u32) -> StateNode {
        let outer = self.truncated.replace(false);
        let mut node = match self.dwarf.ty(ty) {
            Ok(t) => self.typed_future(&t, addr, depth),
            Err(e) => opaque("<unknown type>".to_owned(), e.to_string()),
        };
        node.truncated |= self.truncated.get();
        self.truncated.set(outer || node.truncated);
        node
    }

    pub(crate) fn typed_future(&self, t: &Type, addr: u64, depth: u32) -> StateNode {
        self.nodes.set(self.nodes.get() + 1);
        if depth > self.budget.max_depth || self.nodes.get() > super::MAX_NODES {
            let mut node = StateNode::new(t.name.clone(), NodeKind::Opaque);
            node.truncated = true;
            return node;
        }
        // Bring the whole future into the cache with one read.
        if let Err(e) = self.load_block(addr, t.size, false) {
            return unreadable_node(t, e);
        }
        if let Some(kind) = coroutine_kind(t) {
            return match self.state_machine(t, addr, depth, kind) {
                Ok(node) => node,
                Err(e) => unreadable_node(t, e),
            };
        }
        if let Some(node) = self.maybe_done(t, addr, depth) {
            return node;
        }
        match self.pointee_future(t, addr) {
            Ok(Some((target, at))) => return self.future(target, at, depth),
            Ok(None) => {}
            Err(e) => return unreadable_node(t, e),
        }
        if is_dyn_pointer(t) {
            let mut node = StateNode::new(t.name.clone(), NodeKind::Opaque);
            node.error = Some("its vtable is not described by the debuginfo".to_owned());
            return node;
        }
        let children = self.embedded_futures(t, addr, depth);
        if children.is_empty() {
            let mut node = StateNode::new(t.name.clone(), NodeKind::Leaf(t.name.clone()));
            node.detail = self.leaf_detail(t, addr);
            node
        } else {
            let mut node = StateNode::new(t.name.clone(), NodeKind::Combinator);
            node.children = children;
            node
        }
    }

    /// For a future that only points to another (`Pin<P>`, `Box<F>`,
    /// `Box<dyn Future>`, `&mut F`): the pointee's type and address.
    pub(crate) fn pointee_future(
        &self,
        t: &Type,
        addr: u64,
    ) -> Result<Option<(DieId, u64)>, ReadError> {
        if t.name.starts_with("core::pin::Pin<")
            && let Kind::Struct(s) = &t.kind
            && let Some(m) = s.member("pointer")
            && let Some(inner) = m.ty.and_then(|id| self.dwarf.ty(id).ok())
        {
            return match self.pointee_future(&inner, addr.wrapping_add(m.offset))? {
                Some(found) => Ok(Some(found)),
                None => Ok(m.ty.map(|id| (id, addr.wrapping_add(m.offset)))),
            };
        }
        if is_dyn_pointer(t) {
            let Kind::Struct(s) = &t.kind else {
                return Ok(None);
            };
            let (Some(data), Some(vtable)) = (s.member("pointer"), s.member("vtable")) else {
                return Ok(None);
            };
            let data = self.pointer(addr.wrapping_add(data.offset))?;
            let vtable = self.pointer(addr.wrapping_add(vtable.offset))?;
            return Ok(self.vtable_target(vtable).map(|ty| (ty, data)));
        }
        let follow = match &t.kind {
            Kind::Pointer(target) if is_owning_or_reference(&t.name) => *target,
            Kind::Struct(_) if t.name.starts_with("alloc::boxed::Box<") && !is_slice_pointer(t) => {
                return Ok(self
                    .pointer_leaf(t, addr, 0)?
                    .and_then(|(ptr, target)| Some((target?, ptr))));
            }
            _ => None,
        };
        match follow {
            Some(target) => Ok(Some((target, self.pointer(addr)?))),
            None => Ok(None),
        }
    }

    fn state_machine(
        &self,
        t: &Type,
        addr: u64,
        depth: u32,
        kind: NodeKind,
    ) -> Result<StateNode, ReadError> {
        let mut node = StateNode::new(coroutine_path(t, &kind), kind.clone());
        let Kind::Struct(s) = &t.kind else {
            return Ok(node);
        };
        let Some(part) = &s.variants else {
            return Ok(node);
        };
        let variant_struct = |m: &Member| m.ty.and_then(|id| self.dwarf.ty(id).ok());
        let named = |name: &str| {
            part.variants
                .iter()
                .find(|v| variant_struct(&v.member).is_some_and(|t| t.short_name == name))
        };
        node.defined_at = named("Unresumed").and_then(|v| v.member.decl.clone());
        if node.path.contains("{impl#") {
            // A method: named after the type of its `self` (an upvar, like
            // every argument), as people write it.
            let self_type = named("Unresumed")
                .and_then(|v| variant_struct(&v.member))
                .and_then(|u| match &u.kind {
                    Kind::Struct(s) => s.member("self")?.ty,
                    _ => None,
                })
                .and_then(|id| self.dwarf.ty(id).ok());
            // Without a `self` (an async block in a method, an associated
            // fn), the impl as a method of it named it before.
            let impl_name = match (impl_namespace(&node.path), self_type) {
                (Some(namespace), Some(self_type)) => {
                    let short = self_type_name(&self_type.name);
                    if let Some(short) = short {
                        self.dwarf.learn_impl(namespace, short);
                    }
                    short.map(str::to_owned)
                }
                (Some(namespace), None) => self.dwarf.impl_name(namespace),
                (None, _) => None,
            };
            if let Some(short) = impl_name {
                node.path = name_impl(&node.path, &short);
            }
        }
        let Some(active) = self.active_variant(part, addr)? else {
            node.error = Some("its state tag matches no variant".to_owned());
            return Ok(node);
        };
        let Some(vt) = variant_struct(&active.member) else {
            return Ok(node);
        };
        let Kind::Struct(fields) = &vt.kind else {
            return Ok(node);
        };
        let base = addr.wrapping_add(active.member.offset);
        let shared = named("Returned")
            .or_else(|| named("Panicked"))
            .and_then(|v| variant_struct(&v.member))
            .map(|t| match &t.kind {
                Kind::Struct(s) => s.members.iter().map(|m| m.name.clone()).collect(),
                _ => Vec::new(),
            })
            .unwrap_or_default();
        let mut live: Vec<&Member> = fields.members.iter().collect();
        match vt.short_name.as_str() {
            "Unresumed" => {
                node.state = NodeState::Unresumed;
            }
            "Returned" | "Panicked" => {
                node.state = if vt.short_name == "Returned" {
                    NodeState::Returned
                } else {
                    NodeState::Panicked
                };
                live.clear();
            }
            name => {
                let index = name.strip_prefix("Suspend").and_then(|n| n.parse().ok());
                let mut at = active.member.decl.clone();
                // An await a macro wrote carries the macro's line: use the
                // line of its call in this fn instead.
                if at
                    .as_ref()
                    .zip(node.defined_at.as_ref())
                    .is_some_and(|(a, d)| a.file != d.file)
                {
                    at = self.call_site(t, part, active, &fields.members).or(at);
                }
                node.state = match (index, at) {
                    (Some(index), Some(at)) => NodeState::Suspended {
                        index,
                        file: at.file,
                        line: at.line,
                        column: None,
                    },
                    _ => NodeState::Unknown,
                };
                // An async fn moves its arguments into locals before its
                // first await, so the shared slots hold stale, moved-from
                // copies in every Suspend state. A block's captures are used
                // in place and stay live.
                if ends_with_names(&live, &shared) {
                    let own = live.len() - shared.len();
                    if kind == NodeKind::AsyncFn {
                        live.truncate(own);
                    } else {
                        // A capture also saved as a local of the same name
                        // (an upvar relocated into the body) is shown once.
                        let own_names: Vec<String> =
                            live[..own].iter().map(|m| m.name.clone()).collect();
                        let mut i = 0;
                        live.retain(|m| {
                            i += 1;
                            i <= own || !own_names.contains(&m.name)
                        });
                    }
                }
            }
        }
        if let Some(awaitee) = live.iter().position(|m| m.name == "__awaitee") {
            let m = live.remove(awaitee);
            if let Some(ty) = m.ty {
                node.children
                    .push(self.future(ty, base.wrapping_add(m.offset), depth + 1));
            }
        }
        node.locals = self.locals(&live, base);
        Ok(node)
    }

    /// The line of the call site of the await a macro wrote, in the fn of
    /// the state machine `t` (see `dwarf::awaits`): the `__awaitee`
    /// variable of the resume fn that has the type of the `active`
    /// variant's awaitee, counted among the variants awaiting that type.
    fn call_site(
        &self,
        t: &Type,
        part: &crate::dwarf::VariantPart,
        active: &crate::dwarf::Variant,
        members: &[Member],
    ) -> Option<SourceLine> {
        let awaitee_type = |fields: &[Member]| {
            fields
                .iter()
                .find(|m| m.name == "__awaitee")
                .and_then(|m| m.ty)
        };
        let ty = awaitee_type(members)?;
        let ty = self.dwarf.ty(ty).ok()?.name.clone();
        let sites = self.dwarf.await_sites(t.id, &t.scope).ok()?;
        let candidates: Vec<&SourceLine> = sites
            .iter()
            .filter(|(site_ty, _)| *site_ty == ty)
            .map(|(_, at)| at)
            .collect();
        match candidates.as_slice() {
            [] => None,
            [only] => Some((*only).clone()),
            many => {
                // Several awaits of that type: the k-th variant awaiting
                // it is the k-th variable of it, when they are as many.
                let same_type: Vec<&crate::dwarf::Variant> = part
                    .variants
                    .iter()
                    .filter(|v| {
                        v.member.ty.and_then(|id| self.dwarf.ty(id).ok()).is_some_and(|vt| {
                            vt.short_name.starts_with("Suspend")
                                && matches!(&vt.kind, Kind::Struct(s) if awaitee_type(&s.members)
                                    .and_then(|id| self.dwarf.ty(id).ok())
                                    .is_some_and(|a| a.name == ty))
                        })
                    })
                    .collect();
                if same_type.len() != many.len() {
                    return None;
                }
                let k = same_type.iter().position(|v| std::ptr::eq(*v, active))?;
                Some(many[k].clone())
            }
        }
    }

    fn locals(&self, members: &[&Member], base: u64) -> Vec<Local> {
        let max = self.budget.max_items as usize;
        if members.len() > max {
            self.truncate();
        }
        members
            .iter()
            .take(max)
            .map(|m| {
                let type_name =
                    m.ty.and_then(|t| self.dwarf.ty(t).ok())
                        .map_or_else(|| "?".to_owned(), |t| t.name.clone());
                Local {
                    name: m.name.clone(),
                    type_name,
                    value: self.value(m.ty, base.wrapping_add(m.offset), 0),
                }
            })
            .collect()
    }
}

/// `path` with its last impl namespace (`app::{impl#3}::run`) replaced by
/// `short`, the name of the impl's type: `app::Handler::run`.
fn name_impl(path: &str, short: &str) -> String {
    let Some(namespace) = impl_namespace(path) else {
        return path.to_owned();
    };
    let start = path.rfind("{impl#").unwrap_or(0);
    format!("{}{short}{}", &path[..start], &path[namespace.len()..])
}

/// The path up to its last impl namespace: `app::{impl#3}` of
/// `app::{impl#3}::run::{async_fn#0}`.
fn impl_namespace(path: &str) -> Option<&str> {
    let start = path.rfind("{impl#")?;
    let len = path[start..].find('}')?;
    Some(&path[..start + len + 1])
}

/// The name a method's `self` type is written by, without its module or
/// generic arguments and through references and smart pointers: `&mut
/// app::conn::Handler<T>` gives `Handler`.
fn self_type_name(self_type: &str) -> Option<&str> {
    let mut ty = self_type;
    loop {
        ty = ty.trim_start_matches('&').trim_start_matches("mut ");
        ty = ty
            .strip_prefix("*const ")
            .or_else(|| ty.strip_prefix("*mut "))
            .unwrap_or(ty);
        let pointer = [
            "alloc::sync::Arc<",
            "alloc::rc::Rc<",
            "alloc::boxed::Box<",
            "core::pin::Pin<",
        ]
        .iter()
        .find_map(|p| ty.strip_prefix(p));
        match pointer {
            Some(inner) => ty = first_generic_argument(inner),
            None => break,
        }
    }
    let base = ty.split('<').next().unwrap_or(ty);
    let short = base.rsplit("::").next().unwrap_or(base);
    (!short.is_empty() && !short.starts_with('{')).then_some(short)
}

/// The first argument of a generic argument list whose opening `<` was
/// already stripped: `Foo<u8>, Global>` gives `Foo<u8>`.
fn first_generic_argument(list: &str) -> &str {
    let mut depth = 0;
    for (i, c) in list.char_indices() {
        match c {
            '<' => depth += 1,
            '>' if depth == 0 => return &list[..i],
            '>' => depth -= 1,
            ',' if depth == 0 => return &list[..i],
            _ => {}
        }
    }
    list
}

/// Whether the names of `members` end with `names`, in order.
fn ends_with_names(members: &[&Member], names: &[String]) -> bool {
    !names.is_empty()
        && members.len() >= names.len()
        && members[members.len() - names.len()..]
            .iter()
            .zip(names)
            .all(|(m, n)| &m.name == n)
}

fn opaque(path: String, error: String) -> StateNode {
    let mut node = StateNode::new(path, NodeKind::Opaque);
    node.error = Some(error);
    node
}

fn unreadable_node(t: &Type, e: ReadError) -> StateNode {
    let mut node = StateNode::new(t.name.clone(), NodeKind::Opaque);
    match e {
        ReadError::Unreadable(at) => node.error = Some(format!("memory at {at:#x} is unreadable")),
        ReadError::Budget => node.truncated = true,
    }
    node
}

/// The display name of a future's type in a value: `<app::fetch future>`.
pub(crate) fn future_value_name(t: &Type) -> Option<String> {
    let kind = coroutine_kind(t)?;
    Some(format!("<{} future>", coroutine_path(t, &kind)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dwarf::{Struct, VariantPart};

    fn state_machine(scope: &str, short_name: &str) -> Type {
        Type {
            id: gimli::DebugInfoOffset(0),
            name: format!("{scope}::{short_name}"),
            short_name: short_name.to_owned(),
            scope: scope.to_owned(),
            size: 8,
            kind: Kind::Struct(Struct {
                variants: Some(VariantPart::default()),
                ..Struct::default()
            }),
        }
    }

    #[test]
    fn an_async_fn_is_named_by_its_fn_path_with_generic_arguments() {
        let t = state_machine("app::fetch", "{async_fn_env#0}<u8, &str>");
        assert_eq!(coroutine_kind(&t), Some(NodeKind::AsyncFn));
        assert_eq!(
            coroutine_path(&t, &NodeKind::AsyncFn),
            "app::fetch<u8, &str>"
        );
    }

    #[test]
    fn async_blocks_are_numbered_after_the_first() {
        let first = state_machine("app::main", "{async_block_env#0}");
        let second = state_machine("app::main", "{async_block_env#1}");
        assert_eq!(coroutine_kind(&first), Some(NodeKind::AsyncBlock));
        assert_eq!(
            coroutine_path(&first, &NodeKind::AsyncBlock),
            "app::main::{async block}"
        );
        assert_eq!(
            coroutine_path(&second, &NodeKind::AsyncBlock),
            "app::main::{async block#1}"
        );
    }

    #[test]
    fn a_method_is_named_after_the_type_of_its_self() {
        let named = |path: &str, self_type: &str| {
            name_impl(path, self_type_name(self_type).expect("a type name"))
        };
        assert_eq!(
            named("app::{impl#3}::run", "&mut app::conn::Handler<u8>"),
            "app::Handler::run"
        );
        assert_eq!(
            named(
                "app::{impl#0}::serve<u8>",
                "alloc::sync::Arc<app::Service<alloc::vec::Vec<u8, alloc::alloc::Global>>, alloc::alloc::Global>"
            ),
            "app::Service::serve<u8>"
        );
        assert_eq!(
            named(
                "lib::{impl#2}::lock<u32>::{async block}",
                "&lib::Mutex<u32>"
            ),
            "lib::Mutex::lock<u32>::{async block}"
        );
        assert_eq!(
            named("app::{impl#1}::new", "core::pin::Pin<&mut app::Task>"),
            "app::Task::new"
        );
        assert_eq!(named("app::run", "&app::Handler"), "app::run");
        assert_eq!(
            impl_namespace("app::{impl#3}::run::{async_fn#0}"),
            Some("app::{impl#3}")
        );
        assert_eq!(self_type_name("{closure_env#0}"), None);
    }

    #[test]
    fn a_closure_environment_is_no_state_machine() {
        assert_eq!(
            coroutine_kind(&state_machine("app::main", "{closure_env#0}")),
            None
        );
    }
}
