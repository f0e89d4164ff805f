/**
 * The fleet registry: nodes that proved the join token, their reported device, memory and shard,
 * heartbeats and health, and the coordinator's data links to them.
 */
import { randomBytes } from 'node:crypto';
import { verifyMessage } from '../auth/ed25519.js';
import { nodeIdOf } from '../auth/identity.js';
import { checkJoinProof, joinMessage } from '../auth/join.js';
import { MeshError } from './errors.js';
import { type CoordinatorIdentity, NodeLink } from './node-link.js';
import { boundariesOf, findRoute, type LayerAssignment, planLayerSplit } from './placement.js';
import type { ShardInfo } from './types.js';

export type NodeHealth = 'healthy' | 'stale' | 'down';

export interface NodeReport {
  device: string;
  engine: string;
  memory: { total_bytes: number; free_bytes: number };
  active_sessions?: number;
}

export interface JoinProof {
  nonce: string;
  node_id: string;
  public_key: string;
  proof: string;
  signature: string;
  report: NodeReport;
  version?: string;
}

/** A node that serves a shard it already has. */
export interface JoinRequest extends JoinProof {
  data: { host: string; port: number };
  shard: ShardInfo;
}

/** A node that has the whole model and waits for the coordinator to assign it a layer range. */
export interface AssignableJoinRequest extends JoinProof {
  /** `last_stage_extra`: the LM head's cost in layer equivalents, balanced out of the last stage */
  assignable: { model_id: string; num_layers: number; last_stage_extra?: number };
}

export interface Assignment {
  model_id: string;
  layer_start: number;
  layer_end: number;
  /** boundaries of the whole plan ([0, …, num_layers]); the node exports with them */
  boundaries: number[];
  /** this node's shard index in the plan */
  index: number;
}

export interface PendingNode {
  node_id: string;
  public_key: string;
  lease: string;
  model_id: string;
  num_layers: number;
  last_stage_extra: number;
  report: NodeReport;
  joined_at: number;
  last_heartbeat: number;
}

export interface FleetNode {
  node_id: string;
  public_key: string;
  host: string;
  port: number;
  shard: ShardInfo;
  report: NodeReport;
  version: string | undefined;
  joined_at: number;
  last_heartbeat: number;
  lease: string;
  /** the data link failed; cleared by the next heartbeat or a successful connection */
  unreachable_since: number | null;
  load: number;
  link: NodeLink;
}

export class JoinError extends Error {
  override readonly name = 'JoinError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface FleetOptions {
  joinToken: string;
  identity: CoordinatorIdentity;
  heartbeatMs?: number;
  /** explicit placement: node ids in pipeline order, per model */
  plan?: Record<string, string[]>;
  /** assign layer ranges once this many assignable nodes of a model have joined (default 2) */
  expectNodes?: number;
  /** forget nodes silent for this long (default max(10 min, 60 heartbeats)); their keys stay published */
  forgetAfterMs?: number;
  now?: () => number;
}

const NONCE_TTL_MS = 60_000;

export class Fleet {
  readonly nodes = new Map<string, FleetNode>();
  /** every node key seen since start, so receipts of nodes that left stay verifiable */
  readonly knownKeys = new Map<string, string>();
  /** assignable nodes waiting for (or preparing) their layer range */
  readonly pending = new Map<string, PendingNode>();
  private readonly assignments = new Map<string, Assignment>();
  private readonly plans = new Map<string, LayerAssignment[]>();
  private readonly nonces = new Map<string, number>();
  readonly heartbeatMs: number;
  private readonly now: () => number;

  constructor(private readonly opts: FleetOptions) {
    this.heartbeatMs = opts.heartbeatMs ?? 5000;
    this.now = opts.now ?? Date.now;
  }

  issueNonce(): string {
    const now = this.now();
    for (const [n, exp] of this.nonces) if (exp < now) this.nonces.delete(n);
    if (this.nonces.size > 10_000)
      throw new JoinError(429, 'too_many_joins', 'too many outstanding join challenges');
    const nonce = randomBytes(24).toString('base64url');
    this.nonces.set(nonce, now + NONCE_TTL_MS);
    return nonce;
  }

