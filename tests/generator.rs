//! The generator's own tests: every rejection rule has a malformed datasheet file in
//! `tests/datasheets/bad/`, and its diagnostic must name the file, line, column and item.

#[allow(dead_code)]
#[path = "../codegen/mod.rs"]
mod codegen;

use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Diagnostics as the build prints them, one a line.
fn joined(diags: &[codegen::Diag]) -> String {
    diags
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

fn check_file(label: &str) -> Result<(), Vec<String>> {
    let src =
        std::fs::read_to_string(root().join(label)).unwrap_or_else(|e| panic!("{label}: {e}"));
    codegen::check::check(label, &src)
        .map(drop)
        .map_err(|d| d.iter().map(ToString::to_string).collect())
}

/// Each malformed file and the whole diagnostic line it must produce, alone.
const CASES: &[(&str, &str)] = &[
    (
        "overlap.toml",
        "overlap.toml:17:10: register B: overlaps register A at 0x102 (declare `alias_of` if one is another window onto the other)",
    ),
    (
        "field_outside_width.toml",
        "field_outside_width.toml:16:27: register CTRL: field HIGH (bits 17:14) lies outside the 16-bit register",
    ),
    (
        "field_overlap.toml",
        "field_overlap.toml:16:26: register CTRL: field MID (bits 9:7) overlaps field LOW (bits 7:0)",
    ),
    (
        "misaligned.toml",
        "misaligned.toml:9:10: register STATUS: offset 0x6 is not aligned to its width (4 bytes)",
    ),
    (
        "outside_bar.toml",
        "outside_bar.toml:9:9: register FAR: offset 0x1000 (element 4) lies outside the register space (bar_size 0x1000)",
    ),
    (
        "reset_too_wide.toml",
        "reset_too_wide.toml:12:9: register SMALL: reset value 0x1ff does not fit 8 bits",
    ),
    (
        "value_too_wide.toml",
        "value_too_wide.toml:17:32: register MODE: field SEL: named value FIVE = 0x5 does not fit the field's 2 bits",
    ),
    (
        "descriptor_overrun.toml",
        "descriptor_overrun.toml:15:29: descriptor DESC: word TAIL: bytes 16..20 overrun the 16-byte descriptor",
    ),
    (
        "descriptor_gap.toml",
        "descriptor_gap.toml:14:12: descriptor DESC: words cover 12 of the descriptor's 16 bytes; they must cover it exactly",
    ),
    (
        "word_misaligned.toml",
        "word_misaligned.toml:14:28: descriptor DESC: word LEN: offset 2 is not aligned to its width (4 bytes)",
    ),
    (
        "duplicate_name.toml",
        "duplicate_name.toml:16:8: register CTRL: duplicate name: register CTRL is declared already",
    ),
    (
        "unknown_key.toml",
        "unknown_key.toml:11:1: register CTRL: unknown field `acess`, expected one of `name`, `offset`, `array`, `index`, `width`, `access`, `reset`, `section`, `doc`, `alias_of`, `fields`",
    ),
    (
        "bad_access.toml",
        "bad_access.toml:11:10: register CTRL: unknown variant `clear-on-read`, expected one of `rw`, `ro`, `wo`, `rc`, `w1c`, `w1s`, `rc_w1c`",
    ),
    (
        "array_count.toml",
        "array_count.toml:14:9: register RDT: array runs hold 64 registers but index type Queue counts 128",
    ),
    (
        "alias_fields.toml",
        "alias_fields.toml:24:20: register CTRL_OLD: an alias declares no fields; it shares the fields of CTRL",
    ),
    (
        "format_takes_view_method.toml",
        "format_takes_view_method.toml:14:8: descriptor DESC: format name NEW is taken: the descriptor's view has a method `new` of its own",
    ),
    (
        "bad_width.toml",
        "bad_width.toml:10:9: register ODD: width 24 is not 8, 16, 32 or 64",
    ),
];

#[test]
fn every_malformed_file_is_rejected_with_file_line_and_item() {
    for (file, expected) in CASES {
        let label = format!("tests/datasheets/bad/{file}");
        let diags =
            check_file(&label).expect_err(&format!("{label} was accepted, but it breaks a rule"));
        assert_eq!(
            diags,
            vec![format!("tests/datasheets/bad/{expected}")],
            "{label}"
        );
    }
}

#[test]
fn every_malformed_file_has_a_case() {
    let mut files: Vec<String> = std::fs::read_dir(root().join("tests/datasheets/bad"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    let mut covered: Vec<String> = CASES.iter().map(|(f, _)| f.to_string()).collect();
    covered.sort();
    assert_eq!(files, covered);
}

#[test]
fn the_sample_and_the_real_datasheets_pass_and_generate_code() {
    for label in [
        "tests/datasheets/good.toml",
        "registers/ixgbe.toml",
        "registers/virtio.toml",
    ] {
        let src = std::fs::read_to_string(root().join(label)).unwrap();
        match codegen::generate(label, &src) {
            // Its `// SAFETY:` comments are checked in the compiled output by
            // tests/safety_comments.rs, with a lexer of its own.
            Ok((_, code)) => assert!(code.contains("pub mod"), "{label}"),
            Err(d) => panic!("{label}: {}", joined(&d)),
        }
    }
}

#[test]
fn an_alias_may_overlap_the_register_it_aliases_and_nothing_else() {
    let base = std::fs::read_to_string(root().join("tests/datasheets/bad/overlap.toml")).unwrap();
    let aliased = base.replace(
        "name = \"B\"\noffset = 0x102\nwidth = 16",
        "name = \"B\"\noffset = 0x100\nwidth = 32\nalias_of = \"A\"",
    );
    assert_ne!(aliased, base);
    codegen::check::check("alias.toml", &aliased).expect("an alias of A may sit on A");
}

#[test]
fn build_reports_every_problem_of_every_file_as_cargo_errors_would() {
    let dir = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    for f in ["misaligned.toml", "bad_width.toml"] {
        std::fs::copy(
            root().join("tests/datasheets/bad").join(f),
            dir.path().join(f),
        )
        .unwrap();
    }
    let errors = codegen::build(dir.path(), "registers", out.path()).unwrap_err();
    assert_eq!(
        errors,
        vec![
            "registers/bad_width.toml:10:9: register ODD: width 24 is not 8, 16, 32 or 64".to_string(),
            "registers/misaligned.toml:9:10: register STATUS: offset 0x6 is not aligned to its width (4 bytes)"
                .to_string(),
        ]
    );
    assert!(
        !out.path().join("registers.rs").exists(),
        "nothing is written when a file is wrong"
    );
}

#[test]
fn build_writes_one_module_per_device() {
    let dir = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    std::fs::copy(
        root().join("tests/datasheets/good.toml"),
        dir.path().join("sample.toml"),
    )
    .unwrap();
    let read = codegen::build(dir.path(), "registers", out.path()).unwrap();
    assert_eq!(read, vec![dir.path().join("sample.toml")]);
    let code = std::fs::read_to_string(out.path().join("registers.rs")).unwrap();
    assert!(code.contains("pub mod sample"));
}

/// Where the generated code of the sample datasheet is kept, and how to renew it.
const SNAPSHOT: &str = "tests/datasheets/good.rs";
const BLESS: &str = "RIXY_BLESS=1 cargo test --test generator";

/// The code generated from the sample datasheet is kept in the repository, so that a reader
/// sees what `build.rs` writes without building, and a change to the generator's output shows
/// in review. After an intended change, renew it with `RIXY_BLESS=1 cargo test --test generator`.
#[test]
fn the_sample_datasheets_generated_code_matches_its_snapshot() {
    let label = "tests/datasheets/good.toml";
    let src = std::fs::read_to_string(root().join(label)).unwrap();
    let (_, code) =
        codegen::generate(label, &src).unwrap_or_else(|d| panic!("{label}: {}", joined(&d)));
    let generated = format!(
        "// @generated from {label} by the register generator (codegen/), as build.rs writes\n\
         // registers/*.toml. Kept so that the generated code can be read without building;\n\
         // tests/generator.rs fails when the generator's output changes. Renew it with\n\
         // {BLESS}\n\n{code}"
    );
    let path = root().join(SNAPSHOT);
    if std::env::var_os("RIXY_BLESS").is_some_and(|v| !v.is_empty() && v != "0") {
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let stored = std::fs::read_to_string(&path).unwrap_or_default();
    if stored != generated {
        let line = stored
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| stored.lines().count().min(generated.lines().count()));
        panic!(
            "{SNAPSHOT} differs from what the generator writes for {label}, first at line {}:\n  \
             stored:    {:?}\n  generated: {:?}\nIf the change is intended, renew it with {BLESS}",
            line + 1,
            stored.lines().nth(line).unwrap_or("(end of file)"),
            generated.lines().nth(line).unwrap_or("(end of file)"),
        );
    }
}

/// The fenced blocks of a Markdown file: (info string, body, line of the opening fence).
fn fenced_blocks(doc: &str) -> Vec<(String, String, usize)> {
    let mut blocks = Vec::new();
    let mut open: Option<(String, String, usize)> = None;
    for (n, line) in doc.lines().enumerate() {
        match (&mut open, line.strip_prefix("```")) {
            (None, Some(info)) => open = Some((info.trim().to_string(), String::new(), n + 1)),
            (Some(_), Some(_)) => blocks.extend(open.take()),
            (Some((_, body, _)), None) => {
                body.push_str(line);
                body.push('\n');
            }
            (None, None) => {}
        }
    }
    assert!(open.is_none(), "a fenced block is not closed");
    blocks
}

/// `registers/FORMAT.md`'s examples pass their own generator: its ```toml blocks build one
/// datasheet file in order, which must pass after every block and generate code at the end; a
/// ```toml bad block is a file of its own, rejected with exactly the diagnostics of the ```text
/// block that follows it.
#[test]
fn the_format_documents_examples_pass_their_own_generator() {
    let doc = std::fs::read_to_string(root().join("registers/FORMAT.md")).unwrap();
    let blocks = fenced_blocks(&doc);
    let (mut file, mut good, mut bad) = (String::new(), 0, 0);
    for (i, (info, body, line)) in blocks.iter().enumerate() {
        match info.as_str() {
            "toml" => {
                file.push_str(body);
                file.push('\n');
                good += 1;
                if let Err(d) = codegen::check::check("FORMAT.md examples", &file) {
                    panic!(
                        "registers/FORMAT.md:{line}: with this example, the examples so far fail:\n{}\n--- the file they build:\n{file}",
                        joined(&d)
                    );
                }
            }
            "toml bad" => {
                bad += 1;
                let expected = match blocks.get(i + 1) {
                    Some((info, text, _)) if info == "text" => text.lines().collect::<Vec<_>>(),
                    _ => panic!(
                        "registers/FORMAT.md:{line}: a bad example needs a ```text block with its diagnostics after it"
                    ),
                };
                let got = codegen::check::check("registers/example.toml", body)
                    .map(drop)
                    .expect_err(&format!(
                        "registers/FORMAT.md:{line}: the bad example passes"
                    ));
                let got: Vec<String> = got.iter().map(ToString::to_string).collect();
                assert_eq!(got, expected, "registers/FORMAT.md:{line}");
            }
            _ => {}
        }
    }
    // The device, index, register, descriptor and constant examples, and the rejected file.
    assert_eq!((good, bad), (5, 1), "the examples FORMAT.md holds");
    if let Err(d) = codegen::generate("FORMAT.md examples", &file) {
        panic!("{}", joined(&d));
    }
}
