//! Validation: turns a parsed datasheet file into the checked form the emitter works from, or
//! into a list of diagnostics that name the file, line, column, the item and the problem.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

use toml::Spanned;

use super::model::{self, Access};

/// One problem found in a datasheet file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diag {
    pub file: String,
    pub line: usize,
    pub col: usize,
    /// What the problem is about: `register RDBAL`, `descriptor ADV_RX_DESC`, ...
    pub subject: String,
    pub message: String,
}

impl fmt::Display for Diag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file, self.line, self.col)?;
        if !self.subject.is_empty() {
            write!(f, "{}: ", self.subject)?;
        }
        f.write_str(&self.message)
    }
}

/// The checked device: everything the emitter needs, nothing it must check again.
#[derive(Debug)]
pub struct Device {
    pub name: String,
    pub title: String,
    pub source: String,
    pub bar_size: u64,
    pub block: String,
    pub indexes: Vec<Index>,
    pub registers: Vec<Register>,
    pub descriptors: Vec<Descriptor>,
    pub constants: Vec<Constant>,
}

#[derive(Debug)]
pub struct Index {
    pub name: String,
    pub count: u64,
    pub doc: String,
}

#[derive(Debug, Clone)]
pub enum Placement {
    Single(u64),
    Array {
        runs: Vec<model::Run>,
        index: String,
    },
}

impl Placement {
    /// Every (offset, element index) this placement covers, in index order.
    pub fn elements(&self) -> Vec<(u64, Option<u64>)> {
        match self {
            Placement::Single(offset) => vec![(*offset, None)],
            Placement::Array { runs, .. } => {
                let mut out = Vec::new();
                let mut i = 0;
                for run in runs {
                    for k in 0..run.count {
                        out.push((run.base + run.stride * k, Some(i)));
                        i += 1;
                    }
                }
                out
            }
        }
    }
}

#[derive(Debug)]
pub struct Register {
    pub name: String,
    pub placement: Placement,
    pub width: u32,
    pub access: Access,
    pub reset: u64,
    pub section: String,
    pub doc: String,
    pub alias_of: Option<String>,
    pub fields: Vec<Field>,
}

#[derive(Debug)]
pub struct Field {
    pub name: String,
    pub lo: u32,
    pub bits: u32,
    pub access: Access,
    pub doc: String,
    pub values: Vec<Value>,
}

#[derive(Debug)]
pub struct Value {
    pub name: String,
    pub value: u64,
    pub doc: String,
}

#[derive(Debug)]
pub struct Descriptor {
    pub name: String,
    pub size: u64,
    pub align: u64,
    pub section: String,
    pub doc: String,
    pub formats: Vec<Format>,
}

#[derive(Debug)]
pub struct Format {
    /// `None` for a descriptor with a single layout (accessors carry no prefix).
    pub name: Option<String>,
    pub section: String,
    pub doc: String,
    pub words: Vec<Word>,
}

#[derive(Debug)]
pub struct Word {
    pub name: String,
    pub offset: u64,
    pub width: u32,
    pub access: Access,
    pub doc: String,
    pub fields: Vec<Field>,
}

#[derive(Debug)]
pub struct Constant {
    pub name: String,
    pub ty: String,
    pub value: u64,
    pub section: String,
    pub doc: String,
}

struct Checker<'a> {
    file: &'a str,
    src: &'a str,
    diags: Vec<Diag>,
}

impl Checker<'_> {
    fn at(&mut self, span: std::ops::Range<usize>, subject: impl Into<String>, message: String) {
        let (line, col) = line_col(self.src, span.start);
        self.diags.push(Diag {
            file: self.file.to_string(),
            line,
            col,
            subject: subject.into(),
            message,
        });
    }
}

