-- Hypervisor hosts running the rsvault agent (Microsoft.HybridCompute/
-- machines, ids stored lower-case), and the one-time enrolment tokens that
-- make them (by the SHA-256 of the secret; the secret is never kept).
CREATE TABLE agent_hosts (
    id TEXT COLLATE "C" PRIMARY KEY,
    subscription TEXT COLLATE "C" NOT NULL,
    resource_group TEXT COLLATE "C" NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    location TEXT COLLATE "C" NOT NULL,
    principal TEXT COLLATE "C" NOT NULL,
    agent_version TEXT COLLATE "C" NOT NULL,
    enrolled TEXT COLLATE "C" NOT NULL,
    last_contact_ms BIGINT,
    last_error TEXT
);
CREATE TABLE enroll_tokens (
    hash TEXT COLLATE "C" PRIMARY KEY,
    subscription TEXT COLLATE "C" NOT NULL,
    resource_group TEXT COLLATE "C" NOT NULL,
    location TEXT COLLATE "C" NOT NULL,
    expires_ms BIGINT NOT NULL,
    created_by TEXT COLLATE "C" NOT NULL
);
