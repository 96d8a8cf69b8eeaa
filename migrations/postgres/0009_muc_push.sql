-- Push registrations with rooms by opaque token (a Rhein extension to XEP-0357, see the
-- README): the room keeps the push service, the token and the registrant's XEP-0421
-- occupant id (never its JID), and the nickname to recognise mentions by.
CREATE TABLE muc_push (
    room TEXT NOT NULL,
    token TEXT NOT NULL,
    service TEXT NOT NULL,
    occupant_id TEXT NOT NULL,
    nick TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    PRIMARY KEY (room, token)
);
