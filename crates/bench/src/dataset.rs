//! `seed`: one large municipality's wijknetwerk, through the hub's own store and crypto.
//!
//! On top of the demo network (its eight organisations, members and partner systems, so real
//! tokens can be issued), N synthetic residents, each sealed under a data key of their own with
//! `store::sealed`: a plan of eight sections with one to three revisions, care relations with the
//! wijkteam and one or two partners, consents as residents give them (to one organisation, to a
//! kind of organisation, withdrawn, expired, none), some objections and representatives of
//! minors. Then M audit entries spread over the past year, submitted through the audit crate's
//! group-commit writer, so chains, leaf hashes and signed checkpoints are the real ones.
//!
//! Synthetic data only: names are drawn from short lists, BSNs are valid (11-proef) numbers from
//! a range the demo does not use. Never point this at a database holding real residents.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, anyhow};
use audit::{Actor, AuditAction, Code, NewEntry, Outcome, WriterConfig};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use crypto::KeyRing;
use domain::{
    Bsn, CareRelationKind, Category, ClientId, EvidenceKind, MemberId, NetworkId, ObjectionKind,
    OrganisationId, OrganisationKind, PlanId, PlanKind, PlanStatus, Purpose, ResidentId, Role,
};
use indicatif::{ProgressBar, ProgressStyle};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ConnectionTrait, EntityTrait, TransactionTrait};
use serde_json::json;
use store::Db;
use store::entity::{
    care_relations, clients, consents, members, networks, objections, organisations, plans,
    representatives, residents, section_revisions, sections,
};
use store::sealed::{self, NewResident, RevisionAuthor};
use uuid::Uuid;

use crate::rng::Rng;
use crate::setup::Target;

/// The partner system whose reads W2 measures, and the one that writes in W3.
pub const READER_CLIENT: &str = "welzijn-noordwest";
pub const READER_ORGANISATION: &str = "Welzijn Noordwest";
pub const WRITER_CLIENT: &str = "wijkteam-noordwest";

/// Categories the reader's consent covers: the three sections W2 decrypts.
const READER_CATEGORIES: [Category; 3] = [Category::Story, Category::Goals, Category::Agreements];

/// Residents sealed and inserted per transaction.
const RESIDENTS_PER_TX: usize = 250;

/// Audit entries in flight towards the writer (below its queue capacity).
const AUDIT_IN_FLIGHT: usize = 3000;

/// What a seed run did, kept beside the database for the report.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct SeedRecord {
    pub database: String,
    pub residents: u64,
    pub plans: u64,
    pub sections: u64,
    pub revisions: u64,
    pub consents: u64,
    pub care_relations: u64,
    pub audit_entries: u64,
    pub audit_batches: u64,
    pub audit_largest_batch: u64,
    pub audit_checkpoints: u64,
    pub residents_seconds: f64,
    pub audit_seconds: f64,
    pub at: DateTime<Utc>,
}

