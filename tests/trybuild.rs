//! What the register types make impossible does not compile, each for the right reason (the
//! `.stderr` files hold the expected compiler errors); what they allow compiles.

#[test]
fn register_misuse_does_not_compile() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/compile_fail/*.rs");
    t.pass("tests/compile_pass/*.rs");
}
