//! The residents of the demo network: twenty-two fictional inwoners (two of them minors with
//! legal representatives), each with a support plan owned by
//! the wijkteam, the care relations of the organisations that work with them, and the consents
//! they gave (some current, one withdrawn, one expired, one for a whole kind of organisation) and
//! one objection — enough for every rule of the access policy to show in the demo.
//!
//! Every personal field and every section is sealed under the resident's own data key before it
//! reaches the database. Names, BSNs and stories are invented; BSNs pass the 11-proef but are
//! drawn from a fixed, fictional range.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use crypto::KeyRing;
use domain::{
    Bsn, CareRelationKind, Category, EvidenceKind, NetworkId, ObjectionKind, OrganisationKind,
    PlanKind, PlanStatus, Purpose, ResidentId,
};
use sea_orm::{ActiveValue::Set, DatabaseTransaction, EntityTrait};
use serde_json::json;
use uuid::Uuid;

use crate::StoreError;
use crate::entity::{care_relations, consents, objections, plans, representatives, sections};
use crate::sealed::{self, NewResident, RevisionAuthor};

/// Who may see what, as the resident agreed it.
#[derive(Clone, Copy, Debug)]
enum Consent {
    /// No consent beyond the wijkteam's own statutory task.
    None,
    /// To one organisation, for these categories and purposes, for 365 days.
    To(&'static str, &'static [Category], &'static [Purpose]),
    /// To every organisation of a kind within the network.
    ToKind(OrganisationKind, &'static [Category], &'static [Purpose]),
    /// Given, then withdrawn by the resident.
    Withdrawn(&'static str, &'static [Category]),
    /// Given for a period that has ended.
    Expired(&'static str, &'static [Category]),
}

#[derive(Clone, Copy, Debug)]
struct DemoResident {
    name: &'static str,
    birth_date: (i32, u32, u32),
    area: &'static str,
    contact: &'static str,
    story: &'static str,
    goal: &'static str,
    /// Extra sections beyond story, goals, agreements and actions.
    extra: &'static [(Category, &'static str)],
    /// Organisations that work with the resident besides the wijkteam.
    involved: &'static [&'static str],
    consent: Consent,
    /// The resident objects to one organisation seeing their health section.
    objects_to_health_for: Option<&'static str>,
    /// Legal representatives of a minor: (name, relation). Consent is given by them under 12,
    /// by the resident and them together from 12 to 15, by the resident from 16 (DESIGN §4).
    representatives: &'static [(&'static str, &'static str)],
}

const SUPPORT: &[Purpose] = &[Purpose::Support];
const SUPPORT_COORDINATION: &[Purpose] = &[Purpose::Support, Purpose::Coordination];
const DAILY: &[Category] = &[
    Category::Story,
    Category::Goals,
    Category::Agreements,
    Category::Actions,
];
const DAILY_HEALTH: &[Category] = &[
    Category::Story,
    Category::Goals,
    Category::Agreements,
    Category::Actions,
    Category::Health,
];
const DAILY_FINANCES: &[Category] = &[
    Category::Story,
    Category::Goals,
    Category::Agreements,
    Category::Finances,
];