/// The demo network's ids that the synthetic residents refer to.
struct Network {
    id: Uuid,
    wijkteam: Uuid,
    coaches: Vec<Uuid>,
    /// Partner organisations (not the wijkteam, not the municipality): name, id, kind.
    partners: Vec<(&'static str, Uuid, OrganisationKind)>,
    /// Client ids (row ids) by organisation id.
    clients: HashMap<Uuid, Uuid>,
}

async fn load_network(db: &Db) -> anyhow::Result<Network> {
    let network = networks::Entity::find()
        .all(db.conn())
        .await?
        .into_iter()
        .find(|network| network.name == store::seed::DEMO_NETWORK)
        .ok_or_else(|| anyhow!("the demo network is missing"))?;
    let organisations = organisations::Entity::find().all(db.conn()).await?;
    let by_name = |name: &str| {
        organisations
            .iter()
            .find(|row| row.name == name)
            .map(|row| row.id)
            .ok_or_else(|| anyhow!("demo organisation {name} is missing"))
    };
    let wijkteam = by_name("Wijkteam Noordwest")?;
    let mut partners = Vec::new();
    for demo in store::seed::DEMO_ORGANISATIONS {
        if matches!(
            demo.kind,
            OrganisationKind::Welzijn | OrganisationKind::Zorgaanbieder
        ) {
            partners.push((demo.name, by_name(demo.name)?, demo.kind));
        }
    }
    let coaches = members::Entity::find()
        .all(db.conn())
        .await?
        .into_iter()
        .filter(|member| {
            member.organisation_id == wijkteam && member.roles.to_string().contains("coach")
        })
        .map(|member| member.id)
        .collect::<Vec<_>>();
    if coaches.is_empty() {
        return Err(anyhow!("the demo wijkteam has no coach"));
    }
    let clients = clients::Entity::find()
        .all(db.conn())
        .await?
        .into_iter()
        .map(|client| (client.organisation_id, client.id))
        .collect();
    Ok(Network {
        id: network.id,
        wijkteam,
        coaches,
        partners,
        clients,
    })
}

/// Seeds the dataset into a fresh database. Returns what it did.
pub async fn seed(
    target: &Target,
    n_residents: usize,
    n_audit: usize,
    quiet: bool,
) -> anyhow::Result<SeedRecord> {
    target.ensure_keys()?;
    target.recreate().await?;
    let db = target.open(4).await?;
    db.migrate().await.context("cannot migrate")?;
    let keys = target.hub_config().keys.load()?;
    let now = Utc::now();
    store::seed::demo(&db, &keys, now)
        .await
        .context("cannot seed the demo network")?;
    let network = load_network(&db).await?;

    let started = Instant::now();
    let bar = progress(quiet, n_residents as u64, "residents");
    let mut counts = Counts::default();
    let mut people = Vec::with_capacity(n_residents);
    let mut bsns = BsnSource::new();
    for first in (0..n_residents).step_by(RESIDENTS_PER_TX) {
        let last = (first + RESIDENTS_PER_TX).min(n_residents);
        let mut rows = Rows::default();
        for index in first..last {
            let person = resident_rows(&keys, &network, index, bsns.next()?, now, &mut rows)?;
            people.push(person);
        }
        counts.add(&rows);
        let tx = db.conn().begin().await?;
        rows.insert(&tx).await?;
        tx.commit().await?;
        bar.inc((last - first) as u64);
    }
    bar.finish();
    let residents_seconds = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let (batches, largest, checkpoints) =
        seed_audit(target, &db, &network, &people, n_audit, now, quiet).await?;
    let audit_seconds = started.elapsed().as_secs_f64();
    db.conn().clone().close().await?;

    let record = SeedRecord {
        database: target.database_label().to_owned(),
        residents: n_residents as u64,
        plans: n_residents as u64,
        sections: counts.sections,
        revisions: counts.revisions,
        consents: counts.consents,
        care_relations: counts.care_relations,
        audit_entries: n_audit as u64,
        audit_batches: batches,
        audit_largest_batch: largest,
        audit_checkpoints: checkpoints,
        residents_seconds,
        audit_seconds,
        at: now,
    };
    std::fs::write(target.seed_record(), serde_json::to_string_pretty(&record)?)?;
    Ok(record)
}

fn progress(quiet: bool, total: u64, what: &'static str) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template(
            "{msg:>10} [{elapsed_precise}] {wide_bar} {pos}/{len} ({per_sec}, eta {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message(what);
    bar
}

/// Valid BSNs (11-proef) counted up from 990 000 000, a range the demo (99999xxxx) does not use.
struct BsnSource {
    next: u32,
}

impl BsnSource {
    fn new() -> BsnSource {
        BsnSource { next: 990_000_000 }
    }

