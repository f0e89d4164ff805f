CREATE TABLE `keys` (
	`id` text PRIMARY KEY NOT NULL,
	`alias` text NOT NULL,
	`key_hash` text NOT NULL,
	`key_prefix` text NOT NULL,
	`previous_key_hash` text,
	`previous_key_expires_at` integer,
	`owner_id` text,
	`models` text,
	`metadata` text,
	`expires_at` integer,
	`rpm_limit` integer,
	`tpm_limit` integer,
	`budget_max_nusd` integer,
	`budget_spent_nusd` integer DEFAULT 0 NOT NULL,
	`budget_reserved_nusd` integer DEFAULT 0 NOT NULL,
	`budget_period` text,
	`budget_resets_at` integer,
	`revoked_at` integer,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`owner_id`) REFERENCES `owners`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `keys_key_hash_idx` ON `keys` (`key_hash`);--> statement-breakpoint
CREATE INDEX `keys_previous_key_hash_idx` ON `keys` (`previous_key_hash`);--> statement-breakpoint
CREATE INDEX `keys_owner_idx` ON `keys` (`owner_id`);--> statement-breakpoint
CREATE TABLE `owners` (
	`id` text PRIMARY KEY NOT NULL,
	`kind` text NOT NULL,
	`name` text NOT NULL,
	`metadata` text,
	`budget_max_nusd` integer,
	`budget_spent_nusd` integer DEFAULT 0 NOT NULL,
	`budget_reserved_nusd` integer DEFAULT 0 NOT NULL,
	`budget_period` text,
	`budget_resets_at` integer,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `prices` (
	`model` text NOT NULL,
	`effective_from` integer NOT NULL,
	`input_per_million` real NOT NULL,
	`output_per_million` real NOT NULL,
	`created_at` integer NOT NULL,
	PRIMARY KEY(`model`, `effective_from`)
);
--> statement-breakpoint
CREATE TABLE `reservations` (
	`id` text PRIMARY KEY NOT NULL,
	`key_id` text NOT NULL,
	`owner_id` text,
	`amount_nusd` integer NOT NULL,
	`created_at` integer NOT NULL,
	`expires_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `reservations_expires_idx` ON `reservations` (`expires_at`);--> statement-breakpoint
CREATE TABLE `usage` (
	`request_id` text PRIMARY KEY NOT NULL,
	`created_at` integer NOT NULL,
	`key_id` text NOT NULL,
	`owner_id` text,
	`model` text NOT NULL,
	`provider` text NOT NULL,
	`upstream_model` text NOT NULL,
	`endpoint` text NOT NULL,
	`stream` integer NOT NULL,
	`prompt_tokens` integer NOT NULL,
	`completion_tokens` integer NOT NULL,
	`cost_nusd` integer NOT NULL,
	`reserved_nusd` integer NOT NULL,
	`latency_ms` integer NOT NULL,
	`ttft_ms` integer,
	`status` text NOT NULL,
	`http_status` integer NOT NULL,
	`metered_by` text NOT NULL,
	`node_ids` text,
	`receipt_digest` text,
	`error` text
);
--> statement-breakpoint
CREATE INDEX `usage_key_time_idx` ON `usage` (`key_id`,`created_at`,`request_id`);--> statement-breakpoint
CREATE INDEX `usage_owner_time_idx` ON `usage` (`owner_id`,`created_at`,`request_id`);--> statement-breakpoint
CREATE INDEX `usage_time_idx` ON `usage` (`created_at`,`request_id`);--> statement-breakpoint
CREATE TABLE `usage_hourly` (
	`hour_start` integer NOT NULL,
	`key_id` text NOT NULL,
	`model` text NOT NULL,
	`owner_id` text,
	`requests` integer NOT NULL,
	`errors` integer NOT NULL,
	`prompt_tokens` integer NOT NULL,
	`completion_tokens` integer NOT NULL,
	`cost_nusd` integer NOT NULL,
	PRIMARY KEY(`hour_start`, `key_id`, `model`)
);
--> statement-breakpoint
CREATE INDEX `usage_hourly_owner_idx` ON `usage_hourly` (`owner_id`,`hour_start`);