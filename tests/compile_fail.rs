//! What the register types make impossible does not compile, each for the right reason; what
//! they allow compiles.
//!
//! Each case in `tests/compile_fail/` marks the line that must be refused with a trailing
//! annotation: `//~ E0308 "RxQueue" "TxQueue"` means rustc must report error E0308 at that line
//! (or, for an error found while a generic function is instantiated, name that line in the notes
//! that follow it) and that the error's text must contain each quoted phrase. Any other error in
//! the case, and any annotation no error matches, fails the test: a case that stops compiling
//! for another reason (a typo, a renamed item) is caught.
//!
//! Why not trybuild: it compares rustc's whole output with a stored `.stderr`, so a new compiler
//! that words a note differently, orders the hints otherwise or renders a span in another way
//! fails the test although the case still fails for the right reason. Error codes and the names
//! of the types and traits involved are what the cases are about, and they stay stable.
//!
//! The cases are compiled with rustc directly (`--emit=obj`, so errors found during
//! monomorphisation count too) against the rixy library `cargo build` made for this profile.

use std::path::{Path, PathBuf};
use std::process::Command;

/// One expected error: its code, the 1-based line it is reported at, phrases its text contains.
#[derive(Debug)]
struct Expected {
    code: String,
    line: usize,
    phrases: Vec<String>,
}

/// The `//~ CODE "phrase" ...` annotations of a case.
fn annotations(src: &str) -> Result<Vec<Expected>, String> {
    let mut out = Vec::new();
    for (n, line) in src.lines().enumerate() {
        let Some((_, spec)) = line.split_once("//~") else {
            continue;
        };
        let spec = spec.trim();
        let (code, mut rest) = spec.split_once(' ').unwrap_or((spec, ""));
        if !(code.len() == 5
            && code.starts_with('E')
            && code[1..].bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(format!(
                "line {}: `{code}` is not an error code like E0308",
                n + 1
            ));
        }
        let mut phrases = Vec::new();
        loop {
            rest = rest.trim_start();
            if rest.is_empty() {
                break;
            }
            let Some(quoted) = rest.strip_prefix('"') else {
                return Err(format!(
                    "line {}: phrases go in double quotes: {rest}",
                    n + 1
                ));
            };
            let Some((phrase, after)) = quoted.split_once('"') else {
                return Err(format!("line {}: unterminated phrase", n + 1));
            };
            phrases.push(phrase.to_string());
            rest = after;
        }
        if phrases.is_empty() {
            return Err(format!(
                "line {}: name at least one type, trait or message phrase the error must contain",
                n + 1
            ));
        }
        out.push(Expected {
            code: code.to_string(),
            line: n + 1,
            phrases,
        });
    }
    Ok(out)
}

/// One error rustc reported, with the notes that follow it (a post-monomorphisation error names
/// the instantiating line in a separate note).
#[derive(Debug, Default)]
struct Reported {
    code: Option<String>,
    /// Lines of the case file that the error or its notes point at.
    lines: Vec<usize>,
    /// What the phrases are looked for in: the messages and span labels of the error, its
    /// children and its notes, without the quoted source lines (which would contain whatever
    /// the case's own line says).
    text: String,
    /// The error and its notes as rustc rendered them, for the failure message.
    rendered: String,
}

/// Collects the lines in `file` that a JSON diagnostic and its children point at, and their
/// messages and span labels.
fn collect(diag: &serde_json::Value, file: &str, e: &mut Reported) {
    e.text
        .push_str(diag["message"].as_str().unwrap_or_default());
    e.text.push('\n');
    for span in diag["spans"].as_array().into_iter().flatten() {
        if span["file_name"].as_str() == Some(file) {
            e.lines
                .extend(span["line_start"].as_u64().map(|l| l as usize));
        }
        if let Some(label) = span["label"].as_str() {
            e.text.push_str(label);
            e.text.push('\n');
        }
    }
    for child in diag["children"].as_array().into_iter().flatten() {
        collect(child, file, e);
    }
}

