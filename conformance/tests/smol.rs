//! The conformance suite on smol's global executor.

async_inspect_conformance::conformance_suite!(async_inspect_smol::Smol);
