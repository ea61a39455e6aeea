//! What a recording holds: [`Event`]s, and the sites and resources they
//! name, in [`Batch`]es. Plain data, serde-serialisable: the agent sends
//! batches over the wire and trace files store them as they come.

use serde::{Deserialize, Serialize};

use crate::{ResourceKind, TaskKind};

mod spans;

pub use spans::{Span, SpanKind, spans};

/// One thing that happened in an inspected program, while it was recorded.
///
/// Times (`at`, `start`, `end`) are precise nanoseconds since the
/// inspector started, the clock of [`Snapshot::taken_at`](crate::Snapshot::taken_at).
/// Tasks are [`TaskId`](crate::TaskId)s, frames are ids within their task
/// (as in [`FrameInfo`](crate::FrameInfo)), `site` is a [`FnSite::id`] and
/// `resource` a [`ResourceSite::id`] given in this or an earlier batch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Event {
    /// A task was spawned (or adopted).
    Spawn {
        /// The new task.
        task: u64,
        /// The task polled when it was spawned, 0 if none.
        parent: u64,
        /// How it came to be inspected.
        kind: TaskKind,
        /// Its name, as a snapshot would give it.
        name: String,
        /// When.
        at: u64,
    },
    /// A task finished: completed, panicked or was dropped.
    End {
        /// The task.
        task: u64,
        /// How: `done`, `panicked` or `aborted`.
        how: EndHow,
        /// When.
        at: u64,
    },
    /// One poll of a task, from its start to its end.
    Poll {
        /// The task.
        task: u64,
        /// When the poll began.
        start: u64,
        /// When it returned.
        end: u64,
    },
    /// A traced call started (its first poll).
    Enter {
        /// The task it runs in.
        task: u64,
        /// Its frame's id within the task.
        frame: u32,
        /// The enclosing frame's id, 0 at the task's root.
        parent: u32,
        /// The traced fn.
        site: u32,
        /// Its arguments' Debug text, if captured.
        args: Option<String>,
        /// When.
        at: u64,
    },
    /// A traced call ended: completed, or dropped before completing.
    Exit {
        /// The task.
        task: u64,
        /// The frame.
        frame: u32,
        /// When.
        at: u64,
    },
    /// An await of a traced call did not complete at its first poll: the
    /// call is parked on it from `at`.
    AwaitStart {
        /// The task.
        task: u64,
        /// The frame.
        frame: u32,
        /// Which await of the fn, from 0 (see [`FnSite::awaits`]).
        index: u16,
        /// When it was first polled.
        at: u64,
    },
    /// A parked await completed.
    AwaitEnd {
        /// The task.
        task: u64,
        /// The frame.
        frame: u32,
        /// Which await of the fn.
        index: u16,
        /// When.
        at: u64,
    },
    /// A task started waiting for a resource (a contended lock, permits, a
    /// channel end).
    Wait {
        /// The waiting task.
        task: u64,
        /// What it waits for.
        resource: u64,
        /// When.
        at: u64,
    },
    /// The wait ended (acquired, or given up).
    WaitEnd {
        /// The task.
        task: u64,
        /// The resource.
        resource: u64,
        /// When.
        at: u64,
    },
    /// A task took a lock or permits.
    Acquire {
        /// The task (0 outside any inspected task).
        task: u64,
        /// The lock or semaphore.
        resource: u64,
        /// When.
        at: u64,
    },
    /// The holder let go.
    Release {
        /// The task it was attributed to.
        task: u64,
        /// The lock or semaphore.
        resource: u64,
        /// When.
        at: u64,
    },
    /// An `inspect_point!` was passed.
    Point {
        /// The task.
        task: u64,
        /// The point's label.
        label: String,
        /// Its value's Debug text, if any.
        value: Option<String>,
        /// When.
        at: u64,
    },
    /// Another task's poll woke the task (recorded with every poll; a
    /// task's wakes of itself and wakes from outside any task, as many as
    /// polls, are counted in snapshots, not recorded).
    Wake {
        /// The task woken.
        task: u64,
        /// The task whose poll woke it.
        by: u64,
        /// When.
        at: u64,
    },
}

impl Event {
    /// The resource the event names, for a lock wait, acquire or release.
    pub fn resource(&self) -> Option<u64> {
        match *self {
            Self::Wait { resource, .. }
            | Self::WaitEnd { resource, .. }
            | Self::Acquire { resource, .. }
            | Self::Release { resource, .. } => Some(resource),
            _ => None,
        }
    }

