//! Every `unsafe` block carries a `// SAFETY:` comment saying why it is sound: in rixy's own
//! sources (library, build script, generator, tests, benches, examples) and in the register code
//! the build script generated into `OUT_DIR`, the very file the library includes.
//!
//! The blocks are found by a small Rust lexer of its own (it skips comments, strings and
//! character literals and takes `unsafe` followed by `{` as a block), not by the generator's rule
//! for inserting its comments, so a block the generator or a person forgot is caught.

use std::path::{Path, PathBuf};

/// One `unsafe` block: the 1-based line its `unsafe` keyword is on.
#[derive(Debug, PartialEq)]
struct Block {
    line: usize,
}

/// Every `unsafe` block in `src` (not `unsafe fn`, `unsafe impl`, `unsafe trait` or
/// `unsafe extern`), by a lexer that skips comments, string and character literals.
fn unsafe_blocks(src: &str) -> Vec<Block> {
    let b = src.as_bytes();
    let mut blocks = Vec::new();
    let mut i = 0;
    let mut line = 1;
    // The line of an `unsafe` keyword whose next token is still to come.
    let mut pending: Option<usize> = None;
    while i < b.len() {
        let c = b[i];
        if c == b'\n' {
            line += 1;
            i += 1;
        } else if c.is_ascii_whitespace() {
            i += 1;
        } else if b[i..].starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i..].starts_with(b"/*") {
            // Block comments nest in Rust.
            let mut depth = 0;
            while i < b.len() {
                if b[i..].starts_with(b"/*") {
                    depth += 1;
                    i += 2;
                } else if b[i..].starts_with(b"*/") {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    line += usize::from(b[i] == b'\n');
                    i += 1;
                }
            }
        } else if let Some(end) = raw_string_end(b, i) {
            line += b[i..end].iter().filter(|&&x| x == b'\n').count();
            i = end;
            pending = None;
        } else if c == b'"' || (c == b'b' && b.get(i + 1) == Some(&b'"')) {
            i += if c == b'b' { 2 } else { 1 };
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' {
                    i += 1;
                }
                line += usize::from(b.get(i) == Some(&b'\n'));
                i += 1;
            }
            i += 1;
            pending = None;
        } else if c == b'\'' {
            // A character literal ('x', '\n', '\u{..}') or a lifetime ('a).
            i += char_literal_len(b, i).unwrap_or(1);
            pending = None;
        } else if c == b'_' || c.is_ascii_alphabetic() {
            let start = i;
            while i < b.len() && (b[i] == b'_' || b[i].is_ascii_alphanumeric()) {
                i += 1;
            }
            pending = (&b[start..i] == b"unsafe").then_some(line);
        } else {
            if c == b'{'
                && let Some(line) = pending
            {
                blocks.push(Block { line });
            }
            pending = None;
            i += 1;
        }
    }
    blocks
}

/// If a raw string (`r"…"`, `r#"…"#`, `br#"…"#`) starts at `i`, the index just past it.
fn raw_string_end(b: &[u8], i: usize) -> Option<usize> {
    if i > 0 && (b[i - 1] == b'_' || b[i - 1].is_ascii_alphanumeric()) {
        return None;
    }
    let mut j = i;
    if b.get(j) == Some(&b'b') {
        j += 1;
    }
    if b.get(j) != Some(&b'r') {
        return None;
    }
    j += 1;
    let hashes = b[j..].iter().take_while(|&&x| x == b'#').count();
    j += hashes;
    if b.get(j) != Some(&b'"') {
        return None;
    }
    j += 1;
    let mut close = vec![b'"'];
    close.extend(std::iter::repeat_n(b'#', hashes));
    while j < b.len() {
        if b[j..].starts_with(&close) {
            return Some(j + close.len());
        }
        j += 1;
    }
    Some(b.len())
}

/// Length of the character literal starting at `i`, or `None` for a lifetime.
fn char_literal_len(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    if b.get(j) == Some(&b'\\') {
        j += 2;
        while j < b.len() && b[j] != b'\'' {
            j += 1;
        }
        return Some(j + 1 - i);
    }
    // One character, possibly several UTF-8 bytes.
    let width = std::str::from_utf8(&b[j..(j + 4).min(b.len())])
        .or_else(|e| std::str::from_utf8(&b[j..j + e.valid_up_to()]))
        .ok()
        .and_then(|s| s.chars().next())
        .map_or(1, char::len_utf8);
    j += width;
    (b.get(j) == Some(&b'\'')).then_some(j + 1 - i)
}

