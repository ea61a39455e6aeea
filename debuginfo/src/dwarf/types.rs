//! Types as the decoder needs them: sizes, members, variant parts.
//!
//! A `Type` is parsed from its DIE once and cached by offset. Rust enums,
//! `Option`s with niches and async state machines all take the same shape
//! in DWARF: a structure with a `DW_TAG_variant_part` whose `DW_AT_discr`
//! names the tag member and whose variants each hold one member, the
//! variant's own struct, at offset 0. A variant without `DW_AT_discr_value`
//! is the default (the dataful variant of a niche layout).

use std::sync::Arc;

use gimli::{AttributeValue, UnitOffset};

use super::{DieId, Dwarf, Unit};
use crate::Error;
use crate::mapping::Reader;
use crate::tree::SourceLine;

type Entry = gimli::DebuggingInformationEntry<Reader>;

/// A parsed type.
#[derive(Debug)]
pub(crate) struct Type {
    /// Where the type's own DIE is (through typedefs and qualifiers).
    pub(crate) id: DieId,
    /// The name qualified with its namespaces (`alloc::string::String`), or
    /// as rustc wrote it for types it names in full (`&str`, `*const u8`).
    pub(crate) name: String,
    /// `DW_AT_name` as written (`String`, `{async_fn_env#0}`).
    pub(crate) short_name: String,
    /// The enclosing namespaces and types, joined with `::`.
    pub(crate) scope: String,
    /// Size in bytes.
    pub(crate) size: u64,
    /// What it is.
    pub(crate) kind: Kind,
}

/// The shapes of types.
#[derive(Debug)]
pub(crate) enum Kind {
    /// A scalar: integer, float, bool, char, `()`.
    Base(gimli::DwAte),
    /// A thin pointer or reference to the type, if known.
    Pointer(Option<DieId>),
    /// A struct, tuple, closure environment, enum or state machine.
    Struct(Struct),
    /// A union.
    Union,
    /// A C-like enum: enumerator names and values.
    Enumeration(Vec<(String, u64)>),
    /// A fixed-size array.
    Array {
        element: Option<DieId>,
        count: Option<u64>,
    },
    /// Anything else (function types, unspecified types).
    Other,
}

/// A struct-like type.
#[derive(Debug, Default)]
pub(crate) struct Struct {
    pub(crate) members: Vec<Member>,
    pub(crate) variants: Option<VariantPart>,
    pub(crate) params: Vec<(String, DieId)>,
}

impl Struct {
    pub(crate) fn member(&self, name: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.name == name)
    }

    pub(crate) fn param(&self, name: &str) -> Option<DieId> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|&(_, id)| id)
    }
}

/// A data member.
#[derive(Debug, Clone)]
pub(crate) struct Member {
    pub(crate) name: String,
    pub(crate) ty: Option<DieId>,
    pub(crate) offset: u64,
    pub(crate) decl: Option<SourceLine>,
}

/// A `DW_TAG_variant_part`.
#[derive(Debug, Default)]
pub(crate) struct VariantPart {
    /// The tag member; none for a single-variant enum.
    pub(crate) discr: Option<Member>,
    pub(crate) variants: Vec<Variant>,
}

/// One `DW_TAG_variant`.
#[derive(Debug)]
pub(crate) struct Variant {
    /// The tag value selecting it, as the tag's bits; none for the default.
    pub(crate) value: Option<u64>,
    /// Its single member: the variant struct at offset 0.
    pub(crate) member: Member,
}

