-- API keys can be revoked, record when they were last used, and the key made from
-- DISPATCH_BOOTSTRAP_KEY is marked so that a new value revokes it.
ALTER TABLE "api_keys" ADD COLUMN     "bootstrap" BOOLEAN NOT NULL DEFAULT false,
ADD COLUMN     "last_used_at" TIMESTAMP(3),
ADD COLUMN     "revoked_at" TIMESTAMP(3);

-- Before this migration the only keys of organization "default" named "bootstrap" were made at
-- start-up from DISPATCH_BOOTSTRAP_KEY: mark them, so the next change of the value revokes them.
UPDATE "api_keys" SET "bootstrap" = true
WHERE "name" = 'bootstrap' AND "role" = 'admin'
  AND "organization_id" IN (SELECT "id" FROM "organizations" WHERE "name" = 'default');
