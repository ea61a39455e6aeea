//! Bad memory is an error value or an `<unreadable …>` value, never a fault.

use async_inspect_debuginfo::{Budget, Error, ProcessMemory, SliceMemory};

use crate::support::{Never, poll_once, program, root_of, try_decode_with};

async fn holds_a_string() -> usize {
    let text = String::from("on the heap");
    Never.await;
    text.len()
}

#[test]
fn a_future_at_a_bad_address_is_unreadable_not_a_crash() {
    let (program, bias) = program();
    let mut root = root_of(&holds_a_string());
    root.address = 0x10;
    match program.decode(
        &root,
        &ProcessMemory::this_process(),
        *bias,
        &Budget::default(),
    ) {
        Err(Error::Unreadable(e)) => assert_eq!(e.addr, 0x10),
        other => panic!("expected an unreadable error, got {other:?}"),
    }
}

#[test]
fn a_pointer_into_unreadable_memory_prints_as_unreadable() {
    let mut fut = Box::pin(holds_a_string());
    assert!(poll_once(fut.as_mut()).is_pending());
    // Only the future's own bytes are readable: the string's heap buffer is not.
    let address = &*fut as *const _ as u64;
    let size = std::mem::size_of_val(&*fut);
    // SAFETY: reads `size` bytes of a live, pinned future this test owns.
    let bytes = unsafe { std::slice::from_raw_parts(address as *const u8, size) }.to_vec();
    let mut memory = SliceMemory::new();
    memory.insert(address, bytes);
    let node = try_decode_with(&*fut, &memory, &Budget::default()).expect("decode");
    let text = node.local("text").expect("text local");
    assert!(text.value.starts_with("<unreadable 0x"), "{}", text.value);
}

async fn rich(list: Vec<String>) -> usize {
    let boxed: std::pin::Pin<Box<dyn std::future::Future<Output = usize> + Send>> =
        Box::pin(holds_a_string());
    let n = boxed.await;
    n + list.len()
}

#[test]
fn garbage_bytes_decode_to_values_or_errors_never_a_panic() {
    let fut = rich(vec!["a".to_owned()]);
    let root = root_of(&fut);
    let (program, bias) = program();
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    for round in 0..64 {
        let bytes: Vec<u8> = (0..root.size)
            .map(|i| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                match round % 4 {
                    0 => seed as u8,
                    1 => 0xff,
                    // A valid state tag amid garbage: reach the variants.
                    _ => (seed as u8) & (i as u8 | 3),
                }
            })
            .collect();
        let mut memory = SliceMemory::new();
        memory.insert(root.address, bytes);
        // Whatever the bytes, a value or an error comes back.
        let _ = program.decode(&root, &memory, *bias, &Budget::default());
    }
}
