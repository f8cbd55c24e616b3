//! Who may do what: operator roles, their permissions, and the bearer
//! tokens that identify operators on the HTTP API.
//!
//! Field units (tablets) are identified by their client certificate on the
//! QUIC link (`patrol::ca`); people in the control room and integrations are
//! identified by a token tied to one named operator and one [`Role`]. A token
//! is shown once when issued and only its SHA-256 is stored, so a copy of the
//! database does not hand out access.
//!
//! - [`Role`] and [`Permission`]: the one table of who may do what. Every
//!   route asks for a permission, never for a role, so the table below is the
//!   whole policy.
//! - [`tokens`]: issuing, listing, revoking and resolving tokens (SQLite).
//! - [`http`]: the axum extractor that turns `Authorization: Bearer ...` into
//!   an [`Operator`], and the token routes.

pub mod http;
pub mod tokens;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// An operator role, from the deployment's organisation chart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Prepares events: plans, camera inventory; sees the picture.
    Planner,
    /// Flies drones: commands, missions, geofences.
    Pilot,
    /// Takes incidents and sends units.
    Dispatcher,
    /// Reads the audit register and the footage-access log; changes nothing.
    Auditor,
    /// Manages operators, authorisations and configuration.
    Admin,
    /// An external system (citizen reporting app, venue system) that may
    /// only report incidents: it sees nothing of the picture.
    Reporter,
    /// A recorder (a VMS, a drone video store) that may only index the
    /// segments it recorded: it sees nothing of the picture and cannot
    /// search the recordings.
    Recorder,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 7] = [
        Role::Planner,
        Role::Pilot,
        Role::Dispatcher,
        Role::Auditor,
        Role::Admin,
        Role::Reporter,
        Role::Recorder,
    ];

    /// The name used in tokens, the CLI and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Planner => "planner",
            Role::Pilot => "pilot",
            Role::Dispatcher => "dispatcher",
            Role::Auditor => "auditor",
            Role::Admin => "admin",
            Role::Reporter => "reporter",
            Role::Recorder => "recorder",
        }
    }

    /// Whether this role may do `permission`. The one policy table.
    pub fn may(self, permission: Permission) -> bool {
        use Permission::*;
        use Role::*;
        match permission {
            ViewPicture => !matches!(self, Reporter | Recorder),
            ReportIncident => matches!(self, Dispatcher | Admin | Reporter),
            CommandDrone => matches!(self, Pilot | Admin),
            Dispatch => matches!(self, Dispatcher | Admin),
            QueryHistory => matches!(self, Dispatcher | Auditor | Admin),
            Plan => matches!(self, Planner | Admin),
            ManageCameras => matches!(self, Planner | Admin),
            ManageAuthorisations => matches!(self, Admin),
            ReadAudit => matches!(self, Auditor | Admin),
            ManageOperators => matches!(self, Admin),
            // A seizure order is served on the data controller, whose
            // designated person holds the admin role: auditors only read (so
            // reading can never alter what is kept) and the operators whose
            // actions may be under scrutiny do not decide what is kept.
            ManageHolds => matches!(self, Admin),
            IndexRecordings => matches!(self, Recorder | Admin),
        }
    }

    /// The roles that may do `permission`, for error messages.
    pub fn allowed(permission: Permission) -> Vec<Role> {
        Role::ALL
            .into_iter()
            .filter(|r| r.may(permission))
            .collect()
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A role name that is not one of [`Role::ALL`].
#[derive(Debug, thiserror::Error)]
#[error(
    "unknown role {0:?}: expected one of planner, pilot, dispatcher, auditor, admin, reporter, recorder"
)]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(s: &str) -> Result<Role, UnknownRole> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownRole(s.to_string()))
    }
}

/// Something an operator may be allowed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// See the live picture: units, drones, coverage now.
    ViewPicture,
    /// Send commands, missions and geofences to drones.
    CommandDrone,
    /// Create incidents, send orders to units, manage dispatch.
    Dispatch,
    /// Query coverage history: which feeds saw a place, and when.
    QueryHistory,
    /// Run the planner and save plans.
    Plan,
    /// Import or change the fixed camera inventory.
    ManageCameras,
    /// Record, change or end flight authorisations and privacy masks.
    ManageAuthorisations,
    /// Read and export the audit register.
    ReadAudit,
    /// Issue and revoke operator tokens.
    ManageOperators,
    /// Report an incident (external systems, call points, dispatchers).
    ReportIncident,
    /// Place and lift legal holds (items seized for proceedings).
    ManageHolds,
    /// Index recorded segments (recorders).
    IndexRecordings,
}