/// For a syntax error at `offset`: the item whose table holds it (`register CTRL`), found from
/// the nearest `[[...]]` header above and the `name = "..."` below that header.
fn enclosing_item(src: &str, offset: usize) -> String {
    let offset = offset.min(src.len());
    let Some(header_at) = src[..offset]
        .rfind("\n[")
        .map(|i| i + 1)
        .or(src.starts_with('[').then_some(0))
    else {
        return String::new();
    };
    let header_line = src[header_at..].lines().next().unwrap_or_default();
    let kind = header_line.trim_matches(|c| c == '[' || c == ']' || c == ' ');
    let kind = kind.split('.').next().unwrap_or(kind);
    let body_end = src[header_at + 1..]
        .find("\n[")
        .map_or(src.len(), |i| header_at + 1 + i);
    let name = src[header_at..body_end].lines().find_map(|l| {
        let (key, value) = l.split_once('=')?;
        (key.trim() == "name").then(|| value.trim().trim_matches('"').to_string())
    });
    match name {
        Some(name) => format!("{kind} {name}"),
        None => kind.to_string(),
    }
}

/// 1-based line and column of a byte offset.
pub fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(src.len());
    let before = &src[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rfind('\n').map_or(offset, |nl| offset - nl - 1) + 1;
    (line, col)
}

fn is_upper_ident(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_uppercase())
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

fn is_camel_ident(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_uppercase())
        && name.chars().all(|c| c.is_ascii_alphanumeric())
        && name.chars().any(|c| c.is_ascii_lowercase())
}