    fn next(&mut self) -> anyhow::Result<Bsn> {
        while self.next < 999_000_000 {
            let candidate = self.next;
            self.next += 1;
            if let Ok(bsn) = Bsn::parse(&candidate.to_string()) {
                return Ok(bsn);
            }
        }
        Err(anyhow!("ran out of synthetic BSNs"))
    }
}

#[derive(Default)]
struct Counts {
    sections: u64,
    revisions: u64,
    consents: u64,
    care_relations: u64,
}

impl Counts {
    fn add(&mut self, rows: &Rows) {
        self.sections += rows.sections.len() as u64;
        self.revisions += rows.revisions.len() as u64;
        self.consents += rows.consents.len() as u64;
        self.care_relations += rows.care_relations.len() as u64;
    }
}

/// One transaction's rows, inserted table by table in multi-row statements.
#[derive(Default)]
struct Rows {
    residents: Vec<residents::ActiveModel>,
    representatives: Vec<representatives::ActiveModel>,
    plans: Vec<plans::ActiveModel>,
    sections: Vec<sections::ActiveModel>,
    revisions: Vec<section_revisions::ActiveModel>,
    care_relations: Vec<care_relations::ActiveModel>,
    consents: Vec<consents::ActiveModel>,
    objections: Vec<objections::ActiveModel>,
}

impl Rows {
    async fn insert<C: ConnectionTrait>(self, tx: &C) -> anyhow::Result<()> {
        insert_all(tx, self.residents, 15).await?;
        insert_all(tx, self.representatives, 5).await?;
        insert_all(tx, self.plans, 9).await?;
        insert_all(tx, self.sections, 6).await?;
        insert_all(tx, self.revisions, 8).await?;
        insert_all(tx, self.care_relations, 11).await?;
        insert_all(tx, self.consents, 22).await?;
        insert_all(tx, self.objections, 12).await?;
        Ok(())
    }
}

/// Inserts rows in statements of at most ~30 000 parameters (SQLite allows 32 766, PostgreSQL
/// 65 535); `n_columns` is the table's column count.
async fn insert_all<A, C>(tx: &C, rows: Vec<A>, n_columns: usize) -> anyhow::Result<()>
where
    A: ActiveModelTrait + Send,
    C: ConnectionTrait,
{
    let per_statement = (30_000 / n_columns.max(1)).max(1);
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let part: Vec<A> = rows.by_ref().take(per_statement).collect();
        <A::Entity as EntityTrait>::insert_many(part)
            .exec_without_returning(tx)
            .await?;
    }
    Ok(())
}

/// What the audit seed needs of a resident.
#[derive(Clone, Copy)]
pub struct Person {
    resident: Uuid,
    plan: Uuid,
    /// The organisations involved besides the wijkteam (at most two).
    involved: [Option<Uuid>; 2],
}

const FIRST_NAMES: &[&str] = &[
    "Anna", "Bram", "Cor", "Daan", "Emma", "Fatima", "Gijs", "Hanna", "Ilse", "Jan", "Karim",
    "Lotte", "Mo", "Noor", "Olga", "Pim", "Quinty", "Rik", "Saar", "Teun", "Umar", "Vera", "Wim",
    "Yara", "Zeynep",
];
const LAST_NAMES: &[&str] = &[
    "de Jong",
    "Jansen",
    "de Vries",
    "van den Berg",
    "van Dijk",
    "Bakker",
    "Janssen",
    "Visser",
    "Smit",
    "Meijer",
    "de Boer",
    "Mulder",
    "de Groot",
    "Bos",
    "Vos",
    "Peters",
    "Hendriks",
    "van Leeuwen",
    "Dekker",
    "Brouwer",
    "El Idrissi",
    "Yilmaz",
    "Ramdin",
    "Nguyen",
];
const AREAS: &[&str] = &["Noordwest-Centrum", "De Buitenwijk", "Havenkwartier"];
const STORY_PARTS: &[&str] = &[
    "woont alleen sinds het overlijden van de partner en komt de deur weinig uit",
    "heeft schulden opgebouwd na baanverlies en de huur loopt achter",
    "zorgt voor een ouder met dementie naast een baan en slaapt slecht",
    "is na een scheiding op zoek naar woonruimte",
    "heeft moeite met de administratie sinds een herseninfarct",
    "voelt zich eenzaam sinds de kinderen verhuisd zijn",
    "is overbelast als alleenstaande ouder van drie kinderen",
    "gaat niet meer naar school en zit veel op de kamer",
];

