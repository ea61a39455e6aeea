//! Values, printed roughly like `{:?}`, within the budget.
//!
//! Standard types are recognised by name and printed as their `Debug`
//! would (`String`, `&str`, slices, `Vec`, `Box`, `Rc`/`Arc`, `Pin`,
//! references); enums through their variant part (niche layouts included);
//! everything else as a struct or tuple of its fields. Memory that cannot
//! be read prints as `<unreadable 0x…>`, and whatever the budget cuts ends
//! in `…`.

use std::fmt::Write as _;

use crate::decode::future::future_value_name;
use crate::decode::{Decoder, ReadError, is_dyn_pointer, is_slice_pointer, without_generics};
use crate::dwarf::{DieId, Kind, Struct, Type};

impl Decoder<'_> {
    /// The value of type `ty` at `addr`, printed.
    pub(crate) fn value(&self, ty: Option<DieId>, addr: u64, depth: u32) -> String {
        let mut out = String::new();
        self.write_value(&mut out, ty, addr, depth);
        out
    }

    fn write_value(&self, out: &mut String, ty: Option<DieId>, addr: u64, depth: u32) {
        let Some(t) = ty.and_then(|id| self.dwarf.ty(id).ok()) else {
            out.push_str("<?>");
            return;
        };
        if depth > self.budget.max_value_depth {
            out.push('…');
            self.truncate();
            return;
        }
        if let Err(e) = self.write_typed(out, &t, addr, depth) {
            self.write_error(out, e);
        }
    }

    fn write_error(&self, out: &mut String, e: ReadError) {
        match e {
            ReadError::Unreadable(at) => {
                let _ = write!(out, "<unreadable {at:#x}>");
            }
            ReadError::Budget => {
                out.push('…');
                self.truncate();
            }
        }
    }

    fn write_typed(
        &self,
        out: &mut String,
        t: &Type,
        addr: u64,
        depth: u32,
    ) -> Result<(), ReadError> {
        match &t.kind {
            Kind::Base(encoding) => self.write_base(out, t, *encoding, addr),
            Kind::Pointer(target) => self.write_pointer(out, t, *target, addr, depth),
            Kind::Struct(s) => self.write_struct(out, t, s, addr, depth),
            Kind::Union => {
                let _ = write!(out, "<union {}>", t.name);
                Ok(())
            }
            Kind::Enumeration(values) => {
                let raw = self.uint(addr, t.size.max(1))? as u64;
                match values.iter().find(|(_, v)| *v == raw) {
                    Some((name, _)) => out.push_str(name),
                    None => {
                        let _ = write!(out, "<{} {raw}>", t.name);
                    }
                }
                Ok(())
            }
            Kind::Array { element, count } => {
                let elem_size = element
                    .and_then(|e| self.dwarf.ty(e).ok())
                    .map_or(0, |e| e.size);
                self.write_sequence(
                    out,
                    *element,
                    elem_size,
                    addr,
                    count.unwrap_or(0),
                    depth,
                    false,
                )
            }
            Kind::Other => {
                let _ = write!(out, "<{}>", t.name);
                Ok(())
            }
        }
    }

    fn write_base(
        &self,
        out: &mut String,
        t: &Type,
        encoding: gimli::DwAte,
        addr: u64,
    ) -> Result<(), ReadError> {
        if t.size == 0 {
            out.push_str(if t.name.is_empty() { "()" } else { &t.name });
            return Ok(());
        }
        let raw = self.uint(addr, t.size)?;
        let bits = (t.size.min(16) * 8) as u32;
        let _ = match encoding {
            gimli::DW_ATE_boolean => match raw {
                0 => write!(out, "false"),
                1 => write!(out, "true"),
                n => write!(out, "<invalid bool {n}>"),
            },
            gimli::DW_ATE_UTF | gimli::DW_ATE_unsigned_char if t.name == "char" => {
                match char::from_u32(raw as u32) {
                    Some(c) => write!(out, "{c:?}"),
                    None => write!(out, "<invalid char {raw:#x}>"),
                }
            }
            gimli::DW_ATE_float if t.size == 4 => write!(out, "{:?}", f32::from_bits(raw as u32)),
            gimli::DW_ATE_float if t.size == 8 => write!(out, "{:?}", f64::from_bits(raw as u64)),
            gimli::DW_ATE_signed | gimli::DW_ATE_signed_char => {
                let shift = 128 - bits;
                write!(out, "{}", ((raw << shift) as i128) >> shift)
            }
            _ => write!(out, "{raw}"),
        };
        Ok(())
    }

    fn write_pointer(
        &self,
        out: &mut String,
        t: &Type,
        target: Option<DieId>,
        addr: u64,
        depth: u32,
    ) -> Result<(), ReadError> {
        let ptr = self.pointer(addr)?;
        let pointee = target.and_then(|id| self.dwarf.ty(id).ok());
        // `Debug` of a reference prints the referent; a raw pointer, or a
        // reference to something unsized or unknown, prints the address.
        match pointee {
            Some(p) if is_owning_or_reference(&t.name) && p.size > 0 => {
                if depth >= self.budget.max_value_depth {
                    let _ = write!(out, "&{ptr:#x}");
                    return Ok(());
                }
                self.write_value(out, target, ptr, depth + 1);
            }
            _ => {
                let _ = write!(out, "{ptr:#x}");
            }
        }
        Ok(())
    }

    fn write_struct(
        &self,
        out: &mut String,
        t: &Type,
        s: &Struct,
        addr: u64,
        depth: u32,
    ) -> Result<(), ReadError> {
        let name = t.name.as_str();
        if let Some(future) = future_value_name(t) {
            out.push_str(&future);
            return Ok(());
        }
        if let Some(known) = self.known_value(t, addr) {
            out.push_str(&known);
            return Ok(());
        }
        if let Some(part) = &s.variants {
            let Some(variant) = self.active_variant(part, addr)? else {
                let _ = write!(out, "<{name} with an invalid tag>");
                return Ok(());
            };
            let vt = variant.member.ty.and_then(|id| self.dwarf.ty(id).ok());
            let Some(Kind::Struct(vs)) = vt.as_ref().map(|t| &t.kind) else {
                out.push_str(&variant.member.name);
                return Ok(());
            };
            return self.write_fields(
                out,
                &variant.member.name,
                vs,
                addr.wrapping_add(variant.member.offset),
                depth,
            );
        }
        if name == "alloc::string::String" {
            let Some(vec) = s.member("vec") else {
                return self.write_plain(out, t, s, addr, depth);
            };
            let Some(vt) = vec.ty.and_then(|id| self.dwarf.ty(id).ok()) else {
                return Ok(());
            };
            let (ptr, len) = self.vec_parts(&vt, addr.wrapping_add(vec.offset))?;
            return self.write_str(out, ptr, len);
        }
        if is_slice_pointer(t) {
            let (Some(p), Some(l)) = (s.member("data_ptr"), s.member("length")) else {
                return self.write_plain(out, t, s, addr, depth);
            };
            let ptr = self.pointer(addr.wrapping_add(p.offset))?;
            let len = self.pointer(addr.wrapping_add(l.offset))?;
            if names_str(name) {
                return self.write_str(out, ptr, len);
            }
            let element =
                p.ty.and_then(|id| self.dwarf.ty(id).ok())
                    .and_then(|pt| match pt.kind {
                        Kind::Pointer(target) => target,
                        _ => None,
                    });
            let elem_size = element
                .and_then(|e| self.dwarf.ty(e).ok())
                .map_or(0, |e| e.size);
            return self.write_sequence(out, element, elem_size, ptr, len, depth, true);
        }
        if name.starts_with("alloc::vec::Vec<") {
            let element = s.param("T");
            let elem_size = element
                .and_then(|e| self.dwarf.ty(e).ok())
                .map_or(0, |e| e.size);
            let (ptr, len) = self.vec_parts(t, addr)?;
            return self.write_sequence(out, element, elem_size, ptr, len, depth, true);
        }
        if is_dyn_pointer(t) {
            return self.write_dyn(out, t, s, addr, depth);
        }
        if name.starts_with("alloc::boxed::Box<") || name.starts_with("core::pin::Pin<") {
            return match self.pointer_leaf(t, addr, 0)? {
                Some((ptr, target)) => {
                    self.write_value(out, target, ptr, depth + 1);
                    Ok(())
                }
                None => self.write_plain(out, t, s, addr, depth),
            };
        }
        if name.starts_with("alloc::sync::Arc<") || name.starts_with("alloc::rc::Rc<") {
            if let Some((ptr, Some(inner))) = self.pointer_leaf(t, addr, 0)?
                && let Ok(it) = self.dwarf.ty(inner)
                && let Kind::Struct(is) = &it.kind
                && let Some(data) = is.member("data").or_else(|| is.member("value"))
            {
                self.write_value(out, data.ty, ptr.wrapping_add(data.offset), depth + 1);
                return Ok(());
            }
            return self.write_plain(out, t, s, addr, depth);
        }
        if (name.starts_with("core::ptr::non_null::NonNull<")
            || name.starts_with("core::ptr::unique::Unique<"))
            && let Some((ptr, _)) = self.pointer_leaf(t, addr, 0)?
        {
            let _ = write!(out, "{ptr:#x}");
            return Ok(());
        }
        self.write_plain(out, t, s, addr, depth)
    }

    /// A struct or tuple printed from its fields.
    fn write_plain(
        &self,
        out: &mut String,
        t: &Type,
        s: &Struct,
        addr: u64,
        depth: u32,
    ) -> Result<(), ReadError> {
        let label = if t.short_name.starts_with('(') {
            ""
        } else {
            without_generics(&t.short_name)
        };
        self.write_fields(out, label, s, addr, depth)
    }

    /// `Label { a: 1 }`, `Label(1, 2)`, `(1, 2)` or `Label`.
    fn write_fields(
        &self,
        out: &mut String,
        label: &str,
        s: &Struct,
        addr: u64,
        depth: u32,
    ) -> Result<(), ReadError> {
        out.push_str(label);
        if s.members.is_empty() {
            if label.is_empty() {
                out.push_str("()");
            }
            return Ok(());
        }
        if depth >= self.budget.max_value_depth {
            out.push_str(if label.is_empty() {
                "(…)"
            } else {
                " { … }"
            });
            self.truncate();
            return Ok(());
        }
        let positional = s.members.iter().all(|m| is_positional(&m.name));
        out.push_str(if positional { "(" } else { " { " });
        let max = self.budget.max_items as usize;
        for (i, m) in s.members.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            if i == max {
                out.push('…');
                self.truncate();
                break;
            }
            if !positional {
                out.push_str(&m.name);
                out.push_str(": ");
            }
            self.write_value(out, m.ty, addr.wrapping_add(m.offset), depth + 1);
        }
        if positional && s.members.len() == 1 && label.is_empty() {
            out.push(',');
        }
        out.push_str(if positional { ")" } else { " }" });
        Ok(())
    }

    /// The data pointer and length of a `Vec` at `addr`.
    fn vec_parts(&self, vec: &Type, addr: u64) -> Result<(u64, u64), ReadError> {
        let Kind::Struct(s) = &vec.kind else {
            return Err(ReadError::Unreadable(addr));
        };
        let len = s
            .member("len")
            .map(|m| self.pointer(addr.wrapping_add(m.offset)))
            .transpose()?
            .unwrap_or(0);
        let ptr = match s
            .member("buf")
            .and_then(|b| Some((b, self.dwarf.ty(b.ty?).ok()?)))
        {
            Some((b, bt)) => self
                .pointer_leaf(&bt, addr.wrapping_add(b.offset), 0)?
                .map_or(0, |(p, _)| p),
            None => 0,
        };
        Ok((ptr, len))
    }

    /// A string of `len` bytes at `ptr`, quoted and escaped.
    pub(super) fn write_str(&self, out: &mut String, ptr: u64, len: u64) -> Result<(), ReadError> {
        let shown = len.min(u64::from(self.budget.max_string));
        let bytes = if shown == 0 {
            Vec::new()
        } else {
            self.bytes(ptr, shown)?
        };
        let _ = write!(out, "{:?}", String::from_utf8_lossy(&bytes));
        if shown < len {
            out.push('…');
            self.truncate();
        }
        Ok(())
    }

    /// `[a, b, …]` for `len` elements of `elem_size` bytes at `ptr`.
    #[allow(clippy::too_many_arguments)]
    fn write_sequence(
        &self,
        out: &mut String,
        element: Option<DieId>,
        elem_size: u64,
        ptr: u64,
        len: u64,
        depth: u32,
        behind_pointer: bool,
    ) -> Result<(), ReadError> {
        let shown = len.min(u64::from(self.budget.max_items));
        if depth >= self.budget.max_value_depth && len > 0 {
            out.push_str("[…]");
            self.truncate();
            return Ok(());
        }
        if behind_pointer && shown > 0 && elem_size > 0 {
            // One read for the shown elements rather than one per field.
            self.load_block(ptr, shown.saturating_mul(elem_size), false)?;
        }
        out.push('[');
        for i in 0..shown {
            if i > 0 {
                out.push_str(", ");
            }
            self.write_value(
                out,
                element,
                ptr.wrapping_add(i.wrapping_mul(elem_size)),
                depth + 1,
            );
        }
        if shown < len {
            let _ = write!(
                out,
                "{}… {} more",
                if shown > 0 { ", " } else { "" },
                len - shown
            );
            self.truncate();
        }
        out.push(']');
        Ok(())
    }

    /// A `Box<dyn T>` or `&dyn T`: the concrete value, found by its vtable.
    fn write_dyn(
        &self,
        out: &mut String,
        t: &Type,
        s: &Struct,
        addr: u64,
        depth: u32,
    ) -> Result<(), ReadError> {
        let (Some(p), Some(v)) = (s.member("pointer"), s.member("vtable")) else {
            return Ok(());
        };
        let data = self.pointer(addr.wrapping_add(p.offset))?;
        let vtable = self.pointer(addr.wrapping_add(v.offset))?;
        match self.vtable_target(vtable) {
            Some(concrete) => {
                if let Ok(ct) = self.dwarf.ty(concrete)
                    && let Err(e) = self.load_block(data, ct.size, false)
                {
                    self.write_error(out, e);
                    return Ok(());
                }
                self.write_value(out, Some(concrete), data, depth + 1);
            }
            None => {
                let _ = write!(out, "<{} at {data:#x}>", t.name);
            }
        }
        Ok(())
    }
}

