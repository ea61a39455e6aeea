//! A traced call's arguments, as its frame shows them.
//!
//! Arguments are `Debug` text cut to a bound ([`format_args_list`]), made
//! when the call's body starts. When every recorded argument is a small
//! `'static` `Copy` value ([`ArgValue`]: integers, `bool`, `char`,
//! `Duration`, …) or a string of at most 15 bytes, the frame keeps the
//! values instead ([`ArgValues`], a string as a copy) and formats them only
//! when something reads them (a snapshot, a lint, a
//! breakpoint's condition, a recording): most calls end unread, and
//! formatting was most of what a traced call with arguments cost (a chain
//! of three traced fns taking a `Duration`, W4s: 47.5 → 35.7 ms without
//! it, medians of 21 interleaved runs).

use std::cell::UnsafeCell;
use std::fmt::{self, Debug, Write};
use std::mem::MaybeUninit;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::site::FnInfo;

/// At most this many bytes of argument text are kept per traced call.
pub const MAX_ARGS_TEXT: usize = 256;

/// At most this many bytes of one argument's value: a large value (a
/// whole shared state) leaves room for the arguments after it.
pub const MAX_ARG_TEXT: usize = 80;

/// Formats a traced call's arguments as `name=value, name=value`, each
/// value cut at [`MAX_ARG_TEXT`] bytes and the whole at [`MAX_ARGS_TEXT`]
/// (the Debug impl stops early rather than formatting a huge value in
/// full). One allocation: the text is built on the stack.
///
/// ```
/// use async_inspect_core::trace::format_args_list;
///
/// let text = format_args_list(&[("user_id", &12345), ("name", &"ada")]);
/// assert_eq!(&*text, r#"user_id=12345, name="ada""#);
///
/// // A huge first argument does not hide the next one.
/// let db = vec![0_u8; 1000];
/// let text = format_args_list(&[("db", &db), ("key", &"k")]);
/// assert!(text.starts_with("db=[0, 0,") && text.ends_with(r#"…, key="k""#), "{text}");
/// ```
pub fn format_args_list(args: &[(&str, &dyn Debug)]) -> Arc<str> {
    bounded(|out| {
        for (i, (name, value)) in args.iter().enumerate() {
            if i > 0 {
                out.write_str(", ")?;
            }
            out.write_str(name)?;
            out.write_str("=")?;
            // This value alone stops at its own bound, marked with `…`,
            // and the next argument goes on.
            out.value_limit = Some(out.len + MAX_ARG_TEXT);
            let cut = write!(out, "{value:?}").is_err() && !out.truncated;
            out.value_limit = None;
            if cut {
                out.write_str("…")?;
            }
        }
        Ok(())
    })
}

/// Formats one value's Debug text, cut as [`format_args_list`] cuts.
///
/// ```
/// assert_eq!(&*async_inspect_core::trace::format_value(&"hi"), r#""hi""#);
/// ```
pub fn format_value(value: &dyn Debug) -> Arc<str> {
    bounded(|out| write!(out, "{value:?}"))
}

fn bounded(write: impl FnOnce(&mut Bounded) -> fmt::Result) -> Arc<str> {
    let mut out = Bounded {
        bytes: [0; MAX_ARGS_TEXT + '…'.len_utf8()],
        len: 0,
        truncated: false,
        value_limit: None,
    };
    // An error only means the text was cut.
    let _ = write(&mut out);
    if out.truncated {
        out.push('…'.encode_utf8(&mut [0; 4]));
    }
    // Only whole `str`s and char-boundary prefixes of them were copied in.
    Arc::from(std::str::from_utf8(&out.bytes[..out.len]).unwrap_or("…"))
}

struct Bounded {
    bytes: [u8; MAX_ARGS_TEXT + 3],
    len: usize,
    /// The whole text reached [`MAX_ARGS_TEXT`].
    truncated: bool,
    /// Where the value being written must stop, if it has a bound of its
    /// own; reaching it is not `truncated`.
    value_limit: Option<usize>,
}

impl Bounded {
    fn push(&mut self, s: &str) {
        self.bytes[self.len..self.len + s.len()].copy_from_slice(s.as_bytes());
        self.len += s.len();
    }
}

