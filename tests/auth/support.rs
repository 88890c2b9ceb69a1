//! The hub with a small network of its own for the authentication tests: a wijkteam, a welfare
//! organisation and the municipality; a partner client with a secret; members created through
//! the same administrative code as the CLI; and a signer holding the hub's real signing key, so a
//! test can forge exactly the token it wants to see refused.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::Utc;
use domain::{MemberStatus, Purpose, Role};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use sea_orm::ActiveValue::Set;
use sea_orm::{ConnectionTrait, EntityTrait, Statement};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use server::Config;
use server::auth::admin::{Admin, NewPassword};
use server::auth::{AuthKeys, signing};
use store::Db;
use store::entity::{networks, organisation_networks, organisations};
use testkit::{TestDb, TestHub};
use uuid::Uuid;

pub const WIJKTEAM: &str = "Wijkteam Test";
pub const WELZIJN: &str = "Welzijn Test";
pub const GEMEENTE: &str = "Gemeente Test";
pub const CLIENT_ID: &str = "welzijn-test";
pub const SCOPES: [&str; 2] = ["plans:read", "plans:write"];

/// The hub, its database, and the credentials of its one partner client.
pub struct AuthHub {
    pub db: Db,
    pub hub: TestHub,
    pub config: Config,
    pub client_secret: String,
    /// The client's id in the hub (the token's subject).
    pub client_uuid: Uuid,
    pub welzijn: Uuid,
    _test_db: TestDb,
}

/// Cheap argon2 for tests that do not measure it; the OWASP parameters are the default.
pub fn fast_passwords(config: &mut Config) {
    config.auth.password.memory_kib = 1024;
    config.auth.password.iterations = 1;
}

