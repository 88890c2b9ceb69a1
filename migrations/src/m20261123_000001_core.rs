//! The core data model of DESIGN §4: the network, its organisations and people, residents and
//! their plans, care relations, consents and objections.
//!
//! Columns that hold ciphertext are binary and end in `_ciphertext`; nothing here stores a
//! personal datum in the clear except staff names and e-mail addresses. Nothing is ever
//! overwritten that a resident or the FG may need later: section content lives in revisions,
//! consents in versions, withdrawals and lifts are recorded next to what they end.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Tables in creation order; `down` drops them in reverse.
const TABLES: &[&str] = &[
    "networks",
    "organisations",
    "organisation_networks",
    "members",
    "clients",
    "residents",
    "representatives",
    "plans",
    "sections",
    "section_revisions",
    "care_relations",
    "consents",
    "objections",
    "break_glass",
];

fn fk(from: &str, column: &str, to: &str) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(format!("fk_{from}_{column}"))
        .from(from.to_owned(), column.to_owned())
        .to(to.to_owned(), "id")
        .on_delete(ForeignKeyAction::Restrict)
        .on_update(ForeignKeyAction::Restrict)
        .take()
}

fn index(table: &str, columns: &[&str]) -> IndexCreateStatement {
    let mut statement = Index::create();
    statement
        .name(format!("ix_{table}_{}", columns.join("_")))
        .table(table.to_owned())
        .if_not_exists();
    for column in columns {
        statement.col(String::from(*column));
    }
    statement.take()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Wijknetwerk.
        manager
            .create_table(
                Table::create()
                    .table("networks")
                    .col(pk_uuid("id"))
                    .col(string_uniq("name"))
                    .col(json("areas"))
                    .col(timestamp_with_time_zone("created_at"))
                    .take(),
            )
            .await?;

        // Organisatie: wijkteam, welzijn, zorgaanbieder or gemeente.
        manager
            .create_table(
                Table::create()
                    .table("organisations")
                    .col(pk_uuid("id"))
                    .col(string_uniq("name"))
                    .col(string("kind"))
                    .col(string("status"))
                    .col(timestamp_with_time_zone("created_at"))
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("organisation_networks")
                    .col(uuid("organisation_id"))
                    .col(uuid("network_id"))
                    .primary_key(Index::create().col("organisation_id").col("network_id"))
                    .foreign_key(&mut fk(
                        "organisation_networks",
                        "organisation_id",
                        "organisations",
                    ))
                    .foreign_key(&mut fk("organisation_networks", "network_id", "networks"))
                    .take(),
            )
            .await?;

        // Medewerker. Credentials are hashes; the TOTP secret is ciphertext.
        manager
            .create_table(
                Table::create()
                    .table("members")
                    .col(pk_uuid("id"))
                    .col(uuid("organisation_id"))
                    .col(string("name"))
                    .col(string_uniq("email"))
                    .col(json("roles"))
                    .col(text_null("password_hash"))
                    .col(blob_null("totp_secret_ciphertext"))
                    .col(big_integer_null("totp_last_step"))
                    .col(json_null("recovery_code_hashes"))
                    .col(integer("failed_logins").default(0))
                    .col(timestamp_with_time_zone_null("locked_until"))
                    .col(string("status"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(&mut fk("members", "organisation_id", "organisations"))
                    .take(),
            )
            .await?;

        // Partner system (OAuth2 client). The secret is stored only hashed.
        manager
            .create_table(
                Table::create()
                    .table("clients")
                    .col(pk_uuid("id"))
                    .col(uuid("organisation_id"))
                    .col(string_uniq("client_id"))
                    .col(string("name"))
                    .col(text_null("secret_hash"))
                    .col(text_null("public_key_jwk"))
                    .col(json("scopes"))
                    .col(json("purposes"))
                    .col(string("status"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(&mut fk("clients", "organisation_id", "organisations"))
                    .take(),
            )
            .await?;

        // Inwoner. Every personal field is ciphertext under the resident's data key, which is
        // stored only wrapped; erasure deletes the wrapped key (crypto-shredding).
        manager
            .create_table(
                Table::create()
                    .table("residents")
                    .col(pk_uuid("id"))
                    .col(uuid("network_id"))
                    .col(blob("bsn_ciphertext"))
                    .col(blob("bsn_blind_index"))
                    .col(integer("bsn_index_key_version"))
                    .col(blob("name_ciphertext"))
                    .col(blob("birth_date_ciphertext"))
                    .col(blob_null("contact_ciphertext"))
                    .col(string("area"))
                    .col(blob_null("wrapped_dek"))
                    .col(integer("dek_kek_version"))
                    .col(string("status"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .col(timestamp_with_time_zone_null("erased_at"))
                    .foreign_key(&mut fk("residents", "network_id", "networks"))
                    .take(),
            )
            .await?;
        manager
            .create_index(index("residents", &["bsn_blind_index"]))
            .await?;
        manager
            .create_index(index("residents", &["dek_kek_version"]))
            .await?;

        // Wettelijk vertegenwoordiger of a resident (parent, guardian, mentor).
        manager
            .create_table(
                Table::create()
                    .table("representatives")
                    .col(pk_uuid("id"))
                    .col(uuid("resident_id"))
                    .col(blob("name_ciphertext"))
                    .col(string("relation"))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(&mut fk("representatives", "resident_id", "residents"))
                    .take(),
            )
            .await?;
        manager
            .create_index(index("representatives", &["resident_id"]))
            .await?;

        // Plan. `version` counts every change to the plan or its sections.
        manager
            .create_table(
                Table::create()
                    .table("plans")
                    .col(pk_uuid("id"))
                    .col(uuid("resident_id"))
                    .col(uuid("owning_organisation_id"))
                    .col(uuid_null("coordinating_member_id"))
                    .col(string("status"))
                    .col(big_integer("version"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(&mut fk("plans", "resident_id", "residents"))
                    .foreign_key(&mut fk("plans", "owning_organisation_id", "organisations"))
                    .foreign_key(&mut fk("plans", "coordinating_member_id", "members"))
                    .take(),
            )
            .await?;
        manager
            .create_index(index("plans", &["resident_id"]))
            .await?;

        // One section per plan and category; its content lives in `section_revisions`.
        manager
            .create_table(
                Table::create()
                    .table("sections")
                    .col(pk_uuid("id"))
                    .col(uuid("plan_id"))
                    .col(string("category"))
                    .col(big_integer("current_revision"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(&mut fk("sections", "plan_id", "plans"))
                    .take(),
            )
            .await?;
        manager
            .create_index(index("sections", &["plan_id", "category"]).unique().take())
            .await?;

        // Every write is a new revision: nothing is overwritten. The unique key makes a
        // concurrent write against the same revision fail instead of silently forking.
        manager
            .create_table(
                Table::create()
                    .table("section_revisions")
                    .col(pk_uuid("id"))
                    .col(uuid("section_id"))
                    .col(big_integer("revision"))
                    .col(blob("content_ciphertext"))
                    .col(uuid("author_organisation_id"))
                    .col(uuid_null("author_member_id"))
                    .col(uuid_null("author_client_id"))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(&mut fk("section_revisions", "section_id", "sections"))
                    .foreign_key(&mut fk(
                        "section_revisions",
                        "author_organisation_id",
                        "organisations",
                    ))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                index("section_revisions", &["section_id", "revision"])
                    .unique()
                    .take(),
            )
            .await?;

        // Betrokkenheid: need to know. No care relation, no access.
        manager
            .create_table(
                Table::create()
                    .table("care_relations")
                    .col(pk_uuid("id"))
                    .col(uuid("resident_id"))
                    .col(uuid("organisation_id"))
                    .col(uuid_null("member_id"))
                    .col(string("kind"))
                    .col(timestamp_with_time_zone("valid_from"))
                    .col(timestamp_with_time_zone_null("valid_until"))
                    .col(uuid("recorded_by"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone_null("ended_at"))
                    .col(uuid_null("ended_by"))
                    .foreign_key(&mut fk("care_relations", "resident_id", "residents"))
                    .foreign_key(&mut fk(
                        "care_relations",
                        "organisation_id",
                        "organisations",
                    ))
                    .take(),
            )
            .await?;
        manager
            .create_index(index("care_relations", &["resident_id"]))
            .await?;
        manager
            .create_index(index("care_relations", &["organisation_id", "resident_id"]))
            .await?;

        // Toestemming. A change is a new version (`supersedes_id`); withdrawal is recorded,
        // never deleted. The grantee is one organisation or an organisation kind in a network.
        manager
            .create_table(
                Table::create()
                    .table("consents")
                    .col(pk_uuid("id"))
                    .col(uuid("resident_id"))
                    .col(integer("version"))
                    .col(uuid_null("supersedes_id"))
                    .col(string("given_by"))
                    .col(json("given_by_representative_ids"))
                    .col(uuid_null("grantee_organisation_id"))
                    .col(string_null("grantee_kind"))
                    .col(uuid("grantee_network_id"))
                    .col(json("categories"))
                    .col(json("purposes"))
                    .col(timestamp_with_time_zone("valid_from"))
                    .col(timestamp_with_time_zone_null("valid_until"))
                    .col(string("evidence_kind"))
                    .col(blob_null("evidence_ciphertext"))
                    .col(uuid("recorded_by"))
                    .col(timestamp_with_time_zone("recorded_at"))
                    .col(timestamp_with_time_zone_null("withdrawn_at"))
                    .col(uuid_null("withdrawn_by"))
                    .col(blob_null("withdrawal_reason_ciphertext"))
                    .foreign_key(&mut fk("consents", "resident_id", "residents"))
                    .foreign_key(&mut fk(
                        "consents",
                        "grantee_organisation_id",
                        "organisations",
                    ))
                    .foreign_key(&mut fk("consents", "supersedes_id", "consents"))
                    .take(),
            )
            .await?;
        manager
            .create_index(index("consents", &["resident_id"]))
            .await?;

        // Bezwaar (art. 21) or beperking (art. 18): deny overrides permit.
        manager
            .create_table(
                Table::create()
                    .table("objections")
                    .col(pk_uuid("id"))
                    .col(uuid("resident_id"))
                    .col(string("kind"))
                    .col(json("categories"))
                    .col(uuid_null("organisation_id"))
                    .col(blob_null("reason_ciphertext"))
                    .col(timestamp_with_time_zone("valid_from"))
                    .col(timestamp_with_time_zone_null("valid_until"))
                    .col(uuid("recorded_by"))
                    .col(timestamp_with_time_zone("recorded_at"))
                    .col(timestamp_with_time_zone_null("lifted_at"))
                    .col(uuid_null("lifted_by"))
                    .foreign_key(&mut fk("objections", "resident_id", "residents"))
                    .take(),
            )
            .await?;
        manager
            .create_index(index("objections", &["resident_id"]))
            .await?;

        // Noodtoegang: one member, one resident, hours not days, always with a reason.
        manager
            .create_table(
                Table::create()
                    .table("break_glass")
                    .col(pk_uuid("id"))
                    .col(uuid("resident_id"))
                    .col(uuid("member_id"))
                    .col(uuid("organisation_id"))
                    .col(blob("reason_ciphertext"))
                    .col(timestamp_with_time_zone("started_at"))
                    .col(timestamp_with_time_zone("expires_at"))
                    .col(timestamp_with_time_zone_null("ended_at"))
                    .foreign_key(&mut fk("break_glass", "resident_id", "residents"))
                    .foreign_key(&mut fk("break_glass", "member_id", "members"))
                    .take(),
            )
            .await?;
        manager
            .create_index(index("break_glass", &["resident_id"]))
            .await?;

        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in TABLES.iter().rev() {
            manager
                .drop_table(Table::drop().table(String::from(*table)).if_exists().take())
                .await?;
        }
        Ok(())
    }
}
