//! Rules for single values: the shape of names, register widths, bit ranges.

pub(super) fn is_upper_ident(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_uppercase())
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

pub(super) fn is_camel_ident(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_uppercase())
        && name.chars().all(|c| c.is_ascii_alphanumeric())
        && name.chars().any(|c| c.is_ascii_lowercase())
}

pub(super) fn is_snake_ident(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

pub(super) fn width_ok(width: u32) -> bool {
    matches!(width, 8 | 16 | 32 | 64)
}

pub(super) fn fits(value: u64, bits: u32) -> bool {
    bits >= 64 || value < (1u64 << bits)
}

/// Parses `"HI:LO"` or `"N"` into (lo, number of bits).
pub(super) fn parse_bits(text: &str) -> Result<(u32, u32), String> {
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
