-- mail_sync: neutralize a copy of the database (staging, tests, a restored backup).
-- Every mailbox is paused ("Paused: this database is a copy") until a manager runs
-- Test & Enable on it, and every stored mail credential is removed: a copy never
-- fetches or sends real mail, and holds no password of the real mailboxes.
-- Run it on the copy only: scripts/neutralize.sh COPY_DATABASE [psql options]
BEGIN;
UPDATE mail_sync_mailbox SET db_uuid = NULL, password_crypt = NULL;
UPDATE mail_sync_server SET service_password_crypt = NULL;
COMMIT;
