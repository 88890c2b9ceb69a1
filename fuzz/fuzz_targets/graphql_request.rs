//! A GraphQL request body, from the bytes the HTTP layer receives to the answer: parsed as the
//! `/graphql` route parses it (JSON into an `async_graphql::BatchRequest`), then run through the
//! hub's production schema, whose first step is the query-limit extension (`api::limits`: text
//! checks before parsing, the document costed before validation), then async-graphql's parser
//! and validation. The caller is anonymous and no services are attached, so no resolver can reach
//! data: whatever passes the limits ends at `UNAUTHENTICATED`/`UNAVAILABLE` or `apiVersion`.
//!
//! Finds: panics in the limit checks, the parser or validation on any document; a document that
//! passes the limits but still costs long (run with `-timeout=`, as `fuzz/run` does).

#![no_main]

use std::sync::LazyLock;

use api::{ApiSchema, QueryLimits, SchemaOptions, build_schema};
use async_graphql::BatchRequest;
use libfuzzer_sys::fuzz_target;

static SCHEMA: LazyLock<ApiSchema> =
    LazyLock::new(|| build_schema(SchemaOptions::production(QueryLimits::default())));

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap_or_else(|error| panic!("a current-thread runtime builds: {error}"))
});

/// A deployment may turn batches on (`[graphql] max_batch`); each operation of a batch is checked
/// on its own, so a few of them are enough to reach every path.
const MOST_OPERATIONS: usize = 4;

fuzz_target!(|data: &[u8]| {
    // The body limit (64 KiB) holds before any parsing.
    if data.len() > 64 * 1024 {
        return;
    }
    let Ok(batch) = serde_json::from_slice::<BatchRequest>(data) else {
        return;
    };
    let requests = match batch {
        BatchRequest::Single(request) => vec![request],
        BatchRequest::Batch(requests) => requests.into_iter().take(MOST_OPERATIONS).collect(),
    };
    for request in requests {
        let response = RUNTIME.block_on(SCHEMA.execute(request));
        // Every refusal carries a documented code; none is left without one.
        for error in &response.errors {
            let has_code = error
                .extensions
                .as_ref()
                .is_some_and(|extensions| extensions.get("code").is_some());
            assert!(
                has_code,
                "an error without extensions.code: {}",
                error.message
            );
        }
        std::hint::black_box(response);
    }
});