impl AuthHub {
    pub async fn start() -> AuthHub {
        AuthHub::start_with(|_| {}).await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> AuthHub {
        let test_db = TestDb::new().await;
        let mut config = test_db.config();
        fast_passwords(&mut config);
        config.auth.status_cache_seconds = 1;
        tweak(&mut config);
        let db = test_db.migrated().await;
        let welzijn = organisations(&db).await;
        let admin = Admin::open_with_db(&config, db.clone()).await.unwrap();
        let scopes: Vec<String> = SCOPES.iter().map(|s| (*s).to_owned()).collect();
        let shown = admin
            .add_client(
                CLIENT_ID,
                "Welzijn Test partner system",
                WELZIJN,
                &scopes,
                &[Purpose::Support, Purpose::Coordination],
                None,
                true,
            )
            .await
            .unwrap();
        admin.close().await.unwrap();
        let client_secret = shown.secret.unwrap().expose_secret().to_owned();
        let hub = TestHub::start_with_db(config.clone(), db.clone()).await;
        AuthHub {
            db,
            hub,
            config,
            client_secret,
            client_uuid: shown.id,
            welzijn,
            _test_db: test_db,
        }
    }

    pub async fn admin(&self) -> Admin {
        Admin::open_with_db(&self.config, self.db.clone())
            .await
            .unwrap()
    }

    /// Adds a member with a known password.
    pub async fn add_member(
        &self,
        email: &str,
        organisation: &str,
        role: Role,
        password: &str,
    ) -> Uuid {
        let admin = self.admin().await;
        let shown = admin
            .add_member(
                email,
                "Test Member",
                organisation,
                &[role],
                NewPassword::Given(password.to_owned().into()),
            )
            .await
            .unwrap();
        admin.close().await.unwrap();
        shown.id
    }

    pub fn url(&self, path: &str) -> String {
        self.hub.url(path)
    }

    /// `POST /oauth/token` with `client_secret_basic` for (id, secret) and the form `body`.
    pub async fn token_request(
        &self,
        basic: Option<(&str, &str)>,
        body: &str,
    ) -> reqwest::Response {
        let mut request = self
            .hub
            .http
            .post(self.url("/oauth/token"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_owned());
        if let Some((id, secret)) = basic {
            request = request.header(
                "authorization",
                format!("Basic {}", STANDARD.encode(format!("{id}:{secret}"))),
            );
        }
        request.send().await.unwrap()
    }

    /// A token for the partner client, through the token endpoint.
    pub async fn client_token(&self) -> String {
        let response = self
            .token_request(
                Some((CLIENT_ID, &self.client_secret)),
                "grant_type=client_credentials",
            )
            .await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    }

    /// `POST /graphql` with `Authorization: <authorization>` when given.
    pub async fn graphql(&self, authorization: Option<&str>, query: &str) -> reqwest::Response {
        let mut request = self
            .hub
            .http
            .post(self.url("/graphql"))
            .json(&json!({ "query": query }));
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        request.send().await.unwrap()
    }

    /// How many audit entries have this action (and reason, when given).
    pub async fn audit_count(&self, action: &str, reason: Option<&str>) -> i64 {
        let mut sql = format!("SELECT COUNT(*) AS n FROM audit_entries WHERE action = '{action}'");
        if let Some(reason) = reason {
            sql.push_str(&format!(" AND reason = '{reason}'"));
        }
        let conn = self.db.conn();
        let row = conn
            .query_one_raw(Statement::from_string(conn.get_database_backend(), sql))
            .await
            .unwrap()
            .unwrap();
        row.try_get("", "n").unwrap()
    }

    /// How many rows a table has.
    pub async fn rows(&self, table: &str) -> i64 {
        let conn = self.db.conn();
        let row = conn
            .query_one_raw(Statement::from_string(
                conn.get_database_backend(),
                format!("SELECT COUNT(*) AS n FROM {table}"),
            ))
            .await
            .unwrap()
            .unwrap();
        row.try_get("", "n").unwrap()
    }

    /// A signer with the hub's current signing key.
    pub async fn signer(&self) -> Signer {
        let keys = AuthKeys::load(&self.config.auth.key_file).unwrap();
        let (signing_keys, _) = signing::load(&self.db, &keys.seal).await.unwrap().unwrap();
        let stored: Value = serde_json::from_str(signing_keys.to_stored().expose_secret()).unwrap();
        let current = stored["current"].as_str().unwrap().to_owned();
        let key = stored["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|key| key["kid"] == current.as_str())
            .unwrap();
        let pkcs8 = URL_SAFE_NO_PAD
            .decode(key["pkcs8"].as_str().unwrap())
            .unwrap();
        let jwks: Value = serde_json::from_str(&signing_keys.jwks_json()).unwrap();
        let public = URL_SAFE_NO_PAD
            .decode(jwks["keys"][0]["x"].as_str().unwrap())
            .unwrap();
        Signer {
            kid: current,
            key: EncodingKey::from_ed_der(&pkcs8),
            public,
            public_jwk: jwks["keys"][0].to_string(),
            issuer: self.config.auth.tokens.issuer.clone(),
            audience: self.config.auth.tokens.audience.clone(),
            subject: format!("client:{}", self.client_uuid),
            organisation: self.welzijn,
        }
    }

    /// Polls `check` every 100 ms for up to `limit`; true once it held.
    pub async fn eventually<F, Fut>(limit: Duration, mut check: F) -> bool
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let start = std::time::Instant::now();
        while start.elapsed() < limit {
            if check().await {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }
}

/// The network: a wijkteam, a welfare organisation, the municipality. Returns the welfare
/// organisation's id.
async fn organisations(db: &Db) -> Uuid {
    let now = Utc::now();
    let network = Uuid::now_v7();
    networks::Entity::insert(networks::ActiveModel {
        id: Set(network),
        name: Set("Testnetwerk".to_owned()),
        areas: Set(json!(["Centrum"])),
        created_at: Set(now),
    })
    .exec(db.conn())
    .await
    .unwrap();
    let mut welzijn = Uuid::nil();
    for (name, kind) in [
        (WIJKTEAM, "wijkteam"),
        (WELZIJN, "welzijn"),
        (GEMEENTE, "gemeente"),
    ] {
        let id = Uuid::now_v7();
        organisations::Entity::insert(organisations::ActiveModel {
            id: Set(id),
            name: Set(name.to_owned()),
            kind: Set(kind.to_owned()),
            status: Set(MemberStatus::Active.as_str().to_owned()),
            created_at: Set(now),
        })
        .exec(db.conn())
        .await
        .unwrap();
        organisation_networks::Entity::insert(organisation_networks::ActiveModel {
            organisation_id: Set(id),
            network_id: Set(network),
        })
        .exec_without_returning(db.conn())
        .await
        .unwrap();
        if name == WELZIJN {
            welzijn = id;
        }
    }
    welzijn
}

/// Forges tokens with the hub's real signing key, so each test changes exactly one thing.
pub struct Signer {
    pub kid: String,
    key: EncodingKey,
    /// The raw Ed25519 public key (for algorithm-confusion attempts).
    pub public: Vec<u8>,
    /// The public JWK as published.
    pub public_jwk: String,
    pub issuer: String,
    pub audience: String,
    pub subject: String,
    pub organisation: Uuid,
}

impl Signer {
    /// The claims of a good token for the partner client, valid now for ten minutes.
    pub fn claims(&self) -> Value {
        let now = Utc::now().timestamp();
        json!({
            "iss": self.issuer,
            "aud": self.audience,
            "sub": self.subject,
            "exp": now + 600,
            "iat": now,
            "nbf": now,
            "jti": Uuid::new_v4().to_string(),
            "client_id": super::support::CLIENT_ID,
            "org": self.organisation.to_string(),
            "roles": ["welfare-worker"],
            "scope": "plans:read",
            "purposes": ["support"],
        })
    }

    pub fn header(&self) -> Header {
        let mut header = Header::new(Algorithm::EdDSA);
        header.typ = Some("at+jwt".to_owned());
        header.kid = Some(self.kid.clone());
        header
    }

    /// Signs `claims` under `header` with the hub's key.
    pub fn sign(&self, header: &Header, claims: &Value) -> String {
        jsonwebtoken::encode(header, claims, &self.key).unwrap()
    }

    /// A good token (the control case).
    pub fn good(&self) -> String {
        self.sign(&self.header(), &self.claims())
    }
}

/// RFC 6238 code for `secret` (base32) at `unix` seconds: SHA-1, 6 digits, 30 s steps.
pub fn totp_code(secret_base32: &str, unix: i64) -> String {
    let key = base32_decode(secret_base32);
    let step = u64::try_from(unix / 30).unwrap();
    let tag = ring::hmac::sign(
        &ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &key),
        &step.to_be_bytes(),
    );
    let digest = tag.as_ref();
    let offset = usize::from(digest[19] & 0x0f);
    let binary = u32::from_be_bytes(digest[offset..offset + 4].try_into().unwrap()) & 0x7fff_ffff;
    format!("{:06}", binary % 1_000_000)
}

fn base32_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut bits: u64 = 0;
    let mut n_bits = 0;
    let mut out = Vec::new();
    for byte in text.trim_end_matches('=').bytes() {
        let value = ALPHABET
            .iter()
            .position(|candidate| *candidate == byte.to_ascii_uppercase())
            .unwrap();
        bits = (bits << 5) | u64::try_from(value).unwrap();
        n_bits += 5;
        if n_bits >= 8 {
            n_bits -= 8;
            out.push(u8::try_from((bits >> n_bits) & 0xff).unwrap());
        }
    }
    out
}
