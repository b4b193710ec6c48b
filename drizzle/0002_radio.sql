CREATE TABLE "radio_transmissions" (
	"transmission_id" text PRIMARY KEY NOT NULL,
	"slot" integer NOT NULL,
	"radio_id" bigint NOT NULL,
	"talkgroup_id" bigint NOT NULL,
	"started_at" timestamp (3) with time zone NOT NULL,
	"ended_at" timestamp (3) with time zone NOT NULL,
	"duration" real NOT NULL,
	"chunk_count" integer NOT NULL,
	"recording_key" text,
	"recording_bytes" integer
);
--> statement-breakpoint
CREATE INDEX "radio_transmissions_started_idx" ON "radio_transmissions" USING btree ("started_at");--> statement-breakpoint
CREATE INDEX "radio_transmissions_slot_started_idx" ON "radio_transmissions" USING btree ("slot","started_at");--> statement-breakpoint
CREATE INDEX "radio_transmissions_radio_idx" ON "radio_transmissions" USING btree ("radio_id");--> statement-breakpoint
CREATE INDEX "radio_transmissions_talkgroup_idx" ON "radio_transmissions" USING btree ("talkgroup_id");