    /// The task the event is about.
    pub fn task(&self) -> u64 {
        match *self {
            Self::Spawn { task, .. }
            | Self::End { task, .. }
            | Self::Poll { task, .. }
            | Self::Enter { task, .. }
            | Self::Exit { task, .. }
            | Self::AwaitStart { task, .. }
            | Self::AwaitEnd { task, .. }
            | Self::Wait { task, .. }
            | Self::WaitEnd { task, .. }
            | Self::Acquire { task, .. }
            | Self::Release { task, .. }
            | Self::Point { task, .. }
            | Self::Wake { task, .. } => task,
        }
    }

    /// When it happened (for a poll, when it ended).
    pub fn at(&self) -> u64 {
        match *self {
            Self::Poll { end, .. } => end,
            Self::Spawn { at, .. }
            | Self::End { at, .. }
            | Self::Enter { at, .. }
            | Self::Exit { at, .. }
            | Self::AwaitStart { at, .. }
            | Self::AwaitEnd { at, .. }
            | Self::Wait { at, .. }
            | Self::WaitEnd { at, .. }
            | Self::Acquire { at, .. }
            | Self::Release { at, .. }
            | Self::Point { at, .. }
            | Self::Wake { at, .. } => at,
        }
    }

    /// When it began: a poll's start, else [`Event::at`]. Events sort by it.
    pub fn start(&self) -> u64 {
        match *self {
            Self::Poll { start, .. } => start,
            _ => self.at(),
        }
    }
}

/// How a task ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum EndHow {
    /// It completed.
    Done,
    /// A poll panicked.
    Panicked,
    /// It was dropped before completing.
    Aborted,
}

/// A traced fn, named once per recording by its id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FnSite {
    /// The id events use.
    pub id: u32,
    /// The fn's name.
    pub function: String,
    /// Its module path.
    pub module_path: String,
    /// Its source file.
    pub file: String,
    /// Line of its name.
    pub line: u32,
    /// Its own awaits, in source order: the awaited expression and its line.
    pub awaits: Vec<(String, u32)>,
}

/// A lock, semaphore or channel end, named once per recording by its id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceSite {
    /// Its [`ResourceId`](crate::ResourceId), which events use.
    pub id: u64,
    /// What it is.
    pub kind: ResourceKind,
    /// Its name, or where it was created (as a report labels it).
    pub label: String,
    /// Where it was created, `file:line:col`.
    pub created_at: String,
}

/// Events collected together, with the sites and resources they name that
/// the receiver has not been given yet.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Batch {
    /// Traced fns named for the first time.
    pub sites: Vec<FnSite>,
    /// Resources named for the first time.
    pub resources: Vec<ResourceSite>,
    /// The events, in the order they began. In a binary format (the wire,
    /// trace files) they are one blob of postcard (varints, no field
    /// names): a busy program records millions.
    #[serde(with = "compact")]
    pub events: Vec<Event>,
    /// Events lost since the previous batch: a thread's buffer was full, or
    /// the receiver did not keep up.
    pub dropped: u64,
}

impl Batch {
    /// Whether it says nothing at all.
    pub fn is_empty(&self) -> bool {
        self.sites.is_empty()
            && self.resources.is_empty()
            && self.events.is_empty()
            && self.dropped == 0
    }
}

/// Which polls a recording keeps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Polls {
    /// Polls that last about a clock tick (the inspector's clock tick, 4 ms)
    /// or more, with that precision: the ones that hold up an executor
    /// thread. Shorter polls are only counted (in each task's poll count
    /// and busy time). A poll then costs next to nothing more.
    #[default]
    Long,
    /// Every poll, with precise start and end: two reads of the
    /// time-stamp counter and a push per poll (measured in BENCHMARKS.md).
    All,
}

/// Events as one postcard blob in binary formats, as a plain list in
/// human-readable ones (JSON).
/// How many events a binary-encoded list of them holds, if it is a whole
/// and well-formed one (what decoding it would accept), without decoding
/// it: a recorder that writes batches as they came checks them so.
pub(crate) fn checked_count(bytes: &[u8]) -> Option<u64> {
    compact::checked_count(bytes)
}

mod compact {
    use std::fmt;

    use serde::de::{self, Deserializer, SeqAccess, Visitor};
    use serde::ser::Serializer;
    use serde::{Deserialize, Serialize};