  private verifyJoin(req: JoinProof): void {
    const exp = this.nonces.get(req.nonce);
    if (exp === undefined || exp < this.now())
      throw new JoinError(401, 'bad_nonce', 'unknown or expired join challenge');
    this.nonces.delete(req.nonce);
    const message = joinMessage(req.nonce, req.node_id, req.public_key);
    if (!checkJoinProof(this.opts.joinToken, message, req.proof)) {
      throw new JoinError(401, 'bad_join_token', 'join proof does not match the fleet join token');
    }
    if (!verifyMessage(message, req.signature, req.public_key)) {
      throw new JoinError(401, 'bad_signature', 'the node did not prove it holds its identity key');
    }
    if (req.node_id !== nodeIdOf(req.public_key)) {
      throw new JoinError(401, 'bad_node_id', 'a node id must be derived from its public key');
    }
  }

  join(req: JoinRequest): FleetNode {
    this.verifyJoin(req);
    this.pending.delete(req.node_id);
    const existing = this.nodes.get(req.node_id);
    existing?.link.close();
    const now = this.now();
    const node: FleetNode = {
      node_id: req.node_id,
      public_key: req.public_key,
      host: req.data.host,
      port: req.data.port,
      shard: req.shard,
      report: req.report,
      version: req.version,
      joined_at: now,
      last_heartbeat: now,
      lease: randomBytes(24).toString('base64url'),
      unreachable_since: null,
      load: existing?.load ?? 0,
      link: new NodeLink(
        {
          nodeId: req.node_id,
          publicKey: req.public_key,
          host: req.data.host,
          port: req.data.port,
          modelId: req.shard.model_id,
          shardDigest: req.shard.digest,
        },
        this.opts.identity,
      ),
    };
    this.nodes.set(node.node_id, node);
    this.knownKeys.set(node.node_id, node.public_key);
    return node;
  }

  /**
   * An assignable node joins without a shard; once `expectNodes` of them wait for the same model,
   * the coordinator splits the layers over them in proportion to their free memory (or in the
   * explicit plan's order). Assignments are sticky: a node that comes back gets the same range.
   */
  joinAssignable(req: AssignableJoinRequest): { pending: PendingNode; assignment: Assignment | null } {
    this.verifyJoin(req);
    const { model_id, num_layers } = req.assignable;
    const now = this.now();
    const pending: PendingNode = {
      node_id: req.node_id,
      public_key: req.public_key,
      lease: randomBytes(24).toString('base64url'),
      model_id,
      num_layers,
      last_stage_extra: req.assignable.last_stage_extra ?? 0,
      report: req.report,
      joined_at: this.pending.get(req.node_id)?.joined_at ?? now,
      last_heartbeat: now,
    };
    this.pending.set(req.node_id, pending);
    this.knownKeys.set(req.node_id, req.public_key);
    this.assignWaiting(model_id, num_layers);
    return { pending, assignment: this.assignments.get(req.node_id) ?? null };
  }

  assignmentOf(nodeId: string): Assignment | null {
    return this.assignments.get(nodeId) ?? null;
  }

  /** The layer plan computed for assignable nodes of a model, if any. */
  assignedPlan(modelId: string): LayerAssignment[] | null {
    return this.plans.get(modelId) ?? null;
  }

  private assignWaiting(modelId: string, numLayers: number): void {
    if (this.plans.has(modelId)) return;
    const waiting = [...this.pending.values()].filter(
      (p) => p.model_id === modelId && p.num_layers === numLayers,
    );
    if (waiting.length < (this.opts.expectNodes ?? 2) || waiting.length > numLayers) return;
    const order = this.opts.plan?.[modelId];
    waiting.sort((a, b) => {
      const ia = order?.indexOf(a.node_id) ?? -1;
      const ib = order?.indexOf(b.node_id) ?? -1;
      if (ia !== ib) return (ia < 0 ? Infinity : ia) - (ib < 0 ? Infinity : ib);
      return a.joined_at - b.joined_at || a.node_id.localeCompare(b.node_id);
    });
    const plan = planLayerSplit(
      numLayers,
      waiting.map((p) => ({ node_id: p.node_id, memory_bytes: p.report.memory.free_bytes })),
      { lastStageExtra: Math.max(...waiting.map((p) => p.last_stage_extra)) },
    );
    const boundaries = boundariesOf(plan);
    plan.forEach((a, index) => {
      this.assignments.set(a.node_id, {
        model_id: modelId,
        layer_start: a.layer_start,
        layer_end: a.layer_end,
        boundaries,
        index,
      });
    });
    this.plans.set(modelId, plan);
  }