const RESIDENTS: &[DemoResident] = &[
    DemoResident {
        name: "Johanna Mulder",
        birth_date: (1948, 3, 14),
        area: "Noordwest-Centrum",
        contact: "06-1000 0001, Lindelaan 4",
        story: "Johanna woont sinds het overlijden van haar man alleen en komt de deur weinig uit. Haar dochter woont in Groningen.",
        goal: "Twee keer per week onder de mensen komen.",
        extra: &[(
            Category::Health,
            "Heupoperatie in het voorjaar; loopt met een rollator.",
        )],
        involved: &["Welzijn Noordwest", "Thuiszorg Het Anker"],
        consent: Consent::To("Welzijn Noordwest", DAILY, SUPPORT_COORDINATION),
        objects_to_health_for: None,
        representatives: &[],
    },
    DemoResident {
        name: "Mohamed Ouali",
        birth_date: (1979, 11, 2),
        area: "Havenkwartier",
        contact: "06-1000 0002",
        story: "Mohamed verloor vorig jaar zijn baan in de haven; de schulden lopen op en de huur is twee maanden achter.",
        goal: "Een betalingsregeling met de verhuurder en grip op de post.",
        extra: &[(
            Category::Finances,
            "Huurachterstand twee maanden; zorgverzekering onbetaald sinds augustus.",
        )],
        involved: &["Stichting Buurtkracht"],
        consent: Consent::To("Stichting Buurtkracht", DAILY_FINANCES, SUPPORT),
        objects_to_health_for: None,
        representatives: &[],
    },
    DemoResident {
        name: "Lisa van den Berg",
        birth_date: (1991, 6, 21),
        area: "De Buitenwijk",
        contact: "06-1000 0003, lisa.vdberg@example.invalid",
        story: "Lisa is alleenstaande moeder van twee jonge kinderen en raakt overbelast sinds haar moeder ziek werd.",
        goal: "Rust in huis en een vaste oppas op dinsdag en donderdag.",
        extra: &[(
            Category::Network,
            "Buurvrouw Ans past soms op; vader van de kinderen is niet in beeld.",
        )],
        involved: &["Jeugdhulp Horizon", "Welzijn Noordwest"],
        consent: Consent::To("Jeugdhulp Horizon", DAILY, SUPPORT_COORDINATION),
        objects_to_health_for: None,
        representatives: &[],
    },
    DemoResident {
        name: "Gerrit Hoekstra",
        birth_date: (1956, 1, 30),
        area: "Noordwest-Centrum",
        contact: "06-1000 0004",
        story: "Gerrit drinkt meer sinds hij met pensioen is; zijn vrouw maakt zich zorgen en belde het wijkteam.",
        goal: "Minder drinken en weer gaan vissen met zijn kleinzoon.",
        extra: &[(
            Category::Health,
            "Alcoholgebruik dagelijks; huisarts op de hoogte.",
        )],
        involved: &["GGZ Kompas"],
        consent: Consent::To("GGZ Kompas", DAILY_HEALTH, SUPPORT),
        objects_to_health_for: None,
        representatives: &[],
    },
    DemoResident {
        name: "Priya Ramdin",
        birth_date: (1984, 9, 9),
        area: "Havenkwartier",
        contact: "06-1000 0005",
        story: "Priya zorgt voor haar vader met dementie naast een baan van vier dagen en slaapt slecht.",
        goal: "Dagbesteding voor haar vader en een avond per week voor zichzelf.",
        extra: &[],
        involved: &["Zorggroep De Linde", "Welzijn Noordwest"],
        consent: Consent::ToKind(OrganisationKind::Welzijn, DAILY, SUPPORT),
        objects_to_health_for: None,
        representatives: &[],
    },
    DemoResident {
        name: "Tom Kuipers",
        birth_date: (2007, 4, 17),
        area: "De Buitenwijk",
        contact: "06-1000 0006",
        story: "Tom ging niet meer naar school na het tweede jaar mbo en zit veel op zijn kamer.",
        goal: "Een stageplek in de fietsenwerkplaats.",
        extra: &[],
        involved: &["Jeugdhulp Horizon"],
        consent: Consent::Withdrawn("Jeugdhulp Horizon", DAILY),
        objects_to_health_for: None,
        representatives: &[],
    },
    DemoResident {
        name: "Wilhelmina de Boer",
        birth_date: (1940, 12, 5),
        area: "Noordwest-Centrum",
        contact: "050-100 0007",
        story: "Mevrouw De Boer valt regelmatig en wil niet naar een verpleeghuis.",
        goal: "Veilig thuis blijven wonen met alarmering.",
        extra: &[(Category::Health, "Drie valpartijen dit jaar; osteoporose.")],
        involved: &["Thuiszorg Het Anker", "Zorggroep De Linde"],
        consent: Consent::To("Thuiszorg Het Anker", DAILY_HEALTH, SUPPORT_COORDINATION),
        objects_to_health_for: Some("Zorggroep De Linde"),
        representatives: &[],
    },
    DemoResident {
        name: "Youssef Bouzid",
        birth_date: (1999, 2, 28),
        area: "Havenkwartier",
        contact: "06-1000 0008",
        story: "Youssef kwam uit detentie en zoekt woonruimte; hij slaapt nu bij een vriend op de bank.",
        goal: "Een eigen kamer en werk via het leerwerkbedrijf.",
        extra: &[(Category::Finances, "Geen inkomen; uitkering aangevraagd.")],
        involved: &["Stichting Buurtkracht"],
        consent: Consent::Expired("Stichting Buurtkracht", DAILY),
        objects_to_health_for: None,
        representatives: &[],
    },
    DemoResident {
        name: "Anouk Smits",
        birth_date: (1988, 7, 3),
        area: "De Buitenwijk",
        contact: "06-1000 0009",
        story: "Anouk heeft een angststoornis en durft sinds de verhuizing niet meer alleen naar de supermarkt.",
        goal: "Zelfstandig boodschappen doen in de eigen wijk.",
        extra: &[(
            Category::Health,
            "In behandeling bij GGZ; medicatie sinds maart.",
        )],
        involved: &["GGZ Kompas", "Welzijn Noordwest"],
        consent: Consent::To("GGZ Kompas", DAILY_HEALTH, SUPPORT_COORDINATION),
        objects_to_health_for: Some("Welzijn Noordwest"),
        representatives: &[],
    },
    DemoResident {
        name: "Hendrik Postma",
        birth_date: (1962, 5, 19),
        area: "Noordwest-Centrum",
        contact: "06-1000 0010",
        story: "Hendrik heeft na een herseninfarct moeite met plannen en zijn administratie stapelt zich op.",
        goal: "Overzicht in de administratie met hulp van een vrijwilliger.",
        extra: &[(
            Category::Finances,
            "Twee aanmaningen energie; budgetbeheer besproken.",
        )],
        involved: &["Welzijn Noordwest"],
        consent: Consent::To("Welzijn Noordwest", DAILY_FINANCES, SUPPORT),
        objects_to_health_for: None,
        representatives: &[],
    },
    DemoResident {
        name: "Sevda Yilmaz",
        birth_date: (1975, 10, 11),
        area: "Havenkwartier",
        contact: "06-1000 0011",
        story: "Sevda zorgt voor haar zoon met autisme; de school belt bijna dagelijks.",
        goal: "Een passende school voor haar zoon voor de zomer.",
        extra: &[],
        involved: &["Jeugdhulp Horizon"],
        consent: Consent::To("Jeugdhulp Horizon", DAILY, SUPPORT_COORDINATION),
        objects_to_health_for: None,
        representatives: &[],
    },
    DemoResident {
        name: "Bram Willems",
        birth_date: (1995, 8, 25),
        area: "De Buitenwijk",
        contact: "06-1000 0012",
        story: "Bram gokt online en heeft leningen afgesloten bij vrienden; zijn vriendin heeft hem verlaten.",
        goal: "Stoppen met gokken en de schulden op een rij.",
        extra: &[(
            Category::Finances,
            "Schuld bij vrienden circa vierduizend euro; geen BKR-registratie.",
        )],
        involved: &["GGZ Kompas", "Stichting Buurtkracht"],
        consent: Consent::None,
        objects_to_health_for: None,
        representatives: &[],
    },
    DemoResident {
        name: "Cornelia Vos",
        birth_date: (1952, 2, 8),
        area: "Noordwest-Centrum",
        contact: "050-100 0013",
        story: "Cornelia mantelzorgt voor haar man met Parkinson en is zelf uitgeput.",
        goal: "Respijtzorg twee dagdelen per week.",
        extra: &[],
        involved: &["Zorggroep De Linde", "Welzijn Noordwest"],
        consent: Consent::ToKind(OrganisationKind::Zorgaanbieder, DAILY, SUPPORT),
        objects_to_health_for: None,
        representatives: &[],
    },
    DemoResident {
        name: "Dennis Koster",
        birth_date: (1983, 3, 27),
        area: "Havenkwartier",
        contact: "06-1000 0014",
        story: "Er zijn zorgen over de veiligheid van de kinderen in het gezin van Dennis na meldingen van de buren.",
        goal: "Een veilige thuissituatie voor de kinderen.",
        extra: &[(
            Category::Safety,
            "Melding Veilig Thuis in oktober; veiligheidsplan in voorbereiding.",
        )],
        involved: &["Jeugdhulp Horizon"],
        consent: Consent::None,
        objects_to_health_for: None,
        representatives: &[],
    },
    DemoResident {
        name: "Ingrid Bos",
        birth_date: (1969, 11, 23),
        area: "De Buitenwijk",
        contact: "06-1000 0015",
        story: "Ingrid is na twintig jaar gescheiden en moet het huis uit; ze weet niet waar ze moet beginnen.",
        goal: "Binnen drie maanden passende woonruimte.",
        extra: &[],
        involved: &["Stichting Buurtkracht"],
        consent: Consent::To("Stichting Buurtkracht", DAILY, SUPPORT),
        objects_to_health_for: None,
        representatives: &[],
    },
    DemoResident {
        name: "Ravi Baldew",
        birth_date: (2001, 1, 15),
        area: "Noordwest-Centrum",
        contact: "06-1000 0016",
        story: "Ravi heeft een licht verstandelijke beperking en werd opgelicht via een datingsite.",
        goal: "Weerbaar worden online en een vaste begeleider.",
        extra: &[(
            Category::Network,
            "Zus Asha is contactpersoon en helpt met post.",
        )],
        involved: &["Zorggroep De Linde"],
        consent: Consent::To("Zorggroep De Linde", DAILY, SUPPORT_COORDINATION),
        objects_to_health_for: None,
        representatives: &[],
    },
    DemoResident {
        name: "Marieke Dijkstra",
        birth_date: (1987, 4, 4),
        area: "Havenkwartier",
        contact: "06-1000 0017",
        story: "Marieke heeft een burn-out en zit thuis; de werkgever wil een re-integratieplan.",
        goal: "Stapsgewijs terug naar werk, eerst twee ochtenden.",
        extra: &[(
            Category::Health,
            "Burn-out sinds januari; bedrijfsarts betrokken.",
        )],
        involved: &["GGZ Kompas"],
        consent: Consent::None,
        objects_to_health_for: None,
        representatives: &[],
    },
    DemoResident {
        name: "Ahmet Kaya",
        birth_date: (1958, 6, 30),
        area: "De Buitenwijk",
        contact: "06-1000 0018",
        story: "Ahmet spreekt weinig Nederlands en begrijpt de brieven van de gemeente niet; hij is eenzaam sinds zijn kinderen verhuisden.",
        goal: "Hulp bij post en een taalmaatje.",
        extra: &[],
        involved: &["Welzijn Noordwest", "Stichting Buurtkracht"],
        consent: Consent::To("Welzijn Noordwest", DAILY, SUPPORT_COORDINATION),
        objects_to_health_for: None,
        representatives: &[],
    },
    DemoResident {
        name: "Femke Jacobs",
        birth_date: (2004, 12, 12),
        area: "Noordwest-Centrum",
        contact: "06-1000 0019",
        story: "Femke is net achttien en woont sinds kort zelfstandig na een jeugdzorgtraject.",
        goal: "Zelf rondkomen van haar studiefinanciering en bijbaan.",
        extra: &[(
            Category::Finances,
            "Budgetplan opgesteld; toeslagen nog niet aangevraagd.",
        )],
        involved: &["Jeugdhulp Horizon", "Stichting Buurtkracht"],
        consent: Consent::To("Stichting Buurtkracht", DAILY_FINANCES, SUPPORT),
        objects_to_health_for: None,
        representatives: &[],
    },
    DemoResident {
        name: "Willem van Dam",
        birth_date: (1945, 9, 1),
        area: "Havenkwartier",
        contact: "050-100 0020",
        story: "Meneer Van Dam is slechtziend en kan de trap naar zijn flat nauwelijks meer op.",
        goal: "Een woning op de begane grond in dezelfde buurt.",
        extra: &[],
        involved: &["Thuiszorg Het Anker"],
        consent: Consent::To("Thuiszorg Het Anker", DAILY, SUPPORT),
        objects_to_health_for: None,
        representatives: &[],
    },
    DemoResident {
        name: "Noah de Wit",
        birth_date: (2016, 5, 10),
        area: "De Buitenwijk",
        contact: "via moeder: 06-1000 0021",
        story: "Noah is tien en heeft sinds de scheiding van zijn ouders woedeaanvallen op school; de leerkracht maakt zich zorgen.",
        goal: "Noah gaat weer met plezier naar school.",
        extra: &[(
            Category::Network,
            "Ouders wonen apart en overleggen via de coach; opa haalt Noah op woensdag.",
        )],
        involved: &["Jeugdhulp Horizon"],
        consent: Consent::To("Jeugdhulp Horizon", DAILY, SUPPORT_COORDINATION),
        objects_to_health_for: None,
        representatives: &[("Sandra de Wit", "moeder"), ("Erik de Wit", "vader")],
    },
    DemoResident {
        name: "Sara Yilmaz",
        birth_date: (2012, 3, 3),
        area: "Havenkwartier",
        contact: "06-1000 0022",
        story: "Sara is veertien en zorgt veel voor haar jongere broer; haar schoolresultaten gaan hard achteruit.",
        goal: "Tijd voor school en vriendinnen, hulp in huis voor haar moeder.",
        extra: &[],
        involved: &["Jeugdhulp Horizon", "Welzijn Noordwest"],
        consent: Consent::To("Welzijn Noordwest", DAILY, SUPPORT),
        objects_to_health_for: None,
        representatives: &[("Sevda Yilmaz", "moeder")],
    },
];

