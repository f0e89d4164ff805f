/**
 * Fleet endpoints. Node protocol (under /v1/cascadia/fleet/): challenge → join (HMAC proof of the
 * join token + signature by the node key) → heartbeat with the lease the join returned; a node
 * whose heartbeat gets 401 joins again (this is how nodes survive a coordinator restart).
 * Public views: /v1/cascadia/nodes (fleet, placement) and /v1/cascadia/keys (receipt keys).
 */
import fp from 'fastify-plugin';
import { z } from 'zod';
import { JoinError } from '../../mesh/fleet.js';
import { ApiError, invalidRequest, sendError } from '../errors.js';

const Report = z.object({
  device: z.string().max(200),
  engine: z.string().max(100),
  memory: z.object({ total_bytes: z.number().nonnegative(), free_bytes: z.number().nonnegative() }),
  active_sessions: z.number().int().nonnegative().optional(),
});

const Shard = z.object({
  model_id: z.string().min(1).max(200),
  digest: z.string().regex(/^[0-9a-f]{64}$/),
  layer_start: z.number().int().nonnegative(),
  layer_end: z.number().int().positive(),
  has_embeddings: z.boolean(),
  has_lm_head: z.boolean(),
  hidden_size: z.number().int().positive(),
  vocab_size: z.number().int().positive(),
  max_context: z.number().int().positive(),
  shard_index: z.number().int().nonnegative(),
  shard_count: z.number().int().positive(),
  architecture: z.string().optional(),
  tokenizer_sha256: z
    .string()
    .regex(/^[0-9a-f]{64}$/)
    .optional(),
});

const Join = z.object({
  nonce: z.string().min(1).max(200),
  node_id: z.string().min(1).max(100),
  public_key: z.string().length(43),
  proof: z.string().max(200),
  signature: z.string().max(200),
  data: z.object({ host: z.string().min(1).max(255), port: z.number().int().min(1).max(65535) }),
  shard: Shard,
  report: Report,
  version: z.string().max(50).optional(),
});

const AssignableJoin = Join.omit({ data: true, shard: true }).extend({
  assignable: z.object({
    model_id: z.string().min(1).max(200),
    num_layers: z.number().int().positive().max(10_000),
    last_stage_extra: z.number().nonnegative().max(10_000).optional(),
  }),
});

