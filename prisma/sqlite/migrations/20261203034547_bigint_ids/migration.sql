-- Room, Presence and PresenceEvent ids are 64-bit on every provider. SQLite's INTEGER primary keys
-- are 64-bit already: nothing to change here.
SELECT 1;