    use super::Event;

    pub(super) fn serialize<S: Serializer>(events: &[Event], out: S) -> Result<S::Ok, S::Error> {
        if out.is_human_readable() {
            return events.serialize(out);
        }
        thread_local! {
            /// The encoding of the latest batch, kept for the next one.
            static ENCODED: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
        }
        crate::kept_buffer::with_kept(&ENCODED, 1 << 20, |bytes| {
            encode_into(bytes, events);
            out.serialize_bytes(bytes)
        })
    }

    /// [`encode_into`] a buffer of its own.
    #[cfg(test)]
    pub(super) fn encode(events: &[Event]) -> Vec<u8> {
        let mut out = Vec::new();
        encode_into(&mut out, events);
        out
    }

    /// Postcard's encoding of `events`, appended to `out`, written
    /// directly: an agent encodes every event it records, and postcard's
    /// serializer took 38 ns an event where this takes a few (a test
    /// checks the bytes are postcard's, which reads them back).
    fn encode_into(out: &mut Vec<u8>, events: &[Event]) {
        out.reserve(events.len() * 16 + 8);
        varint(out, events.len() as u64);
        for event in events {
            encode_one(out, event);
        }
    }

    fn encode_one(out: &mut Vec<u8>, event: &Event) {
        // Postcard writes a variant as its index in declaration order,
        // then the fields in order; integers of 16 bits and more as
        // varints.
        match event {
            Event::Spawn {
                task,
                parent,
                kind,
                name,
                at,
            } => {
                varint(out, 0);
                varint(out, *task);
                varint(out, *parent);
                unit(out, kind);
                text(out, name);
                varint(out, *at);
            }
            Event::End { task, how, at } => {
                varint(out, 1);
                varint(out, *task);
                unit(out, how);
                varint(out, *at);
            }
            Event::Poll { task, start, end } => {
                varint(out, 2);
                varint(out, *task);
                varint(out, *start);
                varint(out, *end);
            }
            Event::Enter {
                task,
                frame,
                parent,
                site,
                args,
                at,
            } => {
                varint(out, 3);
                varint(out, *task);
                varint(out, u64::from(*frame));
                varint(out, u64::from(*parent));
                varint(out, u64::from(*site));
                maybe_text(out, args.as_deref());
                varint(out, *at);
            }
            Event::Exit { task, frame, at } => {
                varint(out, 4);
                varint(out, *task);
                varint(out, u64::from(*frame));
                varint(out, *at);
            }
            Event::AwaitStart {
                task,
                frame,
                index,
                at,
            }
            | Event::AwaitEnd {
                task,
                frame,
                index,
                at,
            } => {
                let variant = if matches!(event, Event::AwaitStart { .. }) {
                    5
                } else {
                    6
                };
                varint(out, variant);
                varint(out, *task);
                varint(out, u64::from(*frame));
                varint(out, u64::from(*index));
                varint(out, *at);
            }
            Event::Wait { task, resource, at }
            | Event::WaitEnd { task, resource, at }
            | Event::Acquire { task, resource, at }
            | Event::Release { task, resource, at } => {
                let variant = match event {
                    Event::Wait { .. } => 7,
                    Event::WaitEnd { .. } => 8,
                    Event::Acquire { .. } => 9,
                    _ => 10,
                };
                varint(out, variant);
                varint(out, *task);
                varint(out, *resource);
                varint(out, *at);
            }
            Event::Point {
                task,
                label,
                value,
                at,
            } => {
                varint(out, 11);
                varint(out, *task);
                text(out, label);
                maybe_text(out, value.as_deref());
                varint(out, *at);
            }
            Event::Wake { task, by, at } => {
                varint(out, 12);
                varint(out, *task);
                varint(out, *by);
                varint(out, *at);
            }
        }
    }

    /// How postcard lays out one field of an event.
    #[derive(Clone, Copy)]
    enum Field {
        /// An integer of this many bits, a varint.
        Int(u32),
        /// A field-less enum of this many variants, a varint.
        Unit(u64),
        /// A length and as many bytes of UTF-8.
        Text,
        /// 0, or 1 and a text.
        MaybeText,
    }

