//! Futures inside futures that are not state machines: joins, selects,
//! timeouts, `MaybeDone`.
//!
//! The DWARF does not say which types implement `Future`, so a combinator
//! is recognised by what it holds: a search through its fields (the active
//! variant of enums, the pointee of pointers, the elements of boxed slices)
//! collects the state machines and boxed futures it finds. Two shapes are
//! known in more detail: `MaybeDone<F>` (the branch of a join: its future,
//! or a returned `F`) and a tuple holding futures (what `join!` and
//! `select!` expand to: every element is a branch, leaves included). The
//! search is bounded in levels and in members visited. `FuturesUnordered`
//! keeps its futures in a linked list of tasks, walked as one.

use crate::decode::future::coroutine_kind;
use crate::decode::{Decoder, is_dyn_pointer, is_slice_pointer};
use crate::dwarf::{Kind, Member, Type};
use crate::tree::{NodeKind, NodeState, StateNode};

/// `futures`' set of futures, walked as a list (see
/// `Decoder::futures_unordered`), and the wrapper `FuturesOrdered` puts
/// around each of its futures.
const FUTURES_UNORDERED: &str = "futures_util::stream::futures_unordered::FuturesUnordered<";
const ORDER_WRAPPER: &str = "futures_util::stream::futures_ordered::OrderWrapper<";

/// How many levels of fields and pointers a search descends.
const MAX_LEVEL: u32 = 6;
/// How many members one search may look at.
const MAX_VISITED: u32 = 512;

/// Type name prefixes that are never searched: containers whose futures
/// would sit behind heap buffers (`Vec` is walked by `JoinAll` as a boxed
/// slice instead), shared pointers, markers.
const NOT_SEARCHED: [&str; 5] = [
    "alloc::vec::",
    "alloc::string::",
    "alloc::sync::",
    "alloc::rc::",
    "core::marker::",
];

