/**
 * The four demo pipelines: every prompt the app sends lives in this file, so it can be reviewed in
 * one place. The server builds the actual chat messages from these definitions (see
 * `buildStepMessages`); the browser only names a demo, a step, the visitor's input and the outputs
 * of the step's dependencies.
 *
 * The prompts target SmolLM2-135M-Instruct: short, concrete instructions, small `maxTokens`, and at
 * most one structured-output step whose JSON is validated with zod and retried once.
 */
import { z } from 'zod';

export type DemoShape = 'linear' | 'fan-out-merge' | 'structured' | 'parallel-merge';

export interface StepPromptContext {
  /** The visitor's input for the whole demo (size-limited by the server). */
  input: string;
  /** Outputs of this step's dependencies, keyed by step id. */
  outputs: Readonly<Record<string, string>>;
}

export interface JsonOutputSpec {
  kind: 'json';
  schema: z.ZodType;
}

export interface DemoStep {
  id: string;
  title: string;
  /** Ids of the steps whose outputs this step's prompt reads. */
  dependsOn: readonly string[];
  system: string;
  prompt: (ctx: StepPromptContext) => string;
  maxTokens: number;
  /** Present when the step must produce JSON matching a schema (validated, retried once). */
  output?: JsonOutputSpec;
}

export interface Demo {
  id: string;
  title: string;
  shape: DemoShape;
  summary: string;
  inputLabel: string;
  defaultInput: string;
  steps: readonly DemoStep[];
}

/** Limits the server enforces on what the browser sends (so `/api/chat` is not an open proxy). */
export const INPUT_LIMITS = {
  inputChars: 2_000,
  priorOutputChars: 4_000,
} as const;

const ASSISTANT = 'You are a helpful assistant. Answer briefly and stay on the task.';

export const TriageSchema = z.object({
  name: z.string().trim().min(1).max(60),
  topic: z
    .string()
    .trim()
    .toLowerCase()
    .pipe(z.enum(['billing', 'technical', 'account', 'other'])),
  urgent: z.boolean(),
});
export type Triage = z.infer<typeof TriageSchema>;

const researchBrief: Demo = {
  id: 'research-brief',
  title: 'Research brief',
  shape: 'linear',
  summary: 'Plan, gather notes, draft, critique: each step reads the one before it.',
  inputLabel: 'Topic',
  defaultInput: 'Why do cities plant trees along streets?',
  steps: [
    {
      id: 'plan',
      title: 'Plan',
      dependsOn: [],
      system: ASSISTANT,
      prompt: ({ input }) => `Write three short questions to research about this topic: ${input}`,
      maxTokens: 60,
    },
    {
      id: 'notes',
      title: 'Gather notes',
      dependsOn: ['plan'],
      system: ASSISTANT,
      prompt: ({ input, outputs }) =>
        `Topic: ${input}\nQuestions:\n${outputs.plan}\n\nWrite one short fact that answers each question.`,
      maxTokens: 90,
    },
    {
      id: 'draft',
      title: 'Draft',
      dependsOn: ['notes'],
      system: ASSISTANT,
      prompt: ({ input, outputs }) =>
        `Write a short paragraph of three sentences about: ${input}\nUse these notes:\n${outputs.notes}`,
      maxTokens: 90,
    },
    {
      id: 'critique',
      title: 'Critique',
      dependsOn: ['draft'],
      system: ASSISTANT,
      prompt: ({ outputs }) =>
        `Here is a paragraph:\n${outputs.draft}\n\nGive one sentence of advice to make it better.`,
      maxTokens: 48,
    },
  ],
};

const supportTriage: Demo = {
  id: 'support-triage',
  title: 'Support triage',
  shape: 'structured',
  summary: 'Extract fields as JSON (validated, retried once), draft a reply, then check it against policy.',
  inputLabel: 'Customer message',
  defaultInput:
    'Hello, I was charged twice for my subscription this month. Please refund the extra charge. Thanks, Dana',
  steps: [
    {
      id: 'extract',
      title: 'Extract fields (JSON)',
      dependsOn: [],
      system: 'You reply with one JSON object and nothing else.',
      prompt: ({ input }) =>
        'Read the customer message and reply with JSON with the keys "name" (the customer\'s name), ' +
        '"topic" (one of "billing", "technical", "account", "other") and "urgent" (true or false).\n' +
        `Example: {"name": "Sam", "topic": "technical", "urgent": false}\n\nMessage: ${input}`,
      maxTokens: 48,
      output: { kind: 'json', schema: TriageSchema },
    },
    {
      id: 'reply',
      title: 'Draft reply',
      dependsOn: ['extract'],
      system: 'You are a friendly customer support agent. Write short, polite replies.',
      prompt: ({ input, outputs }) =>
        `Customer message: ${input}\nTriage: ${outputs.extract}\n\nWrite a short reply to the customer.`,
      maxTokens: 90,
    },
    {
      id: 'policy',
      title: 'Policy check',
      dependsOn: ['reply'],
      system: ASSISTANT,
      prompt: ({ outputs }) =>
        `Support reply:\n${outputs.reply}\n\nPolicy: replies must be polite and must not share passwords. ` +
        'Does the reply follow the policy? Answer yes or no, then give one reason.',
      maxTokens: 40,
    },
  ],
};

