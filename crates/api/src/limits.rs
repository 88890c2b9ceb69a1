//! Query limits: what a GraphQL document may ask of the hub, checked before any resolver runs.
//!
//! Any partner system, or anyone holding a stolen token, can send any document; none may exhaust
//! the hub. Each document is checked in two steps, both before execution:
//! 1. before it is parsed, on its text: size in bytes, size in tokens, and bracket nesting (so the
//!    parser never meets a document large or deep enough to cost real time or stack);
//! 2. once parsed, before validation: depth, complexity (a connection costs by its `first`), the
//!    number of aliases, root fields per operation and directives per field, with every fragment
//!    expanded — and fragment cycles refused, so the walk itself cannot loop.
//!
//! Every refusal is `BAD_USER_INPUT` with `extensions.limit` naming the limit and
//! `extensions.max` its value; parse and validation errors get `BAD_USER_INPUT` too. This module
//! reads only the document and the variables: it must never touch resident data.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextPrepareRequest,
    NextValidation,
};
use async_graphql::parser::parse_query;
use async_graphql::parser::types::{ExecutableDocument, Field, Selection, SelectionSet};
use async_graphql::parser::{Positioned, types::FragmentDefinition};
use async_graphql::{
    ErrorExtensions, Name, Request, ServerError, ServerResult, ValidationResult, Value,
};
use async_graphql::{Variables, async_trait};

use crate::ApiError;
use crate::connection::{DEFAULT_FIRST, MAX_FIRST};

/// `[graphql]`: what one document may ask. Defaults in `config/default.toml`, documented in
/// `docs/API.md`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueryLimits {
    /// Deepest field nesting (`{ plan { sections { content } } }` is 3).
    pub max_depth: usize,
    /// Most cost: every field 1, a connection's fields times its `first`.
    pub max_complexity: usize,
    /// Most aliased fields in the document, fragments expanded.
    pub max_aliases: usize,
    /// Most fields at the top of one operation, fragments expanded.
    pub max_root_fields: usize,
    /// Most lexical tokens (names, punctuators, numbers, strings) in the document.
    pub max_tokens: usize,
    /// Largest document, in bytes of UTF-8.
    pub max_document_bytes: usize,
    /// Most directives on one field.
    pub max_directives_per_field: usize,
    /// Most operations in one batched request (a JSON array); 0: batches are refused.
    pub max_batch: usize,
}

impl Default for QueryLimits {
    /// The documented defaults (`config/default.toml`).
    fn default() -> Self {
        QueryLimits {
            max_depth: 15,
            max_complexity: 10_000,
            max_aliases: 30,
            max_root_fields: 10,
            max_tokens: 2_000,
            max_document_bytes: 96 * 1024,
            max_directives_per_field: 4,
            max_batch: 0,
        }
    }
}

/// Each limit, by the name clients see in `extensions.limit`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    Depth,
    Complexity,
    Aliases,
    RootFields,
    Tokens,
    DocumentBytes,
    Directives,
    Batch,
}

impl Limit {
    pub fn as_str(self) -> &'static str {
        match self {
            Limit::Depth => "depth",
            Limit::Complexity => "complexity",
            Limit::Aliases => "aliases",
            Limit::RootFields => "rootFields",
            Limit::Tokens => "tokens",
            Limit::DocumentBytes => "documentBytes",
            Limit::Directives => "directives",
            Limit::Batch => "batch",
        }
    }
}

/// A refusal for going over `limit`, whose value is `max`: `BAD_USER_INPUT`, with the limit
/// named in the message and in `extensions.limit`, its value in `extensions.max`.
pub fn limit_error(limit: Limit, max: usize) -> async_graphql::Error {
    let mut error = ApiError::BadUserInput("query limit exceeded").extend();
    error.message = if limit == Limit::Batch && max == 0 {
        "bad input: query limit exceeded: batch (batched requests are off; send one operation \
         per request)"
            .to_owned()
    } else {
        format!(
            "bad input: query limit exceeded: {} (at most {max})",
            limit.as_str()
        )
    };
    error.extend_with(|_, ext| {
        ext.set("limit", limit.as_str());
        ext.set("max", max);
    })
}

fn server_error(error: async_graphql::Error) -> ServerError {
    let mut server_error = ServerError::new(error.message, None);
    server_error.extensions = error.extensions;
    server_error
}

