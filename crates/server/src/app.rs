//! Building and running the application: connect, check the schema, bind, serve, and shut down
//! gracefully on SIGTERM or ctrl-c.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use api::{ApiSchema, SchemaOptions};
use crypto::{DekCache, DekCacheConfig};
use store::{Db, DbConfig, SchemaStatus, StoreError};
use tokio::net::TcpListener;

use crate::auth::{AuthKeyError, AuthKeys, AuthSetupError, AuthState};
use crate::config::{Config, Profile};

/// Connections of the audit writer's own pool: one commits a batch, one spare for the
/// checkpoint and recovery reads.
const AUDIT_WRITER_CONNECTIONS: u32 = 2;
use crate::keys::KeysError;
use crate::router;

/// What every handler can reach.
pub(crate) struct AppState {
    pub(crate) db: Db,
    /// What the schema's resolvers reach resident data through: database, keys and the data-key
    /// cache, the audit log, the policy matrix.
    pub(crate) services: api::Services,
    pub(crate) schema: ApiSchema,
    pub(crate) graphiql: bool,
    /// Tokens, passwords, throttling, sessions, account status.
    pub(crate) auth: Arc<AuthState>,
    /// The audit log: every grant and refusal is committed here before the answer leaves.
    pub(crate) audit: audit::AuditLog,
    /// `[http] trusted_proxies`: whose `X-Forwarded-For` names the source address.
    pub(crate) trusted_proxies: Arc<Vec<crate::forwarded::Cidr>>,
    /// `[http]` body, time and concurrency limits, CORS origins, and whether the hub is HTTPS.
    pub(crate) edge: EdgeSettings,
    /// `[rate_limit]`: the buckets per source address and per caller.
    pub(crate) rate_limits: crate::rate_limit::RateLimits,
}

/// What the middleware at the edge is built from (`router::router`).
pub(crate) struct EdgeSettings {
    pub(crate) max_body_bytes: usize,
    pub(crate) request_timeout: Duration,
    pub(crate) max_concurrent_requests: usize,
    pub(crate) cors_origins: Vec<crate::config::Origin>,
    /// The hub's public URL (`auth.tokens.issuer`) is `https://`.
    pub(crate) https: bool,
}

/// The hub could not start. Each variant is one clear line for the operator.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Keys(#[from] KeysError),
    #[error(transparent)]
    Auth(#[from] AuthSetupError),
    #[error("the audit log cannot start: {0}")]
    Audit(#[from] audit::AuditError),
    #[error("the database has pending migrations ({}); run `wijkhub migrate` or set database.migrate_on_start", pending.join(", "))]
    MigrationsPending { pending: Vec<String> },
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: String,
        #[source]
        source: std::io::Error,
    },
}

/// A built application, bound to its address and ready to serve.
pub struct App {
    listener: TcpListener,
    router: axum::Router,
    local_addr: SocketAddr,
    grace: Duration,
    db: Db,
    audit_writer: audit::AuditWriter,
    maintenance: tokio::task::JoinHandle<()>,
}

impl App {
    /// Connects to the database, brings the schema up to date (or refuses), and binds.
    pub async fn build(config: Config) -> Result<App, StartError> {
        let db = Db::connect(&config.database).await?;
        Self::build_with_db(config, db).await
    }

