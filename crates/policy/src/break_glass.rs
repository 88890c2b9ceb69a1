//! Break-the-glass (noodtoegang): validation of a request to read a resident's plan without a care
//! relation or consent, for a vital interest.
//!
//! It must never grant more than hours, never more than 24, never without a written reason, never
//! for a role the matrix does not allow or a partner system (a person answers for it), and never
//! for more than one resident.

use chrono::{DateTime, Duration, Utc};
use domain::{ResidentId, Role};

use crate::PolicyError;
use crate::facts::{Actor, ActorId, Resident};
use crate::matrix::Matrix;

/// Configuration of break-the-glass for a network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BreakGlassConfig {
    min_reason_chars: usize,
    default_duration: Duration,
    max_duration: Duration,
}

impl BreakGlassConfig {
    /// The ceiling no configuration may exceed.
    pub const HARD_MAX_HOURS: i64 = 24;
    pub const DEFAULT_MIN_REASON_CHARS: usize = 20;
    pub const DEFAULT_DURATION_HOURS: i64 = 4;
    pub const DEFAULT_MAX_DURATION_HOURS: i64 = 8;

    /// Refuses a minimum reason under 10 characters, a zero or negative duration, a default above
    /// the maximum, or a maximum above 24 hours.
    pub fn new(
        min_reason_chars: usize,
        default_duration: Duration,
        max_duration: Duration,
    ) -> Result<BreakGlassConfig, PolicyError> {
        let valid = min_reason_chars >= 10
            && Duration::zero() < default_duration
            && default_duration <= max_duration
            && max_duration <= Duration::hours(Self::HARD_MAX_HOURS);
        if !valid {
            return Err(PolicyError::BreakGlassConfigInvalid);
        }
        Ok(BreakGlassConfig {
            min_reason_chars,
            default_duration,
            max_duration,
        })
    }

    pub const fn min_reason_chars(&self) -> usize {
        self.min_reason_chars
    }
    pub const fn default_duration(&self) -> Duration {
        self.default_duration
    }
    pub const fn max_duration(&self) -> Duration {
        self.max_duration
    }
}

impl Default for BreakGlassConfig {
    fn default() -> BreakGlassConfig {
        BreakGlassConfig {
            min_reason_chars: Self::DEFAULT_MIN_REASON_CHARS,
            default_duration: Duration::hours(Self::DEFAULT_DURATION_HOURS),
            max_duration: Duration::hours(Self::DEFAULT_MAX_DURATION_HOURS),
        }
    }
}

/// A break-the-glass request as the actor enters it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BreakGlassDraft {
    pub resident: ResidentId,
    /// The written reason; kept in the grant, shown to the FG, never logged.
    pub reason: String,
    /// `None` for the configured default.
    pub duration: Option<Duration>,
}

/// A grant that passed every rule. The store gives it an id; the FG is signalled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidBreakGlass {
    pub holder: ActorId,
    pub organisation: domain::OrganisationId,
    pub role: Role,
    pub resident: ResidentId,
    pub reason: String,
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
}

impl ValidBreakGlass {
    pub fn to_fact(&self, id: domain::BreakGlassId) -> crate::facts::BreakGlassGrant {
        crate::facts::BreakGlassGrant {
            id,
            resident: self.resident,
            holder: self.holder,
            organisation: self.organisation,
            role: self.role,
            from: self.from,
            until: self.until,
        }
    }
}

/// Validates a break-the-glass request of `actor` for `resident`, starting `now`.
pub fn validate_break_glass(
    matrix: &Matrix,
    config: &BreakGlassConfig,
    actor: &Actor,
    draft: BreakGlassDraft,
    resident: &Resident,
    now: DateTime<Utc>,
) -> Result<ValidBreakGlass, PolicyError> {
    if draft.resident != resident.id {
        return Err(PolicyError::OtherResident);
    }
    // A person answers for it: the grant names a member, never a partner system.
    if matches!(actor, Actor::Client(_)) {
        return Err(PolicyError::BreakGlassNeedsPerson);
    }
    let organisation = actor.organisation();
    if !(actor.is_active()
        && organisation.active
        && organisation.networks.contains(&resident.network))
    {
        return Err(PolicyError::BreakGlassActorNotEligible);
    }
    let role = match actor.role() {
        Some(role)
            if matrix.may_break_glass(role)
                && crate::matrix::role_fits_organisation(role, organisation.kind) =>
        {
            role
        }
        Some(_) | None => return Err(PolicyError::BreakGlassRoleNotAllowed),
    };
    if draft.reason.trim().chars().count() < config.min_reason_chars {
        return Err(PolicyError::BreakGlassReasonTooShort {
            min_chars: config.min_reason_chars,
        });
    }
    let duration = draft.duration.unwrap_or(config.default_duration);
    if duration <= Duration::zero() || config.max_duration < duration {
        return Err(PolicyError::BreakGlassDurationOutOfRange {
            max_hours: config.max_duration.num_hours(),
        });
    }
    Ok(ValidBreakGlass {
        holder: actor.id(),
        organisation: organisation.id,
        role,
        resident: resident.id,
        reason: draft.reason,
        from: now,
        until: now + duration,
    })
}
