//! The viewers never link the program's machinery: `async-inspect-cli`,
//! `-tui` and `-web` reach the model through their normal dependencies,
//! never `async-inspect-core` (the hot path) or `async-inspect-agent` (the
//! in-process server). Read from `cargo tree` (normal and build
//! dependencies: what links into the binary).

use std::collections::HashSet;
use std::process::Command;

/// The names of every package `package` links, itself included.
fn linked(package: &str) -> HashSet<String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .args([
            "tree",
            "--offline",
            "-e",
            "normal,build",
            "--prefix",
            "none",
        ])
        .args(["--format", "{p}", "-p", package])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree runs");
    assert!(
        output.status.success(),
        "cargo tree -p {package}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_viewers_depend_on_the_model_and_never_on_the_hot_path() {
    for viewer in [
        "async-inspect-cli",
        "async-inspect-tui",
        "async-inspect-web",
    ] {
        let linked = linked(viewer);
        assert!(linked.contains(viewer), "the tree of {viewer} names it");
        assert!(
            linked.contains("async-inspect-model"),
            "{viewer} reads the model"
        );
        for machinery in ["async-inspect-core", "async-inspect-agent", "async-inspect"] {
            assert!(
                !linked.contains(machinery),
                "{viewer} links {machinery}: viewers must depend on the model only"
            );
        }
    }
    // The check sees through the graph: the facade does link the hot path.
    assert!(linked("async-inspect").contains("async-inspect-core"));
}
