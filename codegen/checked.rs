//! The checked form of a datasheet file: everything the emitter needs, nothing it must check
//! again. `check` builds it from the file as written (`model`); `emit` writes code from it.

use super::model::{self, Access};

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
