ALTER TABLE "radio_transmissions" ALTER COLUMN "slot" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "api_keys" ADD COLUMN "systems" bigint[];--> statement-breakpoint
ALTER TABLE "api_keys" ADD COLUMN "talkgroups" bigint[];--> statement-breakpoint
ALTER TABLE "api_keys" ADD COLUMN "openmhz_short_name" text;--> statement-breakpoint
ALTER TABLE "radio_transmissions" ADD COLUMN "system_id" bigint;--> statement-breakpoint
ALTER TABLE "radio_transmissions" ADD COLUMN "system_label" text;--> statement-breakpoint
ALTER TABLE "radio_transmissions" ADD COLUMN "talkgroup_label" text;--> statement-breakpoint
ALTER TABLE "radio_transmissions" ADD COLUMN "talkgroup_tag" text;--> statement-breakpoint
ALTER TABLE "radio_transmissions" ADD COLUMN "talkgroup_group" text;--> statement-breakpoint
ALTER TABLE "radio_transmissions" ADD COLUMN "frequency" double precision;--> statement-breakpoint
ALTER TABLE "radio_transmissions" ADD COLUMN "emergency" boolean DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE "radio_transmissions" ADD COLUMN "sources" jsonb;--> statement-breakpoint
ALTER TABLE "radio_transmissions" ADD COLUMN "call" jsonb;--> statement-breakpoint
CREATE INDEX "radio_transmissions_system_talkgroup_started_idx" ON "radio_transmissions" USING btree ("system_id","talkgroup_id","started_at");--> statement-breakpoint
ALTER TABLE "api_keys" ADD CONSTRAINT "api_keys_openmhz_short_name_unique" UNIQUE("openmhz_short_name");