/// Gives an error from the parser or the validator the documented code, keeping its text (which
/// names the document's problem, never data); suggestions are already off in production.
fn with_code(mut error: ServerError) -> ServerError {
    let has_code = error
        .extensions
        .as_ref()
        .is_some_and(|ext| ext.get("code").is_some());
    if !has_code {
        let mut ext = error.extensions.take().unwrap_or_default();
        ext.set("code", ApiError::BadUserInput("").code());
        error.extensions = Some(ext);
    }
    error
}

/// The schema extension that applies [`QueryLimits`].
pub(crate) struct LimitsExtension(pub(crate) QueryLimits);

impl ExtensionFactory for LimitsExtension {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(LimitsExtension(self.0))
    }
}

#[async_trait::async_trait]
impl Extension for LimitsExtension {
    /// Both steps, first thing: async-graphql's own checks after parsing follow every fragment
    /// spread without memory (a document of fragments that each spread the next twice would
    /// cost 2^depth), so the document is parsed and costed here, and handed on parsed.
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        mut request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        check_text(&request.query, &self.0).map_err(server_error)?;
        let document =
            parse_query(&request.query).map_err(|error| with_code(ServerError::from(error)))?;
        check_document(&document, &request.variables, &self.0).map_err(server_error)?;
        request.set_parsed_query(document);
        next.run(ctx, request).await
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        next.run(ctx, query, variables).await.map_err(with_code)
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        next.run(ctx)
            .await
            .map_err(|errors| errors.into_iter().map(with_code).collect())
    }
}

/// Step 1, on the text: bytes, tokens, bracket nesting. Linear, and stops at the first limit.
pub fn check_text(query: &str, limits: &QueryLimits) -> Result<(), async_graphql::Error> {
    if query.len() > limits.max_document_bytes {
        return Err(limit_error(Limit::DocumentBytes, limits.max_document_bytes));
    }
    // Nesting deeper than the depth limit allows (plus room for argument objects and lists)
    // is refused before the parser, which recurses per level, ever sees it.
    let max_nesting = limits.max_depth.saturating_add(16);
    let bytes = query.as_bytes();
    let (mut at, mut n_tokens, mut nesting) = (0, 0usize, 0usize);
    while at < bytes.len() {
        let byte = bytes[at];
        match byte {
            // Ignored: white space, line terminators, commas, a byte-order mark's bytes.
            b' ' | b'\t' | b'\n' | b'\r' | b',' => {
                at += 1;
                continue;
            }
            0xEF | 0xBB | 0xBF if at < 3 => {
                at += 1;
                continue;
            }
            b'#' => {
                while at < bytes.len() && bytes[at] != b'\n' && bytes[at] != b'\r' {
                    at += 1;
                }
                continue;
            }
            b'"' if bytes[at..].starts_with(b"\"\"\"") => {
                at += 3;
                while at < bytes.len() && !bytes[at..].starts_with(b"\"\"\"") {
                    at += if bytes[at..].starts_with(b"\\\"\"\"") {
                        4
                    } else {
                        1
                    };
                }
                at += 3;
            }
            b'"' => {
                at += 1;
                while at < bytes.len() && !matches!(bytes[at], b'"' | b'\n' | b'\r') {
                    at += if bytes[at] == b'\\' { 2 } else { 1 };
                }
                at += 1;
            }
            b'.' if bytes[at..].starts_with(b"...") => at += 3,
            b'{' | b'(' | b'[' => {
                nesting += 1;
                if nesting > max_nesting {
                    return Err(limit_error(Limit::Depth, limits.max_depth));
                }
                at += 1;
            }
            b'}' | b')' | b']' => {
                nesting = nesting.saturating_sub(1);
                at += 1;
            }
            b'_' | b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' => {
                at += 1;
                // A name, or a number with its fraction and exponent.
                while at < bytes.len()
                    && (bytes[at].is_ascii_alphanumeric()
                        || bytes[at] == b'_'
                        || (bytes[at] == b'.' && !bytes[at..].starts_with(b"..."))
                        || (matches!(bytes[at], b'+' | b'-')
                            && matches!(bytes[at - 1], b'e' | b'E')))
                {
                    at += 1;
                }
            }
            // Every other punctuator (and any byte the parser will refuse) is one token.
            _ => at += 1,
        }
        n_tokens += 1;
        if n_tokens > limits.max_tokens {
            return Err(limit_error(Limit::Tokens, limits.max_tokens));
        }
    }
    Ok(())
}