impl Write for Bounded {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = MAX_ARGS_TEXT.saturating_sub(self.len);
        // A value's own bound, if nearer; its `…` still fits the whole.
        let value_room = self
            .value_limit
            .map(|limit| limit.saturating_sub(self.len))
            .filter(|&r| r < room.saturating_sub('…'.len_utf8()));
        let room = value_room.unwrap_or(room);
        if s.len() <= room {
            self.push(s);
            return Ok(());
        }
        let mut cut = room;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        self.push(&s[..cut]);
        if value_room.is_none() {
            self.truncated = true;
        }
        Err(fmt::Error)
    }
}

/// A type whose values a traced call keeps as they are, rather than as
/// text, formatting them only when they are read: for small `Copy` values
/// (ids, counts, durations) that is nearly free, where formatting at every
/// call is not. Implement it for a `Copy` id type of your own to get the
/// same; a call keeps values only when every argument it records is an
/// `ArgValue` or a string (`&str`, `String`) of at most 15 bytes, and they
/// fit in 24 bytes together (else it formats them all at once, as for any
/// `Debug` type).
///
/// ```
/// use async_inspect_core::trace::ArgValue;
///
/// #[derive(Clone, Copy, Debug)]
/// struct UserId(u64);
///
/// impl ArgValue for UserId {}
/// ```
pub trait ArgValue: Copy + Debug + Send + Sync + 'static {}

macro_rules! arg_values {
    ($($ty:ty),* $(,)?) => { $(impl ArgValue for $ty {})* };
}

arg_values!(
    (),
    bool,
    char,
    u8,
    u16,
    u32,
    u64,
    usize,
    i8,
    i16,
    i32,
    i64,
    isize,
    f32,
    f64,
    std::num::NonZeroU32,
    std::num::NonZeroU64,
    std::num::NonZeroUsize,
    std::time::Duration,
    std::net::Ipv4Addr,
    std::net::SocketAddrV4,
);

impl<T: ArgValue> ArgValue for Option<T> {}

/// How many bytes of values a call keeps.
type Words = MaybeUninit<[u64; 3]>;

/// A call's argument values, kept to be formatted when read.
#[derive(Clone, Copy)]
pub struct ArgValues {
    /// A tuple of [`ArgValue`]s, written by [`ArgValues::new`].
    data: Words,
    /// Formats `data` with the arguments' names; `unsafe`: only with the
    /// `data` it was made with.
    text: unsafe fn(&Words, &'static [&'static str]) -> Arc<str>,
}

impl Debug for ArgValues {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ArgValues")
    }
}

impl ArgValues {
    /// Keeps `values` if they fit.
    #[inline]
    fn new<T: ArgList>(values: T) -> Option<Self> {
        if size_of::<T>() > size_of::<Words>() || align_of::<T>() > align_of::<Words>() {
            return None;
        }
        let mut data = Words::uninit();
        // SAFETY: `T` fits in `data` and needs no more alignment (checked
        // above); `T: Copy`, so the bytes are a value of their own.
        unsafe { data.as_mut_ptr().cast::<T>().write(values) };
        Some(Self {
            data,
            text: text_of::<T>,
        })
    }

    /// The values' text, as [`format_args_list`] makes it, with `names`.
    pub(crate) fn text(&self, names: &'static [&'static str]) -> Arc<str> {
        // SAFETY: `text` was made with `data`, in `new`.
        unsafe { (self.text)(&self.data, names) }
    }
}

/// # Safety
///
/// `data` holds a `T`, written by [`ArgValues::new::<T>`].
unsafe fn text_of<T: ArgList>(data: &Words, names: &'static [&'static str]) -> Arc<str> {
    // SAFETY: the function's contract; `T: Copy`, so reading it leaves
    // `data` as it was.
    let values = unsafe { data.as_ptr().cast::<T>().read() };
    values.text(names)
}

/// A tuple of [`ArgValue`]s: the arguments of one call.
trait ArgList: Copy + Send + Sync + 'static {
    fn text(&self, names: &'static [&'static str]) -> Arc<str>;
}

/// Probes whether a call's recorded arguments are all [`ArgValue`]s, at
/// compile time: `(&ArgsProbe((&a, &b))).__async_inspect_values()`
/// resolves to [`KeepValues`] when they are (or short strings: see
/// [`KeepArg`]; for up to four arguments)
/// and to [`FormatNow`] otherwise. What `#[trace]` expands to; not an API.
#[doc(hidden)]
#[derive(Debug)]
pub struct ArgsProbe<T>(pub T);

/// See [`ArgsProbe`]: the arguments are values to keep.
#[doc(hidden)]
pub trait KeepValues {
    fn __async_inspect_values(&self) -> Option<ArgValues>;
}

