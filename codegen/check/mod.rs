//! Validation: turns a parsed datasheet file into the checked form the emitter works from
//! ([`super::checked`]), or into a list of diagnostics that name the file, line, column, the
//! item and the problem.
//!
//! This file drives the checks over one file (the device, the shared name space, index types
//! and constants) and formats the diagnostics; `register`, `field` and `descriptor` check those
//! items, and `shape` holds the rules for single values (names, widths, bit ranges).

mod descriptor;
mod field;
mod register;
mod shape;

use std::collections::HashMap;
use std::fmt;

use toml::Spanned;

use super::checked::{Constant, Device, Index};
use super::model;
use descriptor::check_descriptor;
use register::{check_overlaps, check_register};
use shape::{fits, is_camel_ident, is_snake_ident, is_upper_ident};

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

/// The file being checked and the problems found so far.
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
