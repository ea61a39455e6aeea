//! Where a state machine's awaits are written, as the line table sees them.
//!
//! The `SuspendN` variant of a state machine carries the line of its
//! `.await` from the await's own span: for an await a macro wrote
//! (`join!`, `select!`), a line in the macro's crate. The fn that resumes
//! the state machine (`{async_fn#0}` for the type `{async_fn_env#0}`, in
//! the same namespace) declares, for each await, a variable `__awaitee` of
//! the awaited future's type, whose line rustc collapses to the macro's
//! call site in the program, as it does for the line table: the line a
//! person reads.
//!
//! With several codegen units the type and its resume fn are often in
//! different units: the fn is looked for in every unit of the type's crate
//! (units named `<crate root>/@/<hash>` in one directory), descending only through the
//! namespaces on the type's path, so a search parses a few DIEs per unit.

use std::sync::Arc;

use gimli::Reader as _;

use super::{DieId, Dwarf, Unit};
use crate::Error;
use crate::mapping::Reader;
use crate::tree::SourceLine;

/// The `__awaitee` variables of a resume fn, in DIE order: the name of
/// each one's type and its declared line.
pub(crate) type AwaitSites = Arc<[(String, SourceLine)]>;

/// How deep lexical blocks are followed inside a resume fn.
const MAX_NESTING: u32 = 64;

type Node<'a, 'b> = gimli::EntriesTreeNode<'a, 'b, Reader>;

impl Dwarf {
    /// The `__awaitee` variables of the fn that resumes the state machine
    /// type `env`, whose enclosing namespaces are `scope` (`app::fetch`);
    /// empty when it is not found.
    pub(crate) fn await_sites(&self, env: DieId, scope: &str) -> Result<AwaitSites, Error> {
        let cached = self
            .await_sites
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&env)
            .cloned();
        if let Some(found) = cached {
            return Ok(found);
        }
        let found: AwaitSites = self.find_await_sites(env, scope)?.into();
        self.await_sites
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(env, Arc::clone(&found));
        Ok(found)
    }

    fn find_await_sites(
        &self,
        env: DieId,
        scope: &str,
    ) -> Result<Vec<(String, SourceLine)>, Error> {
        let (slot, unit, offset) = self.locate(env)?;
        let entry = unit.entry(offset).map_err(|e| self.error(offset.0, e))?;
        let Some(name) = self.name_of(&unit, &entry) else {
            return Ok(Vec::new());
        };
        // `{async_fn_env#0}<u8>` is resumed by `{async_fn#0}`.
        let Some(resume) = name
            .split_once('}')
            .map(|(env, _)| format!("{}}}", env.replacen("_env", "", 1)))
        else {
            return Ok(Vec::new());
        };
        let path: Vec<&str> = scope.split("::").filter(|s| !s.is_empty()).collect();
        // A crate's units share their source root and directory:
        // (`src/lib.rs`, `/home/u/.cargo/registry/…/tokio-1.47.0`).
        let crate_of = |unit: &Unit| {
            let name = unit.name.as_ref()?.to_string_lossy().ok()?.into_owned();
            let dir = unit
                .comp_dir
                .as_ref()
                .and_then(|d| Some(d.to_string_lossy().ok()?.into_owned()));
            Some((name.split("/@/").next().unwrap_or(&name).to_owned(), dir))
        };
        let Some(own_crate) = crate_of(&unit) else {
            return Ok(Vec::new());
        };
        let mut found = Vec::new();
        // The type's own unit first: in a single-unit build it is there.
        let others = (0..self.slots.len()).filter(|&s| s != slot);
        for s in std::iter::once(slot).chain(others) {
            let unit = self.unit(s)?;
            if crate_of(&unit).as_ref() != Some(&own_crate) {
                continue;
            }
            let mut tree = unit.entries_tree(None).map_err(|e| self.error(0, e))?;
            let root = tree.root().map_err(|e| self.error(0, e))?;
            self.search_namespaces(&unit, root, &path, &resume, &mut found)?;
            if !found.is_empty() {
                break;
            }
        }
        Ok(found)
    }

    /// Descends from `node` through the namespaces named by `path`, then
    /// collects the `__awaitee` variables of the subprograms named
    /// `resume` there (one per generic instance).
    fn search_namespaces(
        &self,
        unit: &Unit,
        node: Node<'_, '_>,
        path: &[&str],
        resume: &str,
        found: &mut Vec<(String, SourceLine)>,
    ) -> Result<(), Error> {
        let at = node.entry().offset();
        let mut children = node.children();
        while let Some(child) = children.next().map_err(|e| self.error(at.0, e))? {
            let entry = child.entry();
            let name = self.name_of(unit, entry);
            match (path.split_first(), entry.tag()) {
                (Some((first, rest)), gimli::DW_TAG_namespace)
                    if name.as_deref() == Some(first) =>
                {
                    self.search_namespaces(unit, child, rest, resume, found)?;
                }
                // A generic fn's instances are named `{async_fn#0}<T>`.
                (None, gimli::DW_TAG_subprogram)
                    if name.as_deref().and_then(|n| n.split('<').next()) == Some(resume) =>
                {
                    self.collect_awaitees(unit, child, 0, found)?;
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The `__awaitee` variables under `node`, through its lexical blocks
    /// (at most [`MAX_NESTING`] deep), not into inlined calls.
    fn collect_awaitees(
        &self,
        unit: &Unit,
        node: Node<'_, '_>,
        nesting: u32,
        found: &mut Vec<(String, SourceLine)>,
    ) -> Result<(), Error> {
        let at = node.entry().offset();
        let mut children = node.children();
        while let Some(child) = children.next().map_err(|e| self.error(at.0, e))? {
            let entry = child.entry();
            match entry.tag() {
                gimli::DW_TAG_variable
                    if self.name_of(unit, entry).as_deref() == Some("__awaitee") =>
                {
                    let ty = entry
                        .attr_value(gimli::DW_AT_type)
                        .and_then(|v| self.reference(unit, v))
                        .and_then(|id| self.ty(id).ok());
                    if let (Some(ty), Some(decl)) = (ty, self.decl(unit, entry)) {
                        found.push((ty.name.clone(), decl));
                    }
                }
                gimli::DW_TAG_lexical_block if nesting < MAX_NESTING => {
                    self.collect_awaitees(unit, child, nesting + 1, found)?;
                }
                _ => {}
            }
        }
        Ok(())
    }
}