impl Dwarf {
    /// The type at `id`, parsed once.
    pub(crate) fn ty(&self, id: DieId) -> Result<Arc<Type>, Error> {
        if let Some(ty) = self
            .types
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
        {
            return Ok(ty.clone());
        }
        let ty = Arc::new(self.parse_type(id, 0)?);
        self.types
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, ty.clone());
        Ok(ty)
    }

    fn parse_type(&self, id: DieId, hops: u32) -> Result<Type, Error> {
        let (slot, unit, offset) = self.locate(id)?;
        let entry = unit.entry(offset).map_err(|e| self.error(id.0, e))?;
        let short_name = self.name_of(&unit, &entry).unwrap_or_default();
        let size = entry
            .attr(gimli::DW_AT_byte_size)
            .and_then(|a| a.udata_value())
            .unwrap_or(0);
        let target = entry
            .attr_value(gimli::DW_AT_type)
            .and_then(|v| self.reference(&unit, v));
        let tag = entry.tag();
        let kind = match tag {
            gimli::DW_TAG_base_type => match entry.attr_value(gimli::DW_AT_encoding) {
                Some(AttributeValue::Encoding(enc)) => Kind::Base(enc),
                _ => Kind::Other,
            },
            gimli::DW_TAG_pointer_type
            | gimli::DW_TAG_reference_type
            | gimli::DW_TAG_rvalue_reference_type => Kind::Pointer(target),
            gimli::DW_TAG_structure_type | gimli::DW_TAG_class_type => {
                Kind::Struct(self.parse_struct(&unit, offset)?)
            }
            gimli::DW_TAG_union_type => Kind::Union,
            gimli::DW_TAG_enumeration_type => {
                Kind::Enumeration(self.parse_enumerators(&unit, offset)?)
            }
            gimli::DW_TAG_array_type => Kind::Array {
                element: target,
                count: self.array_count(&unit, offset)?,
            },
            gimli::DW_TAG_typedef
            | gimli::DW_TAG_const_type
            | gimli::DW_TAG_volatile_type
            | gimli::DW_TAG_restrict_type
            | gimli::DW_TAG_atomic_type
                if hops < 8 =>
            {
                if let Some(target) = target {
                    return self.parse_type(target, hops + 1);
                }
                Kind::Other
            }
            _ => Kind::Other,
        };
        let size = match (&kind, size) {
            (Kind::Pointer(_), 0) => u64::from(unit.encoding().address_size),
            _ => size,
        };
        let scope = if matches!(
            tag,
            gimli::DW_TAG_structure_type
                | gimli::DW_TAG_class_type
                | gimli::DW_TAG_union_type
                | gimli::DW_TAG_enumeration_type
        ) {
            self.qualify(slot, &unit, offset, "")?
                .trim_end_matches("::")
                .to_owned()
        } else {
            String::new()
        };
        let name = match (&kind, short_name.is_empty()) {
            (Kind::Pointer(Some(target)), true) => match self.ty(*target) {
                Ok(t) => format!("*const {}", t.name),
                Err(_) => "*const _".to_owned(),
            },
            _ if scope.is_empty() => short_name.clone(),
            _ => format!("{scope}::{short_name}"),
        };
        Ok(Type {
            id,
            name,
            short_name,
            scope,
            size,
            kind,
        })
    }

    fn parse_member(&self, unit: &Unit, entry: &Entry) -> Member {
        Member {
            name: self.name_of(unit, entry).unwrap_or_default(),
            ty: entry
                .attr_value(gimli::DW_AT_type)
                .and_then(|v| self.reference(unit, v)),
            offset: entry
                .attr(gimli::DW_AT_data_member_location)
                .and_then(|a| a.udata_value())
                .unwrap_or(0),
            decl: self.decl(unit, entry),
        }
    }

    fn parse_struct(&self, unit: &Unit, offset: UnitOffset<usize>) -> Result<Struct, Error> {
        let err = |e| self.error(offset.0, e);
        let mut out = Struct::default();
        let mut tree = unit.entries_tree(Some(offset)).map_err(err)?;
        let root = tree.root().map_err(err)?;
        let mut children = root.children();
        while let Some(child) = children.next().map_err(err)? {
            let entry = child.entry();
            match entry.tag() {
                gimli::DW_TAG_member => {
                    let member = self.parse_member(unit, entry);
                    out.members.push(member);
                }
                gimli::DW_TAG_template_type_parameter => {
                    let name = self.name_of(unit, entry).unwrap_or_default();
                    if let Some(ty) = entry
                        .attr_value(gimli::DW_AT_type)
                        .and_then(|v| self.reference(unit, v))
                    {
                        out.params.push((name, ty));
                    }
                }
                gimli::DW_TAG_variant_part if out.variants.is_none() => {
                    let discr_at = match entry.attr_value(gimli::DW_AT_discr) {
                        Some(AttributeValue::UnitRef(o)) => Some(o),
                        _ => None,
                    };
                    let mut part = VariantPart::default();
                    let mut parts = child.children();
                    while let Some(item) = parts.next().map_err(err)? {
                        let entry = item.entry();
                        match entry.tag() {
                            gimli::DW_TAG_member if Some(entry.offset()) == discr_at => {
                                part.discr = Some(self.parse_member(unit, entry));
                            }
                            gimli::DW_TAG_variant => {
                                let value = entry.attr(gimli::DW_AT_discr_value).and_then(|a| {
                                    match a.value() {
                                        AttributeValue::Sdata(v) => Some(v as u64),
                                        _ => a.udata_value(),
                                    }
                                });
                                let mut members = item.children();
                                while let Some(m) = members.next().map_err(err)? {
                                    if m.entry().tag() == gimli::DW_TAG_member {
                                        part.variants.push(Variant {
                                            value,
                                            member: self.parse_member(unit, m.entry()),
                                        });
                                        break;
                                    }
                                }
                            }
                            _ => {}
                        }
                    }
                    out.variants = Some(part);
                }
                _ => {}
            }
        }
        Ok(out)
    }

    fn parse_enumerators(
        &self,
        unit: &Unit,
        offset: UnitOffset<usize>,
    ) -> Result<Vec<(String, u64)>, Error> {
        let err = |e| self.error(offset.0, e);
        let mut out = Vec::new();
        let mut tree = unit.entries_tree(Some(offset)).map_err(err)?;
        let root = tree.root().map_err(err)?;
        let mut children = root.children();
        while let Some(child) = children.next().map_err(err)? {
            let entry = child.entry();
            if entry.tag() != gimli::DW_TAG_enumerator {
                continue;
            }
            let value = entry
                .attr(gimli::DW_AT_const_value)
                .and_then(|a| match a.value() {
                    AttributeValue::Sdata(v) => Some(v as u64),
                    _ => a.udata_value(),
                });
            if let (Some(name), Some(value)) = (self.name_of(unit, entry), value) {
                out.push((name, value));
            }
        }
        Ok(out)
    }

    fn array_count(&self, unit: &Unit, offset: UnitOffset<usize>) -> Result<Option<u64>, Error> {
        let err = |e| self.error(offset.0, e);
        let mut tree = unit.entries_tree(Some(offset)).map_err(err)?;
        let root = tree.root().map_err(err)?;
        let mut children = root.children();
        while let Some(child) = children.next().map_err(err)? {
            let entry = child.entry();
            if entry.tag() != gimli::DW_TAG_subrange_type {
                continue;
            }
            if let Some(count) = entry.attr(gimli::DW_AT_count).and_then(|a| a.udata_value()) {
                return Ok(Some(count));
            }
            let lower = entry
                .attr(gimli::DW_AT_lower_bound)
                .and_then(|a| a.udata_value())
                .unwrap_or(0);
            return Ok(entry
                .attr(gimli::DW_AT_upper_bound)
                .and_then(|a| a.udata_value())
                .map(|upper| upper.saturating_add(1).saturating_sub(lower)));
        }
        Ok(None)
    }
}
