//! The guarded part of a task: its frames, waits, timeouts and inspect points.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::panic::Location;

use crate::task::TaskId;
use crate::trace::FnInfo;

/// Identifies one active traced call within its task.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct FrameId(pub(crate) u32);

/// How many inspect points a task keeps (the latest ones).
pub(crate) const POINTS_KEPT: usize = 8;

#[derive(Debug, Default)]
pub(crate) struct Detail {
    next_id: u32,
    pub(crate) frames: Vec<FrameRecord>,
    pub(crate) waits: Vec<WaitRecord>,
    pub(crate) timeouts: Vec<TimeoutRecord>,
    pub(crate) points: VecDeque<PointRecord>,
    /// The first traced fn this task ran at its root, which names a task
    /// spawned without a name.
    pub(crate) root_fn: Option<&'static FnInfo>,
    pub(crate) panic: Option<Box<str>>,
    /// When a traced frame last reported a blocking poll, so the task-level
    /// check does not report the same poll again.
    pub(crate) last_lint_at: u64,
}

#[derive(Debug)]
pub(crate) struct FrameRecord {
    pub(crate) id: FrameId,
    pub(crate) parent: Option<FrameId>,
    pub(crate) info: &'static FnInfo,
    pub(crate) args: Option<Box<str>>,
    pub(crate) entered_at: u64,
    /// When the fn's own code last started running: entry or the end of its
    /// latest await. The gap to the next await is synchronous code.
    pub(crate) resumed_at: u64,
    pub(crate) last_completed: Option<u16>,
    pub(crate) current: Option<CurrentAwait>,
    /// One entry per await point of the fn, filled lazily.
    pub(crate) steps: Vec<StepStat>,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct CurrentAwait {
    pub(crate) index: u16,
    pub(crate) since: u64,
}

#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct StepStat {
    pub(crate) completed: u32,
    pub(crate) last: u64,
    pub(crate) total: u64,
}

/// What a task waits for, as the wrapper that knows it reports it.
#[derive(Clone, Debug)]
pub(crate) enum WaitKind {
    Sleep { until: u64 },
    Join { task: TaskId },
    Other(Cow<'static, str>),
}

#[derive(Debug)]
pub(crate) struct WaitRecord {
    pub(crate) id: u32,
    pub(crate) frame: Option<FrameId>,
    pub(crate) kind: WaitKind,
    pub(crate) since: u64,
}

#[derive(Debug)]
pub(crate) struct TimeoutRecord {
    pub(crate) id: u32,
    pub(crate) frame: Option<FrameId>,
    pub(crate) deadline: u64,
}

#[derive(Debug)]
pub(crate) struct PointRecord {
    pub(crate) label: Cow<'static, str>,
    pub(crate) value: Option<Box<str>>,
    pub(crate) location: &'static Location<'static>,
    /// The traced fn it was recorded in; kept by name, as the frame may end
    /// long before the point is read.
    pub(crate) function: Option<&'static str>,
    pub(crate) at: u64,
}

/// A synchronous stretch of a traced fn long enough to be a blocking poll.
#[derive(Debug)]
pub(crate) struct BlockingStretch {
    pub(crate) info: &'static FnInfo,
    pub(crate) args: Option<Box<str>>,
    pub(crate) from: Option<u16>,
    pub(crate) to: Option<u16>,
    pub(crate) duration: u64,
}

impl Detail {
    fn next_id(&mut self) -> u32 {
        self.next_id = self.next_id.wrapping_add(1);
        self.next_id
    }

    pub(crate) fn frame(&self, id: FrameId) -> Option<&FrameRecord> {
        self.frames.iter().rev().find(|f| f.id == id)
    }

    fn frame_mut(&mut self, id: FrameId) -> Option<&mut FrameRecord> {
        self.frames.iter_mut().rev().find(|f| f.id == id)
    }

    pub(crate) fn enter_frame(
        &mut self,
        parent: Option<FrameId>,
        info: &'static FnInfo,
        args: Option<Box<str>>,
        now: u64,
    ) -> FrameId {
        let id = FrameId(self.next_id());
        if parent.is_none() && self.root_fn.is_none() {
            self.root_fn = Some(info);
        }
        self.frames.push(FrameRecord {
            id,
            parent,
            info,
            args,
            entered_at: now,
            resumed_at: now,
            last_completed: None,
            current: None,
            steps: Vec::new(),
        });
        id
    }