/// The blocks of `src` that lack a `// SAFETY:` comment directly above them: in the run of
/// comment lines that ends just above the line holding `unsafe`, or, when the block sits inside
/// a statement that spans lines, above the line the statement starts on. Returns their lines.
fn undocumented(src: &str) -> Vec<usize> {
    let lines: Vec<&str> = src.lines().collect();
    let is_comment = |l: &str| l.trim_start().starts_with("//");
    let documented_above = |mut n: usize| {
        // `n` is a 0-based line; walk the comment lines right above it.
        while n > 0 && is_comment(lines[n - 1]) {
            n -= 1;
            if lines[n].trim_start().starts_with("// SAFETY:") {
                return true;
            }
        }
        false
    };
    unsafe_blocks(src)
        .into_iter()
        .map(|block| block.line - 1)
        .filter(|&n| {
            if documented_above(n) {
                return false;
            }
            // A block on a continuation line (`let x =\n    unsafe { .. }`, an argument, a
            // field initialiser): the comment may sit above the statement's first line, which
            // is the nearest line above that ends a previous statement or opens a block.
            let mut start = n;
            while start > 0 {
                let prev = lines[start - 1].trim_end();
                if is_comment(prev) || prev.is_empty() || prev.ends_with([';', '{', '}', ',']) {
                    break;
                }
                start -= 1;
            }
            start == n || !documented_above(start)
        })
        .map(|n| n + 1)
        .collect()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_unsafe_block_in_the_sources_and_the_generated_code_says_why_it_is_sound() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("build.rs")];
    for dir in ["src", "codegen", "tests", "benches", "examples"] {
        rust_files(&root.join(dir), &mut files);
    }
    let generated = PathBuf::from(env!("OUT_DIR")).join("registers.rs");
    files.push(generated.clone());

    let mut blocks = 0;
    let mut missing = Vec::new();
    for file in &files {
        let src =
            std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        blocks += unsafe_blocks(&src).len();
        for line in undocumented(&src) {
            missing.push(format!("{}:{line}", file.display()));
        }
    }
    assert!(
        missing.is_empty(),
        "unsafe blocks without a `// SAFETY:` comment directly above:\n{}",
        missing.join("\n")
    );
    // The scan did find the blocks it vouches for, in the generated code too.
    let in_generated = unsafe_blocks(&std::fs::read_to_string(&generated).unwrap()).len();
    assert!(
        in_generated > 100,
        "{in_generated} blocks in {}",
        generated.display()
    );
    assert!(blocks > in_generated + 50, "{blocks} blocks in all");
}

#[test]
fn the_scanner_finds_blocks_and_only_blocks() {
    let src = r##"
unsafe fn f() {}
unsafe impl Send for X {}
unsafe extern "C" { fn g(); }
fn h() {
    let s = "unsafe { not a block }";
    let r = r#"unsafe { nor this }"#;
    let c = '{';
    // unsafe { a comment }
    /* unsafe { nor /* nested */ this } */
    fn k<'a>(x: &'a u8) -> &'a u8 { x }
    let v = unsafe { g() };
    let w = unsafe
        { g() };
}
"##;
    let lines: Vec<usize> = unsafe_blocks(src).iter().map(|b| b.line).collect();
    assert_eq!(lines, vec![12, 13]);
}

#[test]
fn a_block_without_its_comment_is_reported_and_one_with_it_is_not() {
    let src = "\
fn a() {
    // SAFETY: documented on the line above.
    unsafe { g() };
    // A comment that is not a safety argument.
    unsafe { g() };
    // SAFETY: documented above a statement whose block is on a later line.
    let x = f(
        unsafe { g() },
    );
    let y = 1;

    unsafe { g() }
}
fn b() {
    // SAFETY: this one is for the first block only.
    unsafe { g() };
    unsafe { g() };
}
";
    assert_eq!(undocumented(src), vec![5, 12, 17]);
}