/// Builds one resident's rows; returns what the audit seed needs of them.
fn resident_rows(
    keys: &KeyRing,
    network: &Network,
    index: usize,
    bsn: Bsn,
    now: DateTime<Utc>,
    rows: &mut Rows,
) -> anyhow::Result<Person> {
    let mut rng = Rng::new(index as u64 ^ 0x5eed);
    let resident_id = ResidentId::new();
    let resident = resident_id.as_uuid();
    let coach = network.coaches[index % network.coaches.len()];
    let first = *rng.pick(FIRST_NAMES);
    let name = format!("{first} {}", rng.pick(LAST_NAMES));
    let year = 1935 + rng.below(82) as i32;
    let birth_date =
        NaiveDate::from_ymd_opt(year, 1 + rng.below(12) as u32, 1 + rng.below(28) as u32)
            .ok_or_else(|| anyhow!("synthetic birth date"))?;
    let age = now.date_naive().years_since(birth_date).unwrap_or(0);
    let new = NewResident {
        network: NetworkId::from_uuid(network.id),
        bsn,
        name,
        birth_date,
        contact: Some(format!("06-2{:07}", index)),
        area: (*rng.pick(AREAS)).to_owned(),
    };
    let (row, dek) = sealed::seal_resident(keys, resident_id, &new, now)?;
    rows.residents.push(row);

    let mut givers = Vec::new();
    if age < 18 {
        for relation in ["moeder", "vader"].iter().take(1 + rng.below(2) as usize) {
            let id = Uuid::now_v7();
            let sealed_name = sealed::seal_text(
                &dek,
                sealed::REPRESENTATIVE_NAME,
                id,
                resident_id,
                &format!("{} {}", rng.pick(FIRST_NAMES), rng.pick(LAST_NAMES)),
            )?;
            rows.representatives.push(representatives::ActiveModel {
                id: Set(id),
                resident_id: Set(resident),
                name_ciphertext: Set(sealed_name),
                relation: Set((*relation).to_owned()),
                created_at: Set(now),
            });
            givers.push(id);
        }
    }
    let given_by = match (givers.is_empty(), age) {
        (false, 0..12) => "representatives",
        (false, 12..16) => "resident-and-representatives",
        _ => "resident",
    };

    let plan = Uuid::now_v7();
    let created = now - Duration::days(30 + rng.below(700) as i64);
    rows.plans.push(plans::ActiveModel {
        id: Set(plan),
        resident_id: Set(resident),
        owning_organisation_id: Set(network.wijkteam),
        coordinating_member_id: Set(Some(coach)),
        status: Set(PlanStatus::Active.as_str().to_owned()),
        kind: Set(if age < 18 {
            PlanKind::Jeugd
        } else {
            PlanKind::Wmo
        }
        .as_str()
        .to_owned()),
        version: Set(1),
        created_at: Set(created),
        updated_at: Set(now),
    });
    let author = RevisionAuthor {
        organisation: network.wijkteam,
        member: Some(coach),
        client: None,
    };
    let story = format!(
        "{first} {}. Het wijkteam is betrokken sinds {}; de coach komt om de twee weken langs.",
        rng.pick(STORY_PARTS),
        created.format("%B %Y")
    );
    for category in Category::ALL {
        let section = Uuid::now_v7();
        let n_revisions = 1 + rng.below(3) as i64;
        rows.sections.push(sections::ActiveModel {
            id: Set(section),
            plan_id: Set(plan),
            category: Set(category.as_str().to_owned()),
            current_revision: Set(n_revisions),
            created_at: Set(created),
            updated_at: Set(now),
        });
        for revision in 1..=n_revisions {
            let content = format!(
                "{} ({}, revisie {revision}): {story} Afspraak: {first} en de coach evalueren over vier weken wat er bereikt is en wie wat doet.",
                category.as_str(),
                created.format("%Y-%m-%d"),
            );
            rows.revisions.push(sealed::seal_revision(
                &dek,
                resident_id,
                section,
                revision,
                &content,
                author,
                created + Duration::days(revision * 7),
            )?);
        }
    }

    // Care relations: the wijkteam's coach, and one or two partners. Every third resident works
    // with the reading partner (W2's plans); the others with partners drawn at random.
    let relation = |organisation: Uuid, member: Option<Uuid>, kind: CareRelationKind| {
        care_relations::ActiveModel {
            id: Set(Uuid::now_v7()),
            resident_id: Set(resident),
            organisation_id: Set(organisation),
            member_id: Set(member),
            kind: Set(kind.as_str().to_owned()),
            valid_from: Set(created),
            valid_until: Set(None),
            recorded_by: Set(coach),
            created_at: Set(created),
            ended_at: Set(None),
            ended_by: Set(None),
        }
    };
    rows.care_relations.push(relation(
        network.wijkteam,
        Some(coach),
        CareRelationKind::Coordinator,
    ));
    let reader = network
        .partners
        .iter()
        .find(|(name, _, _)| *name == READER_ORGANISATION)
        .map(|(_, id, _)| *id)
        .ok_or_else(|| anyhow!("the reading partner is missing"))?;
    let mut involved = [None, None];
    let first_partner = if index.is_multiple_of(3) {
        (READER_ORGANISATION, reader, OrganisationKind::Welzijn)
    } else {
        *rng.pick(&network.partners)
    };
    involved[0] = Some(first_partner.1);
    if rng.below(2) == 0 {
        let second = *rng.pick(&network.partners);
        if second.1 != first_partner.1 {
            involved[1] = Some(second.1);
        }
    }
    for organisation in involved.iter().flatten() {
        rows.care_relations
            .push(relation(*organisation, None, CareRelationKind::Involved));
    }

    // Consents, as residents give them.
    let consent = |grantee: Option<Uuid>,
                   kind: Option<OrganisationKind>,
                   categories: &[Category],
                   from: DateTime<Utc>,
                   until: DateTime<Utc>|
     -> anyhow::Result<consents::ActiveModel> {
        let id = Uuid::now_v7();
        let evidence = sealed::seal_text(
            &dek,
            sealed::CONSENT_EVIDENCE,
            id,
            resident_id,
            "Toestemming mondeling gegeven aan de coach tijdens een huisbezoek; het plan is samen gelezen.",
        )?;
        Ok(consents::ActiveModel {
            id: Set(id),
            resident_id: Set(resident),
            version: Set(1),
            supersedes_id: Set(None),
            given_by: Set(given_by.to_owned()),
            given_by_representative_ids: Set(json!(givers)),
            grantee_organisation_id: Set(grantee),
            grantee_kind: Set(kind.map(|kind| kind.as_str().to_owned())),
            grantee_network_id: Set(network.id),
            categories: Set(json!(
                categories.iter().map(|c| c.as_str()).collect::<Vec<_>>()
            )),
            purposes: Set(json!([
                Purpose::Support.as_str(),
                Purpose::Coordination.as_str()
            ])),
            valid_from: Set(from),
            valid_until: Set(Some(until)),
            evidence_kind: Set(EvidenceKind::Verbal.as_str().to_owned()),
            evidence_ciphertext: Set(Some(evidence)),
            recorded_by: Set(coach),
            recorded_at: Set(from),
            withdrawn_at: Set(None),
            withdrawn_by: Set(None),
            withdrawal_reason_ciphertext: Set(None),
        })
    };
    let daily = [
        Category::Story,
        Category::Goals,
        Category::Agreements,
        Category::Actions,
    ];
    let valid_until = now + Duration::days(180 + rng.below(365) as i64);
    if index.is_multiple_of(3) {
        rows.consents.push(consent(
            Some(reader),
            None,
            &READER_CATEGORIES,
            created,
            valid_until,
        )?);
    } else {
        match rng.below(20) {
            0..=11 => rows.consents.push(consent(
                Some(first_partner.1),
                None,
                &daily,
                created,
                valid_until,
            )?),
            12..=13 => rows.consents.push(consent(
                None,
                Some(first_partner.2),
                &daily,
                created,
                valid_until,
            )?),
            14 => {
                let mut row = consent(Some(first_partner.1), None, &daily, created, valid_until)?;
                let id = *row.id.as_ref();
                row.withdrawn_at = Set(Some(now - Duration::days(rng.below(60) as i64)));
                row.withdrawn_by = Set(Some(coach));
                row.withdrawal_reason_ciphertext = Set(Some(sealed::seal_text(
                    &dek,
                    sealed::CONSENT_WITHDRAWAL_REASON,
                    id,
                    resident_id,
                    "Wil zelf bepalen wie meeleest.",
                )?));
                rows.consents.push(row);
            }
            15 => rows.consents.push(consent(
                Some(first_partner.1),
                None,
                &daily,
                created - Duration::days(400),
                now - Duration::days(1 + rng.below(30) as i64),
            )?),
            _ => {}
        }
    }
    if rng.below(33) == 0
        && let Some(organisation) = involved[0]
    {
        let id = Uuid::now_v7();
        let reason = sealed::seal_text(
            &dek,
            sealed::OBJECTION_REASON,
            id,
            resident_id,
            "Wil niet dat deze organisatie medische informatie ziet.",
        )?;
        rows.objections.push(objections::ActiveModel {
            id: Set(id),
            resident_id: Set(resident),
            kind: Set(ObjectionKind::Restriction.as_str().to_owned()),
            categories: Set(json!([Category::Health.as_str()])),
            organisation_id: Set(Some(organisation)),
            reason_ciphertext: Set(Some(reason)),
            valid_from: Set(created),
            valid_until: Set(None),
            recorded_by: Set(coach),
            recorded_at: Set(created),
            lifted_at: Set(None),
            lifted_by: Set(None),
        });
    }
    Ok(Person {
        resident,
        plan,
        involved,
    })
}

