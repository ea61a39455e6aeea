//! The locals saved across an await, with their values; arguments already
//! moved are not shown as live.

use std::rc::Rc;
use std::sync::Arc;

use async_inspect_debuginfo::{NodeState, StateNode};

use crate::support::{Never, decode, suspend_and_decode};

#[derive(Debug)]
struct User {
    id: u32,
    name: String,
}

#[derive(Debug, Clone, Copy)]
enum Color {
    Green = 2,
}

#[derive(Debug)]
enum Shape {
    Circle { radius: f32 },
}

async fn saves_locals(arg: String, count: u8) -> usize {
    let moved = arg;
    let number: i64 = -42;
    let text = String::from("hello");
    let user = User {
        id: 7,
        name: "bob".to_owned(),
    };
    let list: Vec<u16> = (1..=3).collect();
    let flag = (count > 0).then_some(count);
    Never.await;
    moved.len()
        + number.unsigned_abs() as usize
        + text.len()
        + user.name.len()
        + user.id as usize
        + list.len()
        + usize::from(flag.unwrap_or(0))
}

async fn saves_more_kinds() -> usize {
    let word: &str = "borrowed";
    let letter = 'λ';
    let ratio = 2.5f64;
    let yes = true;
    let pair = (1u8, -2i32);
    let color = Color::Green;
    let shape = Shape::Circle { radius: 1.5 };
    let array = [10u32, 20, 30];
    let boxed = Box::new(99u64);
    let shared = Arc::new(String::from("shared"));
    let counted = Rc::new(5u8);
    let maybe_name: Option<String> = None;
    let outcome: Result<u8, String> = Err("bad".to_owned());
    let reference = &ratio;
    Never.await;
    word.len()
        + letter.len_utf8()
        + *reference as usize
        + usize::from(yes)
        + pair.0 as usize
        + color as usize
        + match shape {
            Shape::Circle { radius } => radius as usize,
        }
        + array.len()
        + *boxed as usize
        + shared.len()
        + usize::from(*counted)
        + maybe_name.map_or(0, |n| n.len())
        + outcome.map_or(0, usize::from)
}

fn value<'a>(node: &'a StateNode, name: &str) -> &'a str {
    match node.local(name) {
        Some(local) => &local.value,
        None => panic!("no local {name} in {:?}", node.locals),
    }
}

#[test]
fn locals_of_several_types_print_their_values() {
    let (_fut, node) = suspend_and_decode(saves_locals("the-arg".to_owned(), 5));
    assert_eq!(value(&node, "moved"), "\"the-arg\"");
    assert_eq!(value(&node, "number"), "-42");
    assert_eq!(value(&node, "text"), "\"hello\"");
    assert_eq!(value(&node, "user"), "User { id: 7, name: \"bob\" }");
    assert_eq!(value(&node, "list"), "[1, 2, 3]");
    assert_eq!(value(&node, "flag"), "Some(5)");
    let types: Vec<(&str, &str)> = node
        .locals
        .iter()
        .map(|l| (l.name.as_str(), l.type_name.as_str()))
        .collect();
    assert!(
        types.contains(&("text", "alloc::string::String")),
        "{types:?}"
    );
    assert!(
        types.contains(&("user", concat!(module_path!(), "::User"))),
        "{types:?}"
    );
    assert!(
        types.contains(&("list", "alloc::vec::Vec<u16, alloc::alloc::Global>")),
        "{types:?}"
    );
}

#[test]
fn an_argument_moved_before_the_await_is_not_shown_as_live() {
    let (_fut, node) = suspend_and_decode(saves_locals("the-arg".to_owned(), 5));
    assert!(matches!(node.state, NodeState::Suspended { .. }));
    assert!(
        node.local("arg").is_none(),
        "stale argument slot shown: {:?}",
        node.locals
    );
    assert_eq!(node.locals.iter().filter(|l| l.name == "moved").count(), 1);
}

#[test]
fn an_unresumed_fn_shows_its_arguments() {
    let fut = saves_locals("not yet".to_owned(), 9);
    let node = decode(&fut);
    assert_eq!(node.state, NodeState::Unresumed);
    assert_eq!(value(&node, "arg"), "\"not yet\"");
    assert_eq!(value(&node, "count"), "9");
    assert!(node.children.is_empty());
}

#[test]
fn standard_types_print_like_debug() {
    let (_fut, node) = suspend_and_decode(saves_more_kinds());
    assert_eq!(value(&node, "word"), "\"borrowed\"");
    assert_eq!(value(&node, "letter"), "'λ'");
    assert_eq!(value(&node, "ratio"), "2.5");
    assert_eq!(value(&node, "yes"), "true");
    assert_eq!(value(&node, "pair"), "(1, -2)");
    assert_eq!(value(&node, "color"), "Green");
    assert_eq!(value(&node, "shape"), "Circle { radius: 1.5 }");
    assert_eq!(value(&node, "array"), "[10, 20, 30]");
    assert_eq!(value(&node, "boxed"), "99");
    assert_eq!(value(&node, "shared"), "\"shared\"");
    assert_eq!(value(&node, "counted"), "5");
    assert_eq!(value(&node, "maybe_name"), "None");
    assert_eq!(value(&node, "outcome"), "Err(\"bad\")");
    assert_eq!(value(&node, "reference"), "2.5");
}
