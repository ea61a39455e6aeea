//! Decoding the futures of a snapshot's tasks: each one read while its
//! task is idle, checked whole afterwards, and what went wrong for the
//! whole program said once.

use async_inspect_model::{FutureLocation, NodeKind, ResourceId, Snapshot, StateNode, TaskId};

use crate::decode::FoundGuard;
use crate::memory::PageCache;
use crate::{Budget, Error, LoadBias, Memory, Program, RootFuture};

/// How many times a task polled during a read is read again.
const RETRIES: usize = 2;

/// Why a task's future was not decoded.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum TaskError {
    /// The task was being polled (or was polled while it was read): its
    /// bytes would be torn. It shows as running.
    #[error("the task was running")]
    Running,
    /// The future could not be decoded.
    #[error(transparent)]
    Decode(#[from] Error),
}

impl Program {
    /// Decodes the future at `future` (a task's, from a snapshot) if its
    /// task is between polls, checking afterwards that it was not polled
    /// meanwhile (else it is read again, then given up as running).
    ///
    /// # Errors
    ///
    /// [`TaskError::Running`] for a task being polled; the errors of
    /// [`Program::decode`] otherwise.
    pub fn decode_task(
        &self,
        future: &FutureLocation,
        memory: &dyn Memory,
        bias: LoadBias,
        budget: &Budget,
    ) -> Result<StateNode, TaskError> {
        self.decode_task_guards(future, memory, bias, budget)
            .map(|(tree, _)| tree)
    }

    /// [`Program::decode_task`], with the owned guards and permits met.
    fn decode_task_guards(
        &self,
        future: &FutureLocation,
        memory: &dyn Memory,
        bias: LoadBias,
        budget: &Budget,
    ) -> Result<(StateNode, Vec<FoundGuard>), TaskError> {
        let root = root(future, bias);
        for _ in 0..=RETRIES {
            let before = guard(memory, future)?;
            if !FutureLocation::is_idle(before[0]) {
                return Err(TaskError::Running);
            }
            let decoded = self.decode_with_guards(&root, None, memory, bias, budget);
            if guard(memory, future)? == before {
                return decoded.map_err(TaskError::Decode);
            }
        }
        Err(TaskError::Running)
    }

    /// Decodes the future of every task of `snapshot` that has one and is
    /// idle, into [`TaskInfo::state_machine`](async_inspect_model::TaskInfo::state_machine).
    /// A failure that concerns the whole program (no debuginfo, split or
    /// compressed debuginfo) is said once, in the snapshot's
    /// [`state_machines_note`](Snapshot::state_machines_note), and stops
    /// the decoding; so is a future whose crate has no type debuginfo (its
    /// task is left undecoded); one that concerns a task's future alone
    /// (its bytes unreadable, a size that does not match) is an opaque
    /// node saying why. Running tasks are left undecoded.
    pub fn decode_snapshot(
        &self,
        snapshot: &mut Snapshot,
        memory: &dyn Memory,
        bias: LoadBias,
        budget: &Budget,
    ) {
        let futures: Vec<(usize, FutureLocation)> = snapshot
            .tasks()
            .iter()
            .enumerate()
            .filter_map(|(i, task)| Some((i, task.future?)))
            .collect();
        let mut note = None;
        let mut moved = Vec::new();
        for chunk in futures.chunks(BATCH) {
            let (decoded, program_error) = self.decode_batch(chunk, memory, bias, budget);
            for (index, result) in decoded {
                let task = &mut snapshot.tasks_mut()[index];
                match result {
                    Ok((tree, guards)) => {
                        task.state_machine = Some(Box::new(tree));
                        moved.extend(guards.into_iter().map(|g| (g, task.id)));
                    }
                    Err(TaskError::Running) => {}
                    // A crate built without type debuginfo: said once, its
                    // tasks shown as they would be without decoding.
                    Err(TaskError::Decode(error @ Error::NoTypeInfo { .. })) => {
                        note.get_or_insert_with(|| error.to_string());
                    }
                    Err(TaskError::Decode(error)) => {
                        let mut opaque = StateNode::new(String::new(), NodeKind::Opaque);
                        opaque.error = Some(error.to_string());
                        task.state_machine = Some(Box::new(opaque));
                    }
                }
            }
            if let Some(error) = program_error {
                note = Some(error);
                break;
            }
        }
        snapshot.set_state_machines_note(note);
        // A guard in a task's future is that task's, whoever took it.
        for (guard, holder) in moved {
            snapshot.move_hold(
                ResourceId::from_u64(guard.resource),
                TaskId::from_u64(guard.taken_by),
                holder,
                guard.site.as_deref(),
            );
        }
        // Lints that say where a task is parked can now say it from its
        // decoded future.
        snapshot.locate_lints();
    }