/// See [`ArgsProbe`]: the arguments are to be formatted now.
#[doc(hidden)]
pub trait FormatNow {
    #[inline]
    fn __async_inspect_values(&self) -> Option<ArgValues> {
        None
    }
}

impl<T> FormatNow for &ArgsProbe<T> {}

macro_rules! arg_lists {
    ($(($($ty:ident $index:tt),+))*) => {$(
        impl<$($ty: Copy + Debug + Send + Sync + 'static),+> ArgList for ($($ty,)+) {
            fn text(&self, names: &'static [&'static str]) -> Arc<str> {
                format_args_list(&[$((
                    names.get($index).copied().unwrap_or("_"),
                    &self.$index as &dyn Debug,
                )),+])
            }
        }

        impl<$($ty: KeepArg),+> KeepValues for ArgsProbe<($(&$ty,)+)> {
            #[inline]
            fn __async_inspect_values(&self) -> Option<ArgValues> {
                ArgValues::new(($(self.0.$index.__async_inspect_keep()?,)+))
            }
        }
    )*};
}

/// An argument a call can keep without formatting it: an [`ArgValue`]
/// as it is, a short string as a copy ([`ShortStr`]). What `#[trace]`
/// expands to; not an API.
#[doc(hidden)]
pub trait KeepArg {
    type Kept: Copy + Debug + Send + Sync + 'static;
    /// The value to keep; `None` if it does not fit (a long string).
    fn __async_inspect_keep(&self) -> Option<Self::Kept>;
}

impl<T: ArgValue> KeepArg for T {
    type Kept = T;
    #[inline]
    fn __async_inspect_keep(&self) -> Option<T> {
        Some(*self)
    }
}

impl KeepArg for &str {
    type Kept = ShortStr;
    #[inline]
    fn __async_inspect_keep(&self) -> Option<ShortStr> {
        ShortStr::new(self)
    }
}

impl KeepArg for String {
    type Kept = ShortStr;
    #[inline]
    fn __async_inspect_keep(&self) -> Option<ShortStr> {
        ShortStr::new(self)
    }
}

/// A copy of a string of at most 15 bytes, shown as the string's own
/// `Debug` text: with a `u64` beside it, it still fits what a call keeps.
#[doc(hidden)]
#[derive(Clone, Copy)]
pub struct ShortStr {
    len: u8,
    bytes: [u8; 15],
}

impl ShortStr {
    #[inline]
    fn new(text: &str) -> Option<Self> {
        let mut bytes = [0; 15];
        bytes
            .get_mut(..text.len())?
            .copy_from_slice(text.as_bytes());
        Some(Self {
            len: text.len() as u8,
            bytes,
        })
    }

    fn as_str(&self) -> &str {
        // Copied whole from a `str` in `new`.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or("")
    }
}

impl Debug for ShortStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Debug::fmt(self.as_str(), f)
    }
}

arg_lists! {
    (A 0)
    (A 0, B 1)
    (A 0, B 1, C 2)
    (A 0, B 1, C 2, D 3)
}

/// What a frame shows of its call's arguments.
#[derive(Clone, Debug)]
pub(crate) enum Args {
    /// Formatted when the call's body started.
    Text(Arc<str>),
    /// Kept as values, formatted when read.
    Values(ArgValues),
}

/// A frame's arguments: set once, by the thread polling the call, when
/// its body starts (after the frame is visible to snapshots); read by any
/// thread once set.
pub(crate) struct ArgsCell {
    set: AtomicBool,
    args: UnsafeCell<Option<Args>>,
}

// SAFETY: `args` is written once, before `set` is (release), by the one
// thread polling the frame's call, and read only after `set` is seen
// (acquire); cleared only through `&mut`. `Args` is `Send + Sync`.
unsafe impl Sync for ArgsCell {}

impl Debug for ArgsCell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ArgsCell").field(&self.get()).finish()
    }
}

impl ArgsCell {
    pub(crate) const fn new() -> Self {
        Self {
            set: AtomicBool::new(false),
            args: UnsafeCell::new(None),
        }
    }

    /// The arguments, if set.
    pub(crate) fn get(&self) -> Option<&Args> {
        if !self.set.load(Ordering::Acquire) {
            return None;
        }
        // SAFETY: set, so never written again while shared (see the type).
        unsafe { (*self.args.get()).as_ref() }
    }

    /// The arguments as text (formatting kept values now), named as
    /// `info` names them.
    pub(crate) fn text(&self, info: &'static FnInfo) -> Option<Arc<str>> {
        match self.get()? {
            Args::Text(text) => Some(Arc::clone(text)),
            Args::Values(values) => Some(values.text(info.args)),
        }
    }

