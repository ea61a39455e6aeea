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

/// A stripped copy of this test binary: no DWARF at all.
#[test]
fn a_binary_without_debuginfo_says_what_to_set() {
    let stripped =
        std::env::temp_dir().join(format!("async-inspect-stripped-{}", std::process::id()));
    let status = std::process::Command::new("objcopy")
        .arg("--strip-debug")
        .arg(std::env::current_exe().unwrap())
        .arg(&stripped)
        .status()
        .expect("binutils' objcopy runs (it comes with the C toolchain)");
    assert!(status.success());
    let stripped_program = async_inspect_debuginfo::Program::open(&stripped).unwrap();
    // The stripped copy has this process's layout: its bias.
    let (_, bias) = program();
    let err = stripped_program
        .decode(
            &root_of(&waits()),
            &ProcessMemory::this_process(),
            *bias,
            &Budget::default(),
        )
        .unwrap_err();
    let _ = std::fs::remove_file(&stripped);
    assert!(matches!(err, Error::NoDebugInfo { .. }), "{err:?}");
    assert!(err.concerns_the_program());
    let message = err.to_string();
    assert!(
        message.contains("debug = \"full\"") && message.contains("strip = false"),
        "{message}"
    );
    assert!(!message.contains('\n'), "one line: {message}");
}

/// A future whose crate has no type debuginfo (here: an anchor that names
/// nothing) is said once in the snapshot and its task left undecoded, not
/// an error node per task.
#[test]
fn a_type_without_debuginfo_is_said_once_for_the_snapshot() {
    let (program, bias) = program();
    let mut snapshot: async_inspect_model::Snapshot = serde_json::from_str(include_str!(
        "../../../model/tests/fixtures/stuck_request.json"
    ))
    .unwrap();
    // An idle task's guard words, and a future that is there to read.
    let (phase, polls) = (async_inspect_model::FutureLocation::IDLE, 1_u64);
    let future = waits();
    for task in snapshot.tasks_mut().iter_mut().take(2) {
        task.future = Some(async_inspect_model::FutureLocation {
            address: &future as *const _ as u64,
            size: std::mem::size_of_val(&future) as u64,
            anchor: bias.to_runtime(8),
            guard: [&phase as *const u64 as u64, &polls as *const u64 as u64],
        });
    }
    program.decode_snapshot(
        &mut snapshot,
        &ProcessMemory::this_process(),
        *bias,
        &Budget::default(),
    );
    let note = snapshot.state_machines_note().expect("said once");
    assert!(note.contains("debug = \"full\""), "{note}");
    assert!(snapshot.tasks().iter().all(|t| t.state_machine.is_none()));
    assert_eq!(snapshot.to_string().matches(note).count(), 1);
}
