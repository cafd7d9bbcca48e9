//! Descriptors: their formats, and the words of each format, which must tile the descriptor.

use std::collections::HashSet;

use toml::Spanned;

use super::super::checked::{Descriptor, Format, Word};
use super::super::model::{self, Access};
use super::Checker;
use super::field::check_fields;
use super::shape::{is_upper_ident, width_ok};

pub(super) fn check_descriptor(
    c: &mut Checker<'_>,
    d: &model::DescriptorDef,
) -> Option<Descriptor> {
    let name = d.name.get_ref().clone();
    let subject = format!("descriptor {name}");
    let size = *d.size.get_ref();
    if size == 0 {
        c.at(d.size.span(), &subject, "size must not be 0".into());
        return None;
    }
    let mut formats = Vec::new();
    match (&d.words, &d.format) {
        (Some(_), Some(_)) | (None, None) => {
            c.at(
                d.name.span(),
                &subject,
                "give either `words` (one layout) or `[[descriptor.format]]` tables, not both or neither".into(),
            );
            return None;
        }
        (Some(words), None) => {
            // A single layout's words are the view's own methods.
            for w in words {
                reserved(c, &subject, "word", &w.name);
            }
            let words = check_words(c, &subject, words, size);
            formats.push(Format {
                name: None,
                section: d.section.get_ref().clone(),
                doc: d.doc.clone(),
                words,
            });
        }
        (None, Some(fs)) => {
            let mut seen = HashSet::new();
            for f in fs {
                let fname = f.name.get_ref().clone();
                if !is_upper_ident(&fname) {
                    c.at(
                        f.name.span(),
                        &subject,
                        format!("format name \"{fname}\" must be upper case"),
                    );
                }
                if !seen.insert(fname.clone()) {
                    c.at(f.name.span(), &subject, format!("duplicate format {fname}"));
                }
                // Each format is a method of the view (`view.to_device()`).
                reserved(c, &subject, "format", &f.name);
                let words = check_words(c, &format!("{subject} format {fname}"), &f.words, size);
                formats.push(Format {
                    name: Some(fname),
                    section: f
                        .section
                        .clone()
                        .unwrap_or_else(|| d.section.get_ref().clone()),
                    doc: f.doc.clone(),
                    words,
                });
            }
        }
    }
    let widest = formats
        .iter()
        .flat_map(|f| f.words.iter().map(|w| u64::from(w.width / 8)))
        .max()
        .unwrap_or(1);
    let align = match &d.align {
        Some(a) => {
            let a_val = *a.get_ref();
            if !a_val.is_power_of_two() || a_val < widest {
                c.at(
                    a.span(),
                    &subject,
                    format!("align {a_val} must be a power of two no smaller than the widest word ({widest} bytes)"),
                );
            }
            a_val
        }
        None => widest,
    };
    if !size.is_multiple_of(align) {
        c.at(
            d.size.span(),
            &subject,
            format!("size {size} is not a multiple of its alignment {align}"),
        );
    }
    Some(Descriptor {
        name,
        size,
        align,
        section: d.section.get_ref().clone(),
        doc: d.doc.clone(),
        formats,
    })
}

/// The descriptor's view has methods `new` and `bus`; a word or format must not take their
/// names.
fn reserved(c: &mut Checker<'_>, subject: &str, kind: &str, name: &Spanned<String>) {
    let n = name.get_ref();
    if matches!(n.as_str(), "NEW" | "BUS") {
        c.at(
            name.span(),
            subject,
            format!(
                "{kind} name {n} is taken: the descriptor's view has a method `{}` of its own",
                n.to_ascii_lowercase()
            ),
        );
    }
}

fn check_words(
    c: &mut Checker<'_>,
    subject: &str,
    defs: &[model::WordDef],
    size: u64,
) -> Vec<Word> {
    let mut words = Vec::new();
    let mut seen = HashSet::new();
    let mut covered: Vec<(u64, u64, String)> = Vec::new();
    let mut last_span = None;
    let before = c.diags.len();
    for w in defs {
        let wname = w.name.get_ref().clone();
        last_span = Some(w.name.span());
        if !is_upper_ident(&wname) {
            c.at(
                w.name.span(),
                subject,
                format!("word name \"{wname}\" must be upper case"),
            );
        }
        if !seen.insert(wname.clone()) {
            c.at(w.name.span(), subject, format!("duplicate word {wname}"));
        }
        let width = *w.width.get_ref();
        if !width_ok(width) {
            c.at(
                w.width.span(),
                subject,
                format!("word {wname}: width {width} is not 8, 16, 32 or 64"),
            );
            continue;
        }
        let access = *w.access.get_ref();
        if !matches!(access, Access::Rw | Access::Ro | Access::Wo) {
            c.at(
                w.access.span(),
                subject,
                format!(
                    "word {wname}: descriptor words are rw, ro or wo, not {}",
                    access.describe()
                ),
            );
        }
        let bytes = u64::from(width / 8);
        let offset = *w.offset.get_ref();
        if offset % bytes != 0 {
            c.at(
                w.offset.span(),
                subject,
                format!(
                    "word {wname}: offset {offset} is not aligned to its width ({bytes} bytes)"
                ),
            );
        }
        if offset + bytes > size {
            c.at(
                w.offset.span(),
                subject,
                format!(
                    "word {wname}: bytes {offset}..{} overrun the {size}-byte descriptor",
                    offset + bytes
                ),
            );
            continue;
        }
        for (s, e, other) in &covered {
            if offset < *e && *s < offset + bytes {
                c.at(
                    w.offset.span(),
                    subject,
                    format!("word {wname} overlaps word {other}"),
                );
            }
        }
        covered.push((offset, offset + bytes, wname.clone()));
        let fields = check_fields(
            c,
            &format!("{subject} word {wname}"),
            &w.fields,
            width,
            access,
        );
        words.push(Word {
            name: wname,
            offset,
            width,
            access,
            doc: w.doc.clone(),
            fields,
        });
    }
    let total: u64 = covered.iter().map(|(s, e, _)| e - s).sum();
    if total != size
        && c.diags.len() == before
        && let Some(span) = last_span
    {
        c.at(
            span,
            subject,
            format!(
                "words cover {total} of the descriptor's {size} bytes; they must cover it exactly"
            ),
        );
    }
    words
}