    /// Sets the arguments, unless they are set already; whether it did.
    ///
    /// # Safety
    ///
    /// Only the thread polling the frame's call sets them (no two threads
    /// at once).
    pub(crate) unsafe fn set(&self, args: Args) -> bool {
        if self.set.load(Ordering::Relaxed) {
            return false;
        }
        // SAFETY: not set, so no other thread reads it yet, and only this
        // one writes (the function's contract).
        unsafe { *self.args.get() = Some(args) };
        self.set.store(true, Ordering::Release);
        true
    }

    /// Clears them, for the frame's next call.
    pub(crate) fn clear(&mut self) {
        *self.set.get_mut() = false;
        *self.args.get_mut() = None;
    }
}

#[cfg(test)]
#[allow(
    clippy::needless_borrow,
    reason = "the probe's borrow is what picks `FormatNow` when `KeepValues` does not apply"
)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// A traced fn of two arguments: an id, and any value.
    static TWO: FnInfo = FnInfo {
        name: "two",
        module_path: "tests",
        file: "two.rs",
        line: 1,
        column: 1,
        awaits: &[],
        args: &["id", "value"],
    };

    #[test]
    fn values_are_kept_only_when_every_argument_is_an_arg_value_and_they_fit() {
        let (id, pause) = (7_u64, Duration::from_millis(50));
        let kept = (&ArgsProbe((&id, &pause))).__async_inspect_values();
        let kept = kept.expect("a u64 and a Duration are kept");
        let text = format_args_list(&[("id", &id), ("value", &pause)]);
        assert_eq!(kept.text(TWO.args), text, "the same text, formatted later");
        assert_eq!(&*text, "id=7, value=50ms");

        // Any other argument makes the call format them all.
        let items = vec![1, 2];
        assert!(
            (&ArgsProbe((&id, &items)))
                .__async_inspect_values()
                .is_none()
        );
        let borrowed = &id;
        assert!(
            (&ArgsProbe((&borrowed,)))
                .__async_inspect_values()
                .is_none()
        );
        // Four words do not fit in three.
        let big = (&ArgsProbe((&1_u64, &2_u64, &3_u64, &4_u64))).__async_inspect_values();
        assert!(big.is_none());
        let fits = (&ArgsProbe((&1_u64, &2_u32, &true, &'x'))).__async_inspect_values();
        assert_eq!(
            &*fits.expect("fits").text(&["a", "b", "c", "d"]),
            "a=1, b=2, c=true, d='x'"
        );
    }

    #[test]
    fn short_strings_are_kept_as_copies_and_long_ones_formatted() {
        let (id, name, owned) = (7_u64, "ada \"the\" 1st", String::from("ünïcödé"));
        let kept = (&ArgsProbe((&id, &name))).__async_inspect_values();
        let text = format_args_list(&[("id", &id), ("value", &name)]);
        assert_eq!(kept.expect("15 bytes").text(TWO.args), text);
        assert_eq!(&*text, r#"id=7, value="ada \"the\" 1st""#);
        let kept = (&ArgsProbe((&owned,))).__async_inspect_values();
        assert_eq!(
            &*kept.expect("a short String").text(&["s"]),
            r#"s="ünïcödé""#
        );
        let long = "sixteen bytes!!!";
        assert!((&ArgsProbe((&long,))).__async_inspect_values().is_none());
        // Two strings do not fit beside each other.
        assert!(
            (&ArgsProbe((&name, &name)))
                .__async_inspect_values()
                .is_none()
        );
    }

    #[test]
    fn values_whose_names_are_missing_still_format() {
        // Never from the macro, whose list names every value.
        let kept = (&ArgsProbe((&u64::MAX,))).__async_inspect_values().unwrap();
        assert_eq!(&*kept.text(&[]), "_=18446744073709551615");
    }

    #[test]
    fn arguments_are_set_once_and_read_once_set() {
        let mut cell = ArgsCell::new();
        assert!(cell.text(&TWO).is_none(), "nothing before the body starts");
        // SAFETY: one thread.
        assert!(unsafe { cell.set(Args::Text("id=1".into())) });
        // SAFETY: as above.
        assert!(!unsafe { cell.set(Args::Text("id=2".into())) }, "set once");
        assert_eq!(cell.text(&TWO).as_deref(), Some("id=1"));
        cell.clear();
        assert!(cell.get().is_none());
    }
}
