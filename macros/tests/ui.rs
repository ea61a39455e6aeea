//! The macros' compile errors, as the user sees them (trybuild), through
//! the facade with the tokio adapter. What must build and run is
//! in the facade's `tests/macro_pass.rs`, part of the ordinary test build:
//! with no passing case and few dependencies here, trybuild only checks its
//! cases, in one cargo run, instead of building the facade's whole
//! dev-dependency tree again to run them.

#[test]
fn macro_errors_name_the_problem() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/fail/*.rs");
}
