import { describe, expect, it } from 'vitest';
import { readChatStream, StepCallError } from '../lib/chat-stream';

function streamOf(parts: string[]): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  return new ReadableStream({
    start(controller) {
      for (const part of parts) controller.enqueue(encoder.encode(part));
      controller.close();
    },
  });
}

const chunk = (content: string) =>
  `data: ${JSON.stringify({ model: 'smollm2', choices: [{ index: 0, delta: { content } }] })}\n\n`;
const final = `data: ${JSON.stringify({
  choices: [{ index: 0, delta: {}, finish_reason: 'stop' }],
  usage: { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 },
  cascadia: { node_ids: ['node-a', 'node-b'], receipt: { v: 1, kind: 'mesh' } },
})}\n\n`;

describe('readChatStream', () => {
  it('reports deltas as they arrive and returns usage and the cascadia block of the final chunk', async () => {
    const deltas: string[] = [];
    const whole = `${chunk('Hel')}${chunk('lo')}${final}data: [DONE]\n\n`;
    const parts = [whole.slice(0, 10), whole.slice(10, 61), whole.slice(61)];
    const result = await readChatStream(streamOf(parts), {
      onDelta: (d) => deltas.push(d),
      gatewayRequestId: 'r1',
    });
    expect(deltas).toEqual(['Hel', 'lo']);
    expect(result).toMatchObject({
      text: 'Hello',
      model: 'smollm2',
      finishReason: 'stop',
      gatewayRequestId: 'r1',
      usage: { total_tokens: 7 },
      cascadia: { node_ids: ['node-a', 'node-b'] },
    });
  });

  it('turns an error event into a StepCallError with the relayed message', async () => {
    const err = `event: error\ndata: ${JSON.stringify({ error: { message: 'The mesh stopped.', type: 'upstream_error', param: null, code: 'stream_incomplete' } })}\n\n`;
    const promise = readChatStream(streamOf([chunk('a'), err]));
    await expect(promise).rejects.toBeInstanceOf(StepCallError);
    await expect(readChatStream(streamOf([chunk('a'), err]))).rejects.toMatchObject({
      code: 'stream_incomplete',
      message: 'The mesh stopped.',
    });
  });

  it('rejects a stream that ends without usage or [DONE]', async () => {
    await expect(readChatStream(streamOf([chunk('a')]))).rejects.toMatchObject({ code: 'stream_incomplete' });
  });
});
