//! Breakpoints as written: a place ([`Spec`]) and [`Conditions`], and how
//! a paused task steps ([`Step`]). What a debugger and the program agree
//! on; the program matches them against its tasks.
//!
//! | text | stops |
//! |---|---|
//! | `fetch_user` | at every await of the traced fn `fetch_user` |
//! | `fetch_user#2` | at its second await |
//! | `src/api.rs:42` | at the await on that line |
//! | `point:order received` | at the first await after `inspect_point!("order received")` |
//! | `fetch_user if task=7` | only in task 7 |
//! | `fetch_user if name=worker` | only in tasks named `worker` |
//! | `fetch_user if args~id=42` | only where the fn's arguments, as `Debug` text, contain `id=42` |
//! | `fetch_user if after=3` | from its fourth hit on |
//!
//! Conditions combine (`fetch_user#2 if task=7 after=1`); a value with
//! spaces is quoted (`args~"name: \"ann\""`).
//!
//! ```
//! use async_inspect_model::breakpoint::Spec;
//!
//! let spec: Spec = "fetch_user#2".parse().unwrap();
//! assert_eq!(spec, Spec::Await { function: "fetch_user".into(), nth: 2 });
//! assert!("point:".parse::<Spec>().is_err());
//! ```

use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Where a breakpoint stops.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Spec {
    /// Every await of the traced fn `function`.
    Function(String),
    /// The `nth` await (from 1) of the traced fn `function`: `name#2`.
    Await {
        /// The fn.
        function: String,
        /// Which of its awaits, from 1.
        nth: u16,
    },
    /// The await on `line` of a file whose path ends with `file`:
    /// `src/api.rs:42`.
    Line {
        /// The end of the file's path.
        file: String,
        /// The line.
        line: u32,
    },
    /// The first await a task reaches after `inspect_point!(label)`:
    /// `point:LABEL`. (An inspect point is not an await, so the task
    /// cannot stop at the point itself.)
    Point(String),
}

/// Why a breakpoint was not understood.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "`{spec}` is not a breakpoint: {why} (try fn_name, fn_name#2, path/file.rs:LINE or point:LABEL, then optionally if task=ID name=NAME args~TEXT after=N)"
)]
pub struct SpecError {
    spec: String,
    why: &'static str,
}

impl std::fmt::Display for Spec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Function(name) => write!(f, "{name}"),
            Self::Await { function, nth } => write!(f, "{function}#{nth}"),
            Self::Line { file, line } => write!(f, "{file}:{line}"),
            Self::Point(label) => write!(f, "point:{label}"),
        }
    }
}

impl FromStr for Spec {
    type Err = SpecError;

    fn from_str(text: &str) -> Result<Self, SpecError> {
        let error = |why| SpecError {
            spec: text.to_owned(),
            why,
        };
        let text = text.trim();
        if text.is_empty() {
            return Err(error("it is empty"));
        }
        if let Some(label) = text.strip_prefix("point:") {
            if label.is_empty() {
                return Err(error("the point's label is missing"));
            }
            return Ok(Self::Point(label.to_owned()));
        }
        if let Some((file, line)) = text.rsplit_once(':') {
            let line = line
                .parse()
                .map_err(|_| error("the line is not a number"))?;
            if file.is_empty() {
                return Err(error("the file is missing"));
            }
            return Ok(Self::Line {
                file: file.to_owned(),
                line,
            });
        }
        if let Some((function, nth)) = text.split_once('#') {
            let nth: u16 = nth
                .parse()
                .map_err(|_| error("the await number is not a number"))?;
            if nth == 0 {
                return Err(error("awaits are counted from 1"));
            }
            return Ok(Self::Await {
                function: function.to_owned(),
                nth,
            });
        }
        if !text.chars().all(|c| c.is_alphanumeric() || c == '_') {
            return Err(error("a fn name has letters, digits and _ only"));
        }
        Ok(Self::Function(text.to_owned()))
    }
}

/// When a breakpoint whose place is reached stops the task: every
/// condition set must hold.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Conditions {
    /// Only in the task with this id: `task=7`.
    pub task: Option<u64>,
    /// Only in tasks with this name: `name=worker`.
    pub name: Option<String>,
    /// Only where the traced fn's arguments, as their `Debug` text, contain
    /// this: `args~id=42`.
    pub args: Option<String>,
    /// Stop from hit `after + 1` on: `after=3` lets three hits pass. A hit
    /// is a reach of the place where the other conditions hold.
    pub after: u64,
}

