//! The conformance suite on async-std's global executor.

async_inspect_conformance::conformance_suite!(async_inspect_async_std::AsyncStd);