impl Decoder<'_> {
    /// The futures held by the non-state-machine future `t` at `addr`.
    pub(crate) fn embedded_futures(&self, t: &Type, addr: u64, depth: u32) -> Vec<StateNode> {
        let mut out = Vec::new();
        self.visited.set(0);
        self.search(t, addr, depth, 0, &mut out);
        out
    }

    /// The node of a `MaybeDone<F>`: its future while pending, else `F`
    /// marked returned.
    pub(crate) fn maybe_done(&self, t: &Type, addr: u64, depth: u32) -> Option<StateNode> {
        if !t.short_name.starts_with("MaybeDone<") {
            return None;
        }
        let Kind::Struct(s) = &t.kind else {
            return None;
        };
        let active = self.active_variant(s.variants.as_ref()?, addr).ok()??;
        let vt = self.dwarf.ty(active.member.ty?).ok()?;
        let Kind::Struct(vs) = &vt.kind else {
            return None;
        };
        if active.member.name == "Future" {
            let inner = vs.members.first()?;
            return Some(
                self.future(
                    inner.ty?,
                    addr.wrapping_add(active.member.offset)
                        .wrapping_add(inner.offset),
                    depth,
                ),
            );
        }
        // rustc puts an enum's generic parameters on its variant structs.
        let param = s.params.first().or_else(|| vs.params.first())?;
        let output_of = self.dwarf.ty(param.1).ok()?;
        let mut node = match coroutine_kind(&output_of) {
            Some(kind) => StateNode::new(
                crate::decode::future::coroutine_path(&output_of, &kind),
                kind,
            ),
            None => StateNode::new(
                output_of.name.clone(),
                NodeKind::Leaf(output_of.name.clone()),
            ),
        };
        node.state = NodeState::Returned;
        Some(node)
    }

    fn search(&self, t: &Type, addr: u64, depth: u32, level: u32, out: &mut Vec<StateNode>) {
        if level > MAX_LEVEL || out.len() >= self.budget.max_items as usize {
            return;
        }
        if t.name.starts_with(FUTURES_UNORDERED) {
            self.futures_unordered(t, addr, depth, out);
            return;
        }
        if level > 0 {
            if coroutine_kind(t).is_some() {
                out.push(self.typed_child(t, addr, depth));
                return;
            }
            if let Some(node) = self.maybe_done(t, addr, depth + 1) {
                out.push(node);
                return;
            }
            if t.name.starts_with("core::pin::Pin<") || is_dyn_pointer(t) {
                if let Ok(Some((ty, at))) = self.pointee_future(t, addr)
                    && let Ok(pointee) = self.dwarf.ty(ty)
                {
                    if coroutine_kind(&pointee).is_some() || is_dyn_pointer(t) {
                        out.push(self.future(ty, at, depth + 1));
                    } else if self.load_block(at, pointee.size, false).is_ok() {
                        self.search(&pointee, at, depth, level + 1, out);
                    }
                }
                return;
            }
        }
        match &t.kind {
            Kind::Struct(s) if is_slice_pointer(t) => {
                let (Some(data), Some(len)) = (s.member("data_ptr"), s.member("length")) else {
                    return;
                };
                let element =
                    data.ty
                        .and_then(|id| self.dwarf.ty(id).ok())
                        .and_then(|p| match p.kind {
                            Kind::Pointer(Some(e)) => self.dwarf.ty(e).ok(),
                            _ => None,
                        });
                let (Some(element), Ok(ptr), Ok(len)) = (
                    element,
                    self.pointer(addr.wrapping_add(data.offset)),
                    self.pointer(addr.wrapping_add(len.offset)),
                ) else {
                    return;
                };
                let shown = len.min(u64::from(self.budget.max_items));
                if element.size == 0
                    || self
                        .load_block(ptr, shown.saturating_mul(element.size), false)
                        .is_err()
                {
                    return;
                }
                for i in 0..shown {
                    self.search(
                        &element,
                        ptr.wrapping_add(i.wrapping_mul(element.size)),
                        depth,
                        level + 1,
                        out,
                    );
                }
            }
            Kind::Struct(s) => {
                let (members, base) = match &s.variants {
                    None => (s.members.as_slice(), addr),
                    Some(part) => {
                        let Ok(Some(active)) = self.active_variant(part, addr) else {
                            return;
                        };
                        let Some(vt) = active.member.ty.and_then(|id| self.dwarf.ty(id).ok())
                        else {
                            return;
                        };
                        let Kind::Struct(vs) = &vt.kind else { return };
                        // The variant struct lives in a cached `Arc`; its
                        // members are searched before it is dropped.
                        let base = addr.wrapping_add(active.member.offset);
                        for m in &vs.members {
                            self.search_member(m, base, depth, level, out);
                        }
                        return;
                    }
                };
                if t.short_name.starts_with('(') && members.iter().any(|m| self.is_branch(m)) {
                    // A tuple of futures, as `join!`/`select!` build: every
                    // element is a branch, whatever future it is.
                    for m in members.iter().take(self.budget.max_items as usize) {
                        if let Some(ty) = m.ty {
                            out.push(self.future(ty, base.wrapping_add(m.offset), depth + 1));
                        }
                    }
                    return;
                }
                for m in members {
                    self.search_member(m, base, depth, level, out);
                }
            }
            Kind::Pointer(Some(target)) if level > 0 => {
                let Ok(ptr) = self.pointer(addr) else { return };
                if let Ok(pointee) = self.dwarf.ty(*target)
                    && matches!(pointee.kind, Kind::Struct(_))
                    && pointee.size > 0
                    && self.load_block(ptr, pointee.size, false).is_ok()
                {
                    self.search(&pointee, ptr, depth, level + 1, out);
                }
            }
            _ => {}
        }
    }

    fn search_member(
        &self,
        m: &Member,
        base: u64,
        depth: u32,
        level: u32,
        out: &mut Vec<StateNode>,
    ) {
        let visited = self.visited.get() + 1;
        self.visited.set(visited);
        if visited > MAX_VISITED {
            self.truncate();
            return;
        }
        let Some(mt) = m.ty.and_then(|id| self.dwarf.ty(id).ok()) else {
            return;
        };
        if mt.size == 0 || NOT_SEARCHED.iter().any(|p| mt.name.starts_with(p)) {
            return;
        }
        self.search(&mt, base.wrapping_add(m.offset), depth, level + 1, out);
    }

    /// The futures in a `FuturesUnordered` (which `FuturesOrdered`, a
    /// large `join_all` and `buffer_unordered` use too): the list of its
    /// tasks from `head_all` through `next_all`, each task's `future` (an
    /// `Option`, `None` once it completed), in the order they were pushed.
    fn futures_unordered(&self, t: &Type, addr: u64, depth: u32, out: &mut Vec<StateNode>) {
        let next_task = |ty: &Type, at: u64| {
            self.pointer_leaf(ty, at, 0)
                .ok()
                .flatten()
                .and_then(|(ptr, task)| Some((ptr, task?)))
        };
        let Some((head, at)) = self.member(t, addr, "head_all") else {
            return;
        };
        let Some((mut ptr, task_id)) = next_task(&head, at) else {
            return;
        };
        let Ok(task) = self.dwarf.ty(task_id) else {
            return;
        };
        let mut found = Vec::new();
        let mut seen = Vec::new();
        while ptr != 0 && !seen.contains(&ptr) {
            if found.len() >= self.budget.max_items as usize {
                self.truncate();
                break;
            }
            seen.push(ptr);
            if self.load_block(ptr, task.size, false).is_err() {
                break;
            }
            let future = self
                .member(&task, ptr, "future")
                .and_then(|(cell, at)| self.find_field(&cell, at, "value", 2))
                .and_then(|(option, at)| self.some(&option, at));
            if let Some((mut ty, mut at)) = future {
                // `FuturesOrdered` wraps each future with its index.
                if ty.name.starts_with(ORDER_WRAPPER)
                    && let Some((data, data_at)) = self.member(&ty, at, "data")
                {
                    (ty, at) = (data, data_at);
                }
                found.push(self.typed_child(&ty, at, depth));
            }
            match self
                .member(&task, ptr, "next_all")
                .and_then(|(n, at)| next_task(&n, at))
            {
                Some((next, _)) => ptr = next,
                None => break,
            }
        }
        found.reverse();
        out.extend(found);
    }

    /// Whether a tuple element is certainly a future.
    fn is_branch(&self, m: &Member) -> bool {
        m.ty.and_then(|id| self.dwarf.ty(id).ok()).is_some_and(|t| {
            coroutine_kind(&t).is_some()
                || t.short_name.starts_with("MaybeDone<")
                || t.name.contains("dyn core::future::future::Future")
        })
    }

    fn typed_child(&self, t: &Type, addr: u64, depth: u32) -> StateNode {
        let outer = self.truncated.replace(false);
        let mut node = self.typed_future(t, addr, depth + 1);
        node.truncated |= self.truncated.get();
        self.truncated.set(outer || node.truncated);
        node
    }
}
