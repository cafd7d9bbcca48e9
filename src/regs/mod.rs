//! Typed registers, generated from `registers/*.toml`.
