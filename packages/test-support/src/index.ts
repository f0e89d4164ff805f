// Test and benchmark helpers shared by the workspace's packages: a real local HTTP server that
// stands in for an OpenAI-compatible upstream, a genuinely signed mesh receipt, and a timer.
export * from './measure.js';
export * from './signed-receipt.js';
export * from './upstream.js';
