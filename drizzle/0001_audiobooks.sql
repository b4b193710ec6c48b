CREATE TABLE "audiobook_chapters" (
	"job_id" uuid NOT NULL,
	"index" integer NOT NULL,
	"title" text NOT NULL,
	"source_name" text NOT NULL,
	"source_format" text,
	"file_key" text,
	"file_size" bigint,
	"start" double precision,
	"end" double precision,
	"duration" double precision,
	CONSTRAINT "audiobook_chapters_job_id_index_pk" PRIMARY KEY("job_id","index")
);
--> statement-breakpoint
CREATE TABLE "audiobook_jobs" (
	"id" uuid PRIMARY KEY NOT NULL,
	"owner_id" text NOT NULL,
	"title" text NOT NULL,
	"status" text NOT NULL,
	"error" text,
	"format" text,
	"duration" double precision,
	"file_size" bigint,
	"node_id" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"started_at" timestamp with time zone,
	"completed_at" timestamp with time zone,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "audiobook_progress" (
	"user_id" text NOT NULL,
	"job_id" uuid NOT NULL,
	"position" double precision NOT NULL,
	"chapter" integer,
	"version" integer NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "audiobook_progress_user_id_job_id_pk" PRIMARY KEY("user_id","job_id")
);
--> statement-breakpoint
ALTER TABLE "audiobook_chapters" ADD CONSTRAINT "audiobook_chapters_job_id_audiobook_jobs_id_fk" FOREIGN KEY ("job_id") REFERENCES "public"."audiobook_jobs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "audiobook_progress" ADD CONSTRAINT "audiobook_progress_job_id_audiobook_jobs_id_fk" FOREIGN KEY ("job_id") REFERENCES "public"."audiobook_jobs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "audiobook_jobs_owner_created_idx" ON "audiobook_jobs" USING btree ("owner_id","created_at");--> statement-breakpoint
CREATE INDEX "audiobook_jobs_status_idx" ON "audiobook_jobs" USING btree ("status");