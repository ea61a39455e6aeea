//! Library types the decoder knows by name. For the leaf futures people
//! await most, what they wait for: a timer's deadline, whether a oneshot's
//! value was sent or its sender dropped, how many senders a channel still
//! has, which task a join handle joins. In a value: async-inspect's own
//! locks and channel ends by their name and holder, not their insides; a
//! bytes buffer by its bytes; a TCP socket by its addresses.
//!
//! Each reads a few fields the leaf's library keeps private, found by name
//! (not by offset), so a library version that renames them loses the
//! detail, never reads a wrong one: a field that is not where it is looked
//! for gives no detail.

use std::sync::Arc;
use std::time::Duration;

use async_inspect_model::duration::format_duration;

use crate::decode::{Decoder, FoundGuard, without_generics};
use crate::dwarf::{Kind, Type};

/// How deep a field is searched for inside a leaf.
const SEARCH_DEPTH: u32 = 4;

/// tokio's oneshot state bits (`tokio::sync::oneshot`): the sender is
/// done (it sent, or it was dropped), and the receiver closed the channel.
const ONESHOT_COMPLETE: u128 = 0b0010;
const ONESHOT_CLOSED: u128 = 0b0100;

impl Decoder<'_> {
    /// One line on what the leaf future `t` at `addr` waits for, when its
    /// type is one this knows.
    pub(crate) fn leaf_detail(&self, t: &Type, addr: u64) -> Option<String> {
        if let Some(known) = self.known_detail(t, addr) {
            return known;
        }
        if let Some(deadline) = self.deadline(t, addr) {
            return Some(deadline);
        }
        // A future borrowing what it waits on (`recv()`'s `PollFn` closure
        // holding `&mut &mut Receiver`, broadcast's `Recv`): the borrowed one.
        let (mut ty, mut at) = self.find_where(t, addr, SEARCH_DEPTH, &|p| {
            self.pointee_through_refs(p)
                .is_some_and(|t| is_known(&t.name))
        })?;
        while let Kind::Pointer(Some(target)) = ty.kind {
            let target = self.dwarf.ty(target).ok()?;
            at = self.pointer(at).ok()?;
            self.load_block(at, target.size, false).ok()?;
            ty = target;
        }
        self.known_detail(&ty, at)?
    }

    /// What the pointer type `t` points to through at most two more
    /// pointers (`&mut &mut T` gives `T`); `None` for a non-pointer.
    fn pointee_through_refs(&self, t: &Type) -> Option<Arc<Type>> {
        let Kind::Pointer(Some(mut target)) = t.kind else {
            return None;
        };
        for _ in 0..3 {
            let ty = self.dwarf.ty(target).ok()?;
            match ty.kind {
                Kind::Pointer(Some(next)) => target = next,
                _ => return Some(ty),
            }
        }
        None
    }

    /// The detail of a type this knows by name; `None` for another type.
    fn known_detail(&self, t: &Type, addr: u64) -> Option<Option<String>> {
        let base = without_generics(&t.name);
        Some(match base {
            "tokio::sync::oneshot::Receiver" => self.oneshot(t, addr),
            "tokio::sync::mpsc::bounded::Receiver"
            | "tokio::sync::mpsc::unbounded::UnboundedReceiver"
            | "tokio::sync::mpsc::chan::Rx" => self.senders(t, addr, "tx_count"),
            "tokio::sync::broadcast::Receiver" => self.senders(t, addr, "num_tx"),
            "core::future::pending::Pending" => Some("never completes".to_owned()),
            _ if base.ends_with("::JoinHandle") => self.joined_task(t, addr),
            _ => return None,
        })
    }

    /// `deadline in 2s` for a timer (`tokio::time::Sleep`, and any leaf
    /// holding a `deadline` instant), `deadline passed 3ms ago` once due.
    fn deadline(&self, t: &Type, addr: u64) -> Option<String> {
        let (instant, at) = self.find_field(t, addr, "deadline", SEARCH_DEPTH)?;
        if !instant.name.ends_with("Instant") {
            return None;
        }
        let (_, sec_at) = self.find_field(&instant, at, "tv_sec", SEARCH_DEPTH)?;
        let (nsec, nsec_at) = self.find_field(&instant, at, "tv_nsec", SEARCH_DEPTH)?;
        let secs = self.uint(sec_at, 8).ok()? as u64;
        let nanos = self.scalar(&nsec, nsec_at)?;
        let deadline = Duration::new(
            secs,
            u32::try_from(nanos).ok().filter(|n| *n < 1_000_000_000)?,
        );
        let now = monotonic_now()?;
        Some(match deadline.checked_sub(now) {
            Some(left) => format!("deadline in {}", format_duration(left)),
            None => format!("deadline passed {} ago", format_duration(now - deadline)),
        })
    }

    /// Whether a oneshot's value is on its way: sent (not yet taken), its
    /// sender dropped, or neither.
    fn oneshot(&self, t: &Type, addr: u64) -> Option<String> {
        let (inner, inner_at) = self.member(t, addr, "inner")?;
        let Some((shared, at)) = self.arc_data(&inner, inner_at) else {
            return Some("its value was already taken".to_owned());
        };
        let (state, state_at) = self.find_field(&shared, at, "state", SEARCH_DEPTH)?;
        let bits = self.scalar(&state, state_at)?;
        // The sender sets "complete" when it sends and when it is dropped;
        // the value slot tells which.
        let (cell, cell_at) = self.member(&shared, at, "value")?;
        let (slot, slot_at) = self.find_field(&cell, cell_at, "value", SEARCH_DEPTH)?;
        let holds_value = self.some(&slot, slot_at).is_some();
        Some(if bits & ONESHOT_COMPLETE != 0 && holds_value {
            "a value was sent, not yet taken".to_owned()
        } else if bits & ONESHOT_COMPLETE != 0 {
            "its sender was dropped without sending".to_owned()
        } else if bits & ONESHOT_CLOSED != 0 {
            "closed by its receiver".to_owned()
        } else {
            "no value sent yet; its sender is alive".to_owned()
        })
    }

    /// How many senders a channel's receiver still has (the count is kept
    /// in the field `count` of the channel's shared state).
    fn senders(&self, t: &Type, addr: u64, count: &str) -> Option<String> {
        let (arc, arc_at) = self.find_where(t, addr, SEARCH_DEPTH, &|t| {
            without_generics(&t.name) == "alloc::sync::Arc"
        })?;
        let (shared, at) = self.arc_data(&arc, arc_at)?;
        let (n, n_at) = self.find_field(&shared, at, count, SEARCH_DEPTH)?;
        Some(match self.scalar(&n, n_at)? {
            0 => "every sender was dropped".to_owned(),
            1 => "1 sender alive".to_owned(),
            n => format!("{n} senders alive"),
        })
    }

    /// Which task an inspected join handle joins: its `id` field.
    fn joined_task(&self, t: &Type, addr: u64) -> Option<String> {
        let (id, at) = self.find_field(t, addr, "id", SEARCH_DEPTH)?;
        let (ty, at) = self.some(&id, at)?;
        let n = self.scalar(&ty, at)?;
        (n != 0).then(|| format!("joins task #{n}"))
    }

    /// A value of a library type shown as its library would print it, or
    /// as the report names it: an inspected lock or channel end, a bytes
    /// buffer, a TCP socket with its addresses.
    pub(crate) fn known_value(&self, t: &Type, addr: u64) -> Option<String> {
        let base = without_generics(&t.name);
        match base {
            "bytes::bytes_mut::BytesMut" | "bytes::bytes::Bytes" => self.bytes_value(t, addr),
            "tokio::net::tcp::stream::TcpStream"
            | "tokio::net::tcp::listener::TcpListener"
            | "std::net::tcp::TcpStream"
            | "std::net::tcp::TcpListener" => {
                let kind = base.rsplit("::").next()?;
                Some(self.socket_value(kind, t, addr))
            }
            "tokio::net::unix::stream::UnixStream" | "std::os::unix::net::stream::UnixStream" => {
                Some(self.unix_value(t, addr))
            }
            "async_inspect::sync::semaphore::OwnedSemaphorePermit"
            | "async_inspect::sync::mutex::OwnedMutexGuard"
            | "async_inspect::sync::rwlock::OwnedRwLockReadGuard"
            | "async_inspect::sync::rwlock::OwnedRwLockWriteGuard" => self.guard_value(t, addr),
            _ if base.starts_with("async_inspect::sync::") => self.resource_value(t, addr),
            _ => None,
        }
    }

    /// An inspected resource (`async_inspect::sync::Mutex`, a channel's
    /// end) as the report names it: ``Mutex `cache` (held by task #1)``,
    /// ``mpsc::Receiver `src/server.rs:138:56` ``.
    fn resource_value(&self, t: &Type, addr: u64) -> Option<String> {
        let path: Vec<&str> = without_generics(&t.name).split("::").collect();
        let kind = match path.as_slice() {
            // `mutex::Mutex` reads `Mutex`; `mpsc::Receiver` stays.
            [.., module, last] if module.eq_ignore_ascii_case(last) => (*last).to_owned(),
            [.., module, last] => format!("{module}::{last}"),
            _ => return None,
        };
        // A lock's `tracker`, a channel end's `end.hold`, or a broadcast
        // or watch receiver's `senders`.
        let tracker = self
            .member(t, addr, "tracker")
            .or_else(|| self.member(t, addr, "senders"));
        let end = self
            .member(t, addr, "end")
            .and_then(|(end, at)| self.member(&end, at, "hold"))
            .and_then(|(hold, at)| self.some(&hold, at));
        let resource = match tracker {
            Some((tracker, at)) => self.member(&tracker, at, "resource"),
            None => end
                .as_ref()
                .and_then(|(hold, at)| self.member(hold, *at, "resource")),
        };
        let Some((cell, at)) = resource.and_then(|(resource, at)| self.arc_data(&resource, at))
        else {
            // Made while inspection was off: nothing to name it by.
            return Some(format!("{kind} (not inspected)"));
        };
        // A channel's end is held by the task that used it last; found in
        // a task's future, it is that task's.
        let last_user = end
            .as_ref()
            .and_then(|(hold, at)| self.member(hold, *at, "last"))
            .and_then(|(last, at)| self.scalar(&last, at));
        let made_at = end
            .as_ref()
            .and_then(|(hold, at)| self.location_field(hold, *at, "site"));
        let resource = self
            .member(&cell, at, "id")
            .and_then(|(id, at)| self.scalar(&id, at));
        if let (Some(resource), Some(user)) = (resource, last_user)
            && let (Ok(resource), Ok(user)) = (u64::try_from(resource), u64::try_from(user))
            && user != 0
        {
            // An end has no key: the end's own address tells two apart.
            self.note_guard(FoundGuard {
                resource,
                taken_by: user,
                which: addr,
                site: made_at,
            });
        }
        let name = self
            .member(&cell, at, "name")
            .and_then(|(n, at)| self.some(&n, at))
            .and_then(|(name, at)| self.str_at(&name, at))
            .or_else(|| self.created_at(&cell, at));
        let mut text = kind;
        if let Some(name) = name {
            text.push_str(&format!(" `{name}`"));
        }
        if let Some((holder, at)) = self.member(&cell, at, "holder")
            && let Some(task) = self.scalar(&holder, at).filter(|&n| n != 0)
        {
            text.push_str(&format!(" (held by task #{task})"));
        }
        Some(text)
    }

    /// An owned guard or permit, by its lock: ``OwnedSemaphorePermit of
    /// Semaphore `connections` (taken by task #1)``. It is noted as met,
    /// so the snapshot can say the task whose future holds it holds the
    /// lock, not the task that took it.
    fn guard_value(&self, t: &Type, addr: u64) -> Option<String> {
        let kind = without_generics(&t.name).rsplit("::").next()?;
        let (lock, lock_at) = ["semaphore", "mutex", "lock"]
            .iter()
            .find_map(|field| self.member(t, addr, field))?;
        let (lock, lock_at) = self.arc_data(&lock, lock_at)?;
        let mut text = match self.resource_value(&lock, lock_at) {
            // Who took it is said below.
            Some(of) => format!("{kind} of {}", of.split(" (held by").next().unwrap_or(&of)),
            None => kind.to_owned(),
        };
        let hold = self.member(t, addr, "hold");
        let field = |name: &str| {
            hold.as_ref()
                .and_then(|(hold, at)| self.member(hold, *at, name))
                .and_then(|(field, at)| self.scalar(&field, at))
                .and_then(|n| u64::try_from(n).ok())
        };
        let taken_by = field("id").filter(|&id| id != 0);
        // Which holding of a shared lock it is: a guard seen twice in one
        // future (a moved-from slot) is one guard.
        let key = field("key").unwrap_or(0);
        let resource = self
            .member(&lock, lock_at, "tracker")
            .and_then(|(tracker, at)| self.member(&tracker, at, "resource"))
            .and_then(|(resource, at)| self.arc_data(&resource, at))
            .and_then(|(cell, at)| self.find_field(&cell, at, "id", 0))
            .and_then(|(id, at)| self.scalar(&id, at))
            .and_then(|id| u64::try_from(id).ok());
        if let (Some(resource), Some(task)) = (resource, taken_by) {
            self.note_guard(FoundGuard {
                resource,
                taken_by: task,
                which: key,
                site: None,
            });
            text.push_str(&format!(" (taken by task #{task})"));
        }
        Some(text)
    }

    /// Where a resource cell was created (`file:line:col`), read through
    /// its `&'static Location`.
    fn created_at(&self, cell: &Type, addr: u64) -> Option<String> {
        self.location_field(cell, addr, "created_at")
    }

    /// The `&'static Location` field `field` of `t` at `addr`, as
    /// `file:line:col`.
    fn location_field(&self, t: &Type, addr: u64, field: &str) -> Option<String> {
        let (reference, at) = self.member(t, addr, field)?;
        let Kind::Pointer(Some(target)) = reference.kind else {
            return None;
        };
        let location = self.dwarf.ty(target).ok()?;
        let ptr = self.pointer(at).ok()?;
        self.load_block(ptr, location.size, false).ok()?;
        let (file, file_at) = self.find_field(&location, ptr, "filename", 1)?;
        let file = self.str_at(&file, file_at)?;
        let (line, line_at) = self.member(&location, ptr, "line")?;
        let (col, col_at) = self.member(&location, ptr, "col")?;
        Some(format!(
            "{file}:{}:{}",
            self.scalar(&line, line_at)?,
            self.scalar(&col, col_at)?
        ))
    }

    /// The text of a `&str`, `Box<str>` or `NonNull<str>` at `addr` (its
    /// `data_ptr` and `length`, a few levels in), without quotes.
    fn str_at(&self, t: &Type, addr: u64) -> Option<String> {
        let (_, ptr_at) = self.find_field(t, addr, "data_ptr", 2)?;
        let (_, len_at) = self.find_field(t, addr, "length", 2)?;
        let ptr = self.pointer(ptr_at).ok()?;
        let len = self.uint(len_at, 8).ok()? as u64;
        let mut quoted = String::new();
        self.write_str(&mut quoted, ptr, len).ok()?;
        Some(quoted.trim_matches('"').to_owned())
    }

    /// `BytesMut(14 bytes: b"*2\r\n$3\r\nGET\r\n$3")`: what a buffer
    /// holds, as bytes.
    fn bytes_value(&self, t: &Type, addr: u64) -> Option<String> {
        let kind = without_generics(&t.name).rsplit("::").next()?;
        let (ptr_type, ptr_at) = self.member(t, addr, "ptr")?;
        let (len_type, len_at) = self.member(t, addr, "len")?;
        let len = u64::try_from(self.scalar(&len_type, len_at)?).ok()?;
        let ptr = match self.pointer_leaf(&ptr_type, ptr_at, 0).ok()? {
            Some((ptr, _)) => ptr,
            None => self.pointer(ptr_at).ok()?,
        };
        let shown = len.min(u64::from(self.budget.max_string));
        let bytes = if shown == 0 {
            Vec::new()
        } else {
            match self.bytes(ptr, shown) {
                Ok(bytes) => bytes,
                Err(_) => return Some(format!("{kind}({len} bytes, <unreadable {ptr:#x}>)")),
            }
        };
        let mut text = format!("{kind}({len} bytes: b\"");
        for &b in &bytes {
            text.extend(std::ascii::escape_default(b).map(char::from));
        }
        text.push('"');
        if shown < len {
            text.push('…');
            self.truncate();
        }
        text.push(')');
        Some(text)
    }

    /// A TCP socket: its file descriptor and, when the process's `/proc`
    /// can be read, its addresses and the bytes the kernel holds for it:
    /// `TcpStream(fd 9, 127.0.0.1:6379 ⇄ 127.0.0.1:51234, 5 bytes unread)`.
    fn socket_value(&self, kind: &str, t: &Type, addr: u64) -> String {
        let fd = self
            .find_field(t, addr, "fd", 10)
            .and_then(|(fd, at)| self.scalar(&fd, at))
            .and_then(|fd| i32::try_from(fd).ok());
        let Some(fd) = fd else {
            return format!("{kind}(?)");
        };
        let info = self
            .memory
            .pid()
            .and_then(|pid| crate::socket::tcp_socket(pid, fd));
        match info {
            Some(s) if s.listening => format!("{kind}(fd {fd}, listening on {})", s.local),
            Some(s) => {
                let mut text = format!("{kind}(fd {fd}, {} ⇄ {}", s.local, s.peer);
                if let Some(traffic) = s.traffic {
                    text.push_str(&received(traffic));
                }
                if s.unread > 0 {
                    text.push_str(&format!(", {} bytes unread", s.unread));
                }
                if s.unsent > 0 {
                    text.push_str(&format!(", {} bytes unsent", s.unsent));
                }
                text.push(')');
                text
            }
            None => format!("{kind}(fd {fd})"),
        }
    }

    /// A Unix-domain stream: its file descriptor and, when the descriptor
    /// can be had, its path, its peer's and the bytes unread:
    /// `UnixStream(fd 9, /run/app.sock ⇄ unnamed, 5 bytes unread)`.
    fn unix_value(&self, t: &Type, addr: u64) -> String {
        let fd = self
            .find_field(t, addr, "fd", 10)
            .and_then(|(fd, at)| self.scalar(&fd, at))
            .and_then(|fd| i32::try_from(fd).ok());
        let Some(fd) = fd else {
            return "UnixStream(?)".to_owned();
        };
        let info = self
            .memory
            .pid()
            .and_then(|pid| crate::socket::unix_socket(pid, fd));
        let Some(s) = info else {
            return format!("UnixStream(fd {fd})");
        };
        let name = |path: Option<String>| path.unwrap_or_else(|| "unnamed".to_owned());
        let mut text = format!("UnixStream(fd {fd}, {} ⇄ {}", name(s.local), name(s.peer));
        if s.unread > 0 {
            text.push_str(&format!(", {} bytes unread", s.unread));
        }
        text.push(')');
        text
    }

    /// The data of the `Arc` (or `Option<Arc>`) `t` at `addr`: its
    /// `ArcInner`'s `data`, `None` for `None` or an unreadable pointer.
    fn arc_data(&self, t: &Arc<Type>, addr: u64) -> Option<(Arc<Type>, u64)> {
        let (t, addr) = self.some(t, addr)?;
        let (ptr, target) = self.pointer_leaf(&t, addr, 0).ok()??;
        if ptr == 0 {
            return None;
        }
        let inner = self.dwarf.ty(target?).ok()?;
        self.load_block(ptr, inner.size, false).ok()?;
        self.member(&inner, ptr, "data")
    }

    /// For an `Option<T>`-like enum: the value in `Some`, `None` when it
    /// is `None`; any other type is itself.
    pub(super) fn some(&self, t: &Arc<Type>, addr: u64) -> Option<(Arc<Type>, u64)> {
        let Kind::Struct(s) = &t.kind else {
            return Some((Arc::clone(t), addr));
        };
        let Some(part) = &s.variants else {
            return Some((Arc::clone(t), addr));
        };
        let active = self.active_variant(part, addr).ok()??;
        let vt = self.dwarf.ty(active.member.ty?).ok()?;
        if vt.short_name == "None" {
            return None;
        }
        let Kind::Struct(vs) = &vt.kind else {
            return None;
        };
        let first = vs.members.first()?;
        let at = addr
            .wrapping_add(active.member.offset)
            .wrapping_add(first.offset);
        Some((self.dwarf.ty(first.ty?).ok()?, at))
    }

    /// The direct member `name` of `t` at `addr`: its type and address.
    pub(super) fn member(&self, t: &Type, addr: u64, name: &str) -> Option<(Arc<Type>, u64)> {
        let Kind::Struct(s) = &t.kind else {
            return None;
        };
        let m = s.member(name)?;
        Some((self.dwarf.ty(m.ty?).ok()?, addr.wrapping_add(m.offset)))
    }

    /// The first field named `name` found depth-first in `t`'s members
    /// and the active variant of enums (not through pointers).
    pub(super) fn find_field(
        &self,
        t: &Type,
        addr: u64,
        name: &str,
        depth: u32,
    ) -> Option<(Arc<Type>, u64)> {
        let Kind::Struct(s) = &t.kind else {
            return None;
        };
        if let Some(found) = self.member(t, addr, name) {
            return Some(found);
        }
        if depth == 0 {
            return None;
        }
        if let Some(part) = &s.variants {
            // An enum (an `Option` on the way): into its active variant.
            let active = self.active_variant(part, addr).ok()??;
            let variant = self.dwarf.ty(active.member.ty?).ok()?;
            let at = addr.wrapping_add(active.member.offset);
            return self.find_field(&variant, at, name, depth - 1);
        }
        s.members.iter().find_map(|m| {
            let mt = self.dwarf.ty(m.ty?).ok()?;
            self.find_field(&mt, addr.wrapping_add(m.offset), name, depth - 1)
        })
    }

    /// The first member (or `t` itself) whose type satisfies `wanted`,
    /// depth-first.
    fn find_where(
        &self,
        t: &Type,
        addr: u64,
        depth: u32,
        wanted: &dyn Fn(&Type) -> bool,
    ) -> Option<(Arc<Type>, u64)> {
        let Kind::Struct(s) = &t.kind else {
            return None;
        };
        if depth == 0 || s.variants.is_some() {
            return None;
        }
        s.members.iter().find_map(|m| {
            let mt = self.dwarf.ty(m.ty?).ok()?;
            let at = addr.wrapping_add(m.offset);
            if wanted(&mt) {
                Some((mt, at))
            } else {
                self.find_where(&mt, at, depth - 1, wanted)
            }
        })
    }

    /// The integer inside `t` at `addr`: `t` itself if it is one, else
    /// its single scalar (an `AtomicUsize`'s `UnsafeCell`'s `usize`, a
    /// `NonZeroU64`, a newtype).
    fn scalar(&self, t: &Type, addr: u64) -> Option<u128> {
        match &t.kind {
            Kind::Base(_) => self.uint(addr, t.size).ok(),
            Kind::Struct(s) if s.variants.is_none() => {
                let mut sized = s
                    .members
                    .iter()
                    .filter_map(|m| Some((self.dwarf.ty(m.ty?).ok()?, m.offset)))
                    .filter(|(mt, _)| mt.size > 0);
                let (mt, offset) = sized.next()?;
                if sized.next().is_some() {
                    return None;
                }
                self.scalar(&mt, addr.wrapping_add(offset))
            }
            _ => None,
        }
    }
}

