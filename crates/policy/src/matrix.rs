//! The role × category × action matrix (DESIGN §5): the most a role can ever get.
//!
//! This is the one place the matrix lives; `docs/POLICY.md` is rendered from it. Consent and care
//! relations narrow it, never widen it, and a network's protocol may only tighten it: this module
//! must never hand out a `Matrix` that permits more than [`Matrix::default`].

use domain::{Action, Category, OrganisationKind, Role};
use serde::Deserialize;

use crate::PolicyError;
use crate::sets::RoleSet;

/// What a role may do with a category. Ordered: `None < Read < ReadWrite`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Access {
    /// Geen toegang.
    None,
    /// Lezen.
    Read,
    /// Lezen en schrijven.
    ReadWrite,
}

impl Access {
    pub const fn permits(self, action: Action) -> bool {
        match (self, action) {
            (Access::None, _) => false,
            (Access::Read, Action::Read) => true,
            (Access::Read, Action::Write) => false,
            (Access::ReadWrite, Action::Read | Action::Write) => true,
        }
    }

    /// The matrix cell as printed in `docs/POLICY.md`.
    pub const fn symbol(self) -> &'static str {
        match self {
            Access::None => "—",
            Access::Read => "R",
            Access::ReadWrite => "RW",
        }
    }
}

const N: Access = Access::None;
const R: Access = Access::Read;
const RW: Access = Access::ReadWrite;

/// DESIGN §5, row per role in `Role::ALL` order, column per category in `Category::ALL` order:
/// story, goals, agreements, actions, network, health, finances, safety.
const DEFAULT_CELLS: [[Access; 8]; 6] = [
    /* coach           */ [RW, RW, RW, RW, RW, RW, RW, RW],
    /* triagist        */ [RW, R, N, N, R, N, N, R],
    /* welfare worker  */ [R, R, RW, RW, R, N, RW, N],
    /* provider worker */ [R, R, RW, RW, R, RW, N, R],
    /* privacy officer */ [N, N, N, N, N, N, N, N],
    /* administrator   */ [N, N, N, N, N, N, N, N],
];

/// Roles that may break the glass (noodtoegang) by default: the coach, who owns the plan, and the
/// care provider's worker, who may face a vital interest (GDPR art. 9(2)(c)). The triagist assigns a
/// coach rather than acting; welfare workers, the FG and administrators never break the glass.
fn default_break_glass_roles() -> RoleSet {
    RoleSet::from([Role::Coach, Role::ProviderWorker])
}

/// One tightening of the matrix from a network's privacy protocol (configuration).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, tag = "kind")]
pub enum Override {
    /// Set one cell; refused if it grants more than the default.
    Cell {
        /// The role whose row changes.
        role: Role,
        /// The category whose column changes.
        category: Category,
        /// The new access, at most the default.
        access: Access,
    },
    /// Allow or forbid break-the-glass for a role; allowing a role the default forbids is refused.
    BreakGlass {
        /// The role concerned.
        role: Role,
        /// Whether the role may break the glass.
        allowed: bool,
    },
}

/// The role × category matrix plus the roles allowed to break the glass.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Matrix {
    cells: [[Access; 8]; 6],
    break_glass_roles: RoleSet,
}

impl Default for Matrix {
    fn default() -> Matrix {
        Matrix {
            cells: DEFAULT_CELLS,
            break_glass_roles: default_break_glass_roles(),
        }
    }
}

impl Matrix {
    /// The default matrix with a network's overrides applied. Any override that would loosen the
    /// default is refused, and nothing is applied.
    pub fn tightened(overrides: &[Override]) -> Result<Matrix, PolicyError> {
        let default = Matrix::default();
        let mut matrix = default.clone();
        for override_ in overrides {
            match *override_ {
                Override::Cell {
                    role,
                    category,
                    access,
                } => {
                    if access > default.access(role, category) {
                        return Err(PolicyError::MatrixLoosened { role, category });
                    }
                    matrix.cells[role as usize][category as usize] = access;
                }
                Override::BreakGlass {
                    role,
                    allowed: true,
                } => {
                    if !default.break_glass_roles.contains(role) {
                        return Err(PolicyError::BreakGlassLoosened { role });
                    }
                }
                Override::BreakGlass {
                    role,
                    allowed: false,
                } => {
                    matrix.break_glass_roles = matrix.break_glass_roles.without(role);
                }
            }
        }
        Ok(matrix)
    }

    pub const fn access(&self, role: Role, category: Category) -> Access {
        self.cells[role as usize][category as usize]
    }

    pub const fn permits(&self, role: Role, category: Category, action: Action) -> bool {
        self.access(role, category).permits(action)
    }

    pub const fn may_break_glass(&self, role: Role) -> bool {
        self.break_glass_roles.contains(role)
    }

    pub const fn break_glass_roles(&self) -> RoleSet {
        self.break_glass_roles
    }
}

/// Whether a member of this kind of organisation may hold this role: the matrix's rows are for
/// the coach and triagist *of a wijkteam*, the welfare worker *of a welzijn* organisation and the
/// provider worker *of a zorgaanbieder*. The FG and the administrator may belong to any kind.
pub const fn role_fits_organisation(role: Role, kind: OrganisationKind) -> bool {
    match role {
        Role::Coach | Role::Triagist => matches!(kind, OrganisationKind::Wijkteam),
        Role::WelfareWorker => matches!(kind, OrganisationKind::Welzijn),
        Role::ProviderWorker => matches!(kind, OrganisationKind::Zorgaanbieder),
        Role::PrivacyOfficer | Role::Administrator => true,
    }
}
