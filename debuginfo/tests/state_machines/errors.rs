//! Errors that concern the whole decode: a wrong anchor, a wrong size.

use async_inspect_debuginfo::{Budget, Error, ProcessMemory};

use crate::support::{Never, program, root_of};

async fn waits() {
    Never.await
}

#[test]
fn an_anchor_that_is_no_function_is_a_clear_error() {
    let (program, bias) = program();
    let mut root = root_of(&waits());
    root.anchor_pc = 8;
    let err = program
        .decode(
            &root,
            &ProcessMemory::this_process(),
            *bias,
            &Budget::default(),
        )
        .unwrap_err();
    assert!(matches!(err, Error::NoTypeInfo { pc: 8, .. }), "{err:?}");
    assert!(err.to_string().contains("debug = \"full\""), "{err}");
}

#[test]
fn a_size_that_does_not_match_the_anchor_type_is_refused() {
    let (program, bias) = program();
    let mut root = root_of(&waits());
    root.size += 8;
    let err = program
        .decode(
            &root,
            &ProcessMemory::this_process(),
            *bias,
            &Budget::default(),
        )
        .unwrap_err();
    assert!(matches!(err, Error::SizeMismatch { .. }), "{err:?}");
}

#[test]
fn a_file_that_is_not_elf_is_an_object_error() {
    let err =
        async_inspect_debuginfo::Program::open(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
            .unwrap_err();
    assert!(matches!(err, Error::Object { .. }), "{err:?}");
    assert!(err.to_string().contains("Cargo.toml"), "{err}");
}