/// What a selection set asks for, fragments expanded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Cost {
    /// Deepest field nesting.
    depth: usize,
    /// Fields, a connection's times its page size.
    complexity: usize,
    /// Aliased fields.
    aliases: usize,
    /// Fields at the top of the set.
    top_fields: usize,
}

/// Step 2, on the parsed document, before validation.
pub fn check_document(
    document: &ExecutableDocument,
    variables: &Variables,
    limits: &QueryLimits,
) -> Result<(), async_graphql::Error> {
    let mut walk = Walk {
        fragments: &document.fragments,
        variables,
        limits,
        done: HashMap::new(),
        visiting: Vec::new(),
    };
    for (_, operation) in document.operations.iter() {
        let cost = walk.selection_set(&operation.node.selection_set.node)?;
        if cost.top_fields > limits.max_root_fields {
            return Err(limit_error(Limit::RootFields, limits.max_root_fields));
        }
        walk.check(cost)?;
    }
    // Fragments no operation uses are refused by validation; walk them too, so none escapes.
    for name in document.fragments.keys() {
        walk.fragment(name.as_str())?;
    }
    Ok(())
}

struct Walk<'a> {
    fragments: &'a HashMap<Name, Positioned<FragmentDefinition>>,
    variables: &'a Variables,
    limits: &'a QueryLimits,
    /// Each fragment's cost, computed once: a fragment spread many times is not walked again, so
    /// the walk stays linear in the document however the fragments multiply.
    done: HashMap<&'a str, Cost>,
    /// Fragments being walked, to find cycles.
    visiting: Vec<&'a str>,
}

impl<'a> Walk<'a> {
    fn check(&self, cost: Cost) -> Result<(), async_graphql::Error> {
        if cost.depth > self.limits.max_depth {
            return Err(limit_error(Limit::Depth, self.limits.max_depth));
        }
        if cost.aliases > self.limits.max_aliases {
            return Err(limit_error(Limit::Aliases, self.limits.max_aliases));
        }
        if cost.complexity > self.limits.max_complexity {
            return Err(limit_error(Limit::Complexity, self.limits.max_complexity));
        }
        Ok(())
    }

    fn selection_set(&mut self, set: &'a SelectionSet) -> Result<Cost, async_graphql::Error> {
        let mut total = Cost::default();
        for selection in &set.items {
            let cost = match &selection.node {
                Selection::Field(field) => self.field(&field.node)?,
                Selection::FragmentSpread(spread) => {
                    self.fragment(spread.node.fragment_name.node.as_str())?
                }
                Selection::InlineFragment(inline) => {
                    self.selection_set(&inline.node.selection_set.node)?
                }
            };
            total = Cost {
                depth: total.depth.max(cost.depth),
                complexity: total.complexity.saturating_add(cost.complexity),
                aliases: total.aliases.saturating_add(cost.aliases),
                top_fields: total.top_fields.saturating_add(cost.top_fields),
            };
            self.check(total)?;
        }
        Ok(total)
    }

    fn field(&mut self, field: &'a Field) -> Result<Cost, async_graphql::Error> {
        if field.directives.len() > self.limits.max_directives_per_field {
            return Err(limit_error(
                Limit::Directives,
                self.limits.max_directives_per_field,
            ));
        }
        let children = self.selection_set(&field.selection_set.node)?;
        let cost = Cost {
            depth: children.depth.saturating_add(1),
            complexity: children
                .complexity
                .saturating_mul(self.page_size(field))
                .saturating_add(1),
            aliases: children
                .aliases
                .saturating_add(usize::from(field.alias.is_some())),
            top_fields: 1,
        };
        self.check(cost)?;
        Ok(cost)
    }

    /// How many times a field's children are resolved: a connection's page (its `first`, the
    /// default page size without one, the maximum for anything unreadable), else once.
    fn page_size(&self, field: &Field) -> usize {
        let max = usize::try_from(MAX_FIRST).unwrap_or(100);
        let default = usize::try_from(DEFAULT_FIRST).unwrap_or(max);
        let Some(first) = field.get_argument("first") else {
            let is_connection = field.selection_set.node.items.iter().any(|item| {
                matches!(&item.node, Selection::Field(child)
                    if matches!(child.node.name.node.as_str(), "edges" | "nodes"))
            });
            return if is_connection { default } else { 1 };
        };
        let value = first
            .node
            .clone()
            .into_const_with(|name| self.variables.get(&name).cloned().ok_or(()));
        match value {
            Ok(Value::Number(number)) => number
                .as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .map_or(max, |n| n.clamp(1, max)),
            Ok(Value::Null) | Err(()) => default,
            Ok(_) => max,
        }
    }

