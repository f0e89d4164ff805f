import Link from 'next/link';
import { PipelineDiagram } from '../components/pipeline-diagram';
import { StatusStrip } from '../components/status-strip';
import { DEMOS, SHAPE_LABELS } from '../lib/demos';

export default function Home() {
  return (
    <>
      <section className="hero">
        <p className="eyebrow">Cascadia × gateway</p>
        <h1>One gateway in front of an on-prem mesh.</h1>
        <p className="lead">
          Four small agentic workflows. Your browser runs each pipeline step by step; every call is metered
          and budgeted by the gateway, served by a pipeline of mesh nodes, and comes back with a signed
          receipt that this page verifies itself.
        </p>
        <ol className="path" aria-label="Request path">
          <li>
            <strong>Browser</strong>
            <span>steps, streaming, receipt checks</span>
          </li>
          <li>
            <strong>/api routes</strong>
            <span>server-held virtual key, SSE relay</span>
          </li>
          <li>
            <strong>Gateway</strong>
            <span>keys, budgets, usage ledger</span>
          </li>
          <li>
            <strong>Mesh</strong>
            <span>shards on nodes, signed receipts</span>
          </li>
        </ol>
        <StatusStrip />
      </section>
      <section aria-labelledby="demos-heading">
        <h2 id="demos-heading">Demos</h2>
        <ul className="demo-grid">
          {DEMOS.map((demo) => (
            <li key={demo.id} className="card demo-card">
              <div className="card-top">
                <span className="badge">{SHAPE_LABELS[demo.shape]}</span>
                <span className="muted">{demo.steps.length} steps</span>
              </div>
              <h3>
                <Link href={`/demos/${demo.id}`} className="stretched">
                  {demo.title}
                </Link>
              </h3>
              <p>{demo.summary}</p>
              <PipelineDiagram
                steps={demo.steps.map((s) => ({ id: s.id, title: s.title, dependsOn: [...s.dependsOn] }))}
                compact
              />
            </li>
          ))}
        </ul>
      </section>
    </>
  );
}
