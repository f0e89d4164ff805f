CREATE TABLE `usage_daily` (
	`day_start` integer NOT NULL,
	`key_id` text NOT NULL,
	`model` text NOT NULL,
	`owner_id` text,
	`requests` integer NOT NULL,
	`errors` integer NOT NULL,
	`prompt_tokens` integer NOT NULL,
	`completion_tokens` integer NOT NULL,
	`cost_nusd` integer NOT NULL,
	PRIMARY KEY(`day_start`, `key_id`, `model`)
);
--> statement-breakpoint
CREATE INDEX `usage_daily_owner_idx` ON `usage_daily` (`owner_id`,`day_start`);