//! The conformance suite on tokio's multi-thread runtime, two workers.

async_inspect_conformance::conformance_suite!(
    async_inspect_tokio::Tokio::multi_thread(2).expect("a tokio runtime starts")
);