impl Conditions {
    /// Whether none is set.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    fn parse(words: &[String], text: &str) -> Result<Self, SpecError> {
        let error = |why| SpecError {
            spec: text.to_owned(),
            why,
        };
        let mut conditions = Self::default();
        for word in words {
            if let Some(text) = word.strip_prefix("args~") {
                conditions.args = Some(text.to_owned());
                continue;
            }
            let Some((key, value)) = word.split_once('=') else {
                return Err(error(
                    "a condition is task=ID, name=NAME, args~TEXT or after=N",
                ));
            };
            match key {
                "task" => {
                    let id = value.trim_start_matches('#');
                    let id = id
                        .parse()
                        .map_err(|_| error("task=ID takes a task's number"))?;
                    conditions.task = Some(id);
                }
                "name" => conditions.name = Some(value.to_owned()),
                "after" => {
                    conditions.after = value
                        .parse()
                        .map_err(|_| error("after=N takes a number of hits"))?;
                }
                _ => {
                    return Err(error(
                        "a condition is task=ID, name=NAME, args~TEXT or after=N",
                    ));
                }
            }
        }
        Ok(conditions)
    }
}

impl std::fmt::Display for Conditions {
    /// ` if task=7 after=2`, or nothing when none is set.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_empty() {
            return Ok(());
        }
        let quoted = |text: &str| {
            if text.is_empty() || text.contains(char::is_whitespace) || text.contains('"') {
                format!("{text:?}")
            } else {
                text.to_owned()
            }
        };
        write!(f, " if")?;
        if let Some(task) = self.task {
            write!(f, " task={task}")?;
        }
        if let Some(name) = &self.name {
            write!(f, " name={}", quoted(name))?;
        }
        if let Some(args) = &self.args {
            write!(f, " args~{}", quoted(args))?;
        }
        if self.after > 0 {
            write!(f, " after={}", self.after)?;
        }
        Ok(())
    }
}

/// Splits `text` at whitespace, keeping `"…"` together (with `\"` and
/// `\\` inside) and dropping the quotes.
fn words(text: &str) -> Result<Vec<String>, &'static str> {
    let mut words = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            return Ok(words);
        }
        let mut word = String::new();
        while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
            if c != '"' {
                word.push(c);
                continue;
            }
            loop {
                match chars.next() {
                    None => return Err("a quote is not closed"),
                    Some('"') => break,
                    Some('\\') => match chars.next() {
                        Some(c) => word.push(c),
                        None => return Err("a quote is not closed"),
                    },
                    Some(c) => word.push(c),
                }
            }
        }
        words.push(word);
    }
}

/// Reads a whole breakpoint: a place, then optionally `if` and
/// conditions.
///
/// ```
/// use async_inspect_model::breakpoint::{Spec, parse};
///
/// let (spec, conditions) = parse("fetch_user#2 if task=7").unwrap();
/// assert_eq!(spec, Spec::Await { function: "fetch_user".into(), nth: 2 });
/// assert_eq!(conditions.task, Some(7));
/// ```
///
/// # Errors
///
/// When `text` is not understood: the error names the grammar.
pub fn parse(text: &str) -> Result<(Spec, Conditions), SpecError> {
    let error = |why| SpecError {
        spec: text.to_owned(),
        why,
    };
    let mut words = words(text).map_err(error)?;
    if words.is_empty() {
        return Err(error("it is empty"));
    }
    let place = words.remove(0);
    // `point:` labels may hold spaces: the words up to `if` are the label.
    let (place, rest) = if place.starts_with("point:") {
        let end = words.iter().position(|w| w == "if").unwrap_or(words.len());
        let mut label = vec![place];
        label.extend(words.drain(..end));
        (label.join(" "), words)
    } else {
        (place, words)
    };
    let spec: Spec = place.parse().map_err(|e: SpecError| SpecError {
        spec: text.to_owned(),
        why: e.why,
    })?;
    let rest = match rest.split_first() {
        Some((first, rest)) if first == "if" => rest,
        _ => &rest[..],
    };
    Ok((spec, Conditions::parse(rest, text)?))
}

/// How a paused task goes on to its next pause.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// To its next await in any traced call, the ones it makes included
    /// (a debugger's `step`).
    Into,
    /// To its next await in the same traced call or one it returns to
    /// (`next`).
    Over,
    /// To its next await after the current traced call returns (`finish`).
    Out,
}

impl Step {
    /// Whether an await at `depth` ends a step begun at `from` (depths
    /// count traced calls, 1 at the task's root).
    pub fn stops_at(self, depth: usize, from: usize) -> bool {
        match self {
            Self::Into => true,
            Self::Over => depth <= from,
            Self::Out => depth < from,
        }
    }
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Into => "step",
            Self::Over => "next",
            Self::Out => "finish",
        })
    }
}