    /// Decodes the futures of `batch` (task index, future): the guard words
    /// of all of them and their bytes are read first, in a few system calls
    /// rather than three per task, and their guard words again after all
    /// are decoded (a task polled meanwhile is decoded again on its own).
    /// A failure concerning the whole program ends it early, and is
    /// returned beside what was decoded before it.
    fn decode_batch(
        &self,
        batch: &[(usize, FutureLocation)],
        memory: &dyn Memory,
        bias: LoadBias,
        budget: &Budget,
    ) -> (Vec<(usize, Decoded)>, Option<String>) {
        let before = read_guards(memory, batch.iter().map(|(_, future)| future), true);
        let mut decoded = Vec::with_capacity(batch.len());
        let mut program_error = None;
        // Read between the guard words' two reads, so as good as read
        // at once: what a task's future points to is read by the page.
        let pages = PageCache::new(memory);
        for ((index, future), (before, bytes)) in batch.iter().zip(before) {
            let result = match &before {
                Ok(words) if FutureLocation::is_idle(words[0]) => self
                    .decode_with_guards(&root(future, bias), bytes, &pages, bias, budget)
                    .map_err(TaskError::Decode),
                Ok(_) => Err(TaskError::Running),
                Err(error) => Err(TaskError::Decode(error.clone())),
            };
            if let Err(TaskError::Decode(error)) = &result
                && error.concerns_the_program()
            {
                program_error = Some(error.to_string());
                break;
            }
            decoded.push((*index, future, before, result));
        }
        drop(pages);
        let after = read_guards(memory, decoded.iter().map(|(_, future, ..)| *future), false);
        let checked = decoded
            .into_iter()
            .zip(after)
            .map(|((index, future, before, mut result), (after, _))| {
                // Read while idle, then polled or gone: read again alone.
                let idle = matches!(&before, Ok(words) if FutureLocation::is_idle(words[0]));
                let unchanged = matches!((&before, &after), (Ok(b), Ok(a)) if a == b);
                if idle && !unchanged {
                    result = self.decode_task_guards(future, memory, bias, budget);
                }
                (index, result)
            })
            .collect();
        (checked, program_error)
    }
}

/// A task's decoded future and the guards met in it, or why not.
type Decoded = Result<(StateNode, Vec<FoundGuard>), TaskError>;

/// Tasks whose futures are read together (their guard words and bytes in
/// a few system calls).
const BATCH: usize = 256;

/// A future is read with its guard words, ahead of its decoding, up to
/// this size; a larger one is read when it is decoded.
const READ_AHEAD: u64 = 4096;

/// The root future `future` names, at its link-time anchor.
fn root(future: &FutureLocation, bias: LoadBias) -> RootFuture {
    RootFuture {
        anchor_pc: bias.to_link_time(future.anchor),
        address: future.address,
        size: future.size,
    }
}

/// A task's guard words (or why they could not be read), and its future's
/// bytes when they were read with them.
type GuardRead = (Result<[u64; 2], Error>, Option<Vec<u8>>);