/// Parses rustc's `--error-format=json` output into errors (with their trailing notes).
fn reported(stderr: &str, file: &str) -> Vec<Reported> {
    let mut errors: Vec<Reported> = Vec::new();
    for line in stderr.lines() {
        let Ok(diag) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let has_spans = diag["spans"].as_array().is_some_and(|s| !s.is_empty());
        let rendered = diag["rendered"].as_str().unwrap_or_default();
        match diag["level"].as_str() {
            // "aborting due to N previous errors" has no span: it is a summary, not an error.
            Some("error") if has_spans => {
                let mut e = Reported {
                    code: diag["code"]["code"].as_str().map(str::to_string),
                    rendered: rendered.to_string(),
                    ..Reported::default()
                };
                collect(&diag, file, &mut e);
                errors.push(e);
            }
            Some("note" | "help") => {
                if let Some(e) = errors.last_mut() {
                    collect(&diag, file, e);
                    e.rendered.push_str(rendered);
                }
            }
            _ => {}
        }
    }
    errors
}

/// The rlibs the cases link against, from `cargo build --lib` for the profile these tests run
/// in (already built, so this only asks cargo where they are).
struct Libs {
    rixy: PathBuf,
    tock_registers: PathBuf,
    deps: PathBuf,
}

fn libs() -> Libs {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let exe = std::env::current_exe().unwrap();
    let release = exe.components().any(|c| c.as_os_str() == "release");
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--lib", "--message-format=json"])
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    if release {
        cmd.arg("--release");
    }
    let out = cmd.output().expect("cannot run cargo");
    assert!(
        out.status.success(),
        "cargo build --lib failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut rixy = None;
    let mut tock_registers = None;
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if msg["reason"] != "compiler-artifact" {
            continue;
        }
        let rlib = msg["filenames"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f.as_str())
            .find(|f| f.ends_with(".rlib"))
            .map(PathBuf::from);
        match msg["target"]["name"].as_str() {
            Some("rixy") => rixy = rlib,
            Some("tock_registers") => tock_registers = rlib,
            _ => {}
        }
    }
    let tock_registers = tock_registers.expect("cargo named no tock_registers rlib");
    let deps = tock_registers.parent().unwrap().to_path_buf();
    Libs {
        rixy: rixy.expect("cargo named no rixy rlib"),
        tock_registers,
        deps,
    }
}

/// Compiles `case` (a path relative to the manifest directory); returns whether rustc
/// succeeded and its JSON diagnostics.
fn compile(libs: &Libs, case: &str, out_dir: &Path) -> (bool, String) {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let name = Path::new(case).file_stem().unwrap().to_str().unwrap();
    let out = Command::new(rustc)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "--edition",
            "2024",
            "--crate-type",
            "bin",
            "--crate-name",
            name,
        ])
        .arg(case)
        .args(["--error-format=json", "--emit=obj", "-o"])
        .arg(out_dir.join(format!("{name}.o")))
        .arg("--extern")
        .arg(format!("rixy={}", libs.rixy.display()))
        .arg("--extern")
        .arg(format!("tock_registers={}", libs.tock_registers.display()))
        .arg("-L")
        .arg(format!("dependency={}", libs.deps.display()))
        .output()
        .expect("cannot run rustc");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn cases(dir: &str) -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut cases: Vec<String> = std::fs::read_dir(root.join(dir))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|f| f.ends_with(".rs"))
        .map(|f| format!("{dir}/{f}"))
        .collect();
    cases.sort();
    assert!(!cases.is_empty(), "no cases in {dir}");
    cases
}

