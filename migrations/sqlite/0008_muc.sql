-- Multi-user chat rooms (XEP-0045) that outlive their occupants: `config` is the room
-- configuration as JSON, `subject` the current subject and who set it.
CREATE TABLE muc_room (
    jid TEXT PRIMARY KEY,
    config TEXT NOT NULL,
    subject TEXT NOT NULL DEFAULT '',
    subject_by TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL
);

-- Affiliations by bare JID (owner, admin, member, outcast), with the reserved nickname.
CREATE TABLE muc_affiliation (
    room TEXT NOT NULL,
    jid TEXT NOT NULL,
    affiliation TEXT NOT NULL,
    nick TEXT NOT NULL DEFAULT '',
    reason TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (room, jid),
    FOREIGN KEY (room) REFERENCES muc_room (jid) ON DELETE CASCADE
);
