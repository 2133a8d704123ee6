-- rootline-broker schema, version 3: collateral fetched from AMD KDS or
-- Intel PCS/PCCS, shared by the replicas of one store so that each artifact
-- (a chip's VCEK, a CRL, a TCB info) is fetched once for the fleet. Keyed by
-- the URL it is served at; the body as cached (CRLs in DER), base64; the
-- issuer chain (PEM) when the artifact has one. Nothing here is trusted for
-- being here: every artifact is verified against the pinned roots on use.
CREATE TABLE collateral (
    url TEXT PRIMARY KEY,
    body TEXT NOT NULL,
    chain TEXT,
    updated_at BIGINT NOT NULL
);
