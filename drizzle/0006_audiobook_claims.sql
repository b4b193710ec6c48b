ALTER TABLE "audiobook_jobs" ADD COLUMN "claimed_by" text;--> statement-breakpoint
ALTER TABLE "audiobook_jobs" ADD COLUMN "claim_token" text;--> statement-breakpoint
ALTER TABLE "audiobook_jobs" ADD COLUMN "claim_expires_at" timestamp with time zone;