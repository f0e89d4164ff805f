/** The demo's step graph drawn as columns by depth, so fan-out and merge are visible at a glance. */
export interface DiagramStep {
  id: string;
  title: string;
  dependsOn: string[];
  status?: string;
}

function depths(steps: DiagramStep[]): Map<string, number> {
  const depth = new Map<string, number>();
  const visit = (step: DiagramStep): number => {
    const known = depth.get(step.id);
    if (known !== undefined) return known;
    const parents = step.dependsOn.map((id) => steps.find((s) => s.id === id)).filter((s) => s !== undefined);
    const value = parents.length === 0 ? 0 : 1 + Math.max(...parents.map(visit));
    depth.set(step.id, value);
    return value;
  };
  for (const step of steps) visit(step);
  return depth;
}

export function PipelineDiagram({ steps, compact = false }: { steps: DiagramStep[]; compact?: boolean }) {
  const depth = depths(steps);
  const columns: DiagramStep[][] = [];
  for (const step of steps) {
    const d = depth.get(step.id) ?? 0;
    columns[d] ??= [];
    columns[d].push(step);
  }
  const description = steps
    .map((s) =>
      s.dependsOn.length
        ? `${s.title} reads ${s.dependsOn.join(' and ')}`
        : `${s.title} starts from the input`,
    )
    .join('; ');
  return (
    <div className={`diagram${compact ? ' compact' : ''}`} role="img" aria-label={`Pipeline: ${description}`}>
      {columns.map((column, index) => (
        <div className="diagram-col" key={column.map((s) => s.id).join('-')}>
          {index > 0 && (
            <span className="diagram-arrow" aria-hidden="true">
              →
            </span>
          )}
          <div className="diagram-stack">
            {column.map((step) => (
              <span key={step.id} className={`diagram-node status-${step.status ?? 'idle'}`}>
                {step.title}
              </span>
            ))}
          </div>
        </div>
      ))}
    </div>
  );
}
