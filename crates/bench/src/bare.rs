//! W1, the baseline: the same `plan(id) { sections { content } }` query answered by a minimal
//! async-graphql schema over the same tables, through the same driver (sea-orm), on the same
//! runtime — without authentication, policy, decryption or audit. It returns each section's
//! current ciphertext (base64) where the hub returns plaintext: what is left of a request when
//! the privacy controls are taken away. Never anything but a benchmark baseline.

use std::net::SocketAddr;

use async_graphql::{Context, EmptyMutation, EmptySubscription, ID, Object, Schema, SimpleObject};
use axum::Router;
use base64::Engine;
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use store::Db;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use uuid::Uuid;

pub struct Query;

#[derive(SimpleObject)]
pub struct BarePlan {
    sections: Vec<BareSection>,
}

#[derive(SimpleObject)]
pub struct BareSection {
    content: String,
}

#[Object]
impl Query {
    async fn plan(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<BarePlan>> {
        let db = ctx.data::<Db>()?;
        let id = Uuid::parse_str(&id)?;
        let backend = db.conn().get_database_backend();
        let placeholder = match backend {
            DbBackend::Postgres => "$1",
            _ => "?",
        };
        // One round trip: the plan's sections with their current revision.
        let sql = format!(
            "SELECT r.content_ciphertext AS content FROM plans p \
             JOIN sections s ON s.plan_id = p.id \
             JOIN section_revisions r ON r.section_id = s.id AND r.revision = s.current_revision \
             WHERE p.id = {placeholder} ORDER BY s.category"
        );
        let rows = db
            .conn()
            .query_all_raw(Statement::from_sql_and_values(backend, sql, [id.into()]))
            .await?;
        if rows.is_empty() {
            return Ok(None);
        }
        let engine = base64::engine::general_purpose::STANDARD;
        let sections = rows
            .iter()
            .map(|row| {
                let bytes: Vec<u8> = row.try_get("", "content")?;
                Ok(BareSection {
                    content: engine.encode(bytes),
                })
            })
            .collect::<async_graphql::Result<Vec<_>>>()?;
        Ok(Some(BarePlan { sections }))
    }
}

/// The bare server, running until dropped or stopped.
pub struct BareServer {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
}

impl BareServer {
    pub async fn start(db: Db) -> anyhow::Result<BareServer> {
        let schema = Schema::build(Query, EmptyMutation, EmptySubscription)
            .data(db)
            .finish();
        let app = Router::new().route_service("/graphql", async_graphql_axum::GraphQL::new(schema));
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stop_rx.await;
                })
                .await;
        });
        Ok(BareServer {
            addr,
            stop: Some(stop_tx),
        })
    }
}

impl Drop for BareServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