/// Everything the residents' rows refer to, already in the transaction.
pub(crate) struct Context<'a> {
    pub network: Uuid,
    pub wijkteam: Uuid,
    pub coaches: [Uuid; 2],
    pub organisation: &'a dyn Fn(&str) -> Result<Uuid, StoreError>,
}

/// Seeds the demo residents; returns how many.
pub(crate) async fn seed(
    tx: &DatabaseTransaction,
    keys: &KeyRing,
    context: &Context<'_>,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    for (index, demo) in RESIDENTS.iter().enumerate() {
        seed_one(tx, keys, context, index, demo, now).await?;
    }
    Ok(RESIDENTS.len())
}

async fn seed_one(
    tx: &DatabaseTransaction,
    keys: &KeyRing,
    context: &Context<'_>,
    index: usize,
    demo: &DemoResident,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let resident_id = ResidentId::new();
    let resident = resident_id.as_uuid();
    let coach = context.coaches[index % 2];
    let (year, month, day) = demo.birth_date;
    let birth_date = NaiveDate::from_ymd_opt(year, month, day)
        .ok_or_else(|| StoreError::Corrupt(format!("demo birth date of resident {index}")))?;
    let new = NewResident {
        network: NetworkId::from_uuid(context.network),
        bsn: demo_bsn(index)?,
        name: demo.name.to_owned(),
        birth_date,
        contact: Some(demo.contact.to_owned()),
        area: demo.area.to_owned(),
    };
    let (row, dek) = sealed::seal_resident(keys, resident_id, &new, now)?;
    crate::entity::residents::Entity::insert(row)
        .exec_without_returning(tx)
        .await?;

    let mut representative_ids = Vec::with_capacity(demo.representatives.len());
    for (name, relation) in demo.representatives {
        let id = Uuid::now_v7();
        let name = sealed::seal_text(&dek, sealed::REPRESENTATIVE_NAME, id, resident_id, name)?;
        representatives::Entity::insert(representatives::ActiveModel {
            id: Set(id),
            resident_id: Set(resident),
            name_ciphertext: Set(name),
            relation: Set((*relation).to_owned()),
            created_at: Set(now),
        })
        .exec_without_returning(tx)
        .await?;
        representative_ids.push(id);
    }
    // Who gives consent, by age (DESIGN §4): under 12 the representatives, 12–15 both, 16+ the
    // resident.
    let age = now.date_naive().years_since(birth_date).unwrap_or(0);
    let given_by = match (representative_ids.is_empty(), age) {
        (false, 0..12) => "representatives",
        (false, 12..16) => "resident-and-representatives",
        _ => "resident",
    };
    let givers = if given_by == "resident" {
        Vec::new()
    } else {
        representative_ids.clone()
    };

    let plan = Uuid::now_v7();
    plans::Entity::insert(plans::ActiveModel {
        id: Set(plan),
        resident_id: Set(resident),
        owning_organisation_id: Set(context.wijkteam),
        coordinating_member_id: Set(Some(coach)),
        status: Set(PlanStatus::Active.as_str().to_owned()),
        // A minor's support is youth care (Jeugdwet); an adult's is Wmo support.
        kind: Set(if age < 18 {
            PlanKind::Jeugd
        } else {
            PlanKind::Wmo
        }
        .as_str()
        .to_owned()),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .exec_without_returning(tx)
    .await?;

    let agreements = format!(
        "Afspraak: de coach komt elke twee weken langs; {} houdt de coach op de hoogte.",
        first_name(demo.name)
    );
    let actions =
        "Coach: contact leggen met de betrokken organisaties en over vier weken evalueren.";
    let mut contents = vec![
        (Category::Story, demo.story.to_owned()),
        (Category::Goals, demo.goal.to_owned()),
        (Category::Agreements, agreements),
        (Category::Actions, actions.to_owned()),
    ];
    contents.extend(
        demo.extra
            .iter()
            .map(|(category, text)| (*category, (*text).to_owned())),
    );
    let author = RevisionAuthor {
        organisation: context.wijkteam,
        member: Some(coach),
        client: None,
    };
    for (category, content) in contents {
        let section = Uuid::now_v7();
        sections::Entity::insert(sections::ActiveModel {
            id: Set(section),
            plan_id: Set(plan),
            category: Set(category.as_str().to_owned()),
            current_revision: Set(1),
            created_at: Set(now),
            updated_at: Set(now),
        })
        .exec_without_returning(tx)
        .await?;
        let revision = sealed::seal_revision(&dek, resident_id, section, 1, &content, author, now)?;
        crate::entity::section_revisions::Entity::insert(revision)
            .exec_without_returning(tx)
            .await?;
    }

    let relation = |organisation: Uuid, member: Option<Uuid>, kind: CareRelationKind| {
        care_relations::ActiveModel {
            id: Set(Uuid::now_v7()),
            resident_id: Set(resident),
            organisation_id: Set(organisation),
            member_id: Set(member),
            kind: Set(kind.as_str().to_owned()),
            valid_from: Set(now - Duration::days(60)),
            valid_until: Set(None),
            recorded_by: Set(coach),
            created_at: Set(now),
            ended_at: Set(None),
            ended_by: Set(None),
        }
    };
    care_relations::Entity::insert(relation(
        context.wijkteam,
        Some(coach),
        CareRelationKind::Coordinator,
    ))
    .exec_without_returning(tx)
    .await?;
    for name in demo.involved {
        let organisation = (context.organisation)(name)?;
        care_relations::Entity::insert(relation(organisation, None, CareRelationKind::Involved))
            .exec_without_returning(tx)
            .await?;
    }

    let consent = |grantee: Option<Uuid>,
                   kind: Option<OrganisationKind>,
                   categories: &[Category],
                   purposes: &[Purpose],
                   from: DateTime<Utc>,
                   until: DateTime<Utc>|
     -> Result<consents::ActiveModel, StoreError> {
        let id = Uuid::now_v7();
        let evidence = sealed::seal_text(
            &dek,
            sealed::CONSENT_EVIDENCE,
            id,
            resident_id,
            &format!(
                "Toestemming mondeling gegeven aan coach tijdens huisbezoek; {} heeft het plan gelezen.",
                first_name(demo.name)
            ),
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
            grantee_network_id: Set(context.network),
            categories: Set(json!(
                categories.iter().map(|c| c.as_str()).collect::<Vec<_>>()
            )),
            purposes: Set(json!(
                purposes.iter().map(|p| p.as_str()).collect::<Vec<_>>()
            )),
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
    let year_ago = now - Duration::days(365);
    let month_ago = now - Duration::days(30);
    let in_a_year = now + Duration::days(335);
    let row = match demo.consent {
        Consent::None => None,
        Consent::To(grantee, categories, purposes) => Some(consent(
            Some((context.organisation)(grantee)?),
            None,
            categories,
            purposes,
            month_ago,
            in_a_year,
        )?),
        Consent::ToKind(kind, categories, purposes) => Some(consent(
            None,
            Some(kind),
            categories,
            purposes,
            month_ago,
            in_a_year,
        )?),
        Consent::Withdrawn(grantee, categories) => {
            let mut row = consent(
                Some((context.organisation)(grantee)?),
                None,
                categories,
                SUPPORT,
                month_ago,
                in_a_year,
            )?;
            let id = *row.id.as_ref();
            row.withdrawn_at = Set(Some(now - Duration::days(3)));
            row.withdrawn_by = Set(Some(coach));
            row.withdrawal_reason_ciphertext = Set(Some(sealed::seal_text(
                &dek,
                sealed::CONSENT_WITHDRAWAL_REASON,
                id,
                resident_id,
                "Wil zelf bepalen wanneer de jeugdhulp meeleest.",
            )?));
            Some(row)
        }
        Consent::Expired(grantee, categories) => Some(consent(
            Some((context.organisation)(grantee)?),
            None,
            categories,
            SUPPORT,
            year_ago,
            now - Duration::days(7),
        )?),
    };
    if let Some(row) = row {
        consents::Entity::insert(row)
            .exec_without_returning(tx)
            .await?;
    }

    if let Some(name) = demo.objects_to_health_for {
        let id = Uuid::now_v7();
        let reason = sealed::seal_text(
            &dek,
            sealed::OBJECTION_REASON,
            id,
            resident_id,
            "Wil niet dat deze organisatie medische informatie ziet.",
        )?;
        objections::Entity::insert(objections::ActiveModel {
            id: Set(id),
            resident_id: Set(resident),
            kind: Set(ObjectionKind::Restriction.as_str().to_owned()),
            categories: Set(json!([Category::Health.as_str()])),
            organisation_id: Set(Some((context.organisation)(name)?)),
            reason_ciphertext: Set(Some(reason)),
            valid_from: Set(month_ago),
            valid_until: Set(None),
            recorded_by: Set(coach),
            recorded_at: Set(month_ago),
            lifted_at: Set(None),
            lifted_by: Set(None),
        })
        .exec_without_returning(tx)
        .await?;
    }
    Ok(())
}

fn first_name(name: &str) -> &str {
    name.split(' ').next().unwrap_or(name)
}

/// A fictional BSN passing the 11-proef: the `index`-th valid number from 999 990 000 up.
/// (the 99999xxxx range of test persons, not issued to real people).
pub(crate) fn demo_bsn(index: usize) -> Result<Bsn, StoreError> {
    (999_990_000u32..999_999_999)
        .filter_map(|candidate| Bsn::parse(&candidate.to_string()).ok())
        .nth(index)
        .ok_or_else(|| StoreError::Corrupt(format!("no demo BSN number {index}")))
}

/// The demo residents' names, for tests that scan the raw database for plaintext.
pub fn demo_resident_names() -> impl Iterator<Item = &'static str> {
    RESIDENTS.iter().map(|resident| resident.name)
}

/// The demo residents' stories, for tests that scan the raw database for plaintext.
pub fn demo_resident_stories() -> impl Iterator<Item = &'static str> {
    RESIDENTS.iter().map(|resident| resident.story)
}

/// The demo residents' BSNs, for tests that scan the raw database for plaintext.
pub fn demo_resident_bsns() -> Result<Vec<Bsn>, StoreError> {
    (0..RESIDENTS.len()).map(demo_bsn).collect()
}