/// The guard words of each of `futures` (see [`guard`]), read together;
/// with `bytes`, each future's bytes as well when it is small.
fn read_guards<'f>(
    memory: &dyn Memory,
    futures: impl Iterator<Item = &'f FutureLocation>,
    bytes: bool,
) -> Vec<GuardRead> {
    let futures: Vec<&FutureLocation> = futures.collect();
    let spans: Vec<Option<(u64, usize)>> = futures.iter().map(|f| guard_span(f)).collect();
    let mut words = vec![[0u8; GUARD_SPAN]; futures.len()];
    let mut blocks: Vec<Option<Vec<u8>>> = futures
        .iter()
        .map(|future| {
            let ahead = bytes && future.size <= READ_AHEAD;
            ahead.then(|| vec![0; future.size as usize])
        })
        .collect();
    // Per future: its guard words (one read, or two when they lie apart),
    // then its bytes if read ahead.
    let mut reads: Vec<(u64, &mut [u8])> = Vec::with_capacity(futures.len() * 3);
    for (((future, span), buf), block) in
        futures.iter().zip(&spans).zip(&mut words).zip(&mut blocks)
    {
        match *span {
            Some((start, len)) => reads.push((start, &mut buf[..len])),
            None => {
                let (first, second) = buf.split_at_mut(8);
                reads.push((future.guard[0], first));
                reads.push((future.guard[1], &mut second[..8]));
            }
        }
        if let Some(block) = block {
            reads.push((future.address, &mut block[..]));
        }
    }
    let mut results = memory.read_each(&mut reads).into_iter();
    drop(reads);
    // A result for each read, in order (one a `Memory` left out fails).
    let mut next = |addr: u64, len: usize| {
        results
            .next()
            .unwrap_or(Err(crate::Unreadable { addr, len }))
    };
    let word = |buf: &[u8; GUARD_SPAN], at: u64| {
        let at = usize::try_from(at).unwrap_or(0);
        u64::from_ne_bytes(buf[at..at + 8].try_into().expect("8 bytes"))
    };
    futures
        .iter()
        .zip(spans)
        .zip(&words)
        .zip(blocks)
        .map(|(((future, span), buf), block)| {
            let [first, second] = future.guard;
            let guard = match span {
                Some((start, len)) => {
                    next(start, len).map(|()| [word(buf, first - start), word(buf, second - start)])
                }
                None => next(first, 8)
                    .and(next(second, 8))
                    .map(|()| [word(buf, 0), word(buf, 8)]),
            };
            // Unreadable ahead: read (and reported) when it is decoded.
            let block = match block {
                Some(block) => next(future.address, block.len()).is_ok().then_some(block),
                None => None,
            };
            (guard.map_err(Error::from), block)
        })
        .collect()
}

/// The most bytes read to get both guard words of a task at once.
const GUARD_SPAN: usize = 64;

/// The range holding both guard words of `future` (where they are, and
/// how many bytes), when it is at most [`GUARD_SPAN`] bytes: they are
/// neighbours in the task's record, so one read gets both.
fn guard_span(future: &FutureLocation) -> Option<(u64, usize)> {
    let [first, second] = future.guard;
    let start = first.min(second);
    let len = usize::try_from(first.max(second).checked_add(8)? - start).ok()?;
    (len <= GUARD_SPAN).then_some((start, len))
}

/// The task's phase word and poll count, as they are now.
fn guard(memory: &dyn Memory, future: &FutureLocation) -> Result<[u64; 2], Error> {
    let read = read_guards(memory, std::iter::once(future), false).pop();
    read.expect("a result for each future").0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SliceMemory;

    fn future(guard: [u64; 2], address: u64, size: u64) -> FutureLocation {
        FutureLocation {
            address,
            size,
            anchor: 0,
            guard,
        }
    }

    fn words(values: &[u64]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_ne_bytes()).collect()
    }

    #[test]
    fn guard_words_are_read_whether_neighbours_apart_or_unreadable() {
        let mut memory = SliceMemory::new();
        // A task's record: the phase word, then the poll count.
        memory.insert(0x1000, words(&[0xAA, 2 << 3 | 2, 5, 0xBB]));
        // Words far apart, the second before the first.
        memory.insert(0x8000, words(&[7]));
        memory.insert(0x2_0000, words(&[9]));
        memory.insert(0x5000, (0..24).collect());
        let futures = [
            future([0x1008, 0x1010], 0x5000, 24),
            future([0x2_0000, 0x8000], 0x5000, 16),
            future([0x1008, 0x3000], 0x5000, 24),
            future([0x1010, 0x1008], 0x7000, 8),
            future([0x1008, 0x1010], 0x5000, READ_AHEAD + 1),
        ];
        let read = read_guards(&memory, futures.iter(), true);
        assert_eq!(read[0].0.as_ref().ok(), Some(&[2 << 3 | 2, 5]));
        assert_eq!(
            read[0].1.as_deref(),
            Some(&(0..24).collect::<Vec<u8>>()[..])
        );
        assert_eq!(read[1].0.as_ref().ok(), Some(&[9, 7]));
        assert_eq!(
            read[1].1.as_deref(),
            Some(&(0..16).collect::<Vec<u8>>()[..])
        );
        assert!(matches!(read[2].0, Err(Error::Unreadable(u)) if u.addr == 0x3000));
        // Unreadable bytes are left to the decoding, which reports them.
        assert_eq!(read[3].0.as_ref().ok(), Some(&[5, 2 << 3 | 2]));
        assert_eq!(read[3].1, None);
        assert_eq!(read[4].1, None, "too big to read ahead");
        let again = read_guards(&memory, futures.iter(), false);
        assert!(again.iter().all(|(_, bytes)| bytes.is_none()));
        assert_eq!(again[1].0.as_ref().ok(), Some(&[9, 7]));
    }
}
