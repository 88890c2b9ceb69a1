//! Configuration: the built-in `config/default.toml`, overridden by a `--config` file, overridden
//! by `WIJKHUB_*` environment variables (`WIJKHUB_HTTP__PORT=9000` sets `http.port`) and, for the
//! database URL only, by the conventional plain `DATABASE_URL`.
//!
//! Every struct refuses unknown fields, so a typo is an error rather than a silently ignored
//! setting. Secrets are never read from here into `Debug` output.

use std::num::{NonZeroU64, NonZeroUsize};
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use serde::Deserialize;
use store::DbConfig;
use store::erase::RetentionConfig;

use crate::auth::AuthSettings;
use crate::keys::KeysConfig;

/// The defaults, compiled in so the binary runs from any directory. The same file is in the
/// repository, documented line by line.
pub const DEFAULT_TOML: &str = include_str!("../../../config/default.toml");

/// The whole configuration.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `development` (the demo: GraphiQL, introspection, pretty errors in logs) or `production`.
    pub profile: Profile,
    /// Where the hub listens.
    pub http: HttpConfig,
    /// The database.
    pub database: DbConfig,
    /// Where the encryption keys come from.
    pub keys: KeysConfig,
    /// How long plans' files are kept before a resident may be erased.
    pub retention: RetentionConfig,
    /// What a plan's sections may hold.
    pub plans: PlansConfig,
    /// Authentication: the auth key file, tokens, passwords, throttling, sessions.
    pub auth: AuthSettings,
    /// The audit log's group-commit writer.
    #[serde(default)]
    pub audit: audit::WriterConfig,
    /// Logging.
    pub log: LogConfig,
    /// The access policy's settings.
    pub policy: PolicySettings,
    /// What one GraphQL document may ask, checked before any resolver runs.
    pub graphql: GraphqlSettings,
    /// Requests per minute per source address and per caller.
    pub rate_limit: crate::rate_limit::RateLimitSettings,
}

/// `[graphql]`: the query limits (`docs/API.md`, "Query limits"); each at least 1.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(try_from = "GraphqlFields")]
pub struct GraphqlSettings(pub api::QueryLimits);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GraphqlFields {
    /// Deepest field nesting (`{ plan { sections { content } } }` is 3).
    max_depth: usize,
    /// Most cost: each field 1, a connection's fields times its `first`.
    max_complexity: usize,
    /// Most aliased fields in a document, fragments expanded.
    max_aliases: usize,
    /// Most fields at the top of one operation.
    max_root_fields: usize,
    /// Most lexical tokens in a document.
    max_tokens: usize,
    /// Largest document, in bytes.
    max_document_bytes: usize,
    /// Most directives on one field.
    max_directives_per_field: usize,
    /// Most operations in one batched request; 0 (the default): batches are refused.
    max_batch: usize,
}

impl TryFrom<GraphqlFields> for GraphqlSettings {
    type Error = String;

    fn try_from(fields: GraphqlFields) -> Result<GraphqlSettings, String> {
        let limits = api::QueryLimits {
            max_depth: fields.max_depth,
            max_complexity: fields.max_complexity,
            max_aliases: fields.max_aliases,
            max_root_fields: fields.max_root_fields,
            max_tokens: fields.max_tokens,
            max_document_bytes: fields.max_document_bytes,
            max_directives_per_field: fields.max_directives_per_field,
            max_batch: fields.max_batch,
        };
        let zero = [
            ("max_depth", limits.max_depth),
            ("max_complexity", limits.max_complexity),
            ("max_aliases", limits.max_aliases),
            ("max_root_fields", limits.max_root_fields),
            ("max_tokens", limits.max_tokens),
            ("max_document_bytes", limits.max_document_bytes),
            ("max_directives_per_field", limits.max_directives_per_field),
        ]
        .into_iter()
        .find(|(_, value)| *value == 0);
        match zero {
            // A limit of 0 would refuse every document; nobody means that.
            Some((name, _)) => Err(format!("{name} must be at least 1")),
            None => Ok(GraphqlSettings(limits)),
        }
    }
}

/// `[plans]` settings.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlansConfig {
    /// The most a section's content may hold, in bytes of UTF-8; more is `BAD_USER_INPUT`. It
    /// travels in a request body, so it must leave room under `[http] max_body_bytes`.
    pub max_section_bytes: NonZeroUsize,
}

/// Bytes of a request besides a section's content (the document, the other variables, JSON
/// escapes of a few newlines), which `[http] max_body_bytes` must leave room for.
pub const SECTION_REQUEST_OVERHEAD: usize = 8 * 1024;

