use std::fmt;

/// What a user may do within their organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Manages the organisation: settings, registered target URLs, device access.
    OrgAdmin,
    /// Works with the devices granted to them and manages their own subscriptions.
    LabUser,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::OrgAdmin => "org_admin",
            Role::LabUser => "lab_user",
        }
    }

    pub fn parse(raw: &str) -> crate::Result<Self> {
        match raw.trim() {
            "org_admin" => Ok(Role::OrgAdmin),
            "lab_user" => Ok(Role::LabUser),
            _ => Err(crate::Error::invalid(
                "role",
                "The role must be org_admin or lab_user.",
            )),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
