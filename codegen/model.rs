//! The datasheet file as it is written: serde structures for `registers/*.toml`.
//! `registers/FORMAT.md` is the user-facing description of the same thing.

use serde::Deserialize;
use toml::Spanned;

/// One datasheet file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct File {
    pub device: DeviceDef,
    #[serde(default)]
    pub index: Vec<IndexDef>,
    #[serde(default)]
    pub register: Vec<RegisterDef>,
    #[serde(default)]
    pub descriptor: Vec<DescriptorDef>,
    #[serde(default)]
    pub constant: Vec<ConstantDef>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceDef {
    pub name: Spanned<String>,
    pub title: String,
    pub source: String,
    pub bar_size: Spanned<u64>,
    pub block: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexDef {
    pub name: Spanned<String>,
    pub count: Spanned<u64>,
    pub doc: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    Rw,
    Ro,
    Wo,
    Rc,
    W1c,
    W1s,
    RcW1c,
}

impl Access {
    pub fn describe(self) -> &'static str {
        match self {
            Access::Rw => "read/write",
            Access::Ro => "read only",
            Access::Wo => "write only",
            Access::Rc => "read clears",
            Access::W1c => "write 1 to clear",
            Access::W1s => "write 1 to set",
            Access::RcW1c => "read clears, write 1 to clear",
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterDef {
    pub name: Spanned<String>,
    pub offset: Option<Spanned<u64>>,
    pub array: Option<Spanned<Vec<Run>>>,
    pub index: Option<Spanned<String>>,
    pub width: Spanned<u32>,
    pub access: Spanned<Access>,
    pub reset: Option<Spanned<u64>>,
    pub section: Spanned<String>,
    pub doc: String,
    pub alias_of: Option<Spanned<String>>,
    #[serde(default)]
    pub fields: Vec<FieldDef>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Run {
    pub base: u64,
    pub stride: u64,
    pub count: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldDef {
    pub name: Spanned<String>,
    pub bits: Spanned<String>,
    pub doc: String,
    pub access: Option<Access>,
    #[serde(default)]
    pub values: Vec<ValueDef>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValueDef {
    pub name: Spanned<String>,
    pub value: Spanned<u64>,
    pub doc: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DescriptorDef {
    pub name: Spanned<String>,
    pub size: Spanned<u64>,
    pub align: Option<Spanned<u64>>,
    pub section: Spanned<String>,
    pub doc: String,
    pub words: Option<Vec<WordDef>>,
    pub format: Option<Vec<FormatDef>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FormatDef {
    pub name: Spanned<String>,
    pub section: Option<String>,
    pub doc: String,
    pub words: Vec<WordDef>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WordDef {
    pub name: Spanned<String>,
    pub offset: Spanned<u64>,
    pub width: Spanned<u32>,
    pub access: Spanned<Access>,
    pub doc: String,
    #[serde(default)]
    pub fields: Vec<FieldDef>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConstantDef {
    pub name: Spanned<String>,
    #[serde(rename = "type")]
    pub ty: Option<Spanned<String>>,
    pub value: Spanned<u64>,
    pub section: String,
    pub doc: String,
}
