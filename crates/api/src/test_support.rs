//! The in-process hub the crate's unit tests run resolvers against: a fresh database with the
//! demo network, keys, a running audit writer, the schema's `Services` (on a handle that counts
//! its own statements) and the demo coach as caller. On SQLite in a temporary directory — and on
//! PostgreSQL when `WIJKHUB_TEST_DATABASE_URL` names a server, as the other database tests do.
//! Test code only: never compiled into the hub.

use std::sync::Arc;

use chrono::{Duration, Utc};
use crypto::{DekCache, DekCacheConfig};
use domain::{MemberId, OrganisationId, Purpose, Role};
use sea_orm::{ColumnTrait, ConnectionTrait, Database, EntityTrait, QueryFilter};
use secrecy::ExposeSecret;
use store::entity::members;
use uuid::Uuid;

use crate::{Caller, CallerId, Credential, DeclaredPurpose, Services};

/// The demo network, in-process. Call [`Hub::remove`] at the end of the test.
pub(crate) struct Hub {
    /// The plain handle, for the test's own queries (not counted).
    pub(crate) db: store::Db,
    /// The schema's services; their database handle counts its own statements.
    pub(crate) services: Services,
    statements: Box<dyn Fn() -> u64 + Send + Sync>,
    /// The demo coach of wijkteam Noord-West, in a console session, for every purpose.
    pub(crate) coach: Caller,
    writer: audit::AuditWriter,
    remove: Box<dyn FnOnce() + Send>,
}

impl Hub {
    /// Migrated, seeded with the demo network, the audit writer running.
    pub(crate) async fn start() -> Hub {
        let (url, remove) = fresh_database().await;
        let db = store::Db::connect(&store::DbConfig {
            url,
            max_connections: 5,
            timeout_seconds: 30,
            migrate_on_start: false,
        })
        .await
        .unwrap();
        db.migrate().await.unwrap();
        let keys = crypto::key_ring_from_text(crypto::generate_key_text().unwrap().expose_secret())
            .unwrap();
        store::seed::demo(&db, &keys, Utc::now()).await.unwrap();
        let key =
            audit::SigningKey::from_pkcs8("wijkhub-test", &audit::generate_signing_key().unwrap())
                .unwrap();
        let writer = audit::start(db.conn().clone(), audit::WriterConfig::default(), key)
            .await
            .unwrap();
        let (counted, statements) = db.counting();
        let services = Services {
            db: counted,
            keys: Arc::new(keys),
            deks: Arc::new(DekCache::new(DekCacheConfig::default())),
            audit: writer.log(),
            matrix: Arc::new(policy::Matrix::default()),
            break_glass: policy::BreakGlassConfig::default(),
            retention: store::erase::RetentionConfig {
                wmo_years: 15,
                jeugd_years: 20,
            },
            max_section_bytes: crate::DEFAULT_MAX_SECTION_BYTES,
        };
        let coach = members::Entity::find()
            .filter(members::Column::Email.eq("coach@noordwest.demo"))
            .one(db.conn())
            .await
            .unwrap()
            .unwrap();
        let coach = Caller {
            id: CallerId::Member(MemberId::from_uuid(coach.id)),
            client_id: "wijkhub-console".into(),
            organisation: OrganisationId::from_uuid(coach.organisation_id),
            roles: vec![Role::Coach],
            scopes: Vec::new(),
            purposes: Purpose::ALL.to_vec(),
            amr: vec!["pwd".into()],
            credential: Credential::Session,
            expires_at: Utc::now() + Duration::hours(1),
        };
        Hub {
            db,
            services,
            statements: Box::new(move || statements.get()),
            coach,
            writer,
            remove,
        }
    }

    /// `query` with `variables`, asked by the demo coach for support.
    pub(crate) fn coach_request(
        &self,
        query: &str,
        variables: serde_json::Value,
    ) -> async_graphql::Request {
        async_graphql::Request::new(query)
            .variables(async_graphql::Variables::from_json(variables))
            .data(self.services.clone())
            .data(self.coach.clone())
            .data(DeclaredPurpose::Known(Purpose::Support))
    }

    /// How many statements the services' database handle has run so far.
    pub(crate) fn statements(&self) -> u64 {
        (self.statements)()
    }

    /// How many audit entries of `action` the log holds.
    pub(crate) async fn audit_entries(&self, action: &str) -> i64 {
        self.db
            .conn()
            .query_one_raw(sea_orm::Statement::from_string(
                self.db.conn().get_database_backend(),
                format!("SELECT COUNT(*) AS n FROM audit_entries WHERE action = '{action}'"),
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get::<i64>("", "n")
            .unwrap()
    }

    /// Stops the audit writer, closes the database and removes it.
    pub(crate) async fn remove(self) {
        self.writer.shutdown().await.unwrap();
        self.db.conn().clone().close().await.unwrap();
        (self.remove)();
    }
}

/// A fresh database: PostgreSQL when `WIJKHUB_TEST_DATABASE_URL` is set, else SQLite in a
/// temporary directory. Returns the URL and how to remove it.
async fn fresh_database() -> (String, Box<dyn FnOnce() + Send>) {
    let name = format!("wijkhub_api_test_{}", Uuid::now_v7().simple());
    match std::env::var("WIJKHUB_TEST_DATABASE_URL") {
        Ok(admin_url) if !admin_url.trim().is_empty() => {
            let admin_url = admin_url.trim().to_owned();
            let admin = Database::connect(&admin_url).await.unwrap();
            admin
                .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                .await
                .unwrap();
            admin.close().await.unwrap();
            let base = admin_url.rsplit_once('/').unwrap().0;
            let url = format!("{base}/{name}");
            let drop = move || {
                // Best effort, from a thread with a runtime of its own.
                let _ = std::thread::spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .unwrap();
                    runtime.block_on(async move {
                        if let Ok(admin) = Database::connect(&admin_url).await {
                            let _ = admin
                                .execute_unprepared(&format!(
                                    "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                                ))
                                .await;
                        }
                    });
                })
                .join();
            };
            (url, Box::new(drop))
        }
        _ => {
            let dir = std::env::temp_dir().join(name);
            std::fs::create_dir_all(&dir).unwrap();
            let url = format!("sqlite://{}/hub.db", dir.display());
            (
                url,
                Box::new(move || {
                    let _ = std::fs::remove_dir_all(dir);
                }),
            )
        }
    }
}