    /// As [`App::build`], on an already open database (the CLI seeds before serving).
    pub async fn build_with_db(config: Config, db: Db) -> Result<App, StartError> {
        match db.schema_status().await? {
            SchemaStatus::Current => {}
            SchemaStatus::Newer { unknown } => {
                return Err(StoreError::NewerSchema { unknown }.into());
            }
            SchemaStatus::Behind { pending } => {
                if !config.database.migrate_on_start {
                    return Err(StartError::MigrationsPending { pending });
                }
                let applied = db.migrate().await?;
                tracing::info!(n_migrations = applied.len(), "migrations applied");
            }
        }

        let keys = Arc::new(config.keys.load()?);
        let development = config.profile == Profile::Development;
        if !development && !config.auth.tls() {
            if !config.auth.loopback() {
                return Err(AuthSetupError::Config(
                    "auth.tokens.issuer must be the hub's https:// URL in production".into(),
                )
                .into());
            }
            tracing::warn!(
                "auth.tokens.issuer is plain http on loopback: session cookies are not Secure"
            );
        }
        let auth_keys = AuthKeys::load(&config.auth.key_file).map_err(AuthSetupError::from)?;
        let audit_key = auth_keys
            .audit_signing_key(&config.audit.origin_prefix)
            .map_err(|_| {
                AuthSetupError::from(AuthKeyError::Invalid {
                    path: config.auth.key_file.display().to_string(),
                })
            })?;
        let auth = Arc::new(AuthState::build(config.auth.clone(), auth_keys, &db).await?);
        // The audit writer has connections of its own. A request that writes resident data on
        // PostgreSQL holds its transaction open until its entry is committed; sharing one pool,
        // enough such requests would take every connection and the writer could never commit.
        let audit_db = Db::connect(&DbConfig {
            max_connections: AUDIT_WRITER_CONNECTIONS,
            ..config.database.clone()
        })
        .await?;
        let audit_writer =
            audit::start(audit_db.conn().clone(), config.audit.clone(), audit_key).await?;
        let maintenance = tokio::spawn(crate::auth::maintain(auth.clone(), db.clone()));
        let schema = api::build_schema(if development {
            SchemaOptions::development(config.graphql.0)
        } else {
            SchemaOptions::production(config.graphql.0)
        });
        let state = Arc::new(AppState {
            db: db.clone(),
            services: api::Services {
                db: db.clone(),
                keys,
                deks: Arc::new(DekCache::new(DekCacheConfig::default())),
                audit: audit_writer.log(),
                matrix: Arc::new(policy::Matrix::default()),
                break_glass: config.policy.break_glass.0,
                retention: config.retention,
                max_section_bytes: config.plans.max_section_bytes.get(),
            },
            schema,
            graphiql: development,
            auth,
            audit: audit_writer.log(),
            trusted_proxies: Arc::new(config.http.trusted_proxies.clone()),
            edge: EdgeSettings {
                max_body_bytes: config.http.max_body_bytes.get(),
                request_timeout: Duration::from_secs(config.http.request_timeout_seconds.get()),
                max_concurrent_requests: config.http.max_concurrent_requests.get(),
                cors_origins: config.http.cors_origins.clone(),
                https: config.auth.tls(),
            },
            rate_limits: crate::rate_limit::RateLimits::new(&config.rate_limit),
        });
        let router = router::router(state);

        let address = format!("{}:{}", config.http.host, config.http.port);
        let listener = TcpListener::bind(&address)
            .await
            .map_err(|source| StartError::Bind {
                address: address.clone(),
                source,
            })?;
        let local_addr = listener
            .local_addr()
            .map_err(|source| StartError::Bind { address, source })?;
        Ok(App {
            listener,
            router,
            local_addr,
            grace: Duration::from_secs(config.http.shutdown_grace_seconds),
            db,
            audit_writer,
            maintenance,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves until SIGTERM or ctrl-c, then lets in-flight requests finish (up to the grace
    /// period), seals the audit log with a final checkpoint and closes the database.
    pub async fn run(self) -> std::io::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    /// Serves until `shutdown` completes.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let serve = axum::serve(
            self.listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            shutdown.await;
            tracing::info!("shutting down: no new connections, finishing requests in flight");
            let _ = stop_tx.send(true);
        });
        let grace = self.grace;
        let mut stopped = stop_rx.clone();
        let result = tokio::select! {
            result = serve.into_future() => result,
            () = async move {
                let _ = stopped.wait_for(|stopped| *stopped).await;
                tokio::time::sleep(grace).await;
            } => {
                tracing::warn!(grace_seconds = grace.as_secs(), "grace period over, closing remaining connections");
                Ok(())
            }
        };
        self.maintenance.abort();
        // After the server: every request that was answered has its entry committed; the final
        // checkpoint seals them.
        match self.audit_writer.shutdown().await {
            Ok(Some(_)) => tracing::info!("audit log sealed with a final checkpoint"),
            Ok(None) => {}
            Err(error) => tracing::warn!(error = %error, "audit writer did not shut down cleanly"),
        }
        if let Err(error) = self.db.conn().clone().close().await {
            tracing::warn!(error = %error, "closing the database failed");
        }
        tracing::info!("stopped");
        result
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