const Heartbeat = z.object({ node_id: z.string(), lease: z.string(), report: Report });
const Leave = z.object({ node_id: z.string(), lease: z.string() });
const TokenizerUpload = z.object({
  node_id: z.string(),
  lease: z.string(),
  model_id: z.string(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  files: z.record(z.string(), z.string()),
});

function joinFailure(error: unknown): ApiError {
  if (error instanceof JoinError)
    return new ApiError(error.status, 'authentication_error', error.code, error.message);
  throw error;
}

export const fleetRoutes = fp(
  async (app) => {
    const mesh = app.mesh;

    // Heartbeats and challenges arrive every few seconds per node: keep them out of info logs.
    app.post('/v1/cascadia/fleet/challenge', { logLevel: 'warn' }, async (_req, reply) => {
      try {
        return { nonce: mesh.fleet.issueNonce() };
      } catch (error) {
        return sendError(reply, joinFailure(error));
      }
    });

    app.post('/v1/cascadia/fleet/join', async (req, reply) => {
      if (req.body && typeof req.body === 'object' && 'assignable' in req.body) {
        const assignable = AssignableJoin.safeParse(req.body);
        if (!assignable.success) {
          return sendError(reply, invalidRequest(`bad join request: ${assignable.error.issues[0]?.message}`));
        }
        try {
          const { pending, assignment } = mesh.fleet.joinAssignable(assignable.data);
          app.metrics.joins.inc({ outcome: 'accepted' });
          req.log.info(
            { node_id: pending.node_id, model: pending.model_id, assignment },
            'assignable node joined',
          );
          return {
            coordinator: { id: mesh.identity.id, public_key: mesh.identity.publicKey },
            lease: pending.lease,
            heartbeat_ms: mesh.fleet.heartbeatMs,
            upload_tokenizer: false,
            assignment,
          };
        } catch (error) {
          app.metrics.joins.inc({ outcome: 'rejected' });
          return sendError(reply, joinFailure(error));
        }
      }
      const parsed = Join.safeParse(req.body);
      if (!parsed.success)
        return sendError(reply, invalidRequest(`bad join request: ${parsed.error.issues[0]?.message}`));
      try {
        const node = mesh.fleet.join(parsed.data);
        app.metrics.joins.inc({ outcome: 'accepted' });
        req.log.info(
          { node_id: node.node_id, layers: [node.shard.layer_start, node.shard.layer_end] },
          'node joined',
        );
        const sha = node.shard.tokenizer_sha256;
        let wantTokenizer = false;
        if (node.shard.has_embeddings && sha && !mesh.tokenizers.has(node.shard.model_id)) {
          wantTokenizer = !(await mesh.tokenizers.loadCached(node.shard.model_id, sha).catch(() => false));
        }
        return {
          coordinator: { id: mesh.identity.id, public_key: mesh.identity.publicKey },
          lease: node.lease,
          heartbeat_ms: mesh.fleet.heartbeatMs,
          upload_tokenizer: wantTokenizer,
        };
      } catch (error) {
        app.metrics.joins.inc({ outcome: 'rejected' });
        req.log.warn(
          { node_id: parsed.data.node_id, reason: (error as Error).message },
          'node join rejected',
        );
        return sendError(reply, joinFailure(error));
      }
    });

    app.post('/v1/cascadia/fleet/heartbeat', { logLevel: 'warn' }, async (req, reply) => {
      const parsed = Heartbeat.safeParse(req.body);
      if (!parsed.success) return sendError(reply, invalidRequest('bad heartbeat'));
      try {
        mesh.fleet.heartbeat(parsed.data.node_id, parsed.data.lease, parsed.data.report);
        return { ok: true, assignment: mesh.fleet.assignmentOf(parsed.data.node_id) };
      } catch (error) {
        return sendError(reply, joinFailure(error));
      }
    });

    app.post('/v1/cascadia/fleet/leave', async (req, reply) => {
      const parsed = Leave.safeParse(req.body);
      if (!parsed.success) return sendError(reply, invalidRequest('bad leave request'));
      try {
        mesh.fleet.leave(parsed.data.node_id, parsed.data.lease);
        return { ok: true };
      } catch (error) {
        return sendError(reply, joinFailure(error));
      }
    });

    app.post('/v1/cascadia/fleet/tokenizer', { bodyLimit: 64 * 1024 * 1024 }, async (req, reply) => {
      const parsed = TokenizerUpload.safeParse(req.body);
      if (!parsed.success) return sendError(reply, invalidRequest('bad tokenizer upload'));
      const node = mesh.fleet.nodes.get(parsed.data.node_id);
      if (!node || node.lease !== parsed.data.lease) {
        return sendError(reply, new ApiError(401, 'authentication_error', 'unknown_lease', 'not joined'));
      }
      if (
        node.shard.model_id !== parsed.data.model_id ||
        node.shard.tokenizer_sha256 !== parsed.data.sha256
      ) {
        return sendError(
          reply,
          invalidRequest('tokenizer does not belong to the shard this node joined with'),
        );
      }
      try {
        await mesh.tokenizers.accept(parsed.data);
        return { ok: true };
      } catch (error) {
        return sendError(reply, invalidRequest(`tokenizer rejected: ${(error as Error).message}`));
      }
    });

    app.get('/v1/cascadia/nodes', async () => {
      const fleet = mesh.fleet;
      const nodes = [...fleet.nodes.values()].map((n) => ({
        node_id: n.node_id,
        public_key: n.public_key,
        address: `${n.host}:${n.port}`,
        health: fleet.health(n),
        device: n.report.device,
        engine: n.report.engine,
        memory: n.report.memory,
        shard: n.shard,
        version: n.version ?? null,
        joined_at: new Date(n.joined_at).toISOString(),
        last_heartbeat: new Date(n.last_heartbeat).toISOString(),
        sessions: n.load,
      }));
      const models = [...new Set(nodes.map((n) => n.shard.model_id))].sort().map((modelId) => {
        const route = fleet.route(modelId);
        const stages = new Map<string, { layer_start: number; layer_end: number; nodes: string[] }>();
        for (const n of fleet.healthyNodesFor(modelId)) {
          const key = `${n.shard.layer_start}-${n.shard.layer_end}`;
          const stage = stages.get(key) ?? {
            layer_start: n.shard.layer_start,
            layer_end: n.shard.layer_end,
            nodes: [],
          };
          stage.nodes.push(n.node_id);
          stages.set(key, stage);
        }
        return {
          model_id: modelId,
          servable: route !== null,
          route:
            route?.map((n) => ({
              node_id: n.node_id,
              layer_start: n.shard.layer_start,
              layer_end: n.shard.layer_end,
            })) ?? null,
          stages: [...stages.values()].sort((a, b) => a.layer_start - b.layer_start),
          explicit_plan: mesh.opts.plan?.[modelId] ?? null,
          assigned_plan: fleet.assignedPlan(modelId),
          memory_weighted_plan: fleet.suggestedPlan(modelId),
        };
      });
      const awaiting = [...fleet.pending.values()].map((p) => ({
        node_id: p.node_id,
        public_key: p.public_key,
        model_id: p.model_id,
        memory: p.report.memory,
        device: p.report.device,
        assignment: fleet.assignmentOf(p.node_id),
      }));
      return {
        coordinator: { id: mesh.identity.id, public_key: mesh.identity.publicKey },
        nodes,
        pending: awaiting,
        placement: models,
      };
    });

    app.get('/v1/cascadia/keys', async () => mesh.publishedKeys());
  },
  { name: 'fleet-routes', dependencies: ['mesh', 'metrics'] },
);