/// `[policy]` settings.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySettings {
    /// Break-the-glass (noodtoegang): the reason's minimum length and how long a grant lasts.
    pub break_glass: BreakGlassSettings,
}

/// `[policy.break_glass]`, checked by the policy when read: a maximum over 24 hours, a default
/// over the maximum or a minimum reason under 10 characters refuses the start.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(try_from = "BreakGlassFields")]
pub struct BreakGlassSettings(pub policy::BreakGlassConfig);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BreakGlassFields {
    /// Characters a written reason needs at least (10 or more).
    min_reason_chars: usize,
    /// Hours a grant lasts when the request names none.
    default_hours: i64,
    /// Hours a grant may last at most (at most 24).
    max_hours: i64,
}

impl TryFrom<BreakGlassFields> for BreakGlassSettings {
    type Error = String;

    fn try_from(fields: BreakGlassFields) -> Result<BreakGlassSettings, String> {
        policy::BreakGlassConfig::new(
            fields.min_reason_chars,
            chrono::Duration::hours(fields.default_hours),
            chrono::Duration::hours(fields.max_hours),
        )
        .map(BreakGlassSettings)
        .map_err(|_| {
            format!(
                "min_reason_chars must be at least 10, default_hours more than 0 and at most \
                 max_hours, max_hours at most {}",
                policy::BreakGlassConfig::HARD_MAX_HOURS
            )
        })
    }
}

/// Which kind of deployment this is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    Development,
    Production,
}

/// `[http]` settings.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Address to bind, e.g. `127.0.0.1` or `0.0.0.0`.
    pub host: String,
    /// Port to bind; 0 picks a free one (tests).
    pub port: u16,
    /// Seconds that in-flight requests get to finish after SIGTERM or ctrl-c.
    pub shutdown_grace_seconds: u64,
    /// Reverse proxies (CIDR blocks) whose `X-Forwarded-For` is believed: from one of them the
    /// source address is the right-most forwarded address that is not a trusted proxy. Empty
    /// (the default): the peer's address, whatever the header says.
    #[serde(default)]
    pub trusted_proxies: Vec<crate::forwarded::Cidr>,
    /// Largest request body in bytes, also when sent chunked; over it: `413`.
    pub max_body_bytes: NonZeroUsize,
    /// Seconds a request may take, body included, before it is answered `503`.
    pub request_timeout_seconds: NonZeroU64,
    /// Requests in progress at once; one more is refused `503` with `Retry-After` at once,
    /// never queued.
    pub max_concurrent_requests: NonZeroUsize,
    /// Origins (`https://console.example.nl`) whose pages may call the hub from a browser; empty
    /// (the default): none, and CORS preflights get no permission.
    pub cors_origins: Vec<Origin>,
}

/// A web origin: `https://host` or `http://host:port`, without path, query or trailing slash,
/// as a browser sends it in `Origin`.
#[derive(Clone, PartialEq, Eq)]
pub struct Origin(String);