  heartbeat(nodeId: string, lease: string, report: NodeReport): FleetNode | PendingNode {
    const pending = this.pending.get(nodeId);
    if (pending && pending.lease === lease) {
      pending.last_heartbeat = this.now();
      pending.report = report;
      return pending;
    }
    const node = this.nodes.get(nodeId);
    if (!node || node.lease !== lease) throw new JoinError(401, 'unknown_lease', 'not joined: join again');
    node.last_heartbeat = this.now();
    node.report = report;
    node.unreachable_since = null;
    return node;
  }

  leave(nodeId: string, lease: string): void {
    if (this.pending.get(nodeId)?.lease === lease) {
      this.pending.delete(nodeId);
      return;
    }
    const node = this.nodes.get(nodeId);
    if (!node || node.lease !== lease) throw new JoinError(401, 'unknown_lease', 'not joined');
    node.link.close();
    this.nodes.delete(nodeId);
  }

  health(node: FleetNode): NodeHealth {
    if (node.unreachable_since !== null) return 'down';
    const age = this.now() - node.last_heartbeat;
    if (age <= 3 * this.heartbeatMs) return 'healthy';
    return age <= 12 * this.heartbeatMs ? 'stale' : 'down';
  }

  /**
   * Runs every heartbeat interval. A node that missed its heartbeats gets its data link closed, so
   * requests routed through a machine that vanished without closing its sockets (power loss, cable)
   * fail over now rather than at the step timeout. Nodes silent for `forgetAfterMs` are dropped.
   */
  sweep(): void {
    const cutoff = this.now() - (this.opts.forgetAfterMs ?? Math.max(600_000, 60 * this.heartbeatMs));
    for (const [id, node] of this.nodes) {
      if (node.last_heartbeat < cutoff) {
        node.link.close();
        this.nodes.delete(id);
      } else if (this.health(node) !== 'healthy' && node.link.connected) {
        node.link.close();
      }
    }
    for (const [id, pending] of this.pending) if (pending.last_heartbeat < cutoff) this.pending.delete(id);
  }

  markUnreachable(nodeId: string): void {
    const node = this.nodes.get(nodeId);
    if (node && node.unreachable_since === null) node.unreachable_since = this.now();
  }

  /** Model ids that currently have a complete healthy route. */
  servableModels(): string[] {
    const models = new Set<string>();
    for (const n of this.nodes.values()) models.add(n.shard.model_id);
    return [...models].filter((m) => this.route(m) !== null).sort();
  }

  /** True when some registered node (healthy or not) holds layers of the model. */
  knowsModel(modelId: string): boolean {
    return [...this.nodes.values()].some((n) => n.shard.model_id === modelId);
  }

  healthyNodesFor(modelId: string): FleetNode[] {
    return [...this.nodes.values()].filter(
      (n) => n.shard.model_id === modelId && this.health(n) === 'healthy',
    );
  }

  route(modelId: string, exclude?: Set<string>): FleetNode[] | null {
    const stages = this.healthyNodesFor(modelId).map((n) => ({
      node: n,
      node_id: n.node_id,
      layer_start: n.shard.layer_start,
      layer_end: n.shard.layer_end,
      has_embeddings: n.shard.has_embeddings,
      has_lm_head: n.shard.has_lm_head,
      load: n.load,
    }));
    const preferred = this.opts.plan?.[modelId];
    const chain = findRoute(stages, { ...(exclude ? { exclude } : {}), ...(preferred ? { preferred } : {}) });
    return chain ? chain.map((s) => s.node) : null;
  }

  requireRoute(modelId: string, exclude?: Set<string>): FleetNode[] {
    const chain = this.route(modelId, exclude);
    if (!chain) throw new MeshError('no_route', `no healthy pipeline of nodes serves ${modelId}`);
    return chain;
  }

  /** Memory-weighted split of a model over its healthy nodes: what an operator should export. */
  suggestedPlan(modelId: string): LayerAssignment[] | null {
    const nodes = this.healthyNodesFor(modelId);
    const last = nodes.find((n) => n.shard.has_lm_head);
    if (!last || nodes.length === 0) return null;
    const unique = [...new Map(nodes.map((n) => [n.node_id, n])).values()].sort(
      (a, b) => a.shard.layer_start - b.shard.layer_start || a.node_id.localeCompare(b.node_id),
    );
    try {
      return planLayerSplit(
        last.shard.layer_end,
        unique.map((n) => ({ node_id: n.node_id, memory_bytes: n.report.memory.free_bytes })),
      );
    } catch {
      return null;
    }
  }

  close(): void {
    for (const n of this.nodes.values()) n.link.close();
  }
}
