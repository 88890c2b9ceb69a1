//! Renders `docs/POLICY.md` from the code, so the document cannot drift from what `decide` does.
//!
//! It must never hold a rule of its own: every table here is read from the matrix, the closed
//! lists and the constants the rest of the crate uses.

use std::fmt::Write as _;

use domain::{Category, Role};

use crate::break_glass::BreakGlassConfig;
use crate::consent::AgeRule;
use crate::decide::CONSENT_REASON_PRECEDENCE;
use crate::decision::{Check, DenyReason, Law};
use crate::matrix::Matrix;
use crate::record::Recording;

/// The Markdown of `docs/POLICY.md` for the default matrix and configuration.
pub fn render_policy_doc() -> String {
    render_policy_doc_for(&Matrix::default(), &BreakGlassConfig::default())
}

/// The Markdown for a given (possibly tightened) matrix and break-the-glass configuration.
pub fn render_policy_doc_for(matrix: &Matrix, config: &BreakGlassConfig) -> String {
    let mut doc = String::new();
    // Writing to a String cannot fail; the results are ignored on purpose.
    let _ = render(&mut doc, matrix, config);
    doc
}

fn render(doc: &mut String, matrix: &Matrix, config: &BreakGlassConfig) -> std::fmt::Result {
    writeln!(doc, "# The access policy")?;
    writeln!(doc)?;
    writeln!(
        doc,
        "<!-- Generated from crates/policy (policy::render_policy_doc). Do not edit by hand: \
         run `UPDATE_POLICY_DOC=1 cargo test -p wijkhub-policy --test policy_doc`. -->"
    )?;
    writeln!(doc)?;
    writeln!(
        doc,
        "One pure function, `policy::decide`, permits or denies every read and write of resident \
         data. A permit carries its basis, a deny its reason; both list the checks applied."
    )?;
    writeln!(doc)?;

    writeln!(doc, "## The matrix")?;
    writeln!(doc)?;
    writeln!(
        doc,
        "The most a role can ever get (R = read, W = write, — = nothing). Consent and care \
         relations narrow it, never widen it; a network may tighten it in configuration, and \
         the hub refuses a configuration that loosens it."
    )?;
    writeln!(doc)?;
    write!(doc, "| role \\ category |")?;
    for category in Category::ALL {
        write!(doc, " {} |", category.as_str())?;
    }
    writeln!(doc)?;
    write!(doc, "|---|")?;
    for _ in Category::ALL {
        write!(doc, "---|")?;
    }
    writeln!(doc)?;
    for role in Role::ALL {
        write!(doc, "| {} |", role.as_str())?;
        for category in Category::ALL {
            write!(doc, " {} |", matrix.access(*role, *category).symbol())?;
        }
        writeln!(doc)?;
    }
    writeln!(doc)?;
    writeln!(
        doc,
        "A member's role must fit their organisation: coach and triagist belong to a wijkteam, \
         the welfare worker to a welzijn organisation, the provider worker to a zorgaanbieder; \
         the privacy officer and the administrator to any kind, and they never get plan content. \
         A partner system acts with the role of its organisation's kind (wijkteam → coach, \
         welzijn → welfare-worker, zorgaanbieder → provider-worker; a gemeente's has none), \
         narrowed by its read and write scopes and its allowed purposes."
    )?;
    writeln!(doc)?;

    writeln!(doc, "## Rules, in order")?;
    writeln!(doc)?;
    writeln!(doc, "The first rule that fails gives the deny reason.")?;
    writeln!(doc)?;
    let rules = [
        "The actor is active, its organisation is active and takes part in the resident's network.",
        "The role fits the organisation, the matrix permits the action on the category, a partner \
         system's scopes cover the action, category and purpose, and a write changes the actor's \
         own organisation's contribution (a new section, or one its organisation wrote) — unless \
         the actor is the plan's coordinating coach, who may write every section.",
        "A care relation valid now links the actor's organisation (or the member) to the resident. \
         Every kind (coordinator, involved, referral) counts. For a read only, an active \
         break-the-glass grant of this actor for this resident stands in for it.",
        "No active objection or restriction covers the category and the actor's organisation: \
         one that does denies, whatever else permits, break-the-glass included.",
        "A basis, tried in this order: the statutory task of the owning wijkteam for its own plan \
         (any purpose); a consent valid now naming the organisation (or its kind within the \
         network), the category and the declared purpose; an active break-the-glass grant \
         (reads only).",
    ];
    for (rule_idx, rule) in rules.iter().enumerate() {
        writeln!(doc, "{}. {rule}", rule_idx + 1)?;
    }
    writeln!(doc)?;

    writeln!(doc, "## Basis formats")?;
    writeln!(doc)?;
    writeln!(doc, "| basis | form |")?;
    writeln!(doc, "|---|---|")?;
    for law in Law::ALL {
        let when = match law {
            Law::Wmo2015 => "owning wijkteam, resident 18 or older",
            Law::Jeugdwet => "owning wijkteam, resident under 18",
        };
        writeln!(
            doc,
            "| statutory task ({when}) | `statutory:{}` |",
            law.as_str()
        )?;
    }
    writeln!(doc, "| consent | `consent:<uuid>` |")?;
    writeln!(doc, "| break-the-glass | `break-glass:<uuid>` |")?;
    writeln!(doc)?;

    writeln!(doc, "## Deny reasons")?;
    writeln!(doc)?;
    writeln!(doc, "| code | meaning |")?;
    writeln!(doc, "|---|---|")?;
    for reason in DenyReason::ALL {
        writeln!(doc, "| `{}` | {} |", reason.as_str(), reason.description())?;
    }
    writeln!(doc)?;
    writeln!(
        doc,
        "With several consents, each is judged in the order grantee, category, purpose, \
         withdrawal, start, end; the reason reported is the highest of theirs in this \
         precedence (least specific first): {}.",
        CONSENT_REASON_PRECEDENCE
            .iter()
            .map(|reason| format!("`{}`", reason.as_str()))
            .collect::<Vec<_>>()
            .join(" < ")
    )?;
    writeln!(doc)?;

    writeln!(doc, "## Checks (NEN 7513 controles)")?;
    writeln!(doc)?;
    writeln!(doc, "| check | meaning |")?;
    writeln!(doc, "|---|---|")?;
    for check in Check::ALL {
        writeln!(doc, "| `{}` | {} |", check.as_str(), check.description())?;
    }
    writeln!(doc)?;

    writeln!(doc, "## Consent and age")?;
    writeln!(doc)?;
    writeln!(
        doc,
        "Age is counted in whole years on the UTC date of the moment of recording. A consent \
         needs at least one category and one purpose, an end after its start, a grantee in the \
         resident's network, an evidence reference, and representatives registered for the \
         resident."
    )?;
    writeln!(doc)?;
    writeln!(doc, "| age | gives consent | may withdraw |")?;
    writeln!(doc, "|---|---|---|")?;
    for rule in AgeRule::ALL {
        let (age, gives, withdraws) = rule.description();
        writeln!(doc, "| {age} | {gives} | {withdraws} |")?;
    }
    writeln!(doc)?;
    writeln!(
        doc,
        "A withdrawal takes effect at once and keeps the record; a withdrawn consent never permits \
         again. A withdrawal needs no reason."
    )?;
    writeln!(doc)?;

    writeln!(doc, "## Keeping the record")?;
    writeln!(doc)?;
    writeln!(
        doc,
        "Who may change the resident's record beyond one section is one rule, \
         `policy::may_record`: the wijkteam that owns the plan, on its statutory task, with a \
         care relation with the resident now (a break-the-glass grant never stands in for it). \
         A refusal to an actor without one (or outside the network, or inactive) answers as for \
         a resident that does not exist; to anyone else it is forbidden."
    )?;
    writeln!(doc)?;
    writeln!(doc, "| what | who |")?;
    writeln!(doc, "|---|---|")?;
    for recording in Recording::ALL {
        let (what, who) = recording.description();
        writeln!(doc, "| {what} | {who} |")?;
    }
    writeln!(doc)?;
    writeln!(
        doc,
        "An objection never stops the coach recording the resident's own rights (a consent, an \
         objection, its lifting). A care relation needs an active organisation of the \
         resident's network, a member (if named) of that organisation, only a wijkteam as \
         coordinator, and an end after its start; one that has ended cannot be ended again."
    )?;
    writeln!(doc)?;

    writeln!(doc, "## Break-the-glass")?;
    writeln!(doc)?;
    let roles: Vec<&str> = matrix
        .break_glass_roles()
        .iter()
        .map(Role::as_str)
        .collect();
    writeln!(doc, "- Allowed roles: {}.", roles.join(", "))?;
    writeln!(
        doc,
        "- A written reason of at least {} characters is mandatory.",
        config.min_reason_chars()
    )?;
    writeln!(
        doc,
        "- One resident per grant; it lasts {} hours by default, at most {} hours as configured, \
         and never more than {} hours.",
        config.default_duration().num_hours(),
        config.max_duration().num_hours(),
        BreakGlassConfig::HARD_MAX_HOURS
    )?;
    writeln!(
        doc,
        "- It permits reads only, of the categories the holder's role may read; objections still \
         deny. Every access under it carries `break-glass:<uuid>`, and the privacy officer is \
         signalled. The grant holds for its holder, in the role and organisation it was \
         given in, and for that one resident only. Only a person breaks the glass: a partner \
         system never does."
    )?;
    writeln!(doc)?;

    writeln!(doc, "## Sharing overview")?;
    writeln!(doc)?;
    writeln!(
        doc,
        "`policy::sharing_overview` lists, per organisation or kind of organisation: the owning \
         wijkteam's statutory line; every consent that is current or starts later (withdrawn and \
         ended ones are left out); every active break-the-glass grant. Each line shows the \
         categories the grantee may read (the consent's categories narrowed by the matrix for the \
         grantee's kind, so a welfare organisation is never shown `health`), the categories an \
         objection takes out, the purposes, from and until, the basis, and whether the \
         organisation has a care relation now (without one it sees nothing yet)."
    )?;
    Ok(())
}
