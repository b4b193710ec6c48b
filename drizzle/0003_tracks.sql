CREATE TABLE "track_uploads" (
	"id" text PRIMARY KEY NOT NULL,
	"owner_id" text NOT NULL,
	"file_name" text NOT NULL,
	"title" text NOT NULL,
	"artist" text NOT NULL,
	"album" text,
	"duration" double precision NOT NULL,
	"bitrate" integer NOT NULL,
	"format" text NOT NULL,
	"codec" text,
	"mime_type" text NOT NULL,
	"size" bigint NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE INDEX "track_uploads_owner_created_idx" ON "track_uploads" USING btree ("owner_id","created_at");