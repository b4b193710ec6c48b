CREATE TABLE "playback_sessions" (
	"user_id" text PRIMARY KEY NOT NULL,
	"track_id" text NOT NULL,
	"position" double precision NOT NULL,
	"duration" double precision NOT NULL,
	"is_playing" boolean NOT NULL,
	"updated_at" timestamp (3) with time zone NOT NULL,
	"device_id" text NOT NULL
);
