/** Parses an SSE body into its `data:` payloads (JSON objects, and the literal [DONE]). */
export function ssePayloads(body: string): (Record<string, unknown> | '[DONE]')[] {
  return body
    .split('\n\n')
    .map((event) =>
      event
        .split('\n')
        .filter((l) => l.startsWith('data: '))
        .map((l) => l.slice(6))
        .join('\n'),
    )
    .filter((data) => data.length > 0)
    .map((data) => (data === '[DONE]' ? '[DONE]' : (JSON.parse(data) as Record<string, unknown>)));
}