impl Origin {
    pub fn parse(text: &str) -> Result<Origin, String> {
        let rest = text
            .strip_prefix("https://")
            .or_else(|| text.strip_prefix("http://"))
            .ok_or_else(|| format!("`{text}`: an origin starts with https:// or http://"))?;
        let valid = !rest.is_empty()
            && rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b));
        if !valid {
            return Err(format!(
                "`{text}`: an origin is scheme://host[:port], without path or trailing slash"
            ));
        }
        Ok(Origin(text.to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Origin {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Origin, D::Error> {
        let text = String::deserialize(deserializer)?;
        Origin::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// `[log]` settings.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// `pretty` for people, `json` for log collectors.
    pub format: LogFormat,
    /// A `tracing` filter, e.g. `info` or `info,wijkhub_server=debug`; `RUST_LOG` overrides it.
    pub filter: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

/// A setting is missing or invalid. `Display` is one line naming the setting and its source.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration file {path} cannot be read: {reason}")]
    Unreadable { path: String, reason: String },
    #[error("configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// Loads the layers in order: built-in defaults, then `file` (when given), then the
    /// environment.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        Self::load_from(
            file,
            settings_from_env(),
            std::env::var("DATABASE_URL").ok(),
        )
    }

    fn load_from(
        file: Option<&Path>,
        env: Env,
        database_url: Option<String>,
    ) -> Result<Config, ConfigError> {
        let mut figment = Figment::from(Toml::string(DEFAULT_TOML));
        if let Some(path) = file {
            // figment treats a missing file as empty; a named file that is missing is an error.
            std::fs::metadata(path).map_err(|error| ConfigError::Unreadable {
                path: path.display().to_string(),
                reason: error.kind().to_string(),
            })?;
            figment = figment.merge(Toml::file_exact(path));
        }
        figment = figment.merge(env);
        if let Some(url) = database_url.filter(|url| !url.is_empty()) {
            figment = figment.merge(("database.url", url));
        }
        let config: Config = figment.extract().map_err(|error| {
            // figment can report several errors; the first is named, the count follows.
            let count = error.count();
            let first = error.into_iter().next().map(one_line).unwrap_or_default();
            let more = if count > 1 {
                format!(" (and {} more)", count - 1)
            } else {
                String::new()
            };
            ConfigError::Invalid(format!("{first}{more}"))
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Configuration for tests: development profile, a free loopback port, the given database,
    /// and a fresh key file and auth key file of its own in a new temporary directory (left for
    /// the OS to clean).
    pub fn for_tests(database_url: String) -> Config {
        let mut config = Self::load_from(None, Env::raw().only(&[]), None)
            .unwrap_or_else(|error| panic!("built-in defaults are valid: {error}"));
        config.profile = Profile::Development;
        config.http.port = 0;
        config.http.host = "127.0.0.1".into();
        config.http.shutdown_grace_seconds = 5;
        config.database.url = database_url;
        let dir = std::env::temp_dir().join(format!("wijkhub-test-keys-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|error| panic!("cannot create {}: {error}", dir.display()));
        config.keys.file = dir.join("keys");
        crypto::generate_key_file(&config.keys.file)
            .unwrap_or_else(|error| panic!("cannot create test keys: {error}"));
        config.auth.key_file = dir.join("auth-keys");
        crate::auth::AuthKeys::create(&config.auth.key_file)
            .unwrap_or_else(|error| panic!("cannot create test auth keys: {error}"));
        config
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.database.max_connections == 0 {
            return Err(ConfigError::Invalid(
                "database.max_connections must be at least 1".into(),
            ));
        }
        self.auth.validate().map_err(ConfigError::Invalid)?;
        self.audit
            .validate()
            .map_err(|error| ConfigError::Invalid(error.to_string()))?;
        if self.plans.max_section_bytes.get() + SECTION_REQUEST_OVERHEAD
            > self.http.max_body_bytes.get()
        {
            return Err(ConfigError::Invalid(format!(
                "plans.max_section_bytes ({}) must leave {SECTION_REQUEST_OVERHEAD} bytes of the \
                 request body for the rest of the request: raise http.max_body_bytes ({}) with it",
                self.plans.max_section_bytes, self.http.max_body_bytes
            )));
        }
        if self.database.timeout_seconds == 0 {
            return Err(ConfigError::Invalid(
                "database.timeout_seconds must be at least 1".into(),
            ));
        }
        Ok(())
    }

    /// The directory holding local state (the SQLite file, development keys): `./data`.
    pub fn data_dir(&self) -> PathBuf {
        PathBuf::from("data")
    }
}

/// `WIJKHUB_SECTION__KEY` variables (and `WIJKHUB_PROFILE`). Other `WIJKHUB_` variables are not
/// settings: `WIJKHUB_KEYS` holds key material for `keys.source = "env"`, and
/// `WIJKHUB_TEST_DATABASE_URL` points the test suite at PostgreSQL.
fn settings_from_env() -> Env {
    Env::prefixed("WIJKHUB_")
        .filter(|key| key.as_str().contains("__") || key == "profile")
        .split("__")
}

/// figment's error names the key and where its value came from; keep it to one line.
fn one_line(error: figment::Error) -> String {
    let key = if error.path.is_empty() {
        String::new()
    } else {
        format!("`{}`: ", error.path.join("."))
    };
    let source = match error.metadata.as_ref() {
        // The environment provider names only the prefix; name the very variable.
        Some(metadata) if metadata.name.contains("environment") && !error.path.is_empty() => {
            let variable = error.path.join("__").to_uppercase();
            format!(" (from environment variable WIJKHUB_{variable})")
        }
        Some(metadata) => match metadata.source.as_ref() {
            Some(source) => format!(" (from {} {source})", metadata.name),
            None => format!(" (from {})", metadata.name),
        },
        None => String::new(),
    };
    let kind = error.kind.to_string().replace('\n', " ");
    format!("{key}{kind}{source}")
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail's closures return figment::Error
mod tests {
    use figment::Jail;

    use super::*;

    /// Loads as `Config::load` does, inside a jail that owns the environment and the cwd.
    fn load_in(jail: &mut Jail, file_text: Option<&str>) -> Result<Config, ConfigError> {
        let path = match file_text {
            Some(text) => {
                jail.create_file("wijkhub.toml", text)
                    .map_err(|e| ConfigError::Invalid(e.to_string()))?;
                Some(jail.directory().join("wijkhub.toml"))
            }
            None => None,
        };
        Config::load_from(
            path.as_deref(),
            settings_from_env(),
            std::env::var("DATABASE_URL").ok(),
        )
    }

    #[test]
    fn other_wijkhub_variables_are_not_settings() {
        Jail::expect_with(|jail| {
            jail.set_env("WIJKHUB_KEYS", "kek 1 live AAAA");
            jail.set_env(
                "WIJKHUB_TEST_DATABASE_URL",
                "postgres://postgres@127.0.0.1/x",
            );
            jail.set_env("WIJKHUB_KEYS__SOURCE", "env");
            let config = load_in(jail, None).map_err(|e| e.to_string())?;
            assert_eq!(config.keys.source, crate::keys::KeySource::Env);
            Ok(())
        });
    }

    #[test]
    fn defaults_are_valid_and_production() {
        Jail::expect_with(|jail| {
            let config = load_in(jail, None).map_err(|e| e.to_string())?;
            assert_eq!(config.profile, Profile::Production);
            assert!(config.database.url.starts_with("sqlite:"));
            Ok(())
        });
    }

    #[test]
    fn layers_apply_in_order() {
        Jail::expect_with(|jail| {
            jail.set_env("WIJKHUB_HTTP__PORT", "9100");
            jail.set_env("DATABASE_URL", "postgres://hub@db/wijkhub");
            let config = load_in(jail, Some("[http]\nport = 9000\nhost = \"0.0.0.0\"\n"))
                .map_err(|e| e.to_string())?;
            assert_eq!(config.http.port, 9100, "environment overrides the file");
            assert_eq!(
                config.http.host, "0.0.0.0",
                "the file overrides the defaults"
            );
            assert_eq!(config.database.url, "postgres://hub@db/wijkhub");
            Ok(())
        });
    }

    #[track_caller]
    fn check_refused(file_text: &str, env: &[(&str, &str)], must_mention: &[&str]) {
        Jail::expect_with(|jail| {
            for (name, value) in env {
                jail.set_env(name, value);
            }
            let error = load_in(jail, Some(file_text))
                .expect_err("must be refused")
                .to_string();
            assert!(!error.contains('\n'), "one line: {error}");
            for needle in must_mention {
                assert!(
                    error.contains(needle),
                    "{error:?} should mention {needle:?}"
                );
            }
            Ok(())
        });
    }

    #[test]
    fn bad_settings_are_named() {
        check_refused("[http]\nport = \"eighty\"\n", &[], &["http.port"]);
        check_refused("[http]\nprot = 80\n", &[], &["prot"]);
        check_refused("[http\nport = 80\n", &[], &["wijkhub.toml"]);
        check_refused("profile = \"staging\"\n", &[], &["profile"]);
        check_refused(
            "",
            &[("WIJKHUB_HTTP__PORT", "99999")],
            &["http.port", "WIJKHUB_HTTP__PORT"],
        );
        check_refused(
            "[database]\nmax_connections = 0\n",
            &[],
            &["database.max_connections"],
        );
        check_refused(
            "[http]\nmax_body_bytes = 0\n",
            &[],
            &["http.max_body_bytes"],
        );
        check_refused(
            "[plans]\nmax_section_bytes = 65536\n",
            &[],
            &["plans.max_section_bytes", "http.max_body_bytes"],
        );
        check_refused(
            "[plans]\nmax_section_bytes = 0\n",
            &[],
            &["max_section_bytes"],
        );
        check_refused(
            "[http]\ncors_origins = [\"https://console.example/\"]\n",
            &[],
            &["http.cors_origins", "trailing slash"],
        );
        check_refused(
            "[http]\ncors_origins = [\"*\"]\n",
            &[],
            &["http.cors_origins"],
        );
        check_refused(
            "[rate_limit]\ncaller_burst = 0\n",
            &[],
            &["rate_limit.caller_burst"],
        );
    }

    #[test]
    fn a_named_file_that_is_missing_is_an_error() {
        let error = Config::load_from(
            Some(Path::new("/nonexistent/wijkhub.toml")),
            Env::raw().only(&[]),
            None,
        )
        .expect_err("missing file");
        assert!(
            error.to_string().contains("/nonexistent/wijkhub.toml"),
            "{error}"
        );
    }

    #[test]
    fn debug_hides_the_database_password() {
        let config = Config::for_tests("postgres://hub:s3cret@db/wijkhub".into());
        assert!(!format!("{config:?}").contains("s3cret"));
    }
}
