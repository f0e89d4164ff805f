#!/usr/bin/env node
/**
 * `cascadia coordinator | node | local` — the mesh's command line.
 */
import { coordinatorCommand } from './cli/coordinator-command.js';
import { localCommand } from './cli/local-command.js';
import { nodeCommand } from './cli/node-command.js';

const USAGE = `usage:
  cascadia coordinator [--host 127.0.0.1] [--port 9090] [--data DIR] [--plan plan.json] [--expect-nodes 2]
                       env CASCADIA_JOIN_TOKEN (else generated into DIR/join-token), CASCADIA_API_KEY (optional)
  cascadia node --coordinator http://127.0.0.1:9090 --shard <shard dir> [--port 9100] [--host 127.0.0.1]
                [--advertise HOST] [--key-file PATH] [--engine auto|onnxruntime|openvino] [--threads N]
                env CASCADIA_JOIN_TOKEN
  cascadia node --coordinator URL --model <gguf|hf dir> [--model-id ID] [--shard-cache DIR] ...
                joins as assignable: the coordinator assigns a memory-weighted layer range
                (once --expect-nodes such nodes joined), the node exports and serves it
  cascadia local [--nodes 2] [--port 9090]
                pulls and exports the default model once, runs a coordinator and N nodes on loopback`;

const [command, ...rest] = process.argv.slice(2);
const commands: Record<string, (argv: string[]) => Promise<void>> = {
  coordinator: coordinatorCommand,
  node: nodeCommand,
  local: localCommand,
};
const run = command ? commands[command] : undefined;
if (!run) {
  process.stderr.write(`${USAGE}\n`);
  process.exit(command && command !== '--help' ? 2 : 0);
}
run(rest).catch((error: unknown) => {
  process.stderr.write(`cascadia ${command}: ${(error as Error).message}\n`);
  process.exit(1);
});