/// Whether a thin pointer type prints as its pointee: references, and
/// `Box<T>`, which rustc describes as a pointer type named `Box<…>`.
pub(crate) fn is_owning_or_reference(name: &str) -> bool {
    name.starts_with('&') || name.starts_with("alloc::boxed::Box<")
}

/// Whether a slice pointer type points to a `str` (`&str`, `Box<str>`).
fn names_str(name: &str) -> bool {
    name == "&str" || name.ends_with(" str") || name.contains("<str,") || name.contains("<str>")
}

/// Whether a member name is a tuple position (`__0`, `__1`).
fn is_positional(name: &str) -> bool {
    name.strip_prefix("__")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tuple_positions_are_told_from_field_names() {
        assert!(is_positional("__0"));
        assert!(is_positional("__12"));
        assert!(!is_positional("__awaitee"));
        assert!(!is_positional("__"));
        assert!(!is_positional("x0"));
    }

    #[test]
    fn str_pointers_are_told_from_slice_pointers() {
        assert!(names_str("&str"));
        assert!(names_str("&mut str"));
        assert!(names_str("alloc::boxed::Box<str, alloc::alloc::Global>"));
        assert!(!names_str("&[u8]"));
        assert!(!names_str(
            "alloc::boxed::Box<[alloc::string::String], alloc::alloc::Global>"
        ));
    }
}