impl Permission {
    /// Every permission, in declaration order.
    pub const ALL: [Permission; 12] = [
        Permission::ViewPicture,
        Permission::CommandDrone,
        Permission::Dispatch,
        Permission::QueryHistory,
        Permission::Plan,
        Permission::ManageCameras,
        Permission::ManageAuthorisations,
        Permission::ReadAudit,
        Permission::ManageOperators,
        Permission::ReportIncident,
        Permission::ManageHolds,
        Permission::IndexRecordings,
    ];

    /// What the permission allows, in words, for error messages.
    pub fn describe(self) -> &'static str {
        match self {
            Permission::ViewPicture => "see the live picture",
            Permission::CommandDrone => "command drones",
            Permission::Dispatch => "dispatch units",
            Permission::QueryHistory => "query coverage history",
            Permission::Plan => "plan events",
            Permission::ManageCameras => "change the camera inventory",
            Permission::ManageAuthorisations => "manage flight authorisations and privacy masks",
            Permission::ReadAudit => "read the audit register",
            Permission::ManageOperators => "manage operator tokens",
            Permission::ReportIncident => "report incidents",
            Permission::ManageHolds => "place or lift legal holds",
            Permission::IndexRecordings => "index recordings",
        }
    }
}

/// An authenticated operator, as resolved from a token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operator {
    /// Token id (stable, shown by `vigie token list`).
    pub token_id: i64,
    /// Operator name, as given when the token was issued.
    pub name: String,
    /// The operator's role.
    pub role: Role,
}

/// An operator asked for something their role does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name} ({role}) may not {what}: this needs the role {allowed}")]
pub struct Forbidden {
    /// The operator's name.
    pub name: String,
    /// The operator's role.
    pub role: Role,
    /// What was asked, in words.
    pub what: &'static str,
    /// The roles that may, joined with " or ".
    pub allowed: String,
}

impl Operator {
    /// Ok if this operator's role allows `permission`, otherwise why not.
    pub fn require(&self, permission: Permission) -> Result<(), Forbidden> {
        if self.role.may(permission) {
            return Ok(());
        }
        let allowed: Vec<&str> = Role::allowed(permission)
            .into_iter()
            .map(Role::as_str)
            .collect();
        Err(Forbidden {
            name: self.name.clone(),
            role: self.role,
            what: permission.describe(),
            allowed: allowed.join(" or "),
        })
    }

    /// The name under which this operator's actions are recorded.
    pub fn actor(&self) -> String {
        format!("operator:{}", self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names_round_trip() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>().unwrap(), r);
        }
        let err = "superuser".parse::<Role>().unwrap_err();
        assert!(err.to_string().contains("planner, pilot"), "{err}");
    }

    #[test]
    fn only_pilots_and_admins_command_drones() {
        let allowed = Role::allowed(Permission::CommandDrone);
        assert_eq!(allowed, vec![Role::Pilot, Role::Admin]);
        let op = Operator {
            token_id: 1,
            name: "claire".into(),
            role: Role::Dispatcher,
        };
        let err = op.require(Permission::CommandDrone).unwrap_err();
        assert_eq!(
            err.to_string(),
            "claire (dispatcher) may not command drones: this needs the role pilot or admin"
        );
    }

    #[test]
    fn every_operator_role_sees_the_picture_and_only_auditors_and_admins_read_audit() {
        for r in Role::ALL {
            assert_eq!(
                r.may(Permission::ViewPicture),
                !matches!(r, Role::Reporter | Role::Recorder)
            );
            assert_eq!(
                r.may(Permission::ReadAudit),
                matches!(r, Role::Auditor | Role::Admin)
            );
        }
    }

    #[test]
    fn reporters_only_report_incidents() {
        use Permission::*;
        for p in [
            ViewPicture,
            CommandDrone,
            Dispatch,
            QueryHistory,
            Plan,
            ManageCameras,
            ManageAuthorisations,
            ReadAudit,
            ManageOperators,
        ] {
            assert!(!Role::Reporter.may(p), "{p:?}");
        }
        assert!(Role::Reporter.may(ReportIncident));
        assert!(!Role::Auditor.may(ReportIncident));
    }

    #[test]
    fn recorders_only_index_recordings_and_only_admins_hold() {
        use Permission::*;
        for p in Permission::ALL
            .into_iter()
            .filter(|p| *p != IndexRecordings)
        {
            assert!(!Role::Recorder.may(p), "{p:?}");
        }
        assert_eq!(
            Role::allowed(IndexRecordings),
            vec![Role::Admin, Role::Recorder]
        );
        assert_eq!(Role::allowed(ManageHolds), vec![Role::Admin]);
    }

    #[test]
    fn auditors_change_nothing() {
        use Permission::*;
        for p in [
            CommandDrone,
            Dispatch,
            Plan,
            ManageCameras,
            ManageAuthorisations,
            ManageOperators,
            ManageHolds,
            IndexRecordings,
        ] {
            assert!(!Role::Auditor.may(p), "{p:?}");
        }
    }
}