    fn fragment(&mut self, name: &'a str) -> Result<Cost, async_graphql::Error> {
        if let Some(cost) = self.done.get(name) {
            return Ok(*cost);
        }
        if self.visiting.contains(&name) {
            let mut error = ApiError::BadUserInput("fragment cycle").extend();
            error.message =
                "bad input: the document's fragments spread each other in a cycle".to_owned();
            return Err(error);
        }
        // An unknown fragment is the validator's to name; it costs nothing here.
        let Some((key, fragment)) = self.fragments.get_key_value(name) else {
            return Ok(Cost::default());
        };
        self.visiting.push(key.as_str());
        let cost = self.selection_set(&fragment.node.selection_set.node);
        self.visiting.pop();
        let cost = cost?;
        self.done.insert(key.as_str(), cost);
        Ok(cost)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: QueryLimits = QueryLimits {
        max_depth: 4,
        max_complexity: 500,
        max_aliases: 3,
        max_root_fields: 3,
        max_tokens: 60,
        max_document_bytes: 1_000,
        max_directives_per_field: 2,
        max_batch: 0,
    };

    /// The limit `query` goes over with `variables`, or `None` when it passes.
    #[track_caller]
    fn check(query: &str, variables: serde_json::Value, want: Option<&str>) {
        let variables = Variables::from_json(variables);
        let result = check_text(query, &LIMITS).and_then(|()| {
            let document = async_graphql::parser::parse_query(query).expect("test query parses");
            check_document(&document, &variables, &LIMITS)
        });
        let got = match &result {
            Ok(()) => None,
            Err(error) => {
                let ext = error.extensions.as_ref().expect("extensions");
                assert_eq!(
                    ext.get("code").map(ToString::to_string).as_deref(),
                    Some("\"BAD_USER_INPUT\"")
                );
                Some(
                    ext.get("limit")
                        .map(|limit| limit.to_string().trim_matches('"').to_owned())
                        .unwrap_or_else(|| error.message.clone()),
                )
            }
        };
        assert_eq!(got.as_deref(), want, "{query}");
    }

    #[test]
    fn each_limit_is_named() {
        let none = serde_json::json!({});
        let cases = [
            ("{ plan(id: 1) { sections { content } } }", None),
            ("{ a { b { c { d } } } }", None),
            ("{ a { b { c { d { e } } } } }", Some("depth")),
            ("{ x: a y: a z: a }", None),
            ("{ w: a x: a y: a z: a }", Some("aliases")),
            ("{ a b c d }", Some("rootFields")),
            ("{ a b c }", None),
            ("{ a @skip(if: true) @include(if: true) }", None),
            (
                "{ a @skip(if: true) @include(if: true) @x }",
                Some("directives"),
            ),
            (&format!("{{ {} }}", "a ".repeat(70)), Some("tokens")),
            (
                &format!("{{ a }}{}", " ".repeat(1_000)),
                Some("documentBytes"),
            ),
            (
                &format!("{}{}", "{ a ".repeat(25), "}".repeat(25)),
                Some("depth"),
            ),
            // Connections cost by their page size.
            ("{ plans(first: 100) { edges { node { id } } } }", None),
            (
                "{ plans(first: 100) { edges { node { id status } } } }",
                None,
            ),
            (
                "{ plans(first: 100) { edges { node { id status kind } } } }",
                Some("complexity"),
            ),
            // Without `first`, a connection costs its default page.
            ("{ plans { edges { node { id } } } }", None),
        ];
        for (query, want) in cases {
            check(query, none.clone(), want);
        }
    }

    #[test]
    fn first_from_a_variable_counts() {
        let query = "query($n: Int) { plans(first: $n) { edges { node { id status kind } } } }";
        check(query, serde_json::json!({ "n": 10 }), None);
        check(query, serde_json::json!({ "n": 100 }), Some("complexity"));
        check(
            query,
            serde_json::json!({ "n": "many" }),
            Some("complexity"),
        );
    }

    #[test]
    fn fragments_are_expanded_once_and_cycles_refused() {
        let none = serde_json::json!({});
        check(
            "{ ...F } fragment F on Query { a: x b: x }",
            none.clone(),
            None,
        );
        check(
            "{ ...F ...G } fragment F on Query { a: x b: x } fragment G on Query { c: x d: x }",
            none.clone(),
            Some("aliases"),
        );
        check(
            "{ a { ...F } } fragment F on T { b { ...G } } fragment G on T { c { ...F } }",
            none.clone(),
            Some("bad input: the document's fragments spread each other in a cycle"),
        );
        // Fragments that multiply (each spreads the next twice) are costed, not walked, again.
        let mut query = String::from("{ ...F0 }");
        for level in 0..40 {
            query.push_str(&format!(
                " fragment F{level} on Query {{ ...F{next} ...F{next} }}",
                next = level + 1
            ));
        }
        query.push_str(" fragment F40 on Query { x }");
        let limits = QueryLimits {
            max_tokens: 10_000,
            max_root_fields: usize::MAX,
            ..LIMITS
        };
        let document = async_graphql::parser::parse_query(&query).unwrap();
        let error = check_document(&document, &Variables::default(), &limits).unwrap_err();
        assert_eq!(
            error
                .extensions
                .unwrap()
                .get("limit")
                .map(ToString::to_string),
            Some("\"complexity\"".to_owned())
        );
    }

    #[test]
    fn any_prefix_of_a_tricky_document_is_scanned_without_panicking() {
        // Cut anywhere: inside a block string, an escape, a comment, a number, a spread.
        let document = "query Q($n: Int = -1.5e+3) { a(b: \"x\\\"y\", c: \"\"\"z \\\"\"\" w\"\"\") \
                        # note\r\n ...F @skip(if: false) } fragment F on T { d }";
        for end in 0..=document.len() {
            let _ = check_text(&document[..end], &QueryLimits::default());
        }
        assert!(check_text(document, &QueryLimits::default()).is_ok());
    }

    #[test]
    fn strings_and_comments_are_one_token_or_none() {
        let limits = QueryLimits {
            max_tokens: 8,
            ..LIMITS
        };
        // { a ( b : "…" ) } is 8 tokens however long the string; a comment is none.
        let long = format!("{{ a(b: \"{}\") }} # {}", "x".repeat(500), "y ".repeat(100));
        assert!(check_text(&long, &limits).is_ok());
        let block = "{ a(b: \"\"\"line \\\"\"\" and { ( [ \"\"\") }";
        assert!(check_text(block, &limits).is_ok());
        assert!(check_text("{ a(b: 1.5e-3, c: -2) }", &limits).is_err());
        assert!(
            check_text(
                "{ a(b: 1.5e-3) }",
                &QueryLimits {
                    max_tokens: 8,
                    ..LIMITS
                }
            )
            .is_ok()
        );
    }
}

#[cfg(test)]
mod schema_tests {
    use crate::{SchemaOptions, build_schema};

