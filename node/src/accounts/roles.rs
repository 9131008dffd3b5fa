//! Roles and the permissions they grant. A route needs one permission (see `table`); a role
//! either grants it or not. Officers and reviewers are separate on purpose: whoever sends a
//! trace or query should not be the one who approves disclosures to other members.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What a user may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads, firearm checks and ballistic searches.
    Analyst,
    /// An analyst's rights plus records, imports, traces, queries, cases, exhibits, notices
    /// and operations.
    Officer,
    /// An analyst's rights plus approving and refusing disclosures (incoming traces and
    /// queries, ballistic leads).
    Reviewer,
    /// Everything, including the users.
    Admin,
}

/// What a route needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Permission {
    /// Read anything, check a firearm, search ballistics.
    Read,
    /// Change this node's records or send requests to other members.
    Act,
    /// Approve or refuse a disclosure to another member.
    Review,
    /// Manage users.
    Admin,
}

impl Role {
    /// Every role, weakest first.
    pub const ALL: [Role; 4] = [Role::Analyst, Role::Officer, Role::Reviewer, Role::Admin];

    /// The role's name, as the API and CLI spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Analyst => "analyst",
            Role::Officer => "officer",
            Role::Reviewer => "reviewer",
            Role::Admin => "admin",
        }
    }

    /// The role spelled `name`, if any.
    pub fn parse(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == name)
    }

    /// Whether this role may do what `permission` covers.
    pub fn grants(self, permission: Permission) -> bool {
        matches!(
            (self, permission),
            (Role::Admin, _)
                | (_, Permission::Read)
                | (Role::Officer, Permission::Act)
                | (Role::Reviewer, Permission::Review)
        )
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Permission {
    /// The role that grants this permission and as little else as possible (admins hold every
    /// permission): what a refusal tells the caller to ask for.
    pub fn role_needed(self) -> Role {
        match self {
            Permission::Read => Role::Analyst,
            Permission::Act => Role::Officer,
            Permission::Review => Role::Reviewer,
            Permission::Admin => Role::Admin,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_grant_what_the_spec_says() {
        use Permission::*;
        let grants = |r: Role| [Read, Act, Review, Admin].map(|p| r.grants(p));
        assert_eq!(grants(Role::Analyst), [true, false, false, false]);
        assert_eq!(grants(Role::Officer), [true, true, false, false]);
        assert_eq!(grants(Role::Reviewer), [true, false, true, false]);
        assert_eq!(grants(Role::Admin), [true, true, true, true]);
        for p in [Read, Act, Review, Admin] {
            assert!(p.role_needed().grants(p));
        }
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert_eq!(Role::parse("Admin"), None);
    }
}
