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
  /** Worked examples sent as earlier turns (a small model follows a pattern better than a description). */
  examples?: readonly { user: string; assistant: string }[];
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
  request: z.string().trim().min(3).max(120),
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
      prompt: ({ input }) => `List three short questions to research about: ${input}`,
      maxTokens: 40,
    },
    {
      id: 'notes',
      title: 'Gather notes',
      dependsOn: ['plan'],
      system: ASSISTANT,
      prompt: ({ input, outputs }) =>
        `Topic: ${input}\n\nAnswer each question in one short sentence.\n${outputs.plan}`,
      maxTokens: 64,
    },
    {
      id: 'draft',
      title: 'Draft',
      dependsOn: ['notes'],
      system: ASSISTANT,
      prompt: ({ input, outputs }) =>
        `Facts:\n${outputs.notes}\n\nUsing these facts, write a paragraph of two sentences about: ${input}`,
      maxTokens: 56,
    },
    {
      id: 'critique',
      title: 'Critique',
      dependsOn: ['draft'],
      system: ASSISTANT,
      prompt: ({ outputs }) =>
        `Paragraph:\n${outputs.draft}\n\nSuggest one way to improve this paragraph, in one sentence.`,
      maxTokens: 32,
    },
  ],
};

function triageQuestion(message: string): string {
  return `Message: "${message}"\nReply with JSON: name, request (a few words), urgent (true or false).`;
}

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
      prompt: ({ input }) => triageQuestion(input),
      examples: [
        {
          user: triageQuestion('I forgot my password and cannot log in. - Lee'),
          assistant: '{"name": "Lee", "request": "reset my password", "urgent": false}',
        },
        {
          user: triageQuestion('The website shows an error and our shop is down! - Kim'),
          assistant: '{"name": "Kim", "request": "fix the website error", "urgent": true}',
        },
      ],
      maxTokens: 40,
      output: { kind: 'json', schema: TriageSchema },
    },
    {
      id: 'reply',
      title: 'Draft reply',
      dependsOn: ['extract'],
      system: 'You are a friendly customer support agent.',
      prompt: ({ input, outputs }) =>
        `A customer wrote: "${input}"\nTriage: ${outputs.extract}\n\nAs the support agent, write a polite reply of two sentences to the customer.`,
      maxTokens: 56,
    },
    {
      id: 'policy',
      title: 'Policy check',
      dependsOn: ['reply'],
      system:
        'You check support replies against the policy: be polite, never ask for a password. Answer Pass or Fail with one short reason.',
      prompt: ({ outputs }) => `Reply to check: ${outputs.reply}`,
      examples: [
        {
          user: 'Reply to check: Hi Sam, send me your password and I will look at your account.',
          assistant: 'Fail: it asks the customer for a password.',
        },
        {
          user: 'Reply to check: Hi Ana, sorry about the trouble. We have fixed your invoice.',
          assistant: 'Pass: it is polite and asks for no password.',
        },
      ],
      maxTokens: 32,
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
      prompt: ({ input }) => `Meeting notes: ${input}\n\nSummarise the meeting in one sentence.`,
      maxTokens: 40,
    },
    {
      id: 'decisions',
      title: 'Decisions',
      dependsOn: ['summary'],
      system: ASSISTANT,
      prompt: ({ input, outputs }) =>
        `Meeting notes: ${input}\nSummary: ${outputs.summary}\n\nWhat did the team decide? Answer in one sentence.`,
      maxTokens: 32,
    },
    {
      id: 'actions',
      title: 'Action items',
      dependsOn: ['summary'],
      system: ASSISTANT,
      prompt: ({ input, outputs }) =>
        `Meeting notes: ${input}\nSummary: ${outputs.summary}\n\nList who will do what, one line per person.`,
      maxTokens: 40,
    },
    {
      id: 'email',
      title: 'Follow-up email',
      dependsOn: ['decisions', 'actions'],
      system: ASSISTANT,
      prompt: ({ outputs }) =>
        `Decisions: ${outputs.decisions}\nTasks:\n${outputs.actions}\n\nWrite a short follow-up email to the team with these decisions and tasks.`,
      maxTokens: 64,
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
      prompt: ({ input }) => `${input}\n\nIn one sentence, what does this function do?`,
      maxTokens: 32,
    },
    {
      id: 'risks',
      title: 'Find risks',
      dependsOn: [],
      system: 'You are an expert programmer.',
      prompt: ({ input }) =>
        `${input}\n\nWhat does this function return for an empty list? Answer in one sentence.`,
      maxTokens: 32,
    },
    {
      id: 'review',
      title: 'Review comment',
      dependsOn: ['explain', 'risks'],
      system: 'You are an expert programmer.',
      prompt: ({ outputs }) =>
        `What the function does: ${outputs.explain}\nProblem: ${outputs.risks}\n\nWrite a kind code review comment of two sentences that suggests a fix.`,
      maxTokens: 56,
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
  const examples = (step.examples ?? []).flatMap((example): ChatMessage[] => [
    { role: 'user', content: example.user },
    { role: 'assistant', content: example.assistant },
  ]);
  return [
    { role: 'system', content: step.system },
    ...examples,
    { role: 'user', content: `${user}${retry}` },
  ];
}

export const SHAPE_LABELS: Record<DemoShape, string> = {
  linear: 'Linear chain',
  'fan-out-merge': 'Fan-out and merge',
  structured: 'Structured output',
  'parallel-merge': 'Parallel, then merge',
};
