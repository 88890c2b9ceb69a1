//! Is the caller still allowed in? A token proves who it was issued to; this checks, on every
//! request, that the member or client and its organisation are active *now*.
//!
//! Exists because a token lives up to ten minutes and a disabled account must stop within seconds
//! (issue 4). The answer is cached per subject for `status_cache_seconds` (default 5), so a busy
//! client costs one database read per few seconds, not one per request, and a disabled account is
//! refused on every instance within that time. Errors are never cached; a database failure
//! refuses the request (fail closed), it does not let it through.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use auth::token::Subject;
use domain::OrganisationId;
use store::{Db, StoreError, accounts};

/// Most subjects remembered; beyond this the cache is emptied (it refills at one read each).
const MAX_ENTRIES: usize = 50_000;

/// Whether the subject may act now, and if not, the audit reason code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    Active,
    Refused(&'static str),
}

pub struct StatusCache {
    ttl: Duration,
    entries: Mutex<HashMap<(Subject, OrganisationId), (Instant, Standing)>>,
}

impl StatusCache {
    pub fn new(ttl: Duration) -> StatusCache {
        StatusCache {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The standing of `subject` acting for `organisation` (the organisation named in its token
    /// or session: a member moved to another organisation is refused until it logs in again).
    pub async fn standing(
        &self,
        db: &Db,
        subject: Subject,
        organisation: OrganisationId,
    ) -> Result<Standing, StoreError> {
        let key = (subject, organisation);
        if let Some((at, standing)) = self
            .entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
            && at.elapsed() < self.ttl
        {
            return Ok(*standing);
        }
        let standing = read_standing(db, subject, organisation).await?;
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(key, (Instant::now(), standing));
        Ok(standing)
    }
}

/// The standing read from the database now, without the cache (login, where a stale answer
/// would let a just-disabled member in and a read per login costs nothing).
pub(crate) async fn read_standing(
    db: &Db,
    subject: Subject,
    organisation: OrganisationId,
) -> Result<Standing, StoreError> {
    let (status, home) = match subject {
        Subject::Member(id) => match accounts::member_by_id(db, id.as_uuid()).await? {
            Some(member) => (member.status, member.organisation_id),
            None => return Ok(Standing::Refused("member-unknown")),
        },
        Subject::Client(id) => match accounts::client_by_id(db, id.as_uuid()).await? {
            Some(client) => (client.status, client.organisation_id),
            None => return Ok(Standing::Refused("client-unknown")),
        },
    };
    if !accounts::is_active(&status) {
        return Ok(Standing::Refused(match subject {
            Subject::Member(_) => "member-disabled",
            Subject::Client(_) => "client-disabled",
        }));
    }
    if home != organisation.as_uuid() {
        return Ok(Standing::Refused("organisation-changed"));
    }
    match accounts::organisation(db, home).await? {
        Some(org) if accounts::is_active(&org.status) => Ok(Standing::Active),
        Some(_) => Ok(Standing::Refused("organisation-disabled")),
        None => Ok(Standing::Refused("organisation-unknown")),
    }
}