    /// Each variant's fields, in declaration order (what `encode_one`
    /// writes; the tests check both against postcard).
    const LAYOUTS: [&[Field]; 13] = {
        use Field::{Int, MaybeText, Text, Unit};
        const TASK_KINDS: u64 = 5;
        const END_HOWS: u64 = 3;
        const THREE: &[Field] = &[Int(64), Int(64), Int(64)];
        const AWAIT: &[Field] = &[Int(64), Int(32), Int(16), Int(64)];
        [
            &[Int(64), Int(64), Unit(TASK_KINDS), Text, Int(64)],
            &[Int(64), Unit(END_HOWS), Int(64)],
            THREE,
            &[Int(64), Int(32), Int(32), Int(32), MaybeText, Int(64)],
            &[Int(64), Int(32), Int(64)],
            AWAIT,
            AWAIT,
            THREE,
            THREE,
            THREE,
            THREE,
            &[Int(64), Text, MaybeText, Int(64)],
            THREE,
        ]
    };

    /// See [`super::checked_count`].
    pub(super) fn checked_count(mut bytes: &[u8]) -> Option<u64> {
        let count = read_varint(&mut bytes, 64)?;
        for _ in 0..count {
            let variant = read_varint(&mut bytes, 32)?;
            for &field in *LAYOUTS.get(usize::try_from(variant).ok()?)? {
                match field {
                    Field::Int(bits) => {
                        read_varint(&mut bytes, bits)?;
                    }
                    Field::Unit(variants) => {
                        if read_varint(&mut bytes, 32)? >= variants {
                            return None;
                        }
                    }
                    Field::Text => read_text(&mut bytes)?,
                    Field::MaybeText => {
                        let (&tag, rest) = bytes.split_first()?;
                        bytes = rest;
                        match tag {
                            0 => {}
                            1 => read_text(&mut bytes)?,
                            _ => return None,
                        }
                    }
                }
            }
        }
        // Postcard leaves trailing bytes be; a list of events has none.
        bytes.is_empty().then_some(count)
    }

    /// A varint that fits `bits` bits (16 or more), as postcard reads one
    /// (at most as many bytes as the width needs, no bits beyond it).
    #[inline]
    fn read_varint(bytes: &mut &[u8], bits: u32) -> Option<u64> {
        // Most are one byte (ids, indices); times are five.
        if let Some((&byte, rest)) = bytes.split_first()
            && byte < 0x80
        {
            *bytes = rest;
            return Some(u64::from(byte));
        }
        read_long_varint(bytes, bits)
    }

