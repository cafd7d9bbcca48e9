//! Emission: turns a checked device into formatted, documented Rust.
//!
//! The generated module lives inside the `rixy` crate (`src/regs/mod.rs` includes it), so it
//! refers to the runtime layer as `crate::regs::...`.

use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote};

use super::checked::{Descriptor, Device, Field, Format, Placement, Register, Word};
use super::model::Access;

fn uint(width: u32) -> TokenStream {
    match width {
        8 => quote!(u8),
        16 => quote!(u16),
        32 => quote!(u32),
        _ => quote!(u64),
    }
}

/// A hex literal of the register's type (`0x1f_u32`).
fn lit(value: u64, width: u32) -> TokenStream {
    format!("0x{value:x}_u{width}")
        .parse()
        .expect("integer literal")
}

fn usize_lit(value: u64) -> TokenStream {
    let text = format!("0x{value:x}_usize");
    text.parse().expect("usize literal")
}

const KEYWORDS: &[&str] = &[
    "as", "break", "const", "continue", "crate", "else", "enum", "extern", "false", "fn", "for",
    "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref", "return",
    "self", "static", "struct", "super", "trait", "true", "type", "unsafe", "use", "where",
    "while", "async", "await", "dyn", "abstract", "become", "box", "do", "final", "macro",
    "override", "priv", "typeof", "unsized", "virtual", "yield", "try", "gen",
];

fn method_ident(name: &str) -> proc_macro2::Ident {
    let lower = name.to_ascii_lowercase();
    if KEYWORDS.contains(&lower.as_str()) {
        format_ident!("{}_", lower)
    } else {
        format_ident!("{}", lower)
    }
}

fn camel(name: &str) -> String {
    name.split('_')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut chars = p.chars();
            let first = chars
                .next()
                .map(|c| c.to_ascii_uppercase())
                .unwrap_or_default();
            std::iter::once(first)
                .chain(chars.map(|c| c.to_ascii_lowercase()))
                .collect::<String>()
        })
        .collect()
}

fn access_marker(access: Access) -> TokenStream {
    match access {
        Access::Rw => quote!(crate::regs::access::Rw),
        Access::Ro => quote!(crate::regs::access::Ro),
        Access::Wo => quote!(crate::regs::access::Wo),
        Access::Rc => quote!(crate::regs::access::Rc),
        Access::W1c => quote!(crate::regs::access::W1c),
        Access::W1s => quote!(crate::regs::access::W1s),
        Access::RcW1c => quote!(crate::regs::access::RcW1c),
    }
}

fn access_value(access: Access) -> TokenStream {
    match access {
        Access::Rw => quote!(crate::regs::Access::Rw),
        Access::Ro => quote!(crate::regs::Access::Ro),
        Access::Wo => quote!(crate::regs::Access::Wo),
        Access::Rc => quote!(crate::regs::Access::Rc),
        Access::W1c => quote!(crate::regs::Access::W1c),
        Access::W1s => quote!(crate::regs::Access::W1s),
        Access::RcW1c => quote!(crate::regs::Access::RcW1c),
    }
}

fn hex(v: u64) -> String {
    format!("{v:#x}")
}

fn placement_doc(p: &Placement) -> String {
    match p {
        Placement::Single(offset) => format!("Offset `{}`.", hex(*offset)),
        Placement::Array { runs, index } => {
            let mut first = 0;
            let parts: Vec<String> = runs
                .iter()
                .map(|r| {
                    let s = if first == 0 {
                        format!(
                            "`{} + {}·n` for n in {}..{}",
                            hex(r.base),
                            hex(r.stride),
                            first,
                            first + r.count
                        )
                    } else {
                        format!(
                            "`{} + {}·(n − {first})` for n in {}..{}",
                            hex(r.base),
                            hex(r.stride),
                            first,
                            first + r.count
                        )
                    };
                    first += r.count;
                    s
                })
                .collect();
            format!("Indexed by [`{index}`]; offsets {}.", parts.join(", "))
        }
    }
}

