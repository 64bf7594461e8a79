-- Identity: the principals the built-in token issuer knows (service
-- principals, users, managed identities), their credentials (argon2 hashes
-- of client secrets and passwords; never the secret itself), and Azure RBAC
-- role assignments at a scope (`/`, a subscription, a resource group or a
-- resource). Deleting a principal deletes its credentials and assignments.
CREATE TABLE principals (
    object_id TEXT PRIMARY KEY COLLATE NOCASE,
    kind TEXT NOT NULL,
    app_id TEXT UNIQUE COLLATE NOCASE,
    user_name TEXT UNIQUE COLLATE NOCASE,
    display_name TEXT NOT NULL,
    created TEXT NOT NULL
);
CREATE TABLE credentials (
    key_id TEXT PRIMARY KEY COLLATE NOCASE,
    principal TEXT NOT NULL REFERENCES principals(object_id) ON DELETE CASCADE,
    hash TEXT NOT NULL,
    display_name TEXT NOT NULL,
    created TEXT NOT NULL,
    expires TEXT
);
CREATE INDEX credentials_by_principal ON credentials (principal);
CREATE TABLE role_assignments (
    name TEXT PRIMARY KEY COLLATE NOCASE,
    scope TEXT NOT NULL,
    role_definition TEXT NOT NULL COLLATE NOCASE,
    principal TEXT NOT NULL REFERENCES principals(object_id) ON DELETE CASCADE,
    principal_type TEXT NOT NULL,
    description TEXT,
    created TEXT NOT NULL,
    created_by TEXT NOT NULL,
    UNIQUE (scope COLLATE NOCASE, role_definition, principal)
);
CREATE INDEX role_assignments_by_principal ON role_assignments (principal);