fn is_snake_ident(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn width_ok(width: u32) -> bool {
    matches!(width, 8 | 16 | 32 | 64)
}

fn fits(value: u64, bits: u32) -> bool {
    bits >= 64 || value < (1u64 << bits)
}

/// Parses `"HI:LO"` or `"N"` into (lo, number of bits).
fn parse_bits(text: &str) -> Result<(u32, u32), String> {
    let parse = |s: &str| {
        s.trim()
            .parse::<u32>()
            .map_err(|_| format!("bits \"{text}\" is not \"HI:LO\" or a single bit number"))
    };
    match text.split_once(':') {
        Some((hi, lo)) => {
            let (hi, lo) = (parse(hi)?, parse(lo)?);
            if hi < lo {
                return Err(format!("bits \"{text}\": the high bit comes first (HI:LO)"));
            }
            Ok((lo, hi - lo + 1))
        }
        None => Ok((parse(text)?, 1)),
    }
}

/// Parses and checks one datasheet file. `file` is the name used in diagnostics
/// (`registers/ixgbe.toml`).
pub fn check(file: &str, src: &str) -> Result<Device, Vec<Diag>> {
    let parsed: model::File = match toml::from_str(src) {
        Ok(parsed) => parsed,
        Err(err) => {
            let start = err.span().map_or(0, |s| s.start);
            let (line, col) = line_col(src, start);
            let message = err.message().trim().to_string();
            return Err(vec![Diag {
                file: file.to_string(),
                line,
                col,
                subject: enclosing_item(src, start),
                message,
            }]);
        }
    };
    let mut c = Checker {
        file,
        src,
        diags: Vec::new(),
    };
    let device = check_file(&mut c, parsed);
    if c.diags.is_empty() {
        Ok(device)
    } else {
        Err(c.diags)
    }
}

fn check_file(c: &mut Checker<'_>, f: model::File) -> Device {
    let dev_name = f.device.name.get_ref().clone();
    if !is_snake_ident(&dev_name) {
        c.at(
            f.device.name.span(),
            "device",
            format!(
                "name \"{dev_name}\" must be a lower-case Rust identifier (it names the module)"
            ),
        );
    }
    let bar_size = *f.device.bar_size.get_ref();
    if bar_size == 0 {
        c.at(
            f.device.bar_size.span(),
            "device",
            "bar_size must not be 0".into(),
        );
    }
    let block = match &f.device.block {
        Some(b) => {
            if !is_camel_ident(b.get_ref()) {
                c.at(
                    b.span(),
                    "device",
                    format!("block \"{}\" must be a CamelCase type name", b.get_ref()),
                );
            }
            b.get_ref().clone()
        }
        None => "Registers".to_string(),
    };

    // One namespace for registers, descriptors and constants; index types have their own.
    let mut names: HashMap<String, String> = HashMap::new();
    let mut claim = |c: &mut Checker<'_>, name: &Spanned<String>, kind: &str| {
        let n = name.get_ref();
        if let Some(prev) = names.get(n) {
            c.at(
                name.span(),
                format!("{kind} {n}"),
                format!("duplicate name: {prev} {n} is declared already"),
            );
        } else {
            names.insert(n.clone(), kind.to_string());
        }
        if !is_upper_ident(n) {
            c.at(
                name.span(),
                format!("{kind} {n}"),
                "names are upper case: letters, digits and underscores, starting with a letter"
                    .into(),
            );
        }
    };

    let mut indexes = Vec::new();
    let mut index_counts: HashMap<String, u64> = HashMap::new();
    for ix in f.index {
        let n = ix.name.get_ref().clone();
        if !is_camel_ident(&n) {
            c.at(
                ix.name.span(),
                format!("index {n}"),
                "index type names are CamelCase".into(),
            );
        }
        if index_counts.contains_key(&n) {
            c.at(
                ix.name.span(),
                format!("index {n}"),
                "duplicate index type name".into(),
            );
        }
        let count = *ix.count.get_ref();
        if count == 0 || count > u16::MAX as u64 {
            c.at(
                ix.count.span(),
                format!("index {n}"),
                format!("count {count} must be between 1 and 65535"),
            );
        }
        index_counts.insert(n.clone(), count);
        indexes.push(Index {
            name: n,
            count,
            doc: ix.doc,
        });
    }

    let mut registers = Vec::new();
    let mut reg_spans = Vec::new();
    for r in &f.register {
        claim(c, &r.name, "register");
    }
    let declared: HashMap<&str, &model::RegisterDef> = f
        .register
        .iter()
        .map(|r| (r.name.get_ref().as_str(), r))
        .collect();
    for r in &f.register {
        if let Some(reg) = check_register(c, r, bar_size, &index_counts, &declared) {
            let place = r.offset.as_ref().map(|o| o.span());
            reg_spans.push(
                place
                    .or_else(|| r.array.as_ref().map(|a| a.span()))
                    .unwrap_or_else(|| r.name.span()),
            );
            registers.push(reg);
        }
    }
    check_overlaps(c, &registers, &reg_spans);

    let mut descriptors = Vec::new();
    for d in &f.descriptor {
        claim(c, &d.name, "descriptor");
        if let Some(desc) = check_descriptor(c, d) {
            descriptors.push(desc);
        }
    }

    let mut constants = Vec::new();
    for k in &f.constant {
        claim(c, &k.name, "constant");
        let name = k.name.get_ref().clone();
        let ty =
            k.ty.as_ref()
                .map_or("u32".to_string(), |t| t.get_ref().clone());
        let bits = match ty.as_str() {
            "u8" => 8,
            "u16" => 16,
            "u32" => 32,
            "u64" | "usize" => 64,
            other => {
                let span = k.ty.as_ref().map_or(k.name.span(), |t| t.span());
                c.at(
                    span,
                    format!("constant {name}"),
                    format!("type \"{other}\" is not one of u8, u16, u32, u64, usize"),
                );
                64
            }
        };
        let value = *k.value.get_ref();
        if !fits(value, bits) {
            c.at(
                k.value.span(),
                format!("constant {name}"),
                format!("value {value:#x} does not fit {ty}"),
            );
        }
        constants.push(Constant {
            name,
            ty,
            value,
            section: k.section.clone(),
            doc: k.doc.clone(),
        });
    }

    Device {
        name: dev_name,
        title: f.device.title,
        source: f.device.source,
        bar_size,
        block,
        indexes,
        registers,
        descriptors,
        constants,
    }
}

fn check_register(
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

fn check_fields(
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

fn check_overlaps(c: &mut Checker<'_>, registers: &[Register], spans: &[std::ops::Range<usize>]) {
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

fn check_descriptor(c: &mut Checker<'_>, d: &model::DescriptorDef) -> Option<Descriptor> {
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