/// The bitfield module of one register or descriptor word, in tock-registers' shape
/// (`NAME::Register`, `NAME::FIELD`, `NAME::FIELD::SET`), plus rixy's checked value builders.
fn bitfield_module(
    name: &str,
    width: u32,
    reset: u64,
    section: &str,
    doc: &str,
    fields: &[Field],
) -> TokenStream {
    // A format's word is labelled `FORMAT.WORD`; its module is the word's name.
    let modname = format_ident!("{}", name.rsplit('.').next().unwrap_or(name));
    let ty = uint(width);
    let width_lit = width;
    let reset_lit = lit(reset, width);
    let module_doc = format!("Fields of {name}: {doc}\n\nSection {section}.");
    let items = fields.iter().map(|f| field_items(name, width, f));
    quote! {
        #[doc = #module_doc]
        #[allow(non_snake_case, non_upper_case_globals, clippy::all)]
        pub mod #modname {
            #[allow(unused_imports)]
            use tock_registers::fields::{Field, FieldValue, TryFromValue};
            /// The register's name in tock-registers' type system: a field of one register
            /// cannot be used on another.
            #[derive(Clone, Copy, Debug)]
            pub struct Register;
            impl tock_registers::RegisterLongName for Register {}
            /// Width in bits.
            pub const WIDTH: u32 = #width_lit;
            /// Value after reset.
            pub const RESET: #ty = #reset_lit;
            /// Datasheet or specification section.
            pub const SECTION: &str = #section;
            #(#items)*
        }
    }
}