    /// Removes a frame, its waits, timeouts and points, and returns the
    /// synchronous stretch before its end if it is at least `threshold` long
    /// (only when it completed, not when it was dropped).
    pub(crate) fn exit_frame(
        &mut self,
        id: FrameId,
        completed_at: Option<u64>,
        threshold: u64,
    ) -> Option<BlockingStretch> {
        let position = self.frames.iter().rposition(|f| f.id == id)?;
        let frame = self.frames.remove(position);
        self.waits.retain(|w| w.frame != Some(id));
        self.timeouts.retain(|t| t.frame != Some(id));
        let now = completed_at?;
        let duration = now.saturating_sub(frame.resumed_at);
        (duration >= threshold).then_some(BlockingStretch {
            info: frame.info,
            args: frame.args,
            from: frame.last_completed,
            to: None,
            duration,
        })
    }

    /// Records that the await `index` of `frame`, polled first at `started`
    /// (read before that poll), is now pending (`ready == false`) or
    /// completed at once. Returns the synchronous stretch before it if it is
    /// at least `threshold` long.
    pub(crate) fn await_polled_first(
        &mut self,
        frame: FrameId,
        index: u16,
        started: u64,
        ready: bool,
        threshold: u64,
    ) -> Option<BlockingStretch> {
        let record = self.frame_mut(frame)?;
        let gap = started.saturating_sub(record.resumed_at);
        let stretch = (gap >= threshold).then(|| BlockingStretch {
            info: record.info,
            args: record.args.clone(),
            from: record.last_completed,
            to: Some(index),
            duration: gap,
        });
        if ready {
            record.complete(index, started, started);
        } else {
            record.current = Some(CurrentAwait {
                index,
                since: started,
            });
        }
        stretch
    }

    pub(crate) fn await_completed(&mut self, frame: FrameId, index: u16, now: u64) {
        if let Some(record) = self.frame_mut(frame) {
            let since = match record.current {
                Some(current) if current.index == index => current.since,
                _ => now,
            };
            record.complete(index, since, now);
        }
    }

    pub(crate) fn begin_wait(&mut self, frame: Option<FrameId>, kind: WaitKind, now: u64) -> u32 {
        let id = self.next_id();
        self.waits.push(WaitRecord {
            id,
            frame,
            kind,
            since: now,
        });
        id
    }

    pub(crate) fn end_wait(&mut self, id: u32) {
        if let Some(position) = self.waits.iter().position(|w| w.id == id) {
            self.waits.swap_remove(position);
        }
    }

    pub(crate) fn begin_timeout(&mut self, frame: Option<FrameId>, deadline: u64) -> u32 {
        let id = self.next_id();
        self.timeouts.push(TimeoutRecord {
            id,
            frame,
            deadline,
        });
        id
    }

    pub(crate) fn end_timeout(&mut self, id: u32) {
        if let Some(position) = self.timeouts.iter().position(|t| t.id == id) {
            self.timeouts.swap_remove(position);
        }
    }

    pub(crate) fn push_point(&mut self, frame: Option<FrameId>, mut point: PointRecord) {
        point.function = frame.and_then(|f| self.frame(f)).map(|f| f.info.name);
        if self.points.len() == POINTS_KEPT {
            self.points.pop_front();
        }
        self.points.push_back(point);
    }
}

impl FrameRecord {
    fn complete(&mut self, index: u16, since: u64, now: u64) {
        let count = self.info.awaits.len();
        if self.steps.len() < count {
            self.steps.resize(count, StepStat::default());
        }
        if let Some(step) = self.steps.get_mut(usize::from(index)) {
            let took = now.saturating_sub(since);
            step.completed = step.completed.saturating_add(1);
            step.last = took;
            step.total = step.total.saturating_add(took);
        }
        self.current = None;
        self.last_completed = Some(index);
        self.resumed_at = now;
    }
}
