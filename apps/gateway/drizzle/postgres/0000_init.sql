CREATE TABLE "keys" (
	"id" text PRIMARY KEY NOT NULL,
	"alias" text NOT NULL,
	"key_hash" text NOT NULL,
	"key_prefix" text NOT NULL,
	"previous_key_hash" text,
	"previous_key_expires_at" bigint,
	"owner_id" text,
	"models" text,
	"metadata" text,
	"expires_at" bigint,
	"rpm_limit" bigint,
	"tpm_limit" bigint,
	"budget_max_nusd" bigint,
	"budget_spent_nusd" bigint DEFAULT 0 NOT NULL,
	"budget_reserved_nusd" bigint DEFAULT 0 NOT NULL,
	"budget_period" text,
	"budget_resets_at" bigint,
	"revoked_at" bigint,
	"created_at" bigint NOT NULL,
	"updated_at" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "owners" (
	"id" text PRIMARY KEY NOT NULL,
	"kind" text NOT NULL,
	"name" text NOT NULL,
	"metadata" text,
	"budget_max_nusd" bigint,
	"budget_spent_nusd" bigint DEFAULT 0 NOT NULL,
	"budget_reserved_nusd" bigint DEFAULT 0 NOT NULL,
	"budget_period" text,
	"budget_resets_at" bigint,
	"created_at" bigint NOT NULL,
	"updated_at" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "prices" (
	"model" text NOT NULL,
	"effective_from" bigint NOT NULL,
	"input_per_million" double precision NOT NULL,
	"output_per_million" double precision NOT NULL,
	"created_at" bigint NOT NULL,
	CONSTRAINT "prices_model_effective_from_pk" PRIMARY KEY("model","effective_from")
);
--> statement-breakpoint
CREATE TABLE "reservations" (
	"id" text PRIMARY KEY NOT NULL,
	"key_id" text NOT NULL,
	"owner_id" text,
	"amount_nusd" bigint NOT NULL,
	"created_at" bigint NOT NULL,
	"expires_at" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "usage" (
	"request_id" text PRIMARY KEY NOT NULL,
	"created_at" bigint NOT NULL,
	"key_id" text NOT NULL,
	"owner_id" text,
	"model" text NOT NULL,
	"provider" text NOT NULL,
	"upstream_model" text NOT NULL,
	"endpoint" text NOT NULL,
	"stream" bigint NOT NULL,
	"prompt_tokens" bigint NOT NULL,
	"completion_tokens" bigint NOT NULL,
	"cost_nusd" bigint NOT NULL,
	"reserved_nusd" bigint NOT NULL,
	"latency_ms" bigint NOT NULL,
	"ttft_ms" bigint,
	"status" text NOT NULL,
	"http_status" bigint NOT NULL,
	"metered_by" text NOT NULL,
	"node_ids" text,
	"receipt_digest" text,
	"error" text
);
--> statement-breakpoint
CREATE TABLE "usage_hourly" (
	"hour_start" bigint NOT NULL,
	"key_id" text NOT NULL,
	"model" text NOT NULL,
	"owner_id" text,
	"requests" bigint NOT NULL,
	"errors" bigint NOT NULL,
	"prompt_tokens" bigint NOT NULL,
	"completion_tokens" bigint NOT NULL,
	"cost_nusd" bigint NOT NULL,
	CONSTRAINT "usage_hourly_hour_start_key_id_model_pk" PRIMARY KEY("hour_start","key_id","model")
);
--> statement-breakpoint
ALTER TABLE "keys" ADD CONSTRAINT "keys_owner_id_owners_id_fk" FOREIGN KEY ("owner_id") REFERENCES "owners"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "keys_key_hash_idx" ON "keys" USING btree ("key_hash");--> statement-breakpoint
CREATE INDEX "keys_previous_key_hash_idx" ON "keys" USING btree ("previous_key_hash");--> statement-breakpoint
CREATE INDEX "keys_owner_idx" ON "keys" USING btree ("owner_id");--> statement-breakpoint
CREATE INDEX "reservations_expires_idx" ON "reservations" USING btree ("expires_at");--> statement-breakpoint
CREATE INDEX "usage_key_time_idx" ON "usage" USING btree ("key_id","created_at","request_id");--> statement-breakpoint
CREATE INDEX "usage_owner_time_idx" ON "usage" USING btree ("owner_id","created_at","request_id");--> statement-breakpoint
CREATE INDEX "usage_time_idx" ON "usage" USING btree ("created_at","request_id");--> statement-breakpoint
CREATE INDEX "usage_hourly_owner_idx" ON "usage_hourly" USING btree ("owner_id","hour_start");