    fn read_long_varint(bytes: &mut &[u8], bits: u32) -> Option<u64> {
        let most = bits.div_ceil(7) as usize;
        let mut value = 0u64;
        for i in 0..most {
            let (&byte, rest) = bytes.split_first()?;
            *bytes = rest;
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                let fits = bits == 64 || value >> bits == 0;
                let last_fits = i + 1 < most || u32::from(byte) >> (bits - 7 * i as u32) == 0;
                return (fits && last_fits).then_some(value);
            }
        }
        None
    }

    fn read_text(bytes: &mut &[u8]) -> Option<()> {
        let len = usize::try_from(read_varint(bytes, 64)?).ok()?;
        if bytes.len() < len {
            return None;
        }
        let (text, rest) = bytes.split_at(len);
        std::str::from_utf8(text).ok()?;
        *bytes = rest;
        Some(())
    }

    /// LEB128, as postcard writes every integer wider than a byte.
    fn varint(out: &mut Vec<u8>, mut value: u64) {
        while value >= 0x80 {
            out.push((value as u8) | 0x80);
            value >>= 7;
        }
        out.push(value as u8);
    }

    fn text(out: &mut Vec<u8>, text: &str) {
        varint(out, text.len() as u64);
        out.extend_from_slice(text.as_bytes());
    }

    fn maybe_text(out: &mut Vec<u8>, text: Option<&str>) {
        match text {
            None => out.push(0),
            Some(value) => {
                out.push(1);
                self::text(out, value);
            }
        }
    }

    /// A field-less enum (a task's kind, how it ended), through postcard
    /// itself: rare (a spawn, an end), and its variants' order is the
    /// enum's.
    fn unit<T: Serialize>(out: &mut Vec<u8>, value: &T) {
        let mut buffer = [0u8; 5];
        if let Ok(bytes) = postcard::to_slice(value, &mut buffer) {
            out.extend_from_slice(bytes);
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(input: D) -> Result<Vec<Event>, D::Error> {
        if input.is_human_readable() {
            return Vec::deserialize(input);
        }
        input.deserialize_bytes(Blob)
    }

    struct Blob;

    impl<'de> Visitor<'de> for Blob {
        type Value = Vec<Event>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a blob of postcard-encoded events")
        }

        fn visit_bytes<E: de::Error>(self, bytes: &[u8]) -> Result<Self::Value, E> {
            postcard::from_bytes(bytes).map_err(E::custom)
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            // A binary format without a bytes type hands the blob as a list.
            let mut bytes = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 20));
            while let Some(byte) = seq.next_element::<u8>()? {
                bytes.push(byte);
            }
            self.visit_bytes(&bytes)
        }
    }

    #[cfg(test)]
    mod tests {
        use super::super::EndHow;
        use super::*;
        use crate::TaskKind;

        /// Every variant, every kind and ending, integers of one byte and
        /// of ten, texts and none.
        fn every_event() -> Vec<Event> {
            let kinds = [
                TaskKind::Spawned,
                TaskKind::Root,
                TaskKind::Blocking,
                TaskKind::Adopted,
                TaskKind::Hosted,
            ];
            let mut events: Vec<Event> = kinds
                .into_iter()
                .enumerate()
                .map(|(i, kind)| Event::Spawn {
                    task: i as u64,
                    parent: u64::MAX,
                    kind,
                    name: format!("naïve {i}"),
                    at: 300,
                })
                .collect();
            for how in [EndHow::Done, EndHow::Panicked, EndHow::Aborted] {
                events.push(Event::End {
                    task: 1 << 40,
                    how,
                    at: 127,
                });
            }
            let (task, at) = (128, 1 << 35);
            events.extend([
                Event::Poll {
                    task,
                    start: 0,
                    end: u64::MAX - 1,
                },
                Event::Enter {
                    task,
                    frame: u32::MAX,
                    parent: 0,
                    site: 200,
                    args: Some("id=7, name=\"ä\"".into()),
                    at,
                },
                Event::Enter {
                    task,
                    frame: 1,
                    parent: 1,
                    site: 1,
                    args: None,
                    at,
                },
                Event::Exit { task, frame: 2, at },
                Event::AwaitStart {
                    task,
                    frame: 2,
                    index: u16::MAX,
                    at,
                },
                Event::AwaitEnd {
                    task,
                    frame: 2,
                    index: 3,
                    at,
                },
                Event::Wait {
                    task,
                    resource: 9,
                    at,
                },
                Event::WaitEnd {
                    task,
                    resource: 1 << 50,
                    at,
                },
                Event::Acquire {
                    task,
                    resource: 10,
                    at,
                },
                Event::Release {
                    task,
                    resource: 11,
                    at,
                },
                Event::Point {
                    task,
                    label: "query sent".into(),
                    value: Some(String::new()),
                    at,
                },
                Event::Point {
                    task,
                    label: String::new(),
                    value: None,
                    at,
                },
                Event::Wake { task, by: 0, at },
            ]);
            events
        }

        #[test]
        fn a_check_accepts_what_postcard_decodes_and_nothing_else() {
            let bytes = encode(&every_event());
            assert_eq!(checked_count(&bytes), Some(every_event().len() as u64));
            assert_eq!(checked_count(&encode(&[])), Some(0));
            // Every byte changed to a few values, every length cut short,
            // a byte more: the check says what decoding says.
            let agree = |bytes: &[u8]| {
                let decoded = postcard::take_from_bytes::<Vec<Event>>(bytes)
                    .is_ok_and(|(_, rest)| rest.is_empty());
                assert_eq!(checked_count(bytes).is_some(), decoded, "{bytes:?}");
            };
            for at in 0..bytes.len() {
                for value in [0x00, 0x01, 0x04, 0x0c, 0x0d, 0x7f, 0x80, 0xc3, 0xff] {
                    let mut changed = bytes.clone();
                    changed[at] = value;
                    agree(&changed);
                }
                agree(&bytes[..at]);
            }
            let mut longer = bytes.clone();
            longer.push(0);
            assert_eq!(checked_count(&longer), None);
        }

        #[test]
        fn events_are_encoded_as_postcard_encodes_them() {
            let events = every_event();
            let bytes = encode(&events);
            assert_eq!(bytes, postcard::to_allocvec(&events).unwrap());
            let back: Vec<Event> = postcard::from_bytes(&bytes).unwrap();
            assert_eq!(back, events);
            assert_eq!(
                encode(&[]),
                postcard::to_allocvec(&Vec::<Event>::new()).unwrap()
            );
        }
    }
}
