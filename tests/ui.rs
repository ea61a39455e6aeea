//! The macros' compile errors, as the user sees them (trybuild).

#[test]
fn macro_errors_name_the_problem() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/fail/*.rs");
    cases.pass("tests/ui/pass/*.rs");
}
