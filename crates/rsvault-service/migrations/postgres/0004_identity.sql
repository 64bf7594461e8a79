-- Identity: the principals the built-in token issuer knows (service
-- principals, users, managed identities), their credentials (argon2 hashes
-- of client secrets and passwords; never the secret itself), and Azure RBAC
-- role assignments at a scope (`/`, a subscription, a resource group or a
-- resource). Deleting a principal deletes its credentials and assignments.
-- Ids and names compare regardless of case (indexes on lower(...)); ids are
-- stored lower-case, so the foreign keys match.
CREATE TABLE principals (
    object_id TEXT COLLATE "C" PRIMARY KEY,
    kind TEXT COLLATE "C" NOT NULL,
    app_id TEXT COLLATE "C",
    user_name TEXT COLLATE "C",
    display_name TEXT COLLATE "C" NOT NULL,
    created TEXT COLLATE "C" NOT NULL
);
CREATE UNIQUE INDEX principals_by_app ON principals (lower(app_id));
CREATE UNIQUE INDEX principals_by_user ON principals (lower(user_name));
CREATE TABLE credentials (
    key_id TEXT COLLATE "C" PRIMARY KEY,
    principal TEXT COLLATE "C" NOT NULL REFERENCES principals(object_id) ON DELETE CASCADE,
    hash TEXT NOT NULL,
    display_name TEXT COLLATE "C" NOT NULL,
    created TEXT COLLATE "C" NOT NULL,
    expires TEXT COLLATE "C"
);
CREATE INDEX credentials_by_principal ON credentials (principal);
CREATE TABLE role_assignments (
    name TEXT COLLATE "C" PRIMARY KEY,
    scope TEXT COLLATE "C" NOT NULL,
    role_definition TEXT COLLATE "C" NOT NULL,
    principal TEXT COLLATE "C" NOT NULL REFERENCES principals(object_id) ON DELETE CASCADE,
    principal_type TEXT COLLATE "C" NOT NULL,
    description TEXT,
    created TEXT COLLATE "C" NOT NULL,
    created_by TEXT COLLATE "C" NOT NULL
);
CREATE UNIQUE INDEX role_assignments_by_key ON role_assignments (lower(scope), lower(role_definition), principal);
CREATE INDEX role_assignments_by_principal ON role_assignments (principal);