/// What is wrong with the errors of one compile-fail case, if anything.
fn check_case(case: &str, src: &str, succeeded: bool, stderr: &str) -> Result<(), String> {
    let expected = annotations(src)?;
    if expected.is_empty() {
        return Err("no `//~ CODE \"phrase\"` annotation marks the line that must fail".into());
    }
    if succeeded {
        return Err("it compiled".into());
    }
    let errors = reported(stderr, case);
    let mut problems = Vec::new();
    for e in &errors {
        let matches = |x: &Expected| {
            e.code.as_deref() == Some(x.code.as_str())
                && e.lines.contains(&x.line)
                && x.phrases.iter().all(|p| e.text.contains(p.as_str()))
        };
        if !expected.iter().any(matches) {
            problems.push(format!("an error no annotation expects:\n{}", e.rendered));
        }
    }
    for x in &expected {
        let found = errors.iter().any(|e| {
            e.code.as_deref() == Some(x.code.as_str())
                && e.lines.contains(&x.line)
                && x.phrases.iter().all(|p| e.text.contains(p.as_str()))
        });
        if !found {
            problems.push(format!(
                "no error {} at line {} whose messages contain {:?}",
                x.code, x.line, x.phrases
            ));
        }
    }
    if errors.is_empty() {
        problems.push(format!("rustc failed without an error:\n{stderr}"));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

#[test]
fn register_misuse_does_not_compile_and_typed_access_does() {
    let libs = libs();
    let out_dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut failures = Vec::new();
    for case in cases("tests/compile_fail") {
        let src = std::fs::read_to_string(root.join(&case)).unwrap();
        let (succeeded, stderr) = compile(&libs, &case, out_dir.path());
        if let Err(problem) = check_case(&case, &src, succeeded, &stderr) {
            failures.push(format!("{case}: {problem}"));
        }
    }
    for case in cases("tests/compile_pass") {
        let (succeeded, stderr) = compile(&libs, &case, out_dir.path());
        if !succeeded {
            let text: Vec<String> = reported(&stderr, &case)
                .into_iter()
                .map(|e| e.text)
                .collect();
            failures.push(format!("{case} does not compile:\n{}", text.join("\n")));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n\n"));
}

/// The harness itself refuses a case that fails for another reason, or with another code, or
/// at another line, or without the phrase.
#[test]
fn a_case_failing_for_the_wrong_reason_is_caught() {
    let libs = libs();
    let out_dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let case = "tests/compile_fail/tx_queue_on_rx_register.rs";
    let src = std::fs::read_to_string(root.join(case)).unwrap();
    let (succeeded, stderr) = compile(&libs, case, out_dir.path());
    check_case(case, &src, succeeded, &stderr).expect("the real case passes");
    let wrong = |edit: &dyn Fn(&str) -> String| {
        let edited = edit(&src);
        assert_ne!(edited, src);
        check_case(case, &edited, succeeded, &stderr)
    };
    // Another code, another phrase, an annotation on another line, none at all.
    assert!(wrong(&|s| s.replace("//~ E0308", "//~ E0599")).is_err());
    assert!(wrong(&|s| s.replace("\"TxQueue\"", "\"RxQueue16\"")).is_err());
    // A phrase only the case's own source line holds does not count.
    assert!(wrong(&|s| s.replace("\"TxQueue\"", "\"at::<0>\"")).is_err());
    assert!(wrong(&|s| s.replace("fn main() {", "fn main() { //~ E0308 \"RxQueue\"")).is_err());
    assert!(wrong(&|s| s.replace("//~", "//")).is_err());
    // A typo: the case stops compiling for a reason no annotation names.
    let typo_src = src.replace("TxQueue::at", "TxQeue::at");
    let typo = out_dir.path().join("typo.rs");
    std::fs::write(&typo, &typo_src).unwrap();
    let typo = typo.to_str().unwrap().to_string();
    let (succeeded, stderr) = compile(&libs, &typo, out_dir.path());
    let err = check_case(&typo, &typo_src, succeeded, &stderr).unwrap_err();
    assert!(
        err.contains("E0433") || err.contains("no error E0308"),
        "{err}"
    );
    // And a case that compiles.
    assert_eq!(
        check_case(case, &src, true, ""),
        Err("it compiled".to_string())
    );
}
