-- Instruments that speak OPC UA feed their devices directly (docs/opcua.md): a device's source
-- is an OPC UA server's endpoint; each mapping subscribes one of its variables into one channel.
-- One source a device: the device's channels are the instrument's variables.
CREATE TABLE device_sources (
    device_id      BIGINT PRIMARY KEY REFERENCES devices (id) ON DELETE CASCADE,
    endpoint_url   TEXT   NOT NULL,   -- opc.tcp://host:port/path, normalised
    created_at     BIGINT NOT NULL,
    -- The session as last seen: when it last became connected, and what last went wrong (in
    -- words), with when. Written only when either changes.
    connected_at   BIGINT,
    last_error     TEXT,
    last_error_at  BIGINT
);

CREATE TABLE source_mappings (
    channel_id   BIGINT PRIMARY KEY REFERENCES channels (id) ON DELETE CASCADE,
    device_id    BIGINT NOT NULL REFERENCES device_sources (device_id) ON DELETE CASCADE,
    node_id      TEXT   NOT NULL,   -- e.g. ns=2;s=Incubator.Temperature
    -- How often the server samples the variable, and the smallest change it reports (absolute,
    -- in the variable's unit; NULL: every change).
    sampling_ms  BIGINT NOT NULL,
    deadband     DOUBLE PRECISION,
    CONSTRAINT source_mappings_node_unique UNIQUE (device_id, node_id)
);