/// Whether [`Decoder::known_detail`] knows the type named `name`.
fn is_known(name: &str) -> bool {
    matches!(
        without_generics(name),
        "tokio::sync::oneshot::Receiver"
            | "tokio::sync::mpsc::bounded::Receiver"
            | "tokio::sync::mpsc::unbounded::UnboundedReceiver"
            | "tokio::sync::mpsc::chan::Rx"
            | "tokio::sync::broadcast::Receiver"
    )
}

/// The time on the monotonic clock, which `std::time::Instant` and tokio's
/// read, the same in every process of the machine.
fn monotonic_now() -> Option<Duration> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the call.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    if rc != 0 {
        return None;
    }
    Some(Duration::new(
        u64::try_from(ts.tv_sec).ok()?,
        u32::try_from(ts.tv_nsec).ok()?,
    ))
}

/// `, 14 bytes received, the last 5.0s ago` (or `, nothing received in
/// 5.0s`): what tells a connection that sent half a request and stopped
/// from one that is only idle.
fn received(traffic: crate::socket::Traffic) -> String {
    let ago = format_duration(Duration::from_millis(u64::from(traffic.last_received_ms)));
    match traffic.received {
        0 => format!(", nothing received in {ago}"),
        1 => format!(", 1 byte received {ago} ago"),
        n => format!(", {n} bytes received, the last {ago} ago"),
    }
}
