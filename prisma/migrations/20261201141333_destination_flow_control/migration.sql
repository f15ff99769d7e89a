-- Existing destinations keep their stored rate limit (null: none), are not adaptive, and have the default circuit breaker (null).
-- AlterTable
ALTER TABLE "destinations" ADD COLUMN     "circuit_breaker" JSONB,
ADD COLUMN     "rate_limit_adaptive" BOOLEAN NOT NULL DEFAULT false;
