//! Bit fields of a register or descriptor word, and their named values.

use std::collections::HashSet;

use super::super::checked::{Field, Value};
use super::super::model::{self, Access};
use super::Checker;
use super::shape::{fits, is_upper_ident, parse_bits};

pub(super) fn check_fields(
    c: &mut Checker<'_>,
    subject: &str,
    defs: &[model::FieldDef],
    width: u32,
    default_access: Access,
) -> Vec<Field> {
    let mut fields: Vec<Field> = Vec::new();
    let mut seen = HashSet::new();
    for fd in defs {
        let fname = fd.name.get_ref().clone();
        if !is_upper_ident(&fname) {
            c.at(
                fd.name.span(),
                subject,
                format!("field name \"{fname}\" must be upper case"),
            );
        }
        if !seen.insert(fname.clone()) {
            c.at(fd.name.span(), subject, format!("duplicate field {fname}"));
            continue;
        }
        let (lo, bits) = match parse_bits(fd.bits.get_ref()) {
            Ok(v) => v,
            Err(msg) => {
                c.at(fd.bits.span(), subject, format!("field {fname}: {msg}"));
                continue;
            }
        };
        if lo + bits > width {
            c.at(
                fd.bits.span(),
                subject,
                format!(
                    "field {fname} (bits {}:{lo}) lies outside the {width}-bit register",
                    lo + bits - 1
                ),
            );
            continue;
        }
        let mut vseen = HashSet::new();
        let mut values = Vec::new();
        for v in &fd.values {
            let vname = v.name.get_ref().clone();
            if !is_upper_ident(&vname) {
                c.at(
                    v.name.span(),
                    subject,
                    format!("field {fname}: value name \"{vname}\" must be upper case"),
                );
            }
            if !vseen.insert(vname.clone()) || matches!(vname.as_str(), "SET" | "CLEAR") {
                c.at(
                    v.name.span(),
                    subject,
                    format!("field {fname}: duplicate or reserved value name {vname}"),
                );
            }
            let value = *v.value.get_ref();
            if !fits(value, bits) {
                c.at(
                    v.value.span(),
                    subject,
                    format!("field {fname}: named value {vname} = {value:#x} does not fit the field's {bits} bits"),
                );
            }
            values.push(Value {
                name: vname,
                value,
                doc: v.doc.clone(),
            });
        }
        let mask = if bits == 64 {
            u64::MAX
        } else {
            ((1u64 << bits) - 1) << lo
        };
        for other in &fields {
            let omask = if other.bits == 64 {
                u64::MAX
            } else {
                ((1u64 << other.bits) - 1) << other.lo
            };
            if mask & omask != 0 {
                c.at(
                    fd.bits.span(),
                    subject,
                    format!(
                        "field {fname} (bits {}:{lo}) overlaps field {} (bits {}:{})",
                        lo + bits - 1,
                        other.name,
                        other.lo + other.bits - 1,
                        other.lo
                    ),
                );
            }
        }
        fields.push(Field {
            name: fname,
            lo,
            bits,
            access: fd.access.unwrap_or(default_access),
            doc: fd.doc.clone(),
            values,
        });
    }
    fields
}
