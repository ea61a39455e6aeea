//! One module per subcommand, each with its `Args` (what clap parses) and
//! its `exec` (what it does; the process's exit code).

pub(crate) mod attach;
pub(crate) mod debug;
pub(crate) mod export;
pub(crate) mod profile;
pub(crate) mod ps;
pub(crate) mod record;
pub(crate) mod replay;
pub(crate) mod run;
pub(crate) mod serve;
pub(crate) mod test;