fn field_items(reg: &str, width: u32, f: &Field) -> TokenStream {
    let ty = uint(width);
    let fname = format_ident!("{}", f.name);
    let mask_val = if f.bits == 64 {
        u64::MAX
    } else {
        (1u64 << f.bits) - 1
    };
    let mask = lit(mask_val, width);
    let shift = f.lo as usize;
    let bits = f.bits;
    let hi = f.lo + f.bits - 1;
    let range = if f.bits == 1 {
        format!("bit {}", f.lo)
    } else {
        format!("bits {hi}:{}", f.lo)
    };
    let fdoc = format!("{} ({range}, {}).", f.doc, f.access.describe());
    let full = format!("{reg}.{}", f.name);
    let named = f.values.iter().map(|v| {
        let vname = format_ident!("{}", v.name);
        let vlit = lit(v.value, width);
        let vdoc = format!("{} ({} = {}).", v.doc, f.name, hex(v.value));
        quote! {
            #[doc = #vdoc]
            pub const #vname: FieldValue<#ty, Register> = FieldValue::<#ty, Register>::new(MASK, SHIFT, #vlit);
        }
    });
    let value_enum = if f.values.is_empty() {
        quote!()
    } else {
        let variants = f.values.iter().map(|v| {
            let var = format_ident!("{}", camel(&v.name));
            let vlit = Literal::u64_unsuffixed(v.value);
            let d = &v.doc;
            quote!(#[doc = #d] #var = #vlit)
        });
        let arms = f.values.iter().map(|v| {
            let var = format_ident!("{}", camel(&v.name));
            let vlit = lit(v.value, width);
            quote!(#vlit => Some(Value::#var))
        });
        quote! {
            /// The field's named values, for `read_as_enum`.
            #[derive(Clone, Copy, Debug, PartialEq, Eq)]
            #[repr(u64)]
            pub enum Value {
                #(#variants,)*
            }
            impl TryFromValue<#ty> for Value {
                type EnumType = Value;
                fn try_from_value(v: #ty) -> Option<Value> {
                    match v {
                        #(#arms,)*
                        _ => None,
                    }
                }
            }
        }
    };
    let overflow_msg = format!("value does not fit field {full} ({bits} bits)");
    quote! {
        #[doc = #fdoc]
        pub const #fname: Field<#ty, Register> = Field::<#ty, Register>::new(#fname::MASK, #fname::SHIFT);
        #[doc = #fdoc]
        pub mod #fname {
            #[allow(unused_imports)]
            use tock_registers::fields::{FieldValue, TryFromValue};
            use super::Register;
            /// Mask of the field, before shifting.
            pub const MASK: #ty = #mask;
            /// Position of the field's lowest bit.
            pub const SHIFT: usize = #shift;
            /// Width of the field in bits.
            pub const BITS: u32 = #bits;
            /// All bits of the field set.
            pub const SET: FieldValue<#ty, Register> = FieldValue::<#ty, Register>::new(MASK, SHIFT, MASK);
            /// All bits of the field clear.
            pub const CLEAR: FieldValue<#ty, Register> = FieldValue::<#ty, Register>::new(MASK, SHIFT, 0);
            #(#named)*
            /// The field holding `V`, checked when it compiles: a `V` that does not fit the field
            /// is a compile error, never silently masked.
            #[inline]
            pub const fn value<const V: #ty>() -> FieldValue<#ty, Register> {
                const { assert!(V <= MASK, #overflow_msg) };
                FieldValue::<#ty, Register>::new(MASK, SHIFT, V)
            }
            /// The field holding `v`, or an error naming the field when `v` does not fit.
            #[inline]
            pub fn val_checked(v: #ty) -> Result<FieldValue<#ty, Register>, crate::Error> {
                if v <= MASK {
                    Ok(FieldValue::<#ty, Register>::new(MASK, SHIFT, v))
                } else {
                    Err(crate::Error::FieldOverflow { register: #reg, field: stringify!(#fname), bits: BITS, value: v as u64 })
                }
            }
            #value_enum
        }
    }
}

/// The handle type of a register or word on a bus of type `bus_ty` (`&B`).
fn handle_type(
    bus_ty: &TokenStream,
    reg_mod: &proc_macro2::Ident,
    width: u32,
    access: Access,
) -> (TokenStream, bool) {
    let ty = uint(width);
    let marker = access_marker(access);
    match access {
        Access::Rc | Access::RcW1c => (
            quote!(crate::regs::RcReg<#bus_ty, #ty, #reg_mod::Register, #marker>),
            true,
        ),
        _ => (
            quote!(crate::regs::Reg<#bus_ty, #ty, #reg_mod::Register, #marker>),
            false,
        ),
    }
}

fn register_accessor(dev: &Device, r: &Register) -> TokenStream {
    let method = method_ident(&r.name);
    let fields_of = r.alias_of.as_deref().unwrap_or(&r.name);
    let reg_mod = format_ident!("{}", fields_of);
    let (handle, needs_mut) = handle_type(&quote!(&B), &reg_mod, r.width, r.access);
    let ctor = if needs_mut {
        quote!(crate::regs::RcReg::new)
    } else {
        quote!(crate::regs::Reg::new)
    };
    let self_ref = if needs_mut {
        quote!(&mut self)
    } else {
        quote!(&self)
    };
    let mut doc = format!(
        "{name}: {doc}\n\nSection {section} of the {source}. {place} {width} bits, {access}, reset `{reset}`.",
        name = r.name,
        doc = r.doc,
        section = r.section,
        source = dev.source,
        place = placement_doc(&r.placement),
        width = r.width,
        access = r.access.describe(),
        reset = hex(r.reset),
    );
    if let Some(a) = &r.alias_of {
        doc.push_str(&format!(
            " Another address of [`{a}`](Self::{}), sharing its fields.",
            method_ident(a)
        ));
    }
    if needs_mut {
        doc.push_str(" Reading clears it, so the handle is only handed out through `&mut self` and reads with `take`.");
    }
    match &r.placement {
        Placement::Single(offset) => {
            let off = usize_lit(*offset);
            quote! {
                #[doc = #doc]
                #[inline(always)]
                pub fn #method(#self_ref) -> #handle {
                    // SAFETY: the generator checked that this register lies inside the register
                    // space, and `new` checked that the bus covers the whole register space.
                    unsafe { #ctor(&self.bus, #off) }
                }
            }
        }
        Placement::Array { runs, index } => {
            let ix = format_ident!("{}", index);
            // `if n < end0 { run 0 } else if n < end1 { run 1 } else { last run }`
            let mut first = 0u64;
            let mut arms = Vec::new();
            for (k, run) in runs.iter().enumerate() {
                let base = usize_lit(run.base);
                let stride = usize_lit(run.stride);
                let element = if first == 0 {
                    quote!(#base + #stride * n)
                } else {
                    let start = usize_lit(first);
                    quote!(#base + #stride * (n - #start))
                };
                let end = first + run.count;
                let end_lit = usize_lit(end);
                arms.push(match (k, runs.len()) {
                    (_, 1) => element,
                    (0, _) => quote!(if n < #end_lit { #element }),
                    (k, len) if k + 1 == len => quote!(else { #element }),
                    _ => quote!(else if n < #end_lit { #element }),
                });
                first = end;
            }
            quote! {
                #[doc = #doc]
                #[inline(always)]
                pub fn #method(#self_ref, index: #ix) -> #handle {
                    let n = index.get();
                    let offset = #(#arms)*;
                    // SAFETY: `index` is below its type's count, so `offset` is one of the
                    // array's elements, all of which the generator checked lie inside the
                    // register space; `new` checked that the bus covers the register space.
                    unsafe { #ctor(&self.bus, offset) }
                }
            }
        }
    }
}

fn index_type(ix: &super::checked::Index) -> TokenStream {
    let name = format_ident!("{}", ix.name);
    let count = usize_lit(ix.count);
    let doc = format!("{} (0 to {}).", ix.doc, ix.count - 1);
    let msg = format!("{} index out of range (0..{})", ix.name, ix.count);
    let name_str = &ix.name;
    quote! {
        #[doc = #doc]
        ///
        /// A register array indexed by this type cannot be reached with a number outside the
        /// range: `new` checks at run time, `at` when it compiles.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct #name(u16);
        impl #name {
            /// How many there are.
            pub const COUNT: usize = #count;
            /// `n`, if it is in range.
            #[inline]
            pub const fn new(n: usize) -> Option<Self> {
                if n < Self::COUNT { Some(Self(n as u16)) } else { None }
            }
            /// `N`, checked when it compiles.
            #[inline]
            pub const fn at<const N: usize>() -> Self {
                const { assert!(N < #count, #msg) };
                Self(N as u16)
            }
            /// The number.
            #[inline]
            pub const fn get(self) -> usize {
                self.0 as usize
            }
            /// Every index, in order.
            pub fn all() -> impl Iterator<Item = Self> {
                (0..Self::COUNT as u16).map(Self)
            }
        }
        impl TryFrom<usize> for #name {
            type Error = crate::Error;
            fn try_from(n: usize) -> Result<Self, crate::Error> {
                Self::new(n).ok_or(crate::Error::IndexOutOfRange { what: #name_str, index: n, count: Self::COUNT })
            }
        }
        impl From<#name> for usize {
            fn from(i: #name) -> usize {
                i.get()
            }
        }
        impl core::fmt::Display for #name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                write!(f, "{}", self.0)
            }
        }
    }
}

fn descriptor_items(dev: &Device, d: &Descriptor) -> TokenStream {
    let modname = format_ident!("{}", d.name.to_ascii_lowercase());
    let tyname = format_ident!("{}", camel(&d.name));
    let size = usize_lit(d.size);
    let align = Literal::u64_unsuffixed(d.align);
    let size_n = Literal::usize_unsuffixed(d.size as usize);
    let doc = format!(
        "{}\n\nSection {} of the {}. {} bytes.",
        d.doc, d.section, dev.source, d.size
    );
    // A single layout: its words are the view's own methods, their offsets and bitfield modules
    // sit in the descriptor's module. Several formats: the view hands out one view per format
    // (`view.to_device()`), and each format's words sit in the format's module.
    let (consts, accessors, modules) = match d.formats.as_slice() {
        [f] if f.name.is_none() => format_words(f, quote!(&B), quote!(&self.bus)),
        _ => {
            let (accessors, modules) = d.formats.iter().map(|f| format_items(d, f)).unzip();
            (Vec::new(), accessors, modules)
        }
    };
    let mut view_doc = format!(
        "Typed access to one {} in memory shared with the device, through a bus that covers its {} bytes.",
        d.name, d.size
    );
    if d.formats.iter().any(|f| f.name.is_some()) {
        let methods: Vec<String> = d
            .formats
            .iter()
            .map(|f| method_ident(f.name.as_deref().unwrap_or_default()))
            .map(|m| format!("[`{m}`](Self::{m})"))
            .collect();
        view_doc.push_str(&format!(" Its formats: {}.", methods.join(", ")));
    }
    let struct_doc = format!(
        "The memory image of one {}: {} bytes, aligned to {}.",
        d.name, d.size, d.align
    );
    quote! {
        #[doc = #struct_doc]
        #[repr(C, align(#align))]
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub struct #tyname(pub [u8; #size_n]);
        const _: () = assert!(core::mem::size_of::<#tyname>() == #size);
        impl Default for #tyname {
            fn default() -> Self {
                Self([0; #size_n])
            }
        }
        impl crate::regs::Descriptor for #tyname {
            type View = #modname::View<crate::regs::Mmio>;
            const SIZE: usize = #size;
            const ALIGN: usize = #align;
            #[inline(always)]
            unsafe fn view(ptr: core::ptr::NonNull<u8>) -> Self::View {
                #modname::View {
                    // SAFETY: the caller guarantees `ptr` points to SIZE bytes of device-shared
                    // memory that stay valid while the view is used.
                    bus: unsafe { crate::regs::Mmio::new(ptr, #size) },
                }
            }
        }
        #[doc = #doc]
        #[allow(non_snake_case)]
        pub mod #modname {
            /// Size in bytes.
            pub const SIZE: usize = #size;
            /// Alignment in bytes.
            pub const ALIGN: usize = #align;
            #(#consts)*
            #[doc = #view_doc]
            pub struct View<B> {
                pub(in super) bus: B,
            }
            impl<B: crate::regs::Bus> View<B> {
                /// Views the descriptor at the start of `bus`, if the bus covers all of it.
                #[inline(always)]
                pub fn new(bus: B) -> Result<Self, crate::Error> {
                    if bus.len() < SIZE {
                        return Err(crate::Error::BarTooSmall { device: stringify!(#tyname), needed: SIZE, found: bus.len() });
                    }
                    Ok(Self { bus })
                }
                /// The bus the view reads and writes through.
                pub fn bus(&self) -> &B {
                    &self.bus
                }
                #(#accessors)*
            }
            #(#modules)*
        }
    }
}

/// What the words of one layout generate: their offset constants, their accessors on a view
/// whose bus has type `bus_ty` and is reached as `bus` (the descriptor's own view, or a format's
/// view that borrows it), and their bitfield modules.
fn format_words(
    f: &Format,
    bus_ty: TokenStream,
    bus: TokenStream,
) -> (Vec<TokenStream>, Vec<TokenStream>, Vec<TokenStream>) {
    let mut out = (Vec::new(), Vec::new(), Vec::new());
    for w in &f.words {
        // The name errors and docs give the word: `TO_DEVICE.CMD_TYPE_LEN` in a format.
        let label = match &f.name {
            Some(p) => format!("{p}.{}", w.name),
            None => w.name.clone(),
        };
        let wdoc = format!(
            "{} (in the {}: {})",
            w.doc,
            f.name
                .as_deref()
                .map_or("descriptor".to_string(), |n| format!("{n} format")),
            f.doc
        );
        let off_name = format_ident!("{}_OFFSET", w.name);
        let off = usize_lit(w.offset);
        let odoc = format!("Byte offset of {label} in the descriptor.");
        out.0
            .push(quote!(#[doc = #odoc] pub const #off_name: usize = #off;));
        out.1
            .push(word_accessor(f.name.as_deref(), w, &bus_ty, &bus));
        out.2.push(bitfield_module(
            &label, w.width, 0, &f.section, &wdoc, &w.fields,
        ));
    }
    out
}

/// What one format of a descriptor generates: the method of the descriptor's view that reads
/// the descriptor in that format, and the format's module, which holds its words' offsets and
/// bitfields and the format's view (it borrows the descriptor's view).
fn format_items(d: &Descriptor, f: &Format) -> (TokenStream, TokenStream) {
    let name = f.name.as_deref().unwrap_or_default();
    let fmod = method_ident(name);
    let accessor_doc = format!(
        "The {} in its {name} format (section {}): {}.",
        d.name, f.section, f.doc
    );
    let doc = format!(
        "The {name} format of {}: {}\n\nSection {}.",
        d.name, f.doc, f.section
    );
    let view_doc = format!(
        "One {} read as its {name} format; made by the descriptor's [`View`](super::View).",
        d.name
    );
    let (word_consts, accessors, bitfields) = format_words(f, quote!(&'a B), quote!(self.bus));
    let accessor = quote! {
        #[doc = #accessor_doc]
        #[inline(always)]
        pub fn #fmod(&self) -> #fmod::View<'_, B> {
            #fmod::View { bus: &self.bus }
        }
    };
    let module = quote! {
        #[doc = #doc]
        #[allow(non_snake_case)]
        pub mod #fmod {
            #(#word_consts)*
            #[doc = #view_doc]
            pub struct View<'a, B> {
                pub(in super) bus: &'a B,
            }
            impl<'a, B: crate::regs::Bus> View<'a, B> {
                #(#accessors)*
            }
            #(#bitfields)*
        }
    };
    (accessor, module)
}

fn word_accessor(
    format: Option<&str>,
    w: &Word,
    bus_ty: &TokenStream,
    bus: &TokenStream,
) -> TokenStream {
    let method = method_ident(&w.name);
    let reg_mod = format_ident!("{}", w.name);
    let (handle, _) = handle_type(bus_ty, &reg_mod, w.width, w.access);
    let off = usize_lit(w.offset);
    let fmt = format.map_or(String::new(), |f| format!(" ({f} format)"));
    let doc = format!(
        "{}{fmt}: {}. Bytes {}..{} of the descriptor, {}.",
        w.name,
        w.doc,
        w.offset,
        w.offset + u64::from(w.width / 8),
        w.access.describe()
    );
    quote! {
        #[doc = #doc]
        #[inline(always)]
        pub fn #method(&self) -> #handle {
            // SAFETY: the generator checked that this word lies inside the descriptor, and
            // `new` checked that the bus covers the whole descriptor.
            unsafe { crate::regs::Reg::new(#bus, #off) }
        }
    }
}

fn constant_items(dev: &Device) -> TokenStream {
    let items = dev.constants.iter().map(|k| {
        let name = format_ident!("{}", k.name);
        let ty: TokenStream = k.ty.parse().expect("type");
        let value: TokenStream = format!("0x{:x}", k.value).parse().expect("literal");
        let doc = format!("{} (section {}).", k.doc, k.section);
        quote!(#[doc = #doc] pub const #name: #ty = #value;)
    });
    quote!(#(#items)*)
}

fn register_table(dev: &Device) -> TokenStream {
    let variants = dev.registers.iter().map(|r| {
        let v = format_ident!("{}", r.name);
        let d = format!("{} (section {}).", r.doc, r.section);
        quote!(#[doc = #d] #v)
    });
    let infos = dev.registers.iter().map(|r| {
        let name = &r.name;
        let width = r.width;
        let access = access_value(r.access);
        let reset = Literal::u64_unsuffixed(r.reset);
        let section = &r.section;
        let doc = &r.doc;
        let count = r.placement.elements().len();
        let alias = match &r.alias_of {
            Some(a) => {
                let a = format_ident!("{}", a);
                quote!(Some(RegisterId::#a))
            }
            None => quote!(None),
        };
        quote! {
            RegisterInfo { name: #name, width: #width, access: #access, reset: #reset, section: #section, doc: #doc, count: #count, alias_of: #alias }
        }
    });
    let mut entries: Vec<(u64, usize, u64)> = Vec::new();
    for (ri, r) in dev.registers.iter().enumerate() {
        for (offset, element) in r.placement.elements() {
            entries.push((offset, ri, element.unwrap_or(0)));
        }
    }
    entries.sort();
    let n = entries.len();
    let rows = entries.iter().map(|(offset, ri, element)| {
        let v = format_ident!("{}", dev.registers[*ri].name);
        let off = Literal::u32_unsuffixed(*offset as u32);
        let el = Literal::u16_unsuffixed(*element as u16);
        quote!((#off, RegisterId::#v, #el))
    });
    let nregs = dev.registers.len();
    quote! {
        /// Every register of the device, for code that decodes accesses by offset (the simulator).
        #[allow(non_camel_case_types)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u16)]
        pub enum RegisterId {
            #(#variants,)*
        }
        /// What the datasheet file says of one register.
        pub use crate::regs::RegisterInfo;
        static INFO: [RegisterInfo<RegisterId>; #nregs] = [#(#infos,)*];
        impl RegisterId {
            /// The register's declaration.
            #[inline]
            pub fn info(self) -> &'static RegisterInfo<RegisterId> {
                &INFO[self as usize]
            }
            /// Every register, in declaration order.
            pub fn all() -> impl Iterator<Item = RegisterId> {
                MAP.iter().map(|&(_, id, _)| id).filter({
                    let mut seen = [false; #nregs];
                    move |id| !core::mem::replace(&mut seen[*id as usize], true)
                })
            }
        }
        /// Every register element by offset: (offset, register, element index), sorted by offset.
        pub static MAP: [(u32, RegisterId, u16); #n] = [#(#rows,)*];
        /// The register (and array element) that starts at `offset`, if any.
        pub fn lookup(offset: usize) -> Option<(RegisterId, usize)> {
            let offset = u32::try_from(offset).ok()?;
            MAP.binary_search_by_key(&offset, |&(o, _, _)| o)
                .ok()
                .map(|i| (MAP[i].1, MAP[i].2 as usize))
        }
    }
}

/// The whole generated module for one device.
pub fn emit(dev: &Device) -> TokenStream {
    let modname = format_ident!("{}", dev.name);
    let block = format_ident!("{}", dev.block);
    let bar = usize_lit(dev.bar_size);
    let device_name = &dev.name;
    let module_doc = format!(
        "{}: registers, fields and descriptor layouts from `registers/{}.toml`.\n\nSource: {}. \
         Every item names the section it comes from.",
        dev.title, dev.name, dev.source
    );
    let block_doc = format!(
        "The {} register space ({:#x} bytes) on a bus `B`: MMIO on a mapped BAR, port IO, or a simulator.",
        dev.title, dev.bar_size
    );
    let indexes = dev.indexes.iter().map(index_type);
    let bitfields = dev.registers.iter().map(|r| {
        if let Some(a) = &r.alias_of {
            let alias = format_ident!("{}", r.name);
            let target = format_ident!("{}", a);
            let d = format!(
                "Fields of {} (another address of {a}): the same as [`{a}`](mod@{a}).",
                r.name
            );
            quote!(#[doc = #d] pub use #target as #alias;)
        } else {
            bitfield_module(&r.name, r.width, r.reset, &r.section, &r.doc, &r.fields)
        }
    });
    let accessors = dev.registers.iter().map(|r| register_accessor(dev, r));
    let descriptors = dev.descriptors.iter().map(|d| descriptor_items(dev, d));
    let constants = constant_items(dev);
    let table = register_table(dev);
    quote! {
        #[doc = #module_doc]
        #[allow(clippy::all, clippy::pedantic, clippy::unreadable_literal)]
        pub mod #modname {
            #(#indexes)*

            #[doc = #block_doc]
            pub struct #block<B> {
                bus: B,
            }
            impl<B: crate::regs::Bus> #block<B> {
                /// Size of the register space in bytes.
                pub const SIZE: usize = #bar;
                /// Places the register map on `bus`, which must cover the whole register space.
                pub fn new(bus: B) -> Result<Self, crate::Error> {
                    if bus.len() < Self::SIZE {
                        return Err(crate::Error::BarTooSmall { device: #device_name, needed: Self::SIZE, found: bus.len() });
                    }
                    Ok(Self { bus })
                }
                /// The bus the registers sit on.
                pub fn bus(&self) -> &B {
                    &self.bus
                }
                #(#accessors)*
            }

            #(#bitfields)*

            #(#descriptors)*

            #constants

            #table
        }
    }
}
