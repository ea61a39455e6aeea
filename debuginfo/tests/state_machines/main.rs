//! Decoding state machines of this very test binary, through
//! `/proc/self/exe` and its own memory: one module per behaviour.

mod support;

mod boxed;
mod budget;
mod chain;
mod closure_block;
mod combinator;
mod cross_process;
mod errors;
mod generic;
mod leaves;
mod locals;
mod states;
mod unreadable;