    /// The `extensions.limit` of the first error of `query` against the production schema.
    async fn refused(query: &str) -> Option<String> {
        let response = build_schema(SchemaOptions::production(Default::default()))
            .execute(query)
            .await;
        assert!(response.data == async_graphql::Value::Null, "{query}");
        let ext = response.errors.first()?.extensions.as_ref()?;
        assert_eq!(
            ext.get("code").map(ToString::to_string).as_deref(),
            Some("\"BAD_USER_INPUT\"")
        );
        ext.get("limit").map(|limit| limit.to_string())
    }

    #[tokio::test]
    async fn the_schema_refuses_before_async_graphql_walks_fragments() {
        // Forty fragments each spreading the next twice: 2^40 paths for a walker without memory.
        let mut query = String::from("{ ...F0 }");
        for level in 0..40 {
            query.push_str(&format!(
                " fragment F{level} on Query {{ ...F{next} ...F{next} }}",
                next = level + 1
            ));
        }
        query.push_str(" fragment F40 on Query { apiVersion }");
        assert_eq!(refused(&query).await.as_deref(), Some("\"complexity\""));
        assert_eq!(
            refused("{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }").await,
            None,
            "a cycle is refused, as bad input without a limit"
        );
        assert_eq!(
            refused("{ apiVersion").await,
            None,
            "a syntax error is bad input"
        );
    }
}
