//! Registers: width, placement (a single offset or array runs over an index type), reset value,
//! aliases, and overlaps between registers.

use std::collections::{BTreeMap, HashMap};

use super::super::checked::{Placement, Register};
use super::super::model;
use super::Checker;
use super::field::check_fields;
use super::shape::{fits, width_ok};

pub(super) fn check_register(
    c: &mut Checker<'_>,
    r: &model::RegisterDef,
    bar_size: u64,
    index_counts: &HashMap<String, u64>,
    declared: &HashMap<&str, &model::RegisterDef>,
) -> Option<Register> {
    let name = r.name.get_ref().clone();
    let subject = format!("register {name}");
    let width = *r.width.get_ref();
    if !width_ok(width) {
        c.at(
            r.width.span(),
            &subject,
            format!("width {width} is not 8, 16, 32 or 64"),
        );
        return None;
    }
    let bytes = u64::from(width / 8);

    let placement = match (&r.offset, &r.array) {
        (Some(_), Some(a)) => {
            c.at(
                a.span(),
                &subject,
                "give either `offset` or `array`, not both".into(),
            );
            return None;
        }
        (None, None) => {
            c.at(
                r.name.span(),
                &subject,
                "needs an `offset` or an `array`".into(),
            );
            return None;
        }
        (Some(off), None) => {
            if let Some(ix) = &r.index {
                c.at(
                    ix.span(),
                    &subject,
                    "`index` belongs to an `array`; this register has a single `offset`".into(),
                );
            }
            Placement::Single(*off.get_ref())
        }
        (None, Some(array)) => {
            let runs = array.get_ref().clone();
            if runs.is_empty() {
                c.at(array.span(), &subject, "`array` has no runs".into());
                return None;
            }
            for run in &runs {
                if run.count == 0 {
                    c.at(
                        array.span(),
                        &subject,
                        format!("array run at {:#x} has count 0", run.base),
                    );
                }
                if run.count > 1 && run.stride < bytes {
                    c.at(
                        array.span(),
                        &subject,
                        format!(
                            "array run at {:#x}: stride {:#x} is smaller than the register ({bytes} bytes), so its elements overlap",
                            run.base, run.stride
                        ),
                    );
                }
            }
            let total: u64 = runs.iter().map(|r| r.count).sum();
            let Some(ix) = &r.index else {
                c.at(
                    array.span(),
                    &subject,
                    "an `array` needs an `index` type".into(),
                );
                return None;
            };
            match index_counts.get(ix.get_ref()) {
                None => {
                    c.at(
                        ix.span(),
                        &subject,
                        format!("unknown index type \"{}\"", ix.get_ref()),
                    );
                    return None;
                }
                Some(&count) if count != total => {
                    c.at(
                        array.span(),
                        &subject,
                        format!(
                            "array runs hold {total} registers but index type {} counts {count}",
                            ix.get_ref()
                        ),
                    );
                }
                Some(_) => {}
            }
            Placement::Array {
                runs,
                index: ix.get_ref().clone(),
            }
        }
    };

    let span_of_place = r
        .offset
        .as_ref()
        .map(|o| o.span())
        .or_else(|| r.array.as_ref().map(|a| a.span()))
        .unwrap_or_else(|| r.name.span());
    for (offset, element) in placement.elements() {
        let which = element.map_or(String::new(), |i| format!(" (element {i})"));
        if offset % bytes != 0 {
            c.at(
                span_of_place.clone(),
                &subject,
                format!("offset {offset:#x}{which} is not aligned to its width ({bytes} bytes)"),
            );
            break;
        }
        if offset + bytes > bar_size {
            c.at(
                span_of_place.clone(),
                &subject,
                format!("offset {offset:#x}{which} lies outside the register space (bar_size {bar_size:#x})"),
            );
            break;
        }
    }

    let reset = r.reset.as_ref().map_or(0, |v| *v.get_ref());
    if let Some(rv) = &r.reset
        && !fits(reset, width)
    {
        c.at(
            rv.span(),
            &subject,
            format!("reset value {reset:#x} does not fit {width} bits"),
        );
    }

    let alias_of = match &r.alias_of {
        None => None,
        Some(target) => {
            let t = target.get_ref();
            match declared.get(t.as_str()) {
                None => c.at(target.span(), &subject, format!("alias_of names \"{t}\", which is not a register of this file")),
                Some(tr) if tr.alias_of.is_some() => c.at(
                    target.span(),
                    &subject,
                    format!("alias_of names \"{t}\", which is itself an alias; name the register it aliases"),
                ),
                Some(tr) if *tr.width.get_ref() != width => c.at(
                    target.span(),
                    &subject,
                    format!("alias of {t} must have its width ({} bits), not {width}", tr.width.get_ref()),
                ),
                Some(_) => {}
            }
            if t == &name {
                c.at(
                    target.span(),
                    &subject,
                    "a register cannot alias itself".into(),
                );
            }
            if !r.fields.is_empty() {
                c.at(
                    r.fields[0].name.span(),
                    &subject,
                    format!("an alias declares no fields; it shares the fields of {t}"),
                );
            }
            Some(t.clone())
        }
    };

    let fields = check_fields(c, &subject, &r.fields, width, *r.access.get_ref());
    Some(Register {
        name,
        placement,
        width,
        access: *r.access.get_ref(),
        reset,
        section: r.section.get_ref().clone(),
        doc: r.doc.clone(),
        alias_of,
        fields,
    })
}

pub(super) fn check_overlaps(
    c: &mut Checker<'_>,
    registers: &[Register],
    spans: &[std::ops::Range<usize>],
) {
    // Every byte range any register element occupies, sorted by start.
    let mut ranges: Vec<(u64, u64, usize)> = Vec::new();
    for (ri, r) in registers.iter().enumerate() {
        let bytes = u64::from(r.width / 8);
        for (offset, _) in r.placement.elements() {
            ranges.push((offset, offset + bytes, ri));
        }
    }
    ranges.sort();
    let related = |a: usize, b: usize| {
        let (ra, rb) = (&registers[a], &registers[b]);
        a == b
            || ra.alias_of.as_deref() == Some(&rb.name)
            || rb.alias_of.as_deref() == Some(&ra.name)
    };
    let mut reported: BTreeMap<(usize, usize), ()> = BTreeMap::new();
    // Sweep: keep the ranges that are still open at the current start.
    let mut open: Vec<(u64, u64, usize)> = Vec::new();
    for &(start, end, ri) in &ranges {
        open.retain(|&(_, e, _)| e > start);
        for &(ostart, _, oi) in &open {
            if oi != ri && !related(ri, oi) {
                let key = (ri.min(oi), ri.max(oi));
                if reported.insert(key, ()).is_none() {
                    let (later, earlier) = if spans[ri].start >= spans[oi].start {
                        (ri, oi)
                    } else {
                        (oi, ri)
                    };
                    c.at(
                        spans[later].clone(),
                        format!("register {}", registers[later].name),
                        format!(
                            "overlaps register {} at {:#x} (declare `alias_of` if one is another window onto the other)",
                            registers[earlier].name,
                            start.max(ostart)
                        ),
                    );
                }
            }
        }
        open.push((start, end, ri));
    }
}
