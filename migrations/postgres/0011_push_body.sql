-- The user asked for message bodies in this registration's pushes (a Rhein extension to
-- XEP-0357; the operator's `[modules.push] bodies` policy decides whether that is honoured).
ALTER TABLE push_registration ADD COLUMN with_body BOOLEAN NOT NULL DEFAULT FALSE;