const meetingActions: Demo = {
  id: 'meeting-actions',
  title: 'Meeting notes to action items',
  shape: 'fan-out-merge',
  summary: 'Summarise once, fan out to decisions and action items, then merge both into a follow-up email.',
  inputLabel: 'Meeting notes',
  defaultInput:
    'Team sync, Monday. Ana will fix the login bug by Wednesday. We agreed to ship version 2 next week. ' +
    'Ben will write the release notes. The design review moves to Friday.',
  steps: [
    {
      id: 'summary',
      title: 'Summarise',
      dependsOn: [],
      system: ASSISTANT,
      prompt: ({ input }) => `Summarise these meeting notes in two sentences:\n${input}`,
      maxTokens: 60,
    },
    {
      id: 'decisions',
      title: 'Decisions',
      dependsOn: ['summary'],
      system: ASSISTANT,
      prompt: ({ input, outputs }) =>
        `Meeting notes: ${input}\nSummary: ${outputs.summary}\n\nList the decisions that were made, one per line.`,
      maxTokens: 60,
    },
    {
      id: 'actions',
      title: 'Action items',
      dependsOn: ['summary'],
      system: ASSISTANT,
      prompt: ({ input, outputs }) =>
        `Meeting notes: ${input}\nSummary: ${outputs.summary}\n\nList each task with the person who owns it, one per line.`,
      maxTokens: 60,
    },
    {
      id: 'email',
      title: 'Follow-up email',
      dependsOn: ['decisions', 'actions'],
      system: ASSISTANT,
      prompt: ({ outputs }) =>
        `Decisions:\n${outputs.decisions}\n\nTasks:\n${outputs.actions}\n\nWrite a short follow-up email to the team.`,
      maxTokens: 100,
    },
  ],
};

const codeReview: Demo = {
  id: 'code-review',
  title: 'Code review',
  shape: 'parallel-merge',
  summary: 'Two independent reads of the same code (what it does, what could break) merged into one review.',
  inputLabel: 'Code to review',
  defaultInput:
    'function average(numbers) {\n  let sum = 0;\n  for (const n of numbers) sum += n;\n  return sum / numbers.length;\n}',
  steps: [
    {
      id: 'explain',
      title: 'Explain',
      dependsOn: [],
      system: 'You are an expert programmer.',
      prompt: ({ input }) => `Explain in two sentences what this code does:\n${input}`,
      maxTokens: 60,
    },
    {
      id: 'risks',
      title: 'Find risks',
      dependsOn: [],
      system: 'You are an expert programmer.',
      prompt: ({ input }) =>
        `What happens when this code gets an empty list? Name one problem in one sentence.\n${input}`,
      maxTokens: 60,
    },
    {
      id: 'review',
      title: 'Review comment',
      dependsOn: ['explain', 'risks'],
      system: 'You are an expert programmer.',
      prompt: ({ outputs }) =>
        `What the code does: ${outputs.explain}\nProblem: ${outputs.risks}\n\nWrite a short, kind code review comment that suggests a fix.`,
      maxTokens: 80,
    },
  ],
};

export const DEMOS: readonly Demo[] = [researchBrief, supportTriage, meetingActions, codeReview];

export function findDemo(id: string): Demo | undefined {
  return DEMOS.find((demo) => demo.id === id);
}

export function findStep(demo: Demo, stepId: string): DemoStep | undefined {
  return demo.steps.find((step) => step.id === stepId);
}

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

/** The instruction added on the single retry of a structured-output step. */
export const JSON_RETRY_INSTRUCTION =
  'Your previous answer was not valid JSON. Reply with only the JSON object, starting with { and ending with }.';

/**
 * The messages sent to the model for one step. `attempt` 2 is the one retry of a JSON step: the
 * same prompt plus a stricter instruction (the bad output itself is not sent back, so the browser
 * controls nothing but the demo input and the outputs of declared dependencies).
 */
export function buildStepMessages(step: DemoStep, ctx: StepPromptContext, attempt: 1 | 2 = 1): ChatMessage[] {
  const user = step.prompt(ctx);
  const retry = attempt === 2 && step.output?.kind === 'json' ? `\n\n${JSON_RETRY_INSTRUCTION}` : '';
  return [
    { role: 'system', content: step.system },
    { role: 'user', content: `${user}${retry}` },
  ];
}

export const SHAPE_LABELS: Record<DemoShape, string> = {
  linear: 'Linear chain',
  'fan-out-merge': 'Fan-out and merge',
  structured: 'Structured output',
  'parallel-merge': 'Parallel reads, merged',
};
