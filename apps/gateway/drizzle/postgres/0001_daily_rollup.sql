CREATE TABLE "usage_daily" (
	"day_start" bigint NOT NULL,
	"key_id" text NOT NULL,
	"model" text NOT NULL,
	"owner_id" text,
	"requests" bigint NOT NULL,
	"errors" bigint NOT NULL,
	"prompt_tokens" bigint NOT NULL,
	"completion_tokens" bigint NOT NULL,
	"cost_nusd" bigint NOT NULL,
	CONSTRAINT "usage_daily_day_start_key_id_model_pk" PRIMARY KEY("day_start","key_id","model")
);
--> statement-breakpoint
CREATE INDEX "usage_daily_owner_idx" ON "usage_daily" USING btree ("owner_id","day_start");