/// Submits `n` entries over the past year through the audit writer, many in flight at once so
/// the writer groups them as it does under load. Returns (batches, largest batch, checkpoints).
async fn seed_audit(
    target: &Target,
    db: &Db,
    network: &Network,
    people: &[Person],
    n: usize,
    now: DateTime<Utc>,
    quiet: bool,
) -> anyhow::Result<(u64, u64, u64)> {
    if n == 0 || people.is_empty() {
        return Ok((0, 0, 0));
    }
    let config = WriterConfig {
        max_batch: 1000,
        queue_capacity: AUDIT_IN_FLIGHT * 2,
        ..WriterConfig::default()
    };
    let key = server::auth::AuthKeys::load(&target.auth_keys_file())
        .map_err(|error| anyhow!("cannot load the auth keys: {error}"))?
        .audit_signing_key(&config.origin_prefix)?;
    let writer = audit::start(db.conn().clone(), config, key).await?;
    let log = writer.log();
    let bar = progress(quiet, n as u64, "audit");
    let people: Arc<Vec<Person>> = Arc::new(people.to_vec());
    let clients = Arc::new(network.clients.clone());
    let coaches = Arc::new(network.coaches.clone());
    let wijkteam = network.wijkteam;
    let year_ago = now - Duration::days(365);
    let span_us = Duration::days(365).num_microseconds().unwrap_or(1);
    let mut tasks = tokio::task::JoinSet::new();
    for index in 0..n {
        while tasks.len() >= AUDIT_IN_FLIGHT {
            if let Some(done) = tasks.join_next().await {
                done??;
                bar.inc(1);
            }
        }
        let offset = span_us * index as i64 / n as i64;
        let time = year_ago + Duration::microseconds(offset);
        let entry = audit_entry(index, time, &people, &clients, &coaches, wijkteam)?;
        let log = log.clone();
        tasks.spawn(async move {
            log.submit(entry)
                .await
                .map(|_| ())
                .map_err(anyhow::Error::from)
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
        bar.inc(1);
    }
    bar.finish();
    let stats = log.stats();
    writer.shutdown().await?;
    Ok((
        stats.committed_batches,
        stats.largest_batch,
        stats.checkpoints + 1,
    ))
}

/// One synthetic entry: mostly partner systems reading plans (a few residents far more often
/// than most, as in real networks), some writes, token grants and consent changes; 5 % denied.
fn audit_entry(
    index: usize,
    time: DateTime<Utc>,
    people: &[Person],
    clients: &HashMap<Uuid, Uuid>,
    coaches: &[Uuid],
    wijkteam: Uuid,
) -> anyhow::Result<NewEntry> {
    let mut rng = Rng::new(index as u64 ^ 0xa0d17);
    // Most residents are looked at now and then; one in a hundred (a crisis, a complex case) gets
    // a tenth of all attention: about one entry a day each at 1 M entries over 30,000 residents.
    let hot = (people.len() / 100).max(1);
    let at = if rng.below(10) == 0 {
        rng.below(hot as u64) as usize
    } else {
        rng.below(people.len() as u64) as usize
    };
    let person = people[at];
    let kind = rng.below(100);
    let (action, organisation) = match kind {
        0..=84 => (
            AuditAction::ResidentRead,
            person.involved[rng.below(2) as usize]
                .or(person.involved[0])
                .unwrap_or(wijkteam),
        ),
        85..=92 => (AuditAction::ResidentWrite, wijkteam),
        93..=96 => (
            AuditAction::TokenIssued,
            person.involved[0].unwrap_or(wijkteam),
        ),
        _ => (AuditAction::ConsentRecorded, wijkteam),
    };
    let client = clients.get(&organisation).copied();
    let actor = match (organisation == wijkteam, client) {
        (false, Some(client)) => Actor::Client(ClientId::from_uuid(client)),
        _ => Actor::Member(MemberId::from_uuid(coaches[index % coaches.len()])),
    };
    let denied = rng.below(20) == 0;
    let outcome = if denied {
        Outcome::Deny
    } else {
        Outcome::Permit
    };
    let mut entry = NewEntry::new(action, actor, outcome);
    entry.time = time;
    entry.organisation = Some(OrganisationId::from_uuid(organisation));
    entry.role = Some(if organisation == wijkteam {
        Role::Coach
    } else {
        Role::WelfareWorker
    });
    if let Actor::Client(client) = actor {
        entry.client = Some(client);
    }
    entry.request_id = Some(Code::parse(&Uuid::now_v7().to_string())?);
    entry.source_address = Some(std::net::IpAddr::from([10, 20, (index % 250) as u8, 7]));
    if action != AuditAction::TokenIssued {
        entry.resident = Some(ResidentId::from_uuid(person.resident));
        entry.plan = Some(PlanId::from_uuid(person.plan));
        entry.purpose = Some(Purpose::Support);
        let returned: BTreeSet<Category> = if denied {
            BTreeSet::new()
        } else {
            READER_CATEGORIES.into_iter().collect()
        };
        let denied_categories: BTreeSet<Category> = Category::ALL
            .iter()
            .copied()
            .filter(|category| !returned.contains(category))
            .collect();
        entry.categories_returned = returned;
        entry.categories_denied = denied_categories;
        entry.basis = (!denied)
            .then(|| {
                if organisation == wijkteam {
                    Code::parse("statutory:wmo-2015")
                } else {
                    Code::parse(&format!("consent:{}", Uuid::now_v7()))
                }
            })
            .transpose()?;
        entry.reason = denied.then(|| Code::parse("no-consent")).transpose()?;
        entry.checks = [
            "authenticated",
            "role-matrix",
            "care-relation",
            "legal-basis",
        ]
        .into_iter()
        .map(Code::parse)
        .collect::<Result<_, _>>()?;
    }
    Ok(entry